"""Tests of torchfit/saving/torch_format.py: `.pt` files, damaged and unsafe ones included."""

import os
import pickle

import pytest
import torch

from saving_helpers import _damaged, _saved_bytes, assert_tree_equal
from torchfit import saving


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


@pytest.mark.parametrize("key", ["model", "module"])
def test_load_state_dict_reads_hand_written_checkpoints(tmp_path, net, key):
    path = tmp_path / "ckpt.pt"
    torch.save({key: net.state_dict(), "epoch": 4}, path)
    assert_tree_equal(dict(saving.load_state_dict(path)), dict(net.state_dict()))


# ---------------------------------------------------------------------------------------------
# Damaged files: a clear ValueError naming the path and the problem


@pytest.mark.parametrize("cut", [1, 10, 0.5, 0.99, -1])
def test_truncated_pt(tmp_path, cut):
    data = _saved_bytes(tmp_path, ".pt")
    end = int(len(data) * cut) if isinstance(cut, float) else cut
    path = _damaged(tmp_path, "cut.pt", data[:end])
    with pytest.raises(ValueError, match=r"Could not read weights from '.*cut\.pt': the file is "
                                         r"truncated or corrupt \(not a complete torch zip "
                                         r"archive\): \w+"):  # -1: inside the checksum
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

