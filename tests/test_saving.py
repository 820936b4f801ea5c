import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from torchfit import saving

SUFFIXES = [".pt", ".pth", ".h5", ".hdf5"]


def _net():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


@pytest.fixture
def net():
    torch.manual_seed(0)
    module = _net()
    module.train()
    module(torch.randn(16, 4))  # non-trivial running stats and num_batches_tracked
    return module.eval()


def assert_tree_equal(actual, expected, where="root"):
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor), where
        assert actual.dtype == expected.dtype and actual.shape == expected.shape, where
        assert torch.equal(actual, expected), where
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert list(actual) == list(expected), where
        for key in expected:
            assert_tree_equal(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert type(actual) is type(expected) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_tree_equal(a, e, f"{where}[{i}]")
    elif isinstance(expected, float) and np.isnan(expected):
        assert np.isnan(actual), where
    else:
        assert type(actual) is type(expected) and actual == expected, where


# ---------------------------------------------------------------------------------------------
# Weights round trips


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_state_dict_round_trip_is_exact(tmp_path, net, suffix):
    path = tmp_path / f"weights{suffix}"
    state = net.state_dict()
    assert state["1.num_batches_tracked"].dtype == torch.int64
    saving.save_state_dict(state, path)
    loaded = saving.load_state_dict(path)
    assert_tree_equal(dict(loaded), dict(state))

    fresh = _net().eval()
    fresh.load_state_dict(loaded)  # strict
    x = torch.randn(5, 4)
    assert torch.equal(fresh(x), net(x))


def test_h5_round_trips_every_dtype_and_odd_keys(tmp_path):
    state = {
        "bf16": torch.randn(3, 2).to(torch.bfloat16),
        "half": torch.randn(4).half(),
        "f64": torch.randn(2, dtype=torch.float64),
        "flag": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.5),
        "count": torch.tensor(7),
        "bytes": torch.arange(5, dtype=torch.uint8),
        "small": torch.tensor([-3, 4], dtype=torch.int8),
        "complex": torch.randn(2, dtype=torch.complex64),
        "empty": torch.zeros(0, 3),
        "a/b%2F.c": torch.ones(1),
        "strided": torch.arange(12.0).reshape(3, 4).t(),
    }
    path = tmp_path / "w.h5"
    saving.save_state_dict(state, path)
    loaded = saving.load_state_dict(path)
    assert_tree_equal(loaded, state)
    assert loaded["scalar"].shape == () and loaded["count"].dtype == torch.int64


def test_h5_weights_file_is_readable_with_h5py(tmp_path, net):
    import h5py

    path = tmp_path / "w.h5"
    saving.save_state_dict(net.state_dict(), path)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == saving.WEIGHTS_FORMAT
        assert list(f) == list(net.state_dict())
        np.testing.assert_array_equal(f["0.weight"][()], net[0].weight.detach().numpy())
        assert f["1.num_batches_tracked"].attrs["torch_dtype"] == "int64"


def test_h5_written_by_hand_is_read_and_empty_one_refused(tmp_path):
    import h5py

    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["fc.weight"] = np.ones((2, 3), np.float32)
    assert_tree_equal(saving.load_state_dict(path), {"fc.weight": torch.ones(2, 3)})
    with h5py.File(path, "w") as f:
        f.create_group("layer_1")
    with pytest.raises(ValueError, match="holds no weights torchfit can read"):
        saving.load_state_dict(path)


def test_h5_map_location(tmp_path, net):
    path = tmp_path / "w.h5"
    saving.save_state_dict(net.state_dict(), path)
    loaded = saving.load_state_dict(path, map_location=torch.device("cpu"))
    assert loaded["0.weight"].device.type == "cpu"
    with pytest.raises(TypeError, match="map_location"):
        saving.load_state_dict(path, map_location={"cuda:0": "cpu"})


def test_h5_weights_hold_tensors_only(tmp_path):
    with pytest.raises(TypeError, match=r"state_dict\['extra'\].*Save to a \.pt path"):
        saving.save_state_dict({"w": torch.ones(1), "extra": 3}, tmp_path / "w.h5")
    assert os.listdir(tmp_path) == []


def test_importing_saving_does_not_import_h5py():
    code = "import sys, torchfit.saving; print('h5py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()}, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("fn", [
    lambda path: saving.save_state_dict({}, path),
    lambda path: saving.load_state_dict(path),
    lambda path: saving.save_checkpoint(path, {}),
    lambda path: saving.load_checkpoint(path),
])
def test_unsupported_suffix(tmp_path, fn):
    with pytest.raises(ValueError, match=r"Received suffix: '\.keras'. Expected one of: "
                                         r"\.pt, \.pth, \.h5, \.hdf5"):
        fn(tmp_path / "model.keras")


@pytest.mark.parametrize("suffix", [".pt", ".h5"])
def test_missing_file(tmp_path, suffix):
    path = tmp_path / f"nothing{suffix}"
    with pytest.raises(FileNotFoundError, match="nothing"):
        saving.load_state_dict(path)
    with pytest.raises(FileNotFoundError, match="nothing"):
        saving.load_checkpoint(path)


def test_save_refuses_a_module(tmp_path, net):
    with pytest.raises(TypeError, match=r"Pass `module.state_dict\(\)`"):
        saving.save_state_dict(net, tmp_path / "w.pt")


def test_save_refuses_what_weights_only_cannot_load(tmp_path):
    with pytest.raises(TypeError, match=r"state_dict\['best'\].*numpy.float64.*float\(x\)"):
        saving.save_state_dict({"w": torch.ones(1), "best": np.float64(0.5)}, tmp_path / "w.pt")
    assert os.listdir(tmp_path) == []


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pt_with_pickled_objects_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(1), "payload": _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError, match="Refused to load .*evil.pt.*weights_only"):
        saving.load_state_dict(path)
    with pytest.raises(pickle.UnpicklingError, match="Refused to load"):
        saving.load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_pt_that_is_not_a_dict(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.ones(1)], path)
    with pytest.raises(ValueError, match="does not contain a state dict. Received: a list"):
        saving.load_state_dict(path)


# ---------------------------------------------------------------------------------------------
# Atomic writes


def test_atomic_write_failure_keeps_previous_file(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"previous")

    def half_write(tmp):
        with open(tmp, "wb") as f:
            f.write(b"half of the new")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        saving.atomic_write(path, half_write)
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["file.bin"]


def test_interrupted_pt_save_keeps_previous_weights(tmp_path, net, monkeypatch):
    path = tmp_path / "w.pt"
    saving.save_state_dict(net.state_dict(), path)
    before = path.read_bytes()

    def killed_torch_save(obj, tmp):  # as if the process were interrupted mid-write
        with open(tmp, "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_torch_save)
    with pytest.raises(KeyboardInterrupt):
        saving.save_state_dict(_net().state_dict(), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.pt"]


def test_interrupted_h5_save_keeps_previous_weights(tmp_path, net, monkeypatch):
    path = tmp_path / "w.h5"
    saving.save_state_dict(net.state_dict(), path)
    before = path.read_bytes()
    written = []
    real_write_tensor = saving._write_tensor

    def killed_after_two(group, name, tensor):  # two datasets written, then interrupted
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(name)
        real_write_tensor(group, name, tensor)

    monkeypatch.setattr(saving, "_write_tensor", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        saving.save_state_dict(_net().state_dict(), path)
    assert written == ["0.weight", "0.bias"]
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.h5"]


def test_atomic_write_creates_folders_and_respects_umask(tmp_path):
    path = tmp_path / "a" / "b" / "new.bin"
    saving.atomic_write(path, lambda tmp: open(tmp, "wb").close())
    plain = tmp_path / "plain.bin"
    plain.touch()
    assert path.is_file()
    assert path.stat().st_mode == plain.stat().st_mode


# ---------------------------------------------------------------------------------------------
# Checkpoints


def _trained(seed=0):
    torch.manual_seed(seed)
    module = _net()
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2, betas=(0.8, 0.99))
    for _ in range(2):
        optimizer.zero_grad()
        module(torch.randn(8, 4)).pow(2).mean().backward()
        optimizer.step()
    return module, optimizer


def _training_state():
    return {
        "epoch": 3,
        "step": 10,
        "best": float("inf"),
        "nan": float("nan"),
        "mode": "min",
        "history": {"loss": [0.5, 0.25]},
        "pair": (1, "two"),
        "by_int": {0: None, 1: True},
        "rng": torch.get_rng_state(),
        "dtype": torch.float32,
        "device": torch.device("cpu"),
    }


@pytest.mark.parametrize("suffix", [".pt", ".h5"])
def test_checkpoint_round_trip_resumes_exactly(tmp_path, suffix):
    module, optimizer = _trained()
    path = tmp_path / f"ckpt{suffix}"
    saving.save_checkpoint(path, module.state_dict(), optimizer.state_dict(), _training_state())

    ckpt = saving.load_checkpoint(path)
    assert list(ckpt) == list(saving.CHECKPOINT_KEYS)
    assert ckpt["format"] == saving.CHECKPOINT_FORMAT
    assert_tree_equal(dict(ckpt["model"]), dict(module.state_dict()))
    assert_tree_equal(ckpt["optimizer"], optimizer.state_dict())
    assert_tree_equal(ckpt["training"], _training_state())

    restored, restored_optimizer = _trained(seed=1)
    restored.load_state_dict(ckpt["model"])
    restored_optimizer.load_state_dict(ckpt["optimizer"])
    for m, opt in ((module, optimizer), (restored, restored_optimizer)):
        torch.manual_seed(5)
        opt.zero_grad()
        m(torch.randn(8, 4)).pow(2).mean().backward()
        opt.step()
    assert_tree_equal(dict(restored.state_dict()), dict(module.state_dict()))


@pytest.mark.parametrize("suffix", [".pt", ".h5"])
def test_checkpoint_without_optimizer_or_training(tmp_path, net, suffix):
    path = tmp_path / f"ckpt{suffix}"
    saving.save_checkpoint(path, net.state_dict())
    ckpt = saving.load_checkpoint(path)
    assert ckpt["optimizer"] is None and ckpt["training"] is None


@pytest.mark.parametrize("suffix", [".pt", ".h5"])
def test_load_state_dict_reads_weights_out_of_a_checkpoint(tmp_path, net, suffix):
    path = tmp_path / f"ckpt{suffix}"
    saving.save_checkpoint(path, net.state_dict(), {"state": {}, "param_groups": []}, {"epoch": 1})
    assert_tree_equal(dict(saving.load_state_dict(path)), dict(net.state_dict()))


@pytest.mark.parametrize("key", ["model", "module"])
def test_load_state_dict_reads_hand_written_checkpoints(tmp_path, net, key):
    path = tmp_path / "ckpt.pt"
    torch.save({key: net.state_dict(), "epoch": 4}, path)
    assert_tree_equal(dict(saving.load_state_dict(path)), dict(net.state_dict()))


@pytest.mark.parametrize("suffix", [".pt", ".h5"])
def test_load_checkpoint_refuses_a_weights_file(tmp_path, net, suffix):
    path = tmp_path / f"w{suffix}"
    saving.save_state_dict(net.state_dict(), path)
    with pytest.raises(ValueError, match="not a torchfit checkpoint.*load_state_dict"):
        saving.load_checkpoint(path)


def test_newer_checkpoint_format_is_refused(tmp_path, net):
    path = tmp_path / "ckpt.pt"
    torch.save({"format": "torchfit.checkpoint.v2", "model": net.state_dict()}, path)
    with pytest.raises(ValueError, match="'torchfit.checkpoint.v2' checkpoint.*Upgrade"):
        saving.load_checkpoint(path)
    with pytest.raises(ValueError, match="Upgrade"):
        saving.load_state_dict(path)


@pytest.mark.parametrize("suffix", [".pt", ".h5"])
def test_checkpoint_names_the_value_it_cannot_save(tmp_path, net, suffix):
    with pytest.raises(TypeError, match=r"training_state\['best'\].*numpy.float32"):
        saving.save_checkpoint(tmp_path / f"c{suffix}", net.state_dict(),
                               training_state={"best": np.float32(0.1)})
    assert os.listdir(tmp_path) == []
