"""Every input kind through fit, evaluate and predict; steps semantics; weights for every kind."""

import itertools
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

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
    "IterableDataset": lambda: dict(x=Stream()),
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
    predict_input = KINDS[kind]()["x"]
    if kind == "generator":
        predict_input = x_only_generator()
    predictions = model.predict(predict_input, verbose=0)
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
        model.fit(**KINDS[kind](), class_weight=class_weight, batch_size=None if kind in (
            "DataLoader", "generator") else 16, shuffle=False, epochs=1, verbose=0)
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


def test_batches_are_moved_to_the_device_whole():
    model = compiled_model()
    adapter = torchfit.data.get_adapter(DataLoader(TensorDataset(XT, YT), batch_size=16))
    iterator = torchfit.trainer.epoch_iterator.EpochIterator(adapter, device="meta")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step, batch = next(iter(iterator))
    assert step == 0 and all(t.device.type == "meta" for t in batch)
    assert model is not None


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
