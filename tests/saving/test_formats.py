"""Tests of torchfit/saving/formats.py: format names, the checkpoint-format check, the errors."""

import pytest
import torch

from saving_helpers import _damaged
from torchfit import saving
from torchfit.saving import formats


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
def test_empty_file(tmp_path, suffix):
    path = _damaged(tmp_path, f"empty{suffix}", b"")
    with pytest.raises(ValueError, match=r"^Could not read weights from '.*empty\.(pt|h5)': the "
                                         r"file is empty \(0 bytes\)\. Save, copy or download"):
        saving.load_state_dict(path)
    with pytest.raises(ValueError, match=r"^Could not read a checkpoint from '.*empty.*': the "
                                         r"file is empty \(0 bytes\)"):
        saving.load_checkpoint(path)



# ---------------------------------------------------------------------------------------------
# The checks and errors directly


def test_check_checkpoint_format():
    formats.check_checkpoint_format(formats.CHECKPOINT_FORMAT, "ckpt.pt")  # no error
    with pytest.raises(ValueError, match=r"^'ckpt\.pt' is a 'torchfit\.checkpoint\.v9' "
                                         r"checkpoint; this version of torchfit reads "
                                         r"'torchfit\.checkpoint\.v1'\. Upgrade torchfit"):
        formats.check_checkpoint_format("torchfit.checkpoint.v9", "ckpt.pt")
    for fmt in (None, formats.WEIGHTS_FORMAT, 1):
        with pytest.raises(ValueError, match=r"^'ckpt\.pt' is not a torchfit checkpoint \(no "
                                             r"format 'torchfit\.checkpoint\.v1'\)\. If it holds "
                                             r"weights only, load it with `load_state_dict`"):
            formats.check_checkpoint_format(fmt, "ckpt.pt")


def test_public_names_are_the_formats_names():
    assert saving.CHECKPOINT_FORMAT == formats.CHECKPOINT_FORMAT == "torchfit.checkpoint.v1"
    assert saving.WEIGHTS_FORMAT == formats.WEIGHTS_FORMAT == "torchfit.weights.v1"
    assert saving.CHECKPOINT_KEYS == ("format", "model", "optimizer", "training", "version")


def test_unreadable_names_the_file_and_the_fix(tmp_path):
    err = formats.unreadable(tmp_path / "w.pt", "a checkpoint", "the file is empty (0 bytes)")
    assert isinstance(err, ValueError)
    assert str(err) == (f"Could not read a checkpoint from {str(tmp_path / 'w.pt')!r}: the file "
                        "is empty (0 bytes). Save, copy or download it again, or restore a "
                        "backup (torchfit's own saves are atomic and never leave a partial file).")


@pytest.mark.parametrize("err, expected", [
    (EOFError(), "EOFError"),
    (EOFError("Ran out of input"), "EOFError: Ran out of input"),
    (RuntimeError("first line.\nadvice"), "RuntimeError: first line"),
    (RuntimeError("Weights only load failed. WeightsUnpickler error: Unsupported operand 10\n\n"
                  "Check the documentation"), "RuntimeError: Unsupported operand 10"),
    (RuntimeError("PytorchStreamReader failed reading zip archive: failed finding central "
                  "directory. This is an internal miniz error"),
     "RuntimeError: PytorchStreamReader failed reading zip archive: failed finding central "
     "directory"),
    (OSError("x" * 300), "OSError: " + "x" * 197 + "..."),
])
def test_describe_keeps_the_first_line_only(err, expected):
    assert formats.describe(err) == expected
