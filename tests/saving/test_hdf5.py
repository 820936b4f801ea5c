"""Tests of torchfit/saving/hdf5.py: `.h5` files, damaged and untrusted ones included."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from saving_helpers import _damaged, _saved_bytes, assert_tree_equal
from torchfit import saving


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
# Damaged files: a clear ValueError naming the path and the problem


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
# like=: only the datasets that fit the model are read


def _bomb_h5(path):
    """~270 KB on disk: 'weight' declares 64 MB of float32 (zeros, compressed ~250x, within the
    1000x bound), 'bias' fits nn.Linear(4, 2), and 'padding' is 200 KB of incompressible bytes."""
    import h5py

    with h5py.File(path, "w") as f:
        weight = f.create_dataset("weight", shape=(4096, 4096), dtype="float32",
                                  chunks=(256, 4096), compression="gzip", compression_opts=9)
        for row in range(0, 4096, 256):
            weight[row:row + 256] = 0
        f.create_dataset("bias", data=np.arange(2, dtype=np.float32))
        f.create_dataset("padding", data=np.random.default_rng(0).integers(
            0, 255, 200_000, dtype=np.uint8))
    return path


def test_h5_like_reads_only_the_datasets_that_fit(tmp_path):
    import tracemalloc

    path = _bomb_h5(tmp_path / "bomb.h5")
    assert path.stat().st_size < 400_000
    like = torch.nn.Linear(4, 2).state_dict()
    tracemalloc.start()
    try:
        loaded = saving.load_state_dict(path, like=like)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20  # the 64 MB dataset was never read
    assert loaded["weight"].is_meta and loaded["weight"].shape == (4096, 4096)
    assert loaded["weight"].dtype == torch.float32
    assert loaded["padding"].is_meta and loaded["padding"].dtype == torch.uint8  # not in like
    assert torch.equal(loaded["bias"], torch.tensor([0.0, 1.0]))  # fits: read
    # Without like, everything within the 1000x bound is read, as before.
    assert torch.equal(saving.load_state_dict(path)["weight"], torch.zeros(4096, 4096))


def test_h5_like_compares_the_declared_torch_dtype(tmp_path, net):
    saving.save_state_dict({"w": torch.ones(3, dtype=torch.bfloat16)}, tmp_path / "w.h5")
    bf16, int16 = torch.zeros(3, dtype=torch.bfloat16), torch.zeros(3, dtype=torch.int16)
    fits = saving.load_state_dict(tmp_path / "w.h5", like={"w": bf16})
    assert torch.equal(fits["w"], torch.ones(3, dtype=torch.bfloat16))
    other = saving.load_state_dict(tmp_path / "w.h5", like={"w": int16})
    assert other["w"].is_meta and other["w"].dtype == torch.bfloat16  # stored as int16 bits
    saving.save_checkpoint(tmp_path / "c.h5", net.state_dict())
    checkpoint = saving.load_checkpoint(tmp_path / "c.h5", map_location="cpu",
                                        like={"0.weight": torch.zeros(1)})
    assert checkpoint["model"]["0.weight"].is_meta
    assert all(value.is_meta for value in checkpoint["model"].values())
