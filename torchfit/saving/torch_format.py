"""`.pt` / `.pth` files: `torch.save` to write, `weights_only=True` to read, diagnosed when damaged.

A weights file is `torch.save(state_dict)`; a checkpoint is the dict described in
`torchfit.saving`, `torch.save`d. Either ends with a sha256 checksum in the zip comment
(`checksum`), checked before anything is unpickled; the file stays a plain torch file that
`torch.load(path, weights_only=True)` reads. Reading goes through torch's restricted unpickler
(`weights_only=True`), so no arbitrary object is ever built; what it refuses is reported as a
`pickle.UnpicklingError("Refused to load ...")` that names the offending class.

When `torch.load` fails, the file's first bytes say why: an empty file, a torch zip archive that
is truncated or that torch cannot read, a legacy (pre-zip) torch file whose pickles are cut short,
or no torch header at all. Each becomes a `ValueError("Could not read ... from '<path>': ...")`
(`formats.unreadable`). The file is inspected only after a failure, so a valid file costs
nothing extra.
"""

import os
import pickle
import pickletools
import struct
import zipfile
from collections.abc import Mapping

import torch

from torchfit.saving.checksum import add_checksum, open_verified
from torchfit.saving.formats import (CHECKPOINT_KEYS, check_checkpoint_format, describe,
                                     unreadable)


def write_file(tmp_path, obj):
    """Writes `obj` (a state dict or checkpoint dict) to `tmp_path` with `torch.save`, checksummed.

    The caller has checked `obj` with `tree.encode_tree`, so `read_*_file` can load it back.

    Example:
        >>> from torchfit.saving.torch_format import read_weights_file, write_file
        >>> write_file("w.pt", {"w": torch.ones(2)})
        >>> read_weights_file("w.pt", "cpu")
        {'w': tensor([1., 1.])}
    """
    torch.save(obj, tmp_path)
    add_checksum(tmp_path)


def read_weights_file(path, map_location):
    """The state dict in a `.pt` weights file, or the `"model"`/`"module"` part of a checkpoint."""
    obj = _torch_load(path, map_location, "weights")
    if not isinstance(obj, Mapping):
        raise ValueError(
            f"{os.fspath(path)!r} does not contain a state dict. Received: a "
            f"{type(obj).__name__}. Expected: a dict of tensors (from `save_state_dict` or "
            "`torch.save(module.state_dict(), path)`) or a checkpoint holding one under 'model'."
        )
    return _weights_from_dict(obj, path)


def read_checkpoint_file(path, map_location):
    """The checkpoint in a `.pt` file, as a dict with the keys of `CHECKPOINT_KEYS`."""
    obj = _torch_load(path, map_location, "a checkpoint")
    fmt = obj.get("format") if isinstance(obj, Mapping) else None
    check_checkpoint_format(fmt, path)
    return {key: obj.get(key) for key in CHECKPOINT_KEYS}


def _weights_from_dict(obj, path):
    fmt = obj.get("format")
    if isinstance(fmt, str) and fmt.startswith("torchfit.checkpoint."):
        check_checkpoint_format(fmt, path)  # refuses other versions
        return obj["model"]
    if all(isinstance(value, torch.Tensor) for value in obj.values()):
        return obj  # a plain state dict (possibly with a tensor named "model")
    for key in ("model", "module"):
        if isinstance(obj.get(key), Mapping):
            return obj[key]
    return obj  # a state dict with non-tensor extra state


def _torch_load(path, map_location, what):
    with open_verified(path, what) as f:  # a damaged file never reaches the unpickler
        return _torch_load_verified(f, path, map_location, what)


def _torch_load_verified(f, path, map_location, what):
    try:
        return torch.load(f, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        problem = _pt_problem(path, err)
        if problem is not None:  # damaged, or not a torch file: nothing was refused
            raise unreadable(path, what, problem) from err
        raise pickle.UnpicklingError(
            f"Refused to load {os.fspath(path)!r}: it contains objects other than tensors and "
            "plain containers, and torchfit never unpickles arbitrary objects "
            "(it loads with weights_only=True). If the file is from a source you trust, load it "
            "yourself with torch.load and weights_only=False, then re-save the state dict "
            f"with torchfit.saving.save_state_dict.{_unpickler_reason(err)}"
        ) from err
    except Exception as err:
        problem = _pt_problem(path, err)
        if problem is None:  # e.g. map_location names a device this machine lacks
            raise
        raise unreadable(path, what, problem) from err


# torch.save writes a zip archive; with _use_new_zipfile_serialization=False, a pickle stream that
# opens with this magic number (as a protocol-2 LONG1, or as text for protocols 0 and 1).
_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_HEADERS = (b"\x8a\x0a" + _LEGACY_MAGIC.to_bytes(10, "little"), str(_LEGACY_MAGIC).encode())
_LEGACY_START = b"\x80\x02" + _LEGACY_HEADERS[0]  # the first 14 bytes at the default protocol


def _pt_problem(path, err):
    """Says what is wrong with a `.pt` file that torch.load failed on, or None if it looks fine.

    The file is inspected only after a failure, so a valid file costs nothing extra; None means
    that the error is not about the file's bytes (a refused pickle, a missing device, ...).
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return None
    if size == 0:
        return "the file is empty (0 bytes)"
    if head[:4] == _ZIP_MAGIC[:len(head[:4])]:
        if not zipfile.is_zipfile(path):
            return ("the file is truncated or corrupt (not a complete torch zip archive): "
                    f"{describe(err)}")
        if _is_torch_read_error(err):
            return f"the file is corrupt (torch cannot read its zip archive): {describe(err)}"
        return None
    if any(header in head for header in _LEGACY_HEADERS) or _LEGACY_START.startswith(head):
        # A cut inside a pickle can surface as a refusal ("Unsupported global: GLOBAL torch._ut."),
        # so a refusal counts only if the pickles themselves are complete.
        if _is_torch_read_error(err) or not _legacy_pickles_complete(path):
            return f"the file is truncated or corrupt (legacy torch format): {describe(err)}"
        return None
    return (f"the file is not a torch.save file: its {size} bytes start with {head[:8]!r}, "
            f"neither a zip archive nor the legacy torch header")


def _legacy_pickles_complete(path):
    """Whether the four pickles that open a legacy torch file (magic number, protocol, system
    info, the object) are complete. pickletools only decodes opcodes: it builds no object."""
    with open(path, "rb") as f:
        try:
            for _ in range(4):
                for _ in pickletools.genops(f):
                    pass
        except Exception:  # ValueError: "pickle exhausted before seeing STOP", bad opcodes
            return False
    return True


def _is_torch_read_error(err):
    # What torch.load raises on damaged bytes (measured, torch 2.x): EOFError, KeyError and
    # OSError(EINVAL) from the pickle and zip readers, and RuntimeErrors that say so.
    if isinstance(err, (EOFError, KeyError, IndexError, struct.error, zipfile.BadZipFile,
                        UnicodeDecodeError)):
        return True
    if isinstance(err, OSError):
        return not isinstance(err, (PermissionError, FileNotFoundError, IsADirectoryError))
    if isinstance(err, RuntimeError):
        text = str(err)
        return any(marker in text for marker in (
            "PytorchStreamReader", "inline_container", "hasRecord", "unexpected EOF",
            "corrupt", "invalid load key"))
    return False


def _unpickler_reason(err):
    # torch wraps the unpickler's one-line verdict ("Unsupported global: GLOBAL __main__.Evil
    # ...", "Trying to load unsupported GLOBAL posix.system whose module posix is blocked.") in
    # paragraphs of advice; the verdict names the offending class, which is what the user needs.
    text = str(err)
    if "WeightsUnpickler error:" in text:
        return " " + text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()[0]
    paragraphs = [part.strip() for part in text.split("\n\n") if part.strip()]
    verdicts = [part for part in paragraphs[1:] if not part.startswith("Check the documentation")]
    return " " + verdicts[0].splitlines()[0] if verdicts else ""
