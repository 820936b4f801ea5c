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
    }

A `.pt` checkpoint is that dict, `torch.save`d. A `.h5` checkpoint has the root attribute
`format = "torchfit.checkpoint.v1"`, a group `model` laid out like a `.h5` weights file, and, when
not None, groups `optimizer` and `training`, each holding a scalar string dataset `structure` (the
value as JSON, with tensors replaced by `{"__tensor__": i}`) and a group `tensors` with datasets
`"0"`, `"1"`, ... . `load_state_dict` reads the weights out of either kind of checkpoint.

h5py is imported only when a `.h5` file is read or written.
"""

import contextlib
import json
import os
import pickle
import secrets
import urllib.parse
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import torch

CHECKPOINT_FORMAT = "torchfit.checkpoint.v1"
CHECKPOINT_KEYS = ("format", "model", "optimizer", "training")
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
    If `write_fn` raises (or the process is interrupted), the temporary file is removed, the
    exception propagates, and whatever was at `path` before is untouched. Missing parent folders
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
    tmp_path = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
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

    `.pt` / `.pth` files are read with `torch.load(path, map_location=map_location,
    weights_only=True)`, so no arbitrary object is ever unpickled. A `.pt` dict that is not a
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
        ValueError: Unsupported suffix, or the file holds no state dict.
        pickle.UnpicklingError: A `.pt` file holds objects other than tensors and plain
            containers; it is refused rather than executed.
    """
    suffix = _check_suffix(path, "load_state_dict")
    _check_exists(path)
    if suffix in _H5_SUFFIXES:
        return _h5_read_weights_file(path, map_location)
    obj = _torch_load(path, map_location)
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
    suffix = _check_suffix(path, "save_checkpoint")
    _check_state_dict(model_state, "model_state")
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "model": model_state,
        "optimizer": optimizer_state,
        "training": training_state,
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
        A dict with the keys `"format"`, `"model"`, `"optimizer"` and `"training"` (the last two
        may be None).

    Raises:
        FileNotFoundError: Nothing exists at `path`.
        ValueError: Unsupported suffix, or the file is not a torchfit checkpoint (for example a
            weights-only file: read those with `load_state_dict`).
        pickle.UnpicklingError: A `.pt` file holds arbitrary objects; it is refused.
    """
    suffix = _check_suffix(path, "load_checkpoint")
    _check_exists(path)
    if suffix in _H5_SUFFIXES:
        return _h5_read_checkpoint_file(path, map_location)
    obj = _torch_load(path, map_location)
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


def _torch_load(path, map_location):
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise pickle.UnpicklingError(
            f"Refused to load {os.fspath(path)!r}: it contains objects other than tensors and "
            "plain containers, and torchfit never unpickles arbitrary objects "
            "(torch.load(..., weights_only=True)). If the file is from a source you trust, load "
            "it yourself with torch.load(path, weights_only=False), then re-save the state dict "
            f"with torchfit.saving.save_state_dict.{_unpickler_reason(err)}"
        ) from err


def _unpickler_reason(err):
    # torch's message is long; its "WeightsUnpickler error: Unsupported global: ..." line names
    # the offending class, which is what the user needs.
    for line in str(err).splitlines():
        if "WeightsUnpickler error:" in line:
            return " " + line.split("WeightsUnpickler error:", 1)[1].strip()
    return ""


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


def _read_tensor(dataset, device):
    tensor = torch.from_numpy(np.asarray(dataset[()]))  # a 0-d dataset reads as a NumPy scalar
    dtype_name = dataset.attrs.get("torch_dtype")
    if dtype_name is not None and str(tensor.dtype).removeprefix("torch.") != dtype_name:
        tensor = tensor.view(_torch_dtype(dtype_name))
    return tensor if device is None else tensor.to(device)


def _h5_device(map_location):
    if map_location is None or isinstance(map_location, (str, torch.device)):
        return None if map_location in (None, "cpu") else torch.device(map_location)
    raise TypeError(
        "For .h5 files `map_location` must be a device string or torch.device. "
        f"Received: {map_location!r}."
    )


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


def _read_weights_group(group, device):
    h5py = _h5py()
    return {
        urllib.parse.unquote(name): _read_tensor(item, device)
        for name, item in group.items()
        if isinstance(item, h5py.Dataset)
    }


def _write_tree_group(group, obj, where):
    tensors = []
    structure = _encode_tree(obj, tensors, where)
    group.create_dataset("structure", data=json.dumps(structure))
    tensor_group = group.create_group("tensors", track_order=True)
    for i, tensor in enumerate(tensors):
        _write_tensor(tensor_group, str(i), tensor)


def _read_tree_group(group, device):
    structure = json.loads(group["structure"].asstr()[()])
    tensor_group = group["tensors"]
    tensors = [_read_tensor(tensor_group[str(i)], device) for i in range(len(tensor_group))]
    return _decode_tree(structure, tensors)


def _h5_write_weights_file(tmp_path, state_dict):
    with _h5py().File(tmp_path, "w", track_order=True) as f:
        f.attrs["format"] = WEIGHTS_FORMAT
        _write_weights_group(f, state_dict, "state_dict")


def _h5_write_checkpoint_file(tmp_path, checkpoint):
    with _h5py().File(tmp_path, "w", track_order=True) as f:
        f.attrs["format"] = CHECKPOINT_FORMAT
        _write_weights_group(f.create_group("model", track_order=True), checkpoint["model"],
                             "model_state")
        for key in ("optimizer", "training"):
            if checkpoint[key] is not None:
                _write_tree_group(f.create_group(key), checkpoint[key], f"{key}_state")


def _h5_read_weights_file(path, map_location):
    device = _h5_device(map_location)
    with _h5py().File(path, "r") as f:
        fmt = f.attrs.get("format")
        if fmt == WEIGHTS_FORMAT:
            return _read_weights_group(f, device)
        if fmt is None:  # not written by torchfit: read the datasets at the root, if any
            weights = _read_weights_group(f, device)
            if not weights:
                raise ValueError(
                    f"{os.fspath(path)!r} holds no weights torchfit can read: no 'format' "
                    "attribute and no datasets at the root of the file."
                )
            return weights
        _check_checkpoint_format(fmt, path)
        return _read_weights_group(f["model"], device)


def _h5_read_checkpoint_file(path, map_location):
    device = _h5_device(map_location)
    with _h5py().File(path, "r") as f:
        _check_checkpoint_format(f.attrs.get("format"), path)
        checkpoint = {"format": CHECKPOINT_FORMAT, "model": _read_weights_group(f["model"], device)}
        for key in ("optimizer", "training"):
            checkpoint[key] = _read_tree_group(f[key], device) if key in f else None
    return checkpoint
