import json
import os
import pickle
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import saving_kill_script
import torchfit
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
    assert ckpt["version"] == torchfit.__version__
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


def test_checkpoint_from_before_the_version_was_recorded(tmp_path, net):
    import h5py

    pt = tmp_path / "old.pt"
    torch.save({"format": saving.CHECKPOINT_FORMAT, "model": net.state_dict(), "optimizer": None,
                "training": {"epoch": 1}}, pt)
    h5 = tmp_path / "old.h5"
    saving.save_checkpoint(h5, net.state_dict(), training_state={"epoch": 1})
    with h5py.File(h5, "r+") as f:
        assert f.attrs["torchfit_version"] == torchfit.__version__
        del f.attrs["torchfit_version"]
    for path in (pt, h5):
        ckpt = saving.load_checkpoint(path)
        assert ckpt["version"] is None and ckpt["training"] == {"epoch": 1}
        assert_tree_equal(dict(ckpt["model"]), dict(net.state_dict()))


# ---------------------------------------------------------------------------------------------
# Damaged files: a clear ValueError naming the path and the problem


def _damaged(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _saved_bytes(tmp_path, suffix, legacy=False):
    path = tmp_path / f"source{suffix}"
    state = {"w": torch.randn(64, 32), "b": torch.randn(32)}
    if legacy:
        torch.save(state, path, _use_new_zipfile_serialization=False)
    else:
        saving.save_state_dict(state, path)
    return path.read_bytes()


@pytest.mark.parametrize("suffix", [".pt", ".h5"])
def test_empty_file(tmp_path, suffix):
    path = _damaged(tmp_path, f"empty{suffix}", b"")
    with pytest.raises(ValueError, match=r"^Could not read weights from '.*empty\.(pt|h5)': the "
                                         r"file is empty \(0 bytes\)\. Save, copy or download"):
        saving.load_state_dict(path)
    with pytest.raises(ValueError, match=r"^Could not read a checkpoint from '.*empty.*': the "
                                         r"file is empty \(0 bytes\)"):
        saving.load_checkpoint(path)


@pytest.mark.parametrize("cut", [1, 10, 0.5, 0.99, -1])
def test_truncated_pt(tmp_path, cut):
    data = _saved_bytes(tmp_path, ".pt")
    end = int(len(data) * cut) if isinstance(cut, float) else cut
    path = _damaged(tmp_path, "cut.pt", data[:end])
    with pytest.raises(ValueError, match=r"Could not read weights from '.*cut\.pt': the file is "
                                         r"truncated or corrupt \(not a complete torch zip "
                                         r"archive\): \w+(: |\. )"):
        saving.load_state_dict(path)
    with pytest.raises(ValueError, match=r"Could not read a checkpoint from .*truncated"):
        saving.load_checkpoint(path)


@pytest.mark.parametrize("cut", [10, 0.5, -1])
def test_truncated_legacy_pt(tmp_path, cut):
    data = _saved_bytes(tmp_path, ".pt", legacy=True)
    end = int(len(data) * cut) if isinstance(cut, float) else cut
    path = _damaged(tmp_path, "cut.pt", data[:end])
    with pytest.raises(ValueError, match=r"Could not read weights from '.*cut\.pt': the file is "
                                         r"truncated or corrupt \(legacy torch format\): "
                                         r"(EOFError|RuntimeError: unexpected EOF)"):
        saving.load_state_dict(path)


@pytest.mark.parametrize("legacy", [False, True])
def test_every_cut_of_a_pt_file_is_reported_as_truncated(tmp_path, legacy):
    # Cuts inside the legacy pickle can look like a refused global ("GLOBAL torch._ut."): every
    # byte of its pickled part is tried, then a spread of cuts through the tensor data.
    data = _saved_bytes(tmp_path, ".pt", legacy=legacy)
    tensor_bytes = (64 * 32 + 32) * 4
    cuts = [*range(1, len(data) - tensor_bytes, 1 if legacy else 11),
            *range(len(data) - tensor_bytes, len(data), 97)]
    path = tmp_path / "cut.pt"
    for end in cuts:
        path.write_bytes(data[:end])
        with pytest.raises(ValueError, match="the file is truncated or corrupt"):
            saving.load_state_dict(path)


def test_legacy_pt_still_loads(tmp_path):
    path = _damaged(tmp_path, "legacy.pt", _saved_bytes(tmp_path, ".pt", legacy=True))
    assert list(saving.load_state_dict(path)) == ["w", "b"]


@pytest.mark.parametrize("content", [b"hello world, not weights\n" * 10, bytes(range(256)) * 4,
                                     b'{"w": [1, 2, 3]}'])
def test_garbage_pt(tmp_path, content):
    path = _damaged(tmp_path, "garbage.pt", content)
    with pytest.raises(ValueError, match=r"Could not read weights from '.*garbage\.pt': the file "
                                         r"is not a torch\.save file: its \d+ bytes start with "
                                         r"b.*, neither a zip archive nor the legacy torch header"):
        saving.load_state_dict(path)


@pytest.mark.parametrize("member", ["notes.txt", "archive/notes.txt"])
def test_zip_that_is_not_a_torch_archive(tmp_path, member):
    import zipfile

    path = tmp_path / "other.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, "not a checkpoint")
    with pytest.raises(ValueError, match=r"'.*other\.pt': the file is corrupt \(torch cannot read "
                                         r"its zip archive\): RuntimeError: "):
        saving.load_state_dict(path)


@pytest.mark.parametrize("legacy", [False, True])
def test_pickled_payload_is_refused_not_reported_as_corrupt(tmp_path, monkeypatch, legacy):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(1), "payload": _Evil()}, path,
               _use_new_zipfile_serialization=not legacy)
    for load in (saving.load_state_dict, saving.load_checkpoint):
        with pytest.raises(pickle.UnpicklingError, match=r"Refused to load '.*evil\.pt'.*never "
                                                         r"unpickles arbitrary objects.*"
                                                         r"GLOBAL (posix|nt)\.system"):
            load(path)
    # A bare pickle (not torch.save's layout) is not even handed to the unpickler.
    (tmp_path / "bare.pt").write_bytes(pickle.dumps(_Evil(), protocol=2))
    with pytest.raises(ValueError, match="bare.pt': the file is not a torch.save file"):
        saving.load_state_dict(tmp_path / "bare.pt")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("cut", [8, 0.5, -1])
def test_truncated_h5(tmp_path, cut):
    data = _saved_bytes(tmp_path, ".h5")
    end = int(len(data) * cut) if isinstance(cut, float) else cut
    path = _damaged(tmp_path, "cut.h5", data[:end])
    with pytest.raises(ValueError, match=r"Could not read weights from '.*cut\.h5': the file is "
                                         r"truncated or corrupt \(HDF5 could not open it\): "
                                         r"OSError: Unable to .*open file"):
        saving.load_state_dict(path)
    with pytest.raises(ValueError, match=r"Could not read a checkpoint from .*truncated"):
        saving.load_checkpoint(path)


@pytest.mark.parametrize("kind", ["weights", "checkpoint"])
def test_every_cut_of_an_h5_file_is_reported(tmp_path, net, kind):
    path = tmp_path / "source.h5"
    if kind == "weights":
        saving.save_state_dict(net.state_dict(), path)
    else:
        saving.save_checkpoint(path, net.state_dict(), {"state": {}, "param_groups": []},
                               {"epoch": 1, "rng": torch.get_rng_state()})
    data = path.read_bytes()
    for end in range(1, len(data), 37):
        path.write_bytes(data[:end])
        with pytest.raises(ValueError, match="Could not read .*: (the file is truncated or "
                                             "corrupt|not an HDF5 file)"):
            saving.load_checkpoint(path) if kind == "checkpoint" else saving.load_state_dict(path)


def test_garbage_h5(tmp_path):
    path = _damaged(tmp_path, "garbage.h5", b"hello world, not weights\n" * 10)
    with pytest.raises(ValueError, match=r"Could not read weights from '.*garbage\.h5': not an "
                                         r"HDF5 file \(its 250 bytes start with no HDF5 "
                                         r"signature\)"):
        saving.load_state_dict(path)


def test_h5_with_damaged_data_inside(tmp_path):
    import h5py

    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        dataset = f.create_dataset("w", data=np.arange(4096, dtype=np.float32), chunks=(4096,),
                                   compression="gzip")
        chunk = dataset.id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    data[chunk.byte_offset:chunk.byte_offset + chunk.size] = b"\xff" * chunk.size
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"Could not read weights from '.*w\.h5': the file is "
                                         r"corrupt \(HDF5 could not read it\): OSError: "):
        saving.load_state_dict(path)


def test_h5_checkpoint_missing_a_group(tmp_path, net):
    import h5py

    path = tmp_path / "ckpt.h5"
    saving.save_checkpoint(path, net.state_dict(), training_state={"epoch": 1})
    with h5py.File(path, "r+") as f:
        del f["training/tensors"]
        del f["model"]
    with pytest.raises(ValueError, match=r"Could not read weights from .*incomplete or not "
                                         r"torchfit's: '/model' should be an HDF5 Group, found "
                                         r"nothing"):
        saving.load_state_dict(path)
    with pytest.raises(ValueError, match=r"Could not read a checkpoint .*'/model' should be"):
        saving.load_checkpoint(path)


def test_h5_with_malformed_structure_json(tmp_path, net):
    import h5py

    path = tmp_path / "ckpt.h5"
    saving.save_checkpoint(path, net.state_dict(), training_state={"epoch": 1})
    with h5py.File(path, "r+") as f:
        del f["training/structure"]
        f["training/structure"] = '{"__nope__": 1}'
    with pytest.raises(ValueError, match=r"'/training/structure' is not the JSON torchfit writes "
                                         r"\(ValueError: Unknown marker '__nope__'"):
        saving.load_checkpoint(path)


def test_h5_non_numeric_dataset(tmp_path):
    import h5py

    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        f["name"] = "a string, not a tensor"
    with pytest.raises(ValueError, match=r"dataset '/name' holds object data, not numbers"):
        saving.load_state_dict(path)


# ---------------------------------------------------------------------------------------------
# Untrusted .h5: nothing outside the file is read, nothing absurd is allocated

SECRET = b"API_KEY=hunter2!"


@pytest.fixture
def outside(tmp_path):
    """A secret file and another HDF5 file that a crafted .h5 might try to pull in."""
    import h5py

    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["w"] = np.frombuffer(SECRET, dtype=np.uint8)
    return secret, other


def _evil_h5(path, build, fmt=saving.WEIGHTS_FORMAT):
    import h5py

    with h5py.File(path, "w") as f:
        if fmt is not None:
            f.attrs["format"] = fmt
        f["fine"] = np.ones(3, np.float32)
        build(f, h5py)
    return path


def test_h5_external_link_is_refused(tmp_path, outside):
    path = _evil_h5(tmp_path / "w.h5",
                    lambda f, h5py: f.__setitem__("w", h5py.ExternalLink(str(outside[1]), "/w")))
    with pytest.raises(ValueError, match=r"^Refused to read weights from '.*w\.h5': '/w' is an "
                                         r"external link to '/w' in '.*other\.h5'\. torchfit "
                                         r"reads only data stored inside the file itself"):
        saving.load_state_dict(path)


def test_h5_soft_link_is_refused(tmp_path):
    path = _evil_h5(tmp_path / "w.h5", lambda f, h5py: f.__setitem__("w", h5py.SoftLink("/fine")))
    with pytest.raises(ValueError, match=r"^Refused to read weights from '.*': '/w' is a soft "
                                         r"link to '/fine'"):
        saving.load_state_dict(path)


def test_h5_checkpoint_linking_a_group_elsewhere_is_refused(tmp_path, net, outside):
    import h5py

    path = tmp_path / "ckpt.h5"
    saving.save_checkpoint(path, net.state_dict(), training_state={"epoch": 1})
    with h5py.File(path, "r+") as f:
        del f["training"]
        f["training"] = h5py.ExternalLink(str(outside[1]), "/")
    with pytest.raises(ValueError, match=r"^Refused to read a checkpoint from '.*ckpt\.h5': "
                                         r"'/training' is an external link"):
        saving.load_checkpoint(path)


def test_h5_external_storage_is_refused(tmp_path, outside):
    secret = str(outside[0])
    path = _evil_h5(tmp_path / "w.h5", lambda f, h5py: f.create_dataset(
        "w", shape=(len(SECRET),), dtype="u1", external=[(secret, 0, len(SECRET))]))
    with pytest.raises(ValueError, match=r"^Refused to read weights from '.*w\.h5': dataset '/w' "
                                         r"keeps its data in external files \('.*secret\.txt'\)"):
        saving.load_state_dict(path)


def test_h5_virtual_dataset_is_refused(tmp_path, outside):
    def build(f, h5py):
        layout = h5py.VirtualLayout(shape=(len(SECRET),), dtype="u1")
        layout[:] = h5py.VirtualSource(str(outside[1]), "w", shape=(len(SECRET),))
        f.create_virtual_dataset("w", layout)

    path = _evil_h5(tmp_path / "w.h5", build)
    with pytest.raises(ValueError, match=r"^Refused to read weights from '.*w\.h5': dataset '/w' "
                                         r"is a virtual dataset"):
        saving.load_state_dict(path)


def test_h5_shape_bomb_is_refused_before_allocating(tmp_path):
    path = _evil_h5(tmp_path / "w.h5", lambda f, h5py: f.create_dataset(
        "w", shape=(10**12,), dtype="f4", chunks=(2**20,), compression="gzip", fillvalue=0))
    assert path.stat().st_size < 10_000  # declares 4 TB
    with pytest.raises(ValueError, match=r"^Refused to read weights from '.*w\.h5': dataset '/w' "
                                         r"declares shape \(1000000000000,\) of float32, "
                                         r"4,000,000,000,000 bytes, in a [\d,]+-byte file\. No "
                                         r"compression reaches 1000x"):
        saving.load_state_dict(path)


def test_h5_contiguous_dataset_larger_than_the_file(tmp_path):
    path = _evil_h5(tmp_path / "w.h5", lambda f, h5py: f.create_dataset(
        "w", shape=(10**9,), dtype="f8"))  # contiguous, never written: nothing allocated on disk
    with pytest.raises(ValueError, match=r"^Could not read weights from '.*': the file is "
                                         r"truncated or corrupt: dataset '/w' declares "
                                         r"8,000,000,000 bytes"):
        saving.load_state_dict(path)


def test_h5_compressed_weights_within_the_bound_still_load(tmp_path):
    import h5py

    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("zeros", data=np.zeros(2**18, np.float32), compression="gzip")
    assert path.stat().st_size * 100 < 2**20  # compressed more than 100x
    assert torch.equal(saving.load_state_dict(path)["zeros"], torch.zeros(2**18))


# ---------------------------------------------------------------------------------------------
# Crash safety: a child process SIGKILLs itself at several points of a save


KILL_SCRIPT = os.path.join(os.path.dirname(__file__), "saving_kill_script.py")


@pytest.fixture(scope="module")
def killed_saves(tmp_path_factory):
    """One child process imports torch once, then forks a writer per kill point and format."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [root, os.environ.get("PYTHONPATH", "")])}
    paths = {(point, suffix): tmp_path_factory.mktemp(f"killed_{point}_{suffix[1:]}")
             / f"weights{suffix}"
             for suffix in (".pt", ".h5") for point in saving_kill_script.POINTS}
    args = [str(arg) for (point, _), path in paths.items() for arg in (path, point)]
    child = subprocess.run([sys.executable, KILL_SCRIPT, *args], env=env, capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    ends = json.loads(child.stdout)
    return {key: (path, ends[f"{path} {key[0]}"], child.stderr) for key, path in paths.items()}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs POSIX fork and signals")
@pytest.mark.parametrize("suffix", [".pt", ".h5"])
@pytest.mark.parametrize("point", saving_kill_script.POINTS)
def test_killed_save_leaves_the_old_or_the_new_file(killed_saves, tmp_path, point, suffix):
    path, end, stderr = killed_saves[point, suffix]
    assert end == signal.SIGKILL, stderr  # the writer died at `point`, not before, not after
    old, new = saving_kill_script.make_state(1), saving_kill_script.make_state(2)

    # The target is always complete: the old version, or the new one once os.replace ran.
    assert_tree_equal(saving.load_state_dict(path), new if point == "replaced" else old)
    left = sorted(set(os.listdir(path.parent)) - {path.name})
    if point == "replaced":
        assert left == []
        return

    # Before the rename, the dead writer's temp file stays: hidden, recognizable, never the target.
    assert len(left) == 1 and left[0].startswith(f".{path.name}.tmp-"), left
    temp = tmp_path / f"temp{suffix}"
    shutil.copyfile(path.parent / left[0], temp)
    if point == "created":
        assert temp.stat().st_size == 0
    elif point == "half" and suffix == ".pt":
        with pytest.raises(ValueError, match="truncated or corrupt"):
            saving.load_state_dict(temp)
    elif point == "half":  # flushed HDF5: a valid file holding half the tensors
        assert list(saving.load_state_dict(temp)) == ["layer0.weight", "layer1.weight"]
    else:  # synced: the complete new version, just never renamed
        assert_tree_equal(saving.load_state_dict(temp), new)

    # The next successful save of the same target removes it: its writer is gone.
    saving.save_state_dict(saving_kill_script.make_state(3), path)
    assert os.listdir(path.parent) == [path.name]
    assert_tree_equal(saving.load_state_dict(path), saving_kill_script.make_state(3))


def test_stale_temp_cleanup_spares_live_writers_and_other_hosts(tmp_path):
    path = tmp_path / "w.pt"
    prefix = f".w.pt.tmp-{saving._HOST_TAG}"
    names = {
        "dead": f"{prefix}-99999999-0123abcd",  # above any pid_max: that process cannot exist
        "live": f"{prefix}-{os.getppid()}-0123abcd",
        "mine": f"{prefix}-{os.getpid()}-0123abcd",  # maybe a save in another thread
        "other host": ".w.pt.tmp-ffffffff-99999999-0123abcd",
        "other target": f".x.pt.tmp-{saving._HOST_TAG}-99999999-0123abcd",
        "not ours": ".w.pt.tmp-something-else",
    }
    for name in names.values():
        (tmp_path / name).touch()
    saving.save_state_dict({"w": torch.ones(1)}, path)
    expected = {"w.pt"} | set(names.values()) - {names["dead"]}
    if os.name != "posix":
        expected.add(names["dead"])
    assert set(os.listdir(tmp_path)) == expected
