"""A plain DataLoader batched by index: the batches, weights and random draws of iterating it."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import (
    DataLoader,
    Dataset,
    RandomSampler,
    Subset,
    TensorDataset,
    WeightedRandomSampler,
    random_split,
)

import torchfit
from torchfit.data import adapters, indexed

generator = torch.Generator().manual_seed(1)
X = torch.randn(203, 8, generator=generator)
Y = torch.randint(0, 3, (203,), generator=generator)


class Items(Dataset):
    """A dataset with a vectorised ``__getitems__`` returning one ready batch."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return self.x[index], self.y[index]

    def __getitems__(self, indices):
        ids = torch.tensor(indices)
        return {"x": self.x[ids], "y": self.y[ids]}


class Sub(TensorDataset):
    """A subclass may override ``__getitem__``: it is iterated as it is."""


def _as_tuple(batch):
    return (batch["x"], batch["y"]) if isinstance(batch, dict) else tuple(batch)


PLAIN = {
    "sequential": lambda: DataLoader(TensorDataset(X, Y), batch_size=16),
    "shuffle": lambda: DataLoader(TensorDataset(X, Y), batch_size=16, shuffle=True),
    "drop_last": lambda: DataLoader(TensorDataset(X, Y), batch_size=16, shuffle=True,
                                    drop_last=True),
    "even": lambda: DataLoader(TensorDataset(X[:192], Y[:192]), batch_size=16, shuffle=True),
    "even drop_last": lambda: DataLoader(TensorDataset(X[:192], Y[:192]), batch_size=16,
                                         shuffle=True, drop_last=True),
    "generator": lambda: DataLoader(TensorDataset(X, Y), batch_size=16, shuffle=True,
                                    generator=torch.Generator().manual_seed(5)),
    "random_split": lambda: DataLoader(
        random_split(TensorDataset(X, Y), [150, 53], generator=torch.Generator().manual_seed(2))[0],
        batch_size=10, shuffle=True),
    "nested subsets, negative indices": lambda: DataLoader(
        Subset(Subset(TensorDataset(X, Y.int()), list(range(200, 0, -2))), [-1, 3, 0, 7, -5]),
        batch_size=2, shuffle=True),
    "one tensor": lambda: DataLoader(TensorDataset(X), batch_size=50, shuffle=True),
    "__getitems__": lambda: DataLoader(Items(X, Y), batch_size=16, shuffle=True,
                                       collate_fn=lambda batch: batch),
}

NOT_PLAIN = {
    "workers": lambda: DataLoader(TensorDataset(X, Y), batch_size=16, num_workers=1),
    "replacement": lambda: DataLoader(TensorDataset(X, Y), batch_size=16,
                                      sampler=RandomSampler(X, replacement=True)),
    "num_samples": lambda: DataLoader(TensorDataset(X, Y), batch_size=16,
                                      sampler=RandomSampler(X, num_samples=50)),
    "weighted sampler": lambda: DataLoader(TensorDataset(X, Y), batch_size=16,
                                           sampler=WeightedRandomSampler(torch.ones(203), 203)),
    "custom collate": lambda: DataLoader(TensorDataset(X, Y), batch_size=16,
                                         collate_fn=lambda b: torch.utils.data.default_collate(b)),
    "subclass": lambda: DataLoader(Sub(X, Y), batch_size=16),
    "no batching": lambda: DataLoader(TensorDataset(X, Y), batch_size=None),
    "batch_sampler": lambda: DataLoader(TensorDataset(X, Y), batch_sampler=[[0, 1], [2, 3]]),
    "out of range subset": lambda: DataLoader(Subset(TensorDataset(X, Y), [0, 500]),
                                              batch_size=2),
}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_batches_and_random_draws_are_those_of_iterating_the_loader(name):
    for passes in (1, 2):
        torch.manual_seed(7)
        loader = PLAIN[name]()
        expected = [[_as_tuple(b) for b in loader] for _ in range(passes)]
        state, loader_state = torch.get_rng_state(), loader.generator
        loader_state = None if loader_state is None else loader_state.get_state()

        torch.manual_seed(7)
        loader = PLAIN[name]()
        fast = indexed.index_batches(loader)
        assert fast is not None
        got = [[_as_tuple(b) for b in fast.batches()] for _ in range(passes)]
        assert len(got[-1]) == len(loader)
        for want_pass, got_pass in zip(expected, got):
            assert len(want_pass) == len(got_pass)
            for want, have in zip(want_pass, got_pass):
                for a, b in zip(want, have, strict=True):
                    assert a.dtype == b.dtype and torch.equal(a, b)
        assert torch.equal(torch.get_rng_state(), state)
        if loader_state is not None:
            assert torch.equal(loader.generator.get_state(), loader_state)


def test_a_pass_stopped_early_has_drawn_what_the_loaders_iterator_draws():
    # RandomSampler's second (empty) randperm comes before the short last batch, not earlier.
    for stop in (1, 12, 13):
        g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        loader = DataLoader(TensorDataset(X), batch_size=16, shuffle=True, generator=g1)
        fast = indexed.index_batches(DataLoader(TensorDataset(X), batch_size=16, shuffle=True,
                                                generator=g2))
        for _, _ in zip(range(stop), loader):
            pass
        for _, _ in zip(range(stop), fast.batches()):
            pass
        assert torch.equal(g1.get_state(), g2.get_state()), stop


@pytest.mark.parametrize("name", sorted(NOT_PLAIN))
def test_other_loaders_are_iterated_as_they_are(name):
    assert indexed.index_batches(NOT_PLAIN[name]()) is None


def test_batches_see_changes_made_to_the_tensors_in_place():
    x = X.clone()
    fast = indexed.index_batches(DataLoader(TensorDataset(x), batch_size=300))
    x.mul_(0)
    assert torch.equal(next(fast.batches())[0], torch.zeros_like(X))


def _net():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


def _users_loop(make_loader, epochs):
    """What a user writes over the DataLoader."""
    torch.manual_seed(0)
    net = _net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    loader = make_loader()
    for _ in range(epochs):
        net.train()
        for xb, yb in loader:
            loss = F.cross_entropy(net(xb), yb.long())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return net


def _fit(make_loader, epochs, **kwargs):
    torch.manual_seed(0)
    net = _net()
    model = torchfit.Model(net)
    model.compile(optimizer=torch.optim.SGD(net.parameters(), lr=0.1),
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(make_loader(), epochs=epochs, verbose=0, **kwargs)
    return net, model


@pytest.mark.parametrize("name", ["shuffle", "generator", "random_split", "drop_last"])
def test_fit_trains_the_weights_of_the_users_own_loop_exactly(name, monkeypatch):
    expected = _users_loop(PLAIN[name], epochs=3)
    state = torch.get_rng_state()

    def per_sample(self, index):
        raise AssertionError("fit indexed the dataset one sample at a time")

    monkeypatch.setattr(TensorDataset, "__getitem__", per_sample)
    net, _ = _fit(PLAIN[name], epochs=3)
    for a, b in zip(expected.parameters(), net.parameters()):
        assert torch.equal(a, b)  # max |dw| = 0
    assert torch.equal(torch.get_rng_state(), state)


def test_fit_evaluate_and_predict_equal_the_loader_iterated_as_it_is(monkeypatch):
    x8 = (X.abs() * 40).to(torch.uint8)  # a cast to the model's dtype on every batch
    make = lambda: DataLoader(TensorDataset(x8, Y.int()), batch_size=16, shuffle=True)  # noqa
    runs = []
    for fast in (True, False):
        if not fast:
            monkeypatch.setattr(indexed, "index_batches", lambda loader: None)
        net, model = _fit(make, epochs=2, class_weight={0: 1.0, 1: 2.0, 2: 0.5},
                          validation_data=DataLoader(TensorDataset(x8, Y), batch_size=32))
        results = model.evaluate(DataLoader(TensorDataset(x8, Y), batch_size=32), verbose=0)
        predictions = model.predict(DataLoader(TensorDataset(x8), batch_size=32), verbose=0)
        runs.append((list(net.parameters()), model.history.history, results, predictions))
    (w1, h1, r1, p1), (w2, h2, r2, p2) = runs
    assert all(torch.equal(a, b) for a, b in zip(w1, w2))
    assert h1 == h2 and r1 == r2 and (p1 == p2).all()


def test_the_adapter_keeps_the_tensors_on_the_device_and_finalizes_each_batch():
    adapter = adapters.DataLoaderAdapter(
        DataLoader(TensorDataset(X.double(), Y.int()), batch_size=64), device="cpu")
    assert adapter.on_device
    x, y = next(iter(adapter.batches()))
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    torch.testing.assert_close(x, X[:64])


def test_tensors_too_large_for_the_device_stay_on_the_host(monkeypatch):
    monkeypatch.setattr(adapters, "fits_on_device", lambda nbytes, device: False)
    gathered = []  # pinned memory needs CUDA: record the request, gather unpinned

    def take_rows(tensor, ids, pin=False):
        gathered.append(pin)
        return tensor.index_select(0, ids)

    monkeypatch.setattr(indexed.utils, "take_rows", take_rows)
    adapter = adapters.DataLoaderAdapter(DataLoader(TensorDataset(X, Y), batch_size=64))
    assert not adapter.on_device and adapter._indexed._pin
    assert torch.equal(next(iter(adapter.batches()))[0], X[:64])
    assert gathered == [True, True]  # each tensor of the batch gathered into pinned memory
