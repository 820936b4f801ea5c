"""trainer/checkpoint.py: what Model.save puts in the file, and what Model.load restores."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from torchfit.saving.validate import PARAMETER_SHAPED_STATE
from torchfit.trainer.checkpoint import load_model, save_model


def trained(seed=0):
    torch.manual_seed(seed)
    model = torchfit.Sequential(nn.Linear(3, 2), device="cpu")
    model.compile(optimizer=torchfit.optimizers.Adam(1e-2), loss="mse")
    x, y = np.random.default_rng(0).normal(size=(2, 16, 3)).astype("float32")
    model.fit(x, y[:, :2], batch_size=8, epochs=2, verbose=0)
    return model


def test_save_and_load_round_trip_weights_optimizer_and_history(tmp_path):
    model = trained()
    save_model(model, tmp_path / "m.pt")
    checkpoint = torchfit.saving.load_checkpoint(tmp_path / "m.pt")
    assert checkpoint["training"]["epoch"] == 2 and checkpoint["training"]["step"] == 4
    assert set(checkpoint["model"]) == {"0.weight", "0.bias"}
    restored = trained(seed=1)
    load_model(restored, tmp_path / "m.pt")
    assert torch.equal(restored.module[0].weight, model.module[0].weight)
    assert restored.history.history == model.history.history
    assert restored.history.epoch == [0, 1]
    ours, theirs = restored.optimizer.state_dict(), model.optimizer.state_dict()
    assert ours["state"].keys() == theirs["state"].keys()
    for index, state in ours["state"].items():
        assert state.keys() == theirs["state"][index].keys()
        for name, value in state.items():
            assert torch.equal(value, theirs["state"][index][name]), (index, name)


def test_an_unfitted_uncompiled_model_saves_weights_only(tmp_path):
    model = torchfit.Sequential(nn.Linear(3, 2), device="cpu")
    save_model(model, tmp_path / "m.h5")
    checkpoint = torchfit.saving.load_checkpoint(tmp_path / "m.h5")
    assert checkpoint["optimizer"] is None
    assert checkpoint["training"] == {"epoch": 0, "step": 0}


# ------------------------------------------------------------------ atomic loads (issue 13.1)
SUFFIXES = (".pt", ".pth", ".h5", ".hdf5")
FAULTS = ("shape", "missing", "extra", "dtype")


def fitted(seed):
    """A fitted model with buffers (BatchNorm) and Adam state: every kind of tensor a load sets."""
    if seed not in _FITTED:
        _FITTED[seed] = _fit(seed)
    return copy.deepcopy(_FITTED[seed])


_FITTED = {}


def _fit(seed):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    model = torchfit.Model(net, device="cpu")
    model.compile(optimizer=torchfit.optimizers.Adam(1e-2), loss="mse")
    x = np.random.default_rng(seed).normal(size=(16, 4)).astype("float32")
    model.fit(x, x[:, :3], batch_size=8, epochs=1, verbose=0)
    return model


def snapshot(model):
    """Every tensor of the module and of the optimizer state (cloned), and the rest as text."""
    tensors = {f"module {k}": v.detach().clone() for k, v in model.module.state_dict().items()}
    optimizer_state = model.optimizer.state_dict()
    for index, state in optimizer_state["state"].items():
        for key, value in state.items():
            tensors[f"optimizer {index} {key}"] = value.detach().clone()
    rest = repr({k: v for k, v in optimizer_state.items() if k != "state"})
    return tensors, rest


def assert_unchanged(model, before):
    tensors, rest = snapshot(model)
    assert list(tensors) == list(before[0]) and rest == before[1]
    for key, value in before[0].items():
        assert tensors[key].dtype == value.dtype and torch.equal(tensors[key], value), key


def faulty_state(model, fault):
    """The model's state dict with one fault; the other values differ from the target's."""
    state = dict(model.module.state_dict())
    if fault == "shape":
        state["3.weight"] = torch.zeros(3, 9)
    elif fault == "missing":
        del state["3.bias"]
    elif fault == "extra":
        state["4.weight"] = torch.zeros(3)
    else:
        state["3.weight"] = state["3.weight"].double()
    return state


def write(path, model, fault, kind):
    state = faulty_state(model, fault)
    if kind == "weights":
        torchfit.saving.save_state_dict(state, path)
    else:
        torchfit.saving.save_checkpoint(path, state, model.optimizer.state_dict(), {"epoch": 1})


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", ["weights", "checkpoint"])
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_failed_load_weights_changes_nothing(tmp_path, suffix, kind, fault):
    path = tmp_path / f"bad{suffix}"
    write(path, fitted(seed=1), fault, kind)
    model = fitted(seed=0)
    before = snapshot(model)
    with pytest.raises(ValueError, match="does not match the model; nothing was loaded"):
        model.load_weights(path)
    assert_unchanged(model, before)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_failed_load_changes_nothing(tmp_path, suffix, fault):
    path = tmp_path / f"bad{suffix}"
    write(path, fitted(seed=1), fault, "checkpoint")
    model = fitted(seed=0)
    before = snapshot(model)
    with pytest.raises(ValueError, match="does not match the model; nothing was loaded"):
        model.load(path)
    assert_unchanged(model, before)
    assert model.history.epoch == [0]  # the History is not replaced either


def bad_optimizer_state(model, fault):
    state = model.optimizer.state_dict()
    if fault == "group size":
        state["param_groups"][0]["params"] = state["param_groups"][0]["params"][:-1]
        state["state"].pop(max(state["state"]))
        return state, r"parameter group 0 holds 5 parameters in the file and 6 in the optimizer"
    if fault == "groups":
        state["param_groups"] = state["param_groups"] * 2
        return state, r"the file's optimizer has 2 parameter groups, this optimizer 1"
    name = next(key for key in state["state"][0] if key in PARAMETER_SHAPED_STATE)
    state["state"][0][name] = torch.zeros(8, 5)
    return state, (rf"optimizer state '{name}' of parameter 0 \(group 0\) has shape \(8, 5\) "
                   r"in the file, the parameter \(8, 4\)")


@pytest.mark.parametrize("fault", ["group size", "groups", "state shape"])
@pytest.mark.parametrize("suffix", [".pt", ".h5"])
def test_a_bad_optimizer_state_is_refused_before_the_weights_are_copied(tmp_path, suffix, fault):
    other = fitted(seed=1)
    optimizer_state, message = bad_optimizer_state(other, fault)
    path = tmp_path / f"bad{suffix}"
    torchfit.saving.save_checkpoint(path, other.module.state_dict(), optimizer_state,
                                    {"epoch": 1})
    model = fitted(seed=0)
    before = snapshot(model)
    with pytest.raises(ValueError, match=message):
        model.load(path)
    assert_unchanged(model, before)


def test_the_error_lists_missing_unexpected_and_mismatched_keys(tmp_path):
    state = dict(fitted(seed=1).module.state_dict())
    del state["3.bias"]
    state["4.weight"] = torch.zeros(3)
    state["3.weight"] = torch.zeros(3, 9)
    state["0.bias"] = state["0.bias"].double()
    torchfit.saving.save_state_dict(state, tmp_path / "bad.pt")
    with pytest.raises(ValueError) as info:
        fitted(seed=0).load_weights(tmp_path / "bad.pt")
    message = str(info.value)
    assert "Missing from the file (1): '3.bias' float32 (3,)." in message
    assert "Unexpected in the file (1): '4.weight' float32 (3,)." in message
    assert ("Mismatched (2): '0.bias' has float64 (8,) in the file, float32 (8,) in the model; "
            "'3.weight' has float32 (3, 9) in the file, float32 (3, 8) in the model.") in message
    assert "strict=False" in message


@pytest.mark.parametrize("suffix", [".pt", ".h5"])
def test_strict_false_skips_missing_and_unexpected_keys_and_loads_the_rest(tmp_path, suffix):
    source = fitted(seed=1)
    state = dict(source.module.state_dict())
    del state["3.bias"]
    state["4.weight"] = torch.zeros(3)
    torchfit.saving.save_state_dict(state, tmp_path / f"partial{suffix}")
    model = fitted(seed=0)
    kept = model.module[3].bias.detach().clone()
    model.load_weights(tmp_path / f"partial{suffix}", strict=False)
    assert torch.equal(model.module[3].bias, kept)
    for key, value in model.module.state_dict().items():
        if key != "3.bias":
            assert torch.equal(value, state[key]), key


def test_strict_false_still_refuses_a_mismatched_shape_and_changes_nothing(tmp_path):
    torchfit.saving.save_state_dict(faulty_state(fitted(seed=1), "shape"), tmp_path / "bad.h5")
    model = fitted(seed=0)
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"Mismatched \(1\): '3.weight' has float32 \(3, 9\)"):
        model.load_weights(tmp_path / "bad.h5", strict=False)
    assert_unchanged(model, before)


def test_load_weights_refuses_an_h5_declaring_a_huge_dataset_without_allocating(tmp_path):
    # ~270 KB on disk; 'weight' declares 64 MB (compressed zeros, within the 1000x bound that
    # hdf5.py applies to files read without a model), which load_weights used to read in full.
    import time
    import tracemalloc

    import h5py

    path = tmp_path / "bomb.h5"
    with h5py.File(path, "w") as f:
        weight = f.create_dataset("0.weight", shape=(4096, 4096), dtype="float32",
                                  chunks=(256, 4096), compression="gzip", compression_opts=9)
        for row in range(0, 4096, 256):
            weight[row:row + 256] = 0
        f.create_dataset("0.bias", data=np.zeros(2, np.float32))
        f.create_dataset("padding", data=np.random.default_rng(0).integers(
            0, 255, 200_000, dtype=np.uint8))
    assert path.stat().st_size < 400_000
    model = torchfit.Sequential(nn.Linear(3, 2), device="cpu")
    before = copy.deepcopy(model.module.state_dict())
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=r"Could not load '.*bomb\.h5' into Sequential: .*"
                                             r"Mismatched \(1\): '0\.weight' has float32 "
                                             r"\(4096, 4096\) in the file, float32 \(2, 3\)"):
            model.load_weights(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 5
    assert peak < 4 * 2**20, f"peak {peak:,} bytes"  # nothing near 64 MB was allocated
    for key, value in model.module.state_dict().items():
        assert torch.equal(value, before[key])
