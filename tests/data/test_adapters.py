"""Every input kind through fit, evaluate and predict; steps semantics; weights for every kind."""

import itertools
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset, default_collate

import torchfit
from torchfit import data
from helpers import blobs, compiled_model

X, Y = blobs()
XT, YT = torch.from_numpy(X), torch.from_numpy(Y)


class ItemDataset(Dataset):
    """Map-style items `(x, y)` (or `(x, y, w)`), recording which indices were read."""

    def __init__(self, weights=None):
        self.read = []
        self.weights = weights

    def __len__(self):
        return len(X)

    def __getitem__(self, i):
        self.read.append(i)
        item = (X[i], Y[i])
        return item + (self.weights[i],) if self.weights is not None else item


class Stream(IterableDataset):
    def __iter__(self):
        return iter(zip(XT, YT))


class BatchStream(IterableDataset):
    """Yields ready `(x, y)` batches of 16, as a sharded or streaming pipeline does."""

    def __iter__(self):
        return iter(zip(XT.split(16), YT.split(16)))


def generator(batch_size=16, passes=1):
    for _ in range(passes):
        for start in range(0, len(X), batch_size):
            yield X[start:start + batch_size], Y[start:start + batch_size]


def x_only_generator(batch_size=16):
    for start in range(0, len(X), batch_size):
        yield X[start:start + batch_size]


pandas = pytest.importorskip("pandas")

KINDS = {
    "numpy": lambda: dict(x=X, y=Y),
    "tensors": lambda: dict(x=XT, y=YT),
    "pandas": lambda: dict(x=pandas.DataFrame(X, columns=["a", "b", "c", "d"]),
                           y=pandas.Series(Y)),
    "pandas int columns": lambda: dict(x=pandas.DataFrame(X), y=pandas.Series(Y)),
    "Dataset": lambda: dict(x=ItemDataset()),
    "IterableDataset": lambda: dict(x=Stream(), batch_size=16),
    "IterableDataset of batches": lambda: dict(x=BatchStream()),
    "DataLoader": lambda: dict(x=DataLoader(TensorDataset(XT, YT), batch_size=16)),
    "generator": lambda: dict(x=generator()),
}


@pytest.mark.parametrize("kind", KINDS)
def test_fit_evaluate_predict_for_every_input_kind(kind):
    reference = compiled_model()
    expected_loss = reference.evaluate(X, Y, batch_size=16, verbose=0)[0]
    model = compiled_model()
    assert model.evaluate(**KINDS[kind](), verbose=0)[0] == pytest.approx(expected_loss, rel=1e-5)
    history = model.fit(**KINDS[kind](), epochs=1, verbose=0)
    assert history.history["loss"][0] > 0
    predict_kwargs = KINDS[kind]()
    predict_kwargs.pop("y", None)
    if kind == "generator":
        predict_kwargs["x"] = x_only_generator()
    predictions = model.predict(**predict_kwargs, verbose=0)
    assert isinstance(predictions, np.ndarray) and predictions.shape == (64, 3)
    with torch.no_grad():
        np.testing.assert_allclose(predictions, model.module(XT).numpy(), rtol=1e-5, atol=1e-6)


def test_dataset_is_shuffled_and_batched_with_batch_size():
    dataset = ItemDataset()
    model = compiled_model()
    history = model.fit(dataset, batch_size=16, epochs=1, shuffle=True, verbose=0)
    assert history.params["steps"] == 4
    assert sorted(dataset.read) == list(range(64)) and dataset.read != list(range(64))
    dataset.read.clear()
    model.fit(dataset, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert dataset.read == list(range(64))


def test_steps_per_epoch_continues_the_iterator_across_epochs():
    dataset = ItemDataset()
    model = compiled_model()
    model.fit(dataset, batch_size=8, epochs=3, steps_per_epoch=3, shuffle=False, verbose=0)
    # 3 epochs x 3 steps x 8 items: one continuous pass, not items 0..23 three times.
    assert dataset.read == list(range(64)) + list(range(8))  # a new pass after 8 batches


def test_a_generator_running_out_stops_training_with_a_warning():
    model = compiled_model()
    with pytest.warns(UserWarning, match="ran out of data after 4 steps"):
        history = model.fit(generator(), epochs=3, steps_per_epoch=3, verbose=0)
    assert history.epoch == [0, 1]  # 3 steps, then 1 step, then nothing left
    with pytest.warns(UserWarning, match="ran out of data after 4 steps"):
        history = compiled_model().fit(generator(), epochs=3, verbose=0)
    assert history.epoch == [0]  # a finite generator trains for one pass


def test_infinite_generators_require_steps_per_epoch():
    batches = list(generator())
    with pytest.raises(ValueError, match="Pass `steps_per_epoch`"):
        compiled_model().fit(itertools.cycle(batches), epochs=1, verbose=0)
    history = compiled_model().fit(itertools.cycle(batches), epochs=2, steps_per_epoch=5,
                                   verbose=0)
    assert history.params["steps"] == 5 and history.epoch == [0, 1]


def test_validation_steps_batch_size_and_freq_with_datasets():
    dataset = ItemDataset()
    model = compiled_model()
    seen = []

    class CountValidation(torchfit.callbacks.Callback):
        def on_test_batch_end(self, batch, logs=None):
            seen.append(batch)

    history = model.fit(X, Y, epochs=2, validation_data=dataset, validation_steps=2,
                        validation_batch_size=8, validation_freq=2,
                        callbacks=[CountValidation()], verbose=0)
    assert seen == [0, 1] and len(history.history["val_loss"]) == 1
    assert dataset.read == list(range(16))  # 2 steps of 8


def test_validation_split_on_a_map_dataset_takes_the_last_fraction():
    dataset = ItemDataset()
    model = compiled_model()
    history = model.fit(dataset, epochs=1, validation_split=0.25, shuffle=False, verbose=0)
    val = model.evaluate(X[48:], Y[48:], verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(val[0], rel=1e-5)
    assert history.params["steps"] == 2  # 48 training items


@pytest.mark.parametrize("kind", ["DataLoader", "IterableDataset", "generator"])
def test_validation_split_is_refused_for_streams(kind):
    with pytest.raises(ValueError, match="`validation_split` is only supported for arrays"):
        compiled_model().fit(**KINDS[kind](), validation_split=0.2, verbose=0)


def test_weights_for_every_input_kind():
    weights = np.where(Y == 2, 3.0, 1.0).astype("float32")
    reference = compiled_model().evaluate(X, Y, sample_weight=weights, verbose=0)[0]
    class_weight = {0: 1.0, 1: 1.0, 2: 3.0}
    as_third_element = {
        "Dataset": ItemDataset(weights),
        "DataLoader": DataLoader(TensorDataset(XT, YT, torch.from_numpy(weights)), batch_size=16),
        "generator": ((X[i:i + 16], Y[i:i + 16], weights[i:i + 16]) for i in range(0, 64, 16)),
    }
    for kind, data in as_third_element.items():
        assert compiled_model().evaluate(data, verbose=0)[0] == pytest.approx(reference, rel=1e-5)
    # class_weight is a fit argument for every kind: the same training as the sample weights.
    trained = compiled_model()
    trained.fit(X, Y, sample_weight=weights, batch_size=16, shuffle=False, epochs=1, verbose=0)
    for kind in ("numpy", "Dataset", "DataLoader", "generator", "IterableDataset"):
        model = compiled_model()
        model.fit(**{"batch_size": None if kind in ("DataLoader", "generator") else 16,
                     **KINDS[kind]()}, class_weight=class_weight, shuffle=False, epochs=1,
                  verbose=0)
        for ours, theirs in zip(model.parameters(), trained.parameters()):
            torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6, msg=kind)


def test_weighted_metrics_use_the_sample_weights():
    weights = np.where(Y == 0, 1.0, 0.0)
    model = compiled_model(metrics=["accuracy"], weighted_metrics=["accuracy"])
    logs = model.evaluate(X, Y, sample_weight=weights, verbose=0, return_dict=True)
    predicted = model.predict(X, verbose=0).argmax(1)
    assert logs["accuracy"] == pytest.approx(float((predicted == Y).mean()))
    assert logs["weighted_accuracy"] == pytest.approx(float((predicted == Y)[Y == 0].mean()))


def test_dataloader_worker_errors_surface_with_the_worker_traceback():
    class Broken(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            raise KeyError(f"corrupt record {i}")

    loader = DataLoader(Broken(), batch_size=4, num_workers=1)
    with pytest.raises(KeyError, match=r"(?s)DataLoader worker process 0.*corrupt record"):
        compiled_model().fit(loader, epochs=1, verbose=0)


@pytest.mark.parametrize("data, kwargs, error, message", [
    ("text", {}, TypeError, r"Unsupported data type for `x`: str\. Expected NumPy arrays"),
    ("dict of lists", {}, TypeError, "Unsupported data type for `x`: dict"),
    ("loader", {"y": Y}, ValueError, "`y` is not accepted when `x` is a DataLoader"),
    ("loader", {"batch_size": 8}, ValueError, "`batch_size` is not accepted when `x` is a "
                                              "DataLoader: it yields ready batches"),
    ("generator", {"sample_weight": Y}, ValueError, "`sample_weight` is not accepted"),
    ("loader", {"validation_split": 0.5}, ValueError, "only supported for arrays"),
    ("loader", {"steps_per_epoch": 0}, ValueError, "`steps_per_epoch` must be a positive"),
    ("empty dataset", {}, ValueError, "is empty"),
    ("empty generator", {}, ValueError, "produced no batch"),
    ("four-tuple", {}, ValueError, "yielded a tuple of 4 elements"),
    ("not a tuple", {}, TypeError, "The generator yielded a str"),
])
def test_bad_input(data, kwargs, error, message):
    model = compiled_model()
    before = [p.clone() for p in model.parameters()]
    x = {
        "loader": DataLoader(TensorDataset(XT, YT), batch_size=16),
        "generator": generator(),
        "empty dataset": TensorDataset(XT[:0], YT[:0]),
        "empty generator": iter([]),
        "four-tuple": iter([(X, Y, Y, Y)]),
        "not a tuple": iter(["batch"]),
        "dict of lists": {"x": [1, 2]},
    }.get(data, data)
    with pytest.raises(error, match=message):
        model.fit(x, **kwargs, epochs=1, verbose=0)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_nested_length_mismatch_names_the_path():
    with pytest.raises(ValueError, match=r"x\['image'\]: 64, x\['series'\]: 63, y: 64"):
        compiled_model().fit({"image": X, "series": X[:-1]}, Y, verbose=0)


@pytest.mark.parametrize("collate_fn", [None, lambda items: default_collate(items)])
def test_batches_are_moved_to_the_device_whole(collate_fn):
    # The default collate: batched by index from tensors moved once; another: streamed.
    loader = DataLoader(TensorDataset(XT, YT), batch_size=16, collate_fn=collate_fn)
    adapter = torchfit.data.get_adapter(loader, device="meta")
    assert adapter.on_device == (collate_fn is None)
    iterator = torchfit.trainer.epoch_iterator.EpochIterator(adapter, device="meta")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step, batch = next(iter(iterator))
    assert step == 0 and all(t.device.type == "meta" for t in batch)


def test_length_mismatch_names_both_lengths():
    with pytest.raises(ValueError, match=r"x: 10, y: 9\)"):
        data.ArrayAdapter(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(ValueError, match=r"sample_weight: 4\)"):
        data.ArrayAdapter(np.zeros((10, 2)), np.zeros(10), np.ones(4))


def test_array_adapter_batches_cover_every_sample_once():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10)
    adapter = data.ArrayAdapter(x, y, batch_size=4, shuffle=True)
    assert adapter.num_batches == 3
    batches = list(adapter.batches())
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    seen = torch.cat([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(10))
    # x and y stay aligned under shuffling.
    for xb, yb in batches:
        assert torch.equal(xb[:, 0].long(), yb)
    ordered = torch.cat([b[1] for b in data.ArrayAdapter(x, y, batch_size=4).batches()])
    assert ordered.tolist() == list(range(10))


def test_nested_inputs_are_batched_leaf_by_leaf():
    x = {"a": np.zeros((6, 2), np.float32), "b": [np.ones((6, 3), np.float32)]}
    adapter = data.ArrayAdapter(x, np.arange(6), batch_size=4)
    xb, yb = next(iter(adapter.batches()))
    assert xb["a"].shape == (4, 2) and xb["b"][0].shape == (4, 3) and yb.shape == (4,)


# ---------------------------------------------------------------- dtypes (issue 10, item 3)
def float64_data():
    rng = np.random.default_rng(1)
    return rng.normal(size=(32, 8)), rng.normal(size=(32, 1))


def hand_written_float64_fit(x, y, epochs=2, batch_size=8):
    torch.manual_seed(0)
    net = torch.nn.Linear(8, 1).double()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            loss = torch.nn.functional.mse_loss(net(x[start:start + batch_size]),
                                                y[start:start + batch_size])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return net


@pytest.mark.parametrize("kind", ["numpy", "DataLoader"])
def test_a_float64_module_trains_in_float64_as_the_hand_written_loop(kind):
    x, y = float64_data()
    torch.manual_seed(0)
    model = torchfit.Model(torch.nn.Linear(8, 1).double(), device="cpu")
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss="mse")
    inputs = (dict(x=x, y=y, batch_size=8) if kind == "numpy" else
              dict(x=DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                batch_size=8)))
    model.fit(**inputs, epochs=2, shuffle=False, verbose=0)
    reference = hand_written_float64_fit(x, y)
    for ours, theirs in zip(model.module.parameters(), reference.parameters()):
        assert ours.dtype == torch.float64
        assert (ours - theirs).abs().max() < 1e-12
    predictions = model.predict(x, verbose=0)
    assert predictions.dtype == np.float64
    with torch.no_grad():
        np.testing.assert_array_equal(predictions, reference(torch.from_numpy(x)).numpy())


class RecordsDtype(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
        self.seen = []

    def forward(self, x):
        self.seen.append(x.dtype)
        return self.fc(x.float())


@pytest.mark.parametrize("source", [np.float64, np.float16, np.uint8, torch.bfloat16])
@pytest.mark.parametrize("kind", ["arrays", "DataLoader"])
def test_floating_and_uint8_inputs_become_the_float32_module_dtype(source, kind):
    x = XT.to(source) if isinstance(source, torch.dtype) else torch.from_numpy(X.astype(source))
    net = RecordsDtype()
    model = torchfit.Model(net, device="cpu")
    model.compile(optimizer="sgd", loss=torchfit.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    inputs = (dict(x=x, y=Y.astype(np.uint8)) if kind == "arrays" else
              dict(x=DataLoader(TensorDataset(x, torch.from_numpy(Y).to(torch.uint8)),
                                batch_size=16)))
    model.fit(**inputs, epochs=1, verbose=0)  # uint8 labels stay integers: the loss indexes
    assert set(net.seen) == {torch.float32}


def test_integer_inputs_stay_integers():
    embed = torch.nn.Sequential(torch.nn.Embedding(10, 3), torch.nn.Flatten())
    model = torchfit.Model(embed, device="cpu")
    tokens = np.arange(8).reshape(4, 2)
    assert model.predict(tokens, verbose=0).shape == (4, 6)
    assert model.predict(DataLoader(TensorDataset(torch.from_numpy(tokens)), batch_size=2),
                         verbose=0).dtype == np.float32


@pytest.mark.parametrize("module_dtype, expected", [(torch.float64, np.float64),
                                                    (torch.float16, np.float16),
                                                    (torch.bfloat16, np.float32)])
def test_predictions_come_back_in_the_module_dtype(module_dtype, expected):
    net = torch.nn.Linear(4, 3).to(module_dtype)
    model = torchfit.Model(net, device="cpu")
    predictions = model.predict(X, batch_size=16, verbose=0)  # float32 data, cast to the module's
    assert predictions.dtype == expected  # bfloat16 has no NumPy dtype: float32
    with torch.no_grad():
        reference = net(XT.to(module_dtype))
    reference = reference.float() if module_dtype == torch.bfloat16 else reference
    np.testing.assert_array_equal(predictions, reference.numpy())


# ------------------------------------------------- (x, y, sample_weight) batches (item 6)
class Pairs(Dataset):
    """Siamese items `(img1, img2, target)`, or `((img1, img2), target)` when `nested`."""

    def __init__(self, nested=False):
        self.nested = nested

    def __len__(self):
        return 32

    def __getitem__(self, i):
        img1, img2, target = XT[i], XT[i + 32], torch.tensor([float(Y[i] == Y[i + 32])])
        return ((img1, img2), target) if self.nested else (img1, img2, target)


class Siamese(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, input1, input2):
        return (self.fc(input1) - self.fc(input2)).pow(2).sum(1, keepdim=True)


def test_a_three_item_batch_for_a_two_input_forward_names_the_convention():
    model = torchfit.Model(Siamese(), device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"The Dataset yielded batches of 3 items, read as "
                                         r"`\(x, y, sample_weight\)`.*Siamese.forward would "
                                         r"receive 1 input\(s\).*takes 2.*"
                                         r"`\(\(img1, img2\), target\)`"):
        model.fit(Pairs(), batch_size=8, epochs=1, verbose=0)
    history = model.fit(Pairs(nested=True), batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("third, described", [
    (lambda i: i, r"a tensor of dtype int64 and shape \(16,\)"),
    (lambda i: np.ones(2, "float32"), r"a tensor of dtype float32 and shape \(16, 2\)"),
])
def test_a_third_item_that_is_not_a_float_sample_weight_is_refused(third, described):
    class Items(Dataset):
        def __len__(self):
            return len(X)

        def __getitem__(self, i):
            return X[i], Y[i], third(i)

    model = compiled_model()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"read as `\(x, y, sample_weight\)`.*third item is "
                                         + described + r", not float per-sample weights of "
                                         r"the batch's length \(16\)"):
        model.fit(Items(), batch_size=16, epochs=1, verbose=0)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # no step ran


# ------------------------------------------ IterableDatasets of samples or of batches (item 7)
def test_an_iterable_dataset_of_ready_batches_with_batch_size_none_trains_as_a_dataloader():
    reference = compiled_model()
    reference.fit(DataLoader(TensorDataset(XT, YT), batch_size=16), epochs=2, verbose=0)
    model = compiled_model()
    history = model.fit(BatchStream(), batch_size=None, epochs=2, verbose=0)
    assert history.history["loss"] == reference.history.history["loss"]
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_a_batch_rank_unlike_what_forward_received_says_items_are_samples():
    model = compiled_model()
    model.predict(X, verbose=0)  # forward has received (N, 4) inputs
    with pytest.raises(ValueError, match=r"The IterableDataset's items are samples, batched by "
                                         r"batch_size=4: its first batch has inputs of shape "
                                         r"\(4, 16, 4\), but `forward` received inputs of shape "
                                         r"\('N', 4\) before. If its items are already batches, "
                                         r"pass `batch_size=None`"):
        model.fit(BatchStream(), batch_size=4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"items are used as batches as they come: its first "
                                         r"batch has inputs of shape \(4,\).*pass a `batch_size`"):
        model.predict(iter_of(XT), verbose=0)
    with pytest.raises(ValueError, match=r"With batch_size=None the IterableDataset's items are "
                                         r"used as batches.*pass a `batch_size`"):
        compiled_model().fit(Stream(), epochs=1, verbose=0)  # (x, scalar y) samples


def iter_of(tensor):
    class Items(IterableDataset):
        def __iter__(self):
            return iter(tensor)
    return Items()


def test_a_model_with_its_own_train_step_reads_the_third_item_as_it_likes():
    seen = []

    class WithIndex(torchfit.Model):
        def train_step(self, data):
            x, y, index = data
            seen.append(index.dtype)
            return super().train_step((x, y))

    class Items(Dataset):
        def __len__(self):
            return len(X)

        def __getitem__(self, i):
            return X[i], Y[i], i

    torch.manual_seed(0)
    model = WithIndex(torch.nn.Linear(4, 3), device="cpu")
    model.compile(optimizer="sgd", loss=torchfit.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    model.fit(Items(), batch_size=16, epochs=1, verbose=0)
    assert seen == [torch.int64] * 4


class _BatchesOf(IterableDataset):
    """An IterableDataset yielding ready `(x, y)` batches."""

    def __init__(self, x, y, size):
        self.x, self.y, self.size = x, y, size

    def __iter__(self):
        for start in range(0, len(self.x), self.size):
            yield self.x[start:start + self.size], self.y[start:start + self.size]


class _CountTestBatches(torchfit.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.sizes = []

    def on_test_batch_end(self, batch, logs=None):
        self.sizes.append(batch)


def _validation_case():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 3)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
    vx, vy = torch.from_numpy(x[:20]), torch.from_numpy(y[:20])
    return x, y, vx, vy


@pytest.mark.parametrize("kind", ["dataloader", "iterable_of_batches", "generator"])
def test_fit_batch_size_does_not_leak_into_a_validation_stream(kind):
    x, y, vx, vy = _validation_case()
    streams = {
        "dataloader": lambda: DataLoader(TensorDataset(vx, vy), batch_size=8),
        "iterable_of_batches": lambda: _BatchesOf(vx, vy, 8),
        "generator": lambda: ((vx[i:i + 8], vy[i:i + 8]) for i in range(0, 20, 8)),
    }
    module = torch.nn.Linear(3, 1)
    model = torchfit.Model(module, device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    counter = _CountTestBatches()
    history = model.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False,
                        validation_data=streams[kind](), callbacks=[counter])
    assert len(counter.sizes) == 3  # the stream's own batches of 8, 8, 4: used as they come
    with torch.no_grad():
        expected = torch.nn.functional.mse_loss(module(vx), vy).item()
    assert history.history["val_loss"][0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("kind", ["dataloader", "generator"])
def test_an_explicit_validation_batch_size_is_ignored_for_streams_as_in_keras(kind):
    x, y, vx, vy = _validation_case()
    streams = {
        "dataloader": DataLoader(TensorDataset(vx, vy), batch_size=8),
        "generator": ((vx[i:i + 8], vy[i:i + 8]) for i in range(0, 20, 8)),
    }
    model = torchfit.Model(torch.nn.Linear(3, 1), device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    counter = _CountTestBatches()
    model.fit(x, y, batch_size=64, epochs=1, verbose=0, validation_data=streams[kind],
              validation_batch_size=5, callbacks=[counter])
    assert len(counter.sizes) == 3  # the stream's own 8, 8, 4


@pytest.mark.parametrize("validation_batch_size,batches", [(None, 1), (8, 3)])
@pytest.mark.parametrize("as_dataset", [False, True], ids=["arrays", "map_dataset"])
def test_validation_batch_size_defaults_to_batch_size_where_torchfit_batches(
        validation_batch_size, batches, as_dataset):
    x, y, vx, vy = _validation_case()
    validation_data = TensorDataset(vx, vy) if as_dataset else (vx.numpy(), vy.numpy())
    model = torchfit.Model(torch.nn.Linear(3, 1), device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    counter = _CountTestBatches()
    model.fit(x, y, batch_size=64, epochs=1, verbose=0, validation_data=validation_data,
              validation_batch_size=validation_batch_size, callbacks=[counter])
    assert len(counter.sizes) == batches  # 20 samples in batches of 64, or of 8
