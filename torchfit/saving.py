"""Weights and checkpoint files: `.pt` (torch) or `.h5` (HDF5), written atomically, loaded safely.

Two promises hold for every file this module writes or reads:

* **Nothing half-written.** Every file goes through `atomic_write`: it is written to a temporary
  file in the target's folder, flushed to disk, then renamed over the target with `os.replace`.
  A crash or an exception mid-write leaves the previous file untouched.
* **Loading never unpickles arbitrary objects.** `.pt` files are read with
  `torch.load(..., weights_only=True)`; `.h5` files hold only arrays and JSON text. To keep that
  true, saving refuses anything other than tensors, `None`, `bool`, `int`, `float`, `str`,
  `torch.dtype`, `torch.device`, and lists, tuples and dicts of those.

File layouts
------------
Weights (`save_state_dict`): a `.pt` file is `torch.save(state_dict)`. A `.h5` file has the root
attribute `format = "torchfit.weights.v1"` and one dataset per state-dict key, in order, named by
the key (`"fc.weight"`; a `/` in a key is written `%2F` and `%` is written `%25`). Each dataset
has the attribute `torch_dtype` (`"float32"`, `"bfloat16"`, `"int64"`, ...), so dtypes NumPy
lacks round-trip exactly; 0-d tensors stay 0-d. A `.h5` weights file holds tensors only.

Checkpoints (`save_checkpoint`, written by `Model.save`): a dict with exactly the keys of
`CHECKPOINT_KEYS`::

    {
        "format": "torchfit.checkpoint.v1",   # CHECKPOINT_FORMAT
        "model": {...},                       # the module's state_dict
        "optimizer": {...} or None,           # optimizer.state_dict()
        "training": {...} or None,            # epoch, step, schedule, RNG and callback states
        "version": "0.1.0",                   # torchfit.__version__ of the writer
    }

A `.pt` checkpoint is that dict, `torch.save`d. A `.h5` checkpoint has the root attributes
`format = "torchfit.checkpoint.v1"` and `torchfit_version`, a group `model` laid out like a `.h5`
weights file, and, when not None, groups `optimizer` and `training`, each holding a scalar string
dataset `structure` (the value as JSON, with tensors replaced by `{"__tensor__": i}`) and a group
`tensors` with datasets `"0"`, `"1"`, ... . `load_state_dict` reads the weights out of either kind
of checkpoint. Checkpoints written before the version was recorded load with `"version": None`.

Damaged and untrusted files
---------------------------
An empty, truncated or garbled file raises `ValueError("Could not read weights from '<path>': the
file is empty (0 bytes)" / "...truncated or corrupt..." / "...not an HDF5 file...")`, never torch's
bare `EOFError` or h5py's `OSError`. A `.pt` file holding pickled objects raises
`pickle.UnpicklingError("Refused to load ...")` without running them. A `.h5` file is read without
following soft or external links and without external or virtual storage (each is refused with a
`ValueError` naming the HDF5 object), and a dataset that declares more bytes than the file could
hold (`_H5_MAX_EXPANSION` times the file size for chunked, possibly compressed data; the file size
itself otherwise) is refused before anything is allocated.

Temporary files
---------------
`atomic_write` writes to `.<name>.tmp-<host>-<pid>-<random>` next to the target (`<host>`: 8 hex
digits hashed from the host name): a hidden name that never ends in the target's suffix, so nothing
that loads the target or globs `*.pt` ever sees one. A process
killed mid-save leaves its temp file behind; the next successful save of the same target on the
same host removes the temp files of that target whose writing process is gone (POSIX only; on
other platforms, and for other hosts sharing the folder, they are left for the user to delete).

h5py is imported only when a `.h5` file is read or written.
"""

import contextlib
import hashlib
import json
import os
import pickle
import pickletools
import secrets
import socket
import struct
import urllib.parse
import zipfile
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import torch

CHECKPOINT_FORMAT = "torchfit.checkpoint.v1"
CHECKPOINT_KEYS = ("format", "model", "optimizer", "training", "version")
WEIGHTS_FORMAT = "torchfit.weights.v1"

_TORCH_SUFFIXES = (".pt", ".pth")
_H5_SUFFIXES = (".h5", ".hdf5")
_SUFFIXES = _TORCH_SUFFIXES + _H5_SUFFIXES


# ---------------------------------------------------------------------------------------------
# Atomic writes


def atomic_write(path, write_fn):
    """Write a file so that readers only ever see the old content or the complete new content.

    `write_fn(tmp_path)` writes the new content to `tmp_path`, a fresh, empty temporary file in
    the same folder as `path` (so the final rename never crosses a file system). Then the
    temporary file is flushed to disk (`os.fsync`), renamed onto `path` with `os.replace`, and
    the folder is fsynced where the platform allows, so the rename itself survives a crash.
    If `write_fn` raises, the temporary file is removed, the exception propagates, and whatever
    was at `path` before is untouched. If the process is killed instead, `path` is still
    untouched and the temporary file stays; the next successful `atomic_write` of the same
    `path` removes it (see "Temporary files" in the module docstring). Missing parent folders
    are created.

    Args:
        path: Target file path (`str` or `os.PathLike`).
        write_fn: Callable taking the temporary file's path as a `str`.

    Example:
        >>> atomic_write("model.pt", lambda tmp: torch.save(model.state_dict(), tmp))
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    prefix = _temp_prefix(path)
    tmp_path = os.path.join(folder, f"{prefix}{_HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}")
    # O_EXCL: never clobber another writer's temp file; mode 0o666 lets the umask decide, so the
    # final file gets the same permissions a plain open() would have given it.
    os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write_fn(tmp_path)
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp_path)
        raise
    _fsync_folder(folder)
    _remove_stale_temp_files(folder, prefix)


# Temp files are named after the host (hashed: short, and free of characters a file name cannot
# hold) so that a process only ever judges the liveness of processes on its own machine.
_HOST_TAG = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _temp_prefix(path):
    return f".{os.path.basename(path)}.tmp-"


def _remove_stale_temp_files(folder, prefix):
    """Removes temp files of this target left by killed writers on this host (best effort)."""
    if os.name != "posix":
        return  # os.kill(pid, 0) probes liveness only on POSIX; on Windows it kills
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        fields = name[len(prefix):].split("-")
        if len(fields) != 3 or fields[0] != _HOST_TAG or not fields[1].isdigit():
            continue  # another host's, or a name torchfit did not make: leave it
        pid = int(fields[1])
        if pid == os.getpid() or _process_exists(pid):
            continue  # possibly a save still in progress
        with contextlib.suppress(OSError):
            os.remove(os.path.join(folder, name))


def _process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by someone else
        return True
    return True


def _fsync_folder(folder):
    # Makes the rename durable on POSIX; Windows cannot open a folder, and that is fine.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Public API


def save_state_dict(state_dict, path):
    """Save a state dict to `path`, atomically; the format follows the suffix.

    `.pt` / `.pth`: `torch.save`. `.h5` / `.hdf5`: HDF5 via h5py, one dataset per key (see the
    module docstring). Dtypes, shapes (0-d included) and key order round-trip exactly through
    `load_state_dict`.

    Args:
        state_dict: A mapping of names to tensors, e.g. `module.state_dict()`.
        path: Destination; its suffix picks the format.

    Raises:
        ValueError: The suffix is not one of `.pt`, `.pth`, `.h5`, `.hdf5`.
        TypeError: `state_dict` is not a mapping, or holds values that could not be loaded back
            safely (or, for `.h5`, values that are not tensors).

    Example:
        >>> save_state_dict(net.state_dict(), "net.h5")
        >>> net.load_state_dict(load_state_dict("net.h5"))
    """
    suffix = _check_suffix(path, "save_state_dict")
    _check_state_dict(state_dict, "state_dict")
    if suffix in _TORCH_SUFFIXES:
        _encode_tree(state_dict, [], "state_dict")  # refuse what weights_only could not load
        atomic_write(path, lambda tmp: torch.save(state_dict, tmp))
    else:
        atomic_write(path, lambda tmp: _h5_write_weights_file(tmp, state_dict))


def load_state_dict(path, map_location="cpu"):
    """Load the weights saved at `path`: a weights file, or the `"model"` part of a checkpoint.

    `.pt` / `.pth` files are read by torch's loader with `weights_only=True`, so no arbitrary
    object is ever unpickled. A `.pt` dict that is not a
    plain state dict but holds one under `"model"` or `"module"` (a torchfit checkpoint, or a
    common hand-written checkpoint) yields that sub-dict. `.h5` / `.hdf5` files are read with
    h5py into CPU tensors, then moved to `map_location` if it names a device.

    Args:
        path: File to read; its suffix picks the format.
        map_location: As for `torch.load`; for `.h5` a device string or `torch.device`.

    Returns:
        A dict of tensors, ready for `module.load_state_dict`.

    Raises:
        FileNotFoundError: Nothing exists at `path`.
        ValueError: Unsupported suffix; the file holds no state dict; the file is empty,
            truncated or corrupt ("Could not read weights from ..."); or a `.h5` file uses
            links, external or virtual storage, or declares an absurd size ("Refused to read
            weights from ...").
        pickle.UnpicklingError: A `.pt` file holds objects other than tensors and plain
            containers; it is refused rather than executed.
    """
    suffix = _check_suffix(path, "load_state_dict")
    _check_exists(path)
    if suffix in _H5_SUFFIXES:
        return _h5_read_weights_file(path, map_location)
    obj = _torch_load(path, map_location, "weights")
    if not isinstance(obj, Mapping):
        raise ValueError(
            f"{os.fspath(path)!r} does not contain a state dict. Received: a "
            f"{type(obj).__name__}. Expected: a dict of tensors (from `save_state_dict` or "
            "`torch.save(module.state_dict(), path)`) or a checkpoint holding one under 'model'."
        )
    return _weights_from_dict(obj, path)


def save_checkpoint(path, model_state, optimizer_state=None, training_state=None):
    """Save a full training checkpoint (see the module docstring for the layout), atomically.

    Args:
        path: Destination, `.pt`/`.pth` or `.h5`/`.hdf5`.
        model_state: The module's `state_dict()`.
        optimizer_state: `optimizer.state_dict()`, or None.
        training_state: A dict of plain values (epoch, step, schedule, RNG and callback
            states), or None.

    Raises:
        ValueError: Unsupported suffix.
        TypeError: A value that could not be loaded back safely, named by its place, e.g.
            `training_state['best']` holding a NumPy scalar (convert it with `float()`).

    Example:
        >>> save_checkpoint("ckpt.pt", net.state_dict(), opt.state_dict(), {"epoch": 3})
        >>> ckpt = load_checkpoint("ckpt.pt")
        >>> net.load_state_dict(ckpt["model"]); opt.load_state_dict(ckpt["optimizer"])
    """
    import torchfit  # here, not at the top: torchfit imports this module

    suffix = _check_suffix(path, "save_checkpoint")
    _check_state_dict(model_state, "model_state")
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "model": model_state,
        "optimizer": optimizer_state,
        "training": training_state,
        "version": torchfit.__version__,
    }
    if suffix in _TORCH_SUFFIXES:
        _encode_tree(model_state, [], "model_state")
        _encode_tree(optimizer_state, [], "optimizer_state")
        _encode_tree(training_state, [], "training_state")
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))
    else:
        atomic_write(path, lambda tmp: _h5_write_checkpoint_file(tmp, checkpoint))


def load_checkpoint(path, map_location="cpu"):
    """Load a checkpoint written by `save_checkpoint` (or `Model.save`).

    Args:
        path: A `.pt`/`.pth` or `.h5`/`.hdf5` checkpoint file.
        map_location: As for `load_state_dict`.

    Returns:
        A dict with the keys of `CHECKPOINT_KEYS`: `"format"`, `"model"`, `"optimizer"`,
        `"training"` (these two may be None) and `"version"` (the torchfit version that wrote
        the file; None for files written before it was recorded).

    Raises:
        FileNotFoundError: Nothing exists at `path`.
        ValueError: Unsupported suffix; the file is not a torchfit checkpoint (for example a
            weights-only file: read those with `load_state_dict`); it is empty, truncated or
            corrupt; or a `.h5` file is refused as for `load_state_dict`.
        pickle.UnpicklingError: A `.pt` file holds arbitrary objects; it is refused.
    """
    suffix = _check_suffix(path, "load_checkpoint")
    _check_exists(path)
    if suffix in _H5_SUFFIXES:
        return _h5_read_checkpoint_file(path, map_location)
    obj = _torch_load(path, map_location, "a checkpoint")
    fmt = obj.get("format") if isinstance(obj, Mapping) else None
    _check_checkpoint_format(fmt, path)
    return {key: obj.get(key) for key in CHECKPOINT_KEYS}


# ---------------------------------------------------------------------------------------------
# Checks shared by the public functions


def _check_suffix(path, fn_name):
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(
            f"`{fn_name}` expects a file path (str or os.PathLike). "
            f"Received: path={path!r} of type {type(path).__name__}."
        ) from None
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in _SUFFIXES:
        raise ValueError(
            f"`{fn_name}` cannot tell the file format from the suffix of {path!r}. "
            f"Received suffix: {suffix!r}. Expected one of: {', '.join(_SUFFIXES)} "
            "(.pt/.pth: torch.save; .h5/.hdf5: HDF5)."
        )
    return suffix


def _check_exists(path):
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {os.fspath(path)!r}.")


def _check_state_dict(state_dict, arg_name):
    if isinstance(state_dict, torch.nn.Module):
        raise TypeError(
            f"`{arg_name}` must be a state dict, not a module. "
            f"Received: {type(state_dict).__name__}. Pass `module.state_dict()` instead."
        )
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"`{arg_name}` must be a mapping of names to tensors (`module.state_dict()`). "
            f"Received: {type(state_dict).__name__}."
        )


def _check_checkpoint_format(fmt, path):
    if fmt == CHECKPOINT_FORMAT:
        return
    if isinstance(fmt, str) and fmt.startswith("torchfit.checkpoint."):
        raise ValueError(
            f"{os.fspath(path)!r} is a {fmt!r} checkpoint; this version of torchfit reads "
            f"{CHECKPOINT_FORMAT!r}. Upgrade torchfit to load it."
        )
    raise ValueError(
        f"{os.fspath(path)!r} is not a torchfit checkpoint (no format {CHECKPOINT_FORMAT!r}). "
        "If it holds weights only, load it with `load_state_dict` / `model.load_weights`."
    )


def _weights_from_dict(obj, path):
    fmt = obj.get("format")
    if isinstance(fmt, str) and fmt.startswith("torchfit.checkpoint."):
        _check_checkpoint_format(fmt, path)  # refuses other versions
        return obj["model"]
    if all(isinstance(value, torch.Tensor) for value in obj.values()):
        return obj  # a plain state dict (possibly with a tensor named "model")
    for key in ("model", "module"):
        if isinstance(obj.get(key), Mapping):
            return obj[key]
    return obj  # a state dict with non-tensor extra state


def _torch_load(path, map_location, what):
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        problem = _pt_problem(path, err)
        if problem is not None:  # damaged, or not a torch file: nothing was refused
            raise _unreadable(path, what, problem) from err
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
        raise _unreadable(path, what, problem) from err


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
                    f"{_describe(err)}")
        if _is_torch_read_error(err):
            return f"the file is corrupt (torch cannot read its zip archive): {_describe(err)}"
        return None
    if any(header in head for header in _LEGACY_HEADERS) or _LEGACY_START.startswith(head):
        # A cut inside a pickle can surface as a refusal ("Unsupported global: GLOBAL torch._ut."),
        # so a refusal counts only if the pickles themselves are complete.
        if _is_torch_read_error(err) or not _legacy_pickles_complete(path):
            return f"the file is truncated or corrupt (legacy torch format): {_describe(err)}"
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
    if isinstance(err, (EOFError, KeyError, IndexError, struct.error, zipfile.BadZipFile)):
        return True
    if isinstance(err, OSError):
        return not isinstance(err, (PermissionError, FileNotFoundError, IsADirectoryError))
    if isinstance(err, RuntimeError):
        text = str(err)
        return any(marker in text for marker in (
            "PytorchStreamReader", "inline_container", "hasRecord", "unexpected EOF",
            "corrupt", "invalid load key"))
    return False


def _describe(err):
    """`Type: first line` of an exception, without torch's long advice paragraphs."""
    text = str(err).strip()
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].strip()
    text = text.splitlines()[0] if text else ""
    text = text.split(". This is an internal miniz error")[0].split(" The file might be")[0]
    text = text.rstrip(". ")
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _unreadable(path, what, problem):
    return ValueError(
        f"Could not read {what} from {os.fspath(path)!r}: {problem}. Save, copy or download it "
        "again, or restore a backup (torchfit's own saves are atomic and never leave a partial "
        "file)."
    )


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


# ---------------------------------------------------------------------------------------------
# Plain-value trees: type checking (both formats) and JSON encoding (.h5)


# Exact types that torch.load(weights_only=True) reads back; subclasses (np.float64 is a float,
# namedtuples are tuples, IntEnum members are ints) are pickled by class and would be refused.
_SCALAR_TYPES = (type(None), bool, int, float, str)
_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)
_DICT_TYPES = (dict, OrderedDict)
_SEQUENCE_TYPES = (list, tuple, torch.Size)


def _encode_tree(obj, tensors, where):
    """Return `obj` as JSON-ready data, appending its tensors to `tensors`.

    Raises TypeError, naming `where` (e.g. "training_state['best']"), for a value that
    `torch.load(weights_only=True)` could not read back. Every JSON object in the result is a
    one-key marker, so decoding is unambiguous.
    """
    kind = type(obj)
    if kind in _SCALAR_TYPES:
        return obj
    if kind in _TENSOR_TYPES:
        tensors.append(obj)
        return {"__tensor__": len(tensors) - 1}
    if kind is torch.dtype:
        return {"__dtype__": str(obj).removeprefix("torch.")}
    if kind is torch.device:
        return {"__device__": str(obj)}
    if kind in _SEQUENCE_TYPES:
        items = [_encode_tree(item, tensors, f"{where}[{i}]") for i, item in enumerate(obj)]
        return items if kind is list else {"__tuple__": items}
    if kind in _DICT_TYPES:
        pairs = []
        for key, value in obj.items():
            if type(key) not in _SCALAR_TYPES:
                raise TypeError(
                    f"Cannot save {where}: its key {key!r} is a {type(key).__name__}. "
                    "Dict keys must be str, int, float, bool or None."
                )
            pairs.append([key, _encode_tree(value, tensors, f"{where}[{key!r}]")])
        return {"__dict__": pairs}
    raise TypeError(
        f"Cannot save {where}: a {kind.__module__}.{kind.__qualname__} could not be loaded "
        "back safely (torchfit loads with weights_only=True). Allowed: tensors, None, bool, int, "
        "float, str, torch.dtype, torch.device, and lists, tuples and dicts of those. Convert it "
        "first, e.g. float(x) for a NumPy scalar or torch.as_tensor(x) for an array."
    )


def _decode_tree(data, tensors):
    if isinstance(data, list):
        return [_decode_tree(item, tensors) for item in data]
    if not isinstance(data, dict):
        return data
    (marker, value), = data.items()
    if marker == "__tensor__":
        return tensors[value]
    if marker == "__tuple__":
        return tuple(_decode_tree(item, tensors) for item in value)
    if marker == "__dict__":
        return {key: _decode_tree(item, tensors) for key, item in value}
    if marker == "__dtype__":
        return _torch_dtype(value)
    if marker == "__device__":
        return torch.device(value)
    raise ValueError(f"Unknown marker {marker!r} in a torchfit .h5 file.")


# ---------------------------------------------------------------------------------------------
# HDF5


def _h5py():
    try:
        import h5py
    except ImportError as err:
        raise ImportError(
            "Reading and writing .h5 files needs h5py: `pip install h5py`, or use a .pt path."
        ) from err
    return h5py


def _torch_dtype(name):
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"Unknown torch dtype {name!r} in a torchfit .h5 file.")
    return dtype


def _h5_name(key):
    # "/" separates HDF5 groups; escape it, and "%" so that unquote() is the exact inverse.
    return key.replace("%", "%25").replace("/", "%2F")


def _write_tensor(group, name, tensor):
    array_tensor = tensor.detach().cpu().resolve_conj().resolve_neg().contiguous()
    try:
        array = array_tensor.numpy()
    except TypeError:
        # bfloat16, float8, ...: NumPy has no such dtype; store the raw bits as same-size ints.
        int_dtype = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
        array = array_tensor.view(int_dtype[array_tensor.element_size()]).numpy()
    dataset = group.create_dataset(name, data=array)
    dataset.attrs["torch_dtype"] = str(tensor.dtype).removeprefix("torch.")


def _h5_device(map_location):
    if map_location is None or isinstance(map_location, (str, torch.device)):
        return None if map_location in (None, "cpu") else torch.device(map_location)
    raise TypeError(
        "For .h5 files `map_location` must be a device string or torch.device. "
        f"Received: {map_location!r}."
    )


def _to_device(obj, device):
    if device is None:
        return obj
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {key: _to_device(value, device) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(item, device) for item in obj)
    return obj


def _write_weights_group(group, state_dict, where):
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"Cannot save {where}[{key!r}] to .h5: it is a {type(value).__name__}, and .h5 "
                "weights hold tensors only. Save to a .pt path instead."
            )
        if not isinstance(key, str) or key in ("", ".", ".."):
            raise TypeError(f"Cannot save {where}: key {key!r} cannot name an HDF5 dataset.")
        _write_tensor(group, _h5_name(key), value)


def _write_tree_group(group, obj, where):
    tensors = []
    structure = _encode_tree(obj, tensors, where)
    group.create_dataset("structure", data=json.dumps(structure))
    tensor_group = group.create_group("tensors", track_order=True)
    for i, tensor in enumerate(tensors):
        _write_tensor(tensor_group, str(i), tensor)


def _h5_write_weights_file(tmp_path, state_dict):
    with _h5py().File(tmp_path, "w", track_order=True) as f:
        f.attrs["format"] = WEIGHTS_FORMAT
        _write_weights_group(f, state_dict, "state_dict")


def _h5_write_checkpoint_file(tmp_path, checkpoint):
    with _h5py().File(tmp_path, "w", track_order=True) as f:
        f.attrs["format"] = CHECKPOINT_FORMAT
        f.attrs["torchfit_version"] = checkpoint["version"]
        _write_weights_group(f.create_group("model", track_order=True), checkpoint["model"],
                             "model_state")
        for key in ("optimizer", "training"):
            if checkpoint[key] is not None:
                _write_tree_group(f.create_group(key), checkpoint[key], f"{key}_state")


# Chunked datasets may be compressed, so their declared size may exceed the file's; deflate tops
# out near 1000:1, so a dataset declaring more than this many times the whole file is a bomb.
_H5_MAX_EXPANSION = 1000


class _H5Reader:
    """Reads tensors and JSON out of an open `.h5` file, refusing anything that reaches outside it.

    Each member is looked up by its link first (`getlink=True`), so soft and external links are
    refused before h5py would follow them; each dataset is checked for external and virtual
    storage, and for a declared size the file cannot hold, before a byte of it is read.
    """

    def __init__(self, file, path, what):
        self.file, self.path, self.what = file, os.fspath(path), what
        self.file_size = os.path.getsize(path)

    def refuse(self, problem, why=None):
        why = why or (
            "torchfit reads only data stored inside the file itself, so that a file cannot pull "
            "in the contents of other files; re-save it with plain datasets (save_state_dict)"
        )
        return ValueError(f"Refused to read {self.what} from {self.path!r}: {problem}. {why}.")

    def member(self, group, name):
        """`group[name]`, or None if absent; refuses anything but a hard link."""
        h5py = _h5py()
        link = group.get(name, getlink=True)
        where = f"{group.name.rstrip('/')}/{name}"
        if link is None or isinstance(link, h5py.HardLink):
            return None if link is None else group[name]
        if isinstance(link, h5py.ExternalLink):
            raise self.refuse(f"{where!r} is an external link to {link.path!r} in "
                              f"{link.filename!r}")
        if isinstance(link, h5py.SoftLink):
            raise self.refuse(f"{where!r} is a soft link to {link.path!r}")
        raise self.refuse(f"{where!r} is a user-defined link")

    def required(self, group, name, kind):
        obj = self.member(group, name)
        if not isinstance(obj, kind):
            where = f"{group.name.rstrip('/')}/{name}"
            found = "nothing" if obj is None else f"a {type(obj).__name__}"
            raise _unreadable(self.path, self.what, (
                f"the file is incomplete or not torchfit's: {where!r} should be an HDF5 "
                f"{kind.__name__}, found {found}"))
        return obj

    def datasets(self, group):
        """(name, dataset) for the datasets directly in `group`, in stored order."""
        h5py = _h5py()
        for name in group:
            obj = self.member(group, name)
            if isinstance(obj, h5py.Dataset):
                yield name, obj

    def check_storage(self, dataset):
        name = dataset.name
        if dataset.is_virtual:
            raise self.refuse(f"dataset {name!r} is a virtual dataset (its data lives in other "
                              "datasets or files)")
        if dataset.external:
            files = ", ".join(repr(entry[0]) for entry in dataset.external)
            raise self.refuse(f"dataset {name!r} keeps its data in external files ({files})")
        declared = dataset.size * dataset.dtype.itemsize
        if dataset.chunks is None and declared > self.file_size:
            raise _unreadable(self.path, self.what, (
                f"the file is truncated or corrupt: dataset {name!r} declares {declared:,} bytes "
                f"(shape {dataset.shape}, {dataset.dtype}) but the whole file is "
                f"{self.file_size:,} bytes"))
        if declared > _H5_MAX_EXPANSION * self.file_size:
            raise self.refuse(
                f"dataset {name!r} declares shape {dataset.shape} of {dataset.dtype}, "
                f"{declared:,} bytes, in a {self.file_size:,}-byte file",
                f"No compression reaches {_H5_MAX_EXPANSION}x, so the file is corrupt or crafted "
                "to exhaust memory; nothing was allocated",
            )

    def tensor(self, dataset):
        if dataset.dtype.kind not in "biufc":  # bool, ints, floats, complex
            raise _unreadable(self.path, self.what, (
                f"dataset {dataset.name!r} holds {dataset.dtype} data, not numbers, so it is not "
                "a tensor torchfit wrote"))
        self.check_storage(dataset)
        tensor = torch.from_numpy(np.asarray(dataset[()]))  # a 0-d dataset reads as a scalar
        dtype_name = dataset.attrs.get("torch_dtype")
        if dtype_name is None or str(tensor.dtype).removeprefix("torch.") == dtype_name:
            return tensor
        try:
            return tensor.view(_torch_dtype(str(dtype_name)))
        except (ValueError, RuntimeError) as err:
            raise _unreadable(self.path, self.what, (
                f"dataset {dataset.name!r} has torch_dtype {dtype_name!r}, which its "
                f"{dataset.dtype} data cannot be viewed as ({_describe(err)})")) from err

    def weights(self, group):
        return {urllib.parse.unquote(name): self.tensor(dataset)
                for name, dataset in self.datasets(group)}

    def tree(self, group):
        h5py = _h5py()
        structure = self.required(group, "structure", h5py.Dataset)
        tensor_group = self.required(group, "tensors", h5py.Group)
        tensors = [self.tensor(self.required(tensor_group, str(i), h5py.Dataset))
                   for i in range(len(tensor_group))]
        self.check_storage(structure)
        try:
            return _decode_tree(json.loads(structure.asstr()[()]), tensors)
        except (ValueError, TypeError, KeyError, IndexError) as err:
            raise _unreadable(self.path, self.what, (
                f"{structure.name!r} is not the JSON torchfit writes ({_describe(err)})")) from err


def _h5_read(path, what, read_fn):
    """Returns `read_fn(_H5Reader)` on the open file; damaged files raise a clear ValueError."""
    h5py = _h5py()
    try:
        # locking=False: files are only ever replaced whole (atomic_write), never written in
        # place, and HDF5's locks fail on NFS/Lustre ("unable to lock file").
        file = h5py.File(path, "r", locking=False)
    except PermissionError:
        raise
    except OSError as err:
        raise _unreadable(path, what, _h5_problem(path, err)) from err
    with file:
        try:
            return read_fn(_H5Reader(file, path, what))
        except (OSError, KeyError, RuntimeError) as err:  # h5py's errors on damaged bytes
            raise _unreadable(path, what, (
                f"the file is corrupt (HDF5 could not read it): {_describe(err)}")) from err


def _h5_problem(path, err):
    size = os.path.getsize(path)
    if size == 0:
        return "the file is empty (0 bytes)"
    if not _h5py().is_hdf5(path):
        return f"not an HDF5 file (its {size} bytes start with no HDF5 signature)"
    return f"the file is truncated or corrupt (HDF5 could not open it): {_describe(err)}"


def _h5_read_weights_file(path, map_location):
    device = _h5_device(map_location)

    def read(reader):
        fmt = reader.file.attrs.get("format")
        if fmt == WEIGHTS_FORMAT:
            return reader.weights(reader.file)
        if fmt is None:  # not written by torchfit: read the datasets at the root, if any
            weights = reader.weights(reader.file)
            if not weights:
                raise ValueError(
                    f"{os.fspath(path)!r} holds no weights torchfit can read: no 'format' "
                    "attribute and no datasets at the root of the file."
                )
            return weights
        _check_checkpoint_format(fmt, path)
        return reader.weights(reader.required(reader.file, "model", _h5py().Group))

    return _to_device(_h5_read(path, "weights", read), device)


def _h5_read_checkpoint_file(path, map_location):
    device = _h5_device(map_location)

    def read(reader):
        f = reader.file
        _check_checkpoint_format(f.attrs.get("format"), path)
        group_kind = _h5py().Group
        checkpoint = {"format": CHECKPOINT_FORMAT,
                      "model": reader.weights(reader.required(f, "model", group_kind))}
        for key in ("optimizer", "training"):
            present = reader.member(f, key) is not None
            checkpoint[key] = reader.tree(reader.required(f, key, group_kind)) if present else None
        version = f.attrs.get("torchfit_version")  # absent in files from before it was recorded
        checkpoint["version"] = None if version is None else str(version)
        return checkpoint

    return _to_device(_h5_read(path, "a checkpoint", read), device)
