"""Weights and checkpoint files: `.pt`, `.h5` or `.safetensors`, written atomically, loaded safely.

Two promises hold for every file this package writes or reads:

* **Nothing half-written.** Every file goes through `atomic_write`: it is written to a temporary
  file in the target's folder, flushed to disk, then renamed over the target with `os.replace`.
  A crash or an exception mid-write leaves the previous file untouched.
* **Loading never unpickles arbitrary objects.** `.pt` files are read with
  `torch.load(..., weights_only=True)`; `.h5` files hold only arrays and JSON text;
  `.safetensors` files raw tensor bytes and a JSON header. To keep that
  true, saving refuses anything other than tensors, `None`, `bool`, `int`, `float`, `str`,
  `torch.dtype`, `torch.device`, and lists, tuples and dicts of those.

The suffix of the path picks the format: `.pt` / `.pth` for torch, `.h5` / `.hdf5` for HDF5,
`.safetensors` for safetensors (weights only: checkpoints go to `CHECKPOINT_SUFFIXES`).

Checkpoints (`save_checkpoint`, written by `Model.save`) are a dict with exactly the keys of
`CHECKPOINT_KEYS`::

    {
        "format": "torchfit.checkpoint.v1",   # CHECKPOINT_FORMAT
        "model": {...},                       # the module's state_dict
        "optimizer": {...} or None,           # optimizer.state_dict()
        "training": {...} or None,            # epoch, step, schedule, RNG and callback states
        "version": "0.1.0",                   # torchfit.__version__ of the writer
    }

`load_state_dict` reads the weights out of either kind of checkpoint. Checkpoints written before
the version was recorded load with `"version": None`. Damaged files raise
`ValueError("Could not read ...")`, never torch's bare `EOFError` or h5py's `OSError`; a `.pt`
file torchfit wrote whose bytes changed since fails its checksum ("the file is damaged").

Modules, from the lowest layer up:

* `atomic`: `atomic_write` and its temporary files (imports nothing from torchfit).
* `formats`: the format names and the errors for files that are not torchfit's or are damaged.
* `tree`: the values a checkpoint may hold, and their JSON encoding for `.h5`.
* `checksum`: the sha256 every `.pt` file torchfit writes carries in its zip comment, checked
  before it is read (the file still loads with plain `torch.load(path, weights_only=True)`).
* `torch_format`: `.pt` files, and the diagnosis of damaged or unsafe ones.
* `hdf5`: `.h5` files (layouts, and the refusal of links, external storage and size bombs).
* `safetensors_format`: `.safetensors` weights files (the `safetensors` extra), checksummed.
* `export`: `Model.export`, a `torch.export` program (`.pt2`) or ONNX for serving (imported by
  `torchfit.model`, not by this package).
* `validate`: a file's weights and optimizer state checked against a model before anything is
  copied (`Model.load_weights` / `Model.load` are all or nothing).
* this module: the public functions, which check their arguments and pick the format.
"""

import os as _os
from collections.abc import Mapping as _Mapping

import torch as _torch

from torchfit._version import __version__
from torchfit.distributed.runtime import is_main_process as _is_main_process
from torchfit.saving import hdf5, safetensors_format, torch_format
from torchfit.saving.atomic import atomic_write
from torchfit.saving.formats import CHECKPOINT_FORMAT, CHECKPOINT_KEYS, WEIGHTS_FORMAT
from torchfit.saving.tree import encode_tree as _encode_tree

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_SUFFIXES",
    "CHECKPOINT_KEYS",
    "SUFFIXES",
    "WEIGHTS_FORMAT",
    "atomic_write",
    "load_checkpoint",
    "load_state_dict",
    "save_checkpoint",
    "save_state_dict",
]

_TORCH_SUFFIXES = (".pt", ".pth")
_H5_SUFFIXES = (".h5", ".hdf5")
_SAFETENSORS_SUFFIXES = (".safetensors",)
CHECKPOINT_SUFFIXES = _TORCH_SUFFIXES + _H5_SUFFIXES  # those that hold full checkpoints too
SUFFIXES = CHECKPOINT_SUFFIXES + _SAFETENSORS_SUFFIXES  # every suffix save/load know, by format


def save_state_dict(state_dict, path):
    """Save a state dict to `path`, atomically; the format follows the suffix.

    `.pt` / `.pth`: `torch.save`. `.h5` / `.hdf5`: HDF5 via h5py, one dataset per key (see
    `torchfit.saving.hdf5`). `.safetensors`: the safetensors format, readable by
    `safetensors.torch.load_file` (see `torchfit.saving.safetensors_format`; tied weights are
    written once per key). Dtypes, shapes (0-d included) and key order round-trip exactly
    through `load_state_dict`. Under `torchrun` only rank 0 writes (the others return at once).

    Args:
        state_dict: A mapping of names to tensors, e.g. `module.state_dict()`.
        path: Destination; its suffix picks the format.

    Raises:
        ValueError: The suffix is not one of `.pt`, `.pth`, `.h5`, `.hdf5`, `.safetensors`.
        TypeError: `state_dict` is not a mapping, or holds values that could not be loaded back
            safely (or, for `.h5` and `.safetensors`, values that are not tensors).

    Example:
        >>> from torchfit.saving import load_state_dict, save_state_dict
        >>> net = nn.Linear(4, 2)
        >>> save_state_dict(net.state_dict(), "net.h5")
        >>> net.load_state_dict(load_state_dict("net.h5"))
        <All keys matched successfully>
    """
    suffix = _check_suffix(path, "save_state_dict")
    _check_state_dict(state_dict, "state_dict")
    if not _is_main_process():  # under torchrun rank 0 alone writes
        return
    if suffix in _TORCH_SUFFIXES:
        _encode_tree(state_dict, [], "state_dict")  # refuse what weights_only could not load
        atomic_write(path, lambda tmp: torch_format.write_file(tmp, state_dict))
    elif suffix in _SAFETENSORS_SUFFIXES:
        atomic_write(path, lambda tmp: safetensors_format.write_weights_file(tmp, state_dict))
    else:
        atomic_write(path, lambda tmp: hdf5.write_weights_file(tmp, state_dict))


def load_state_dict(path, map_location="cpu", like=None):
    """Load the weights saved at `path`: a weights file, or the `"model"` part of a checkpoint.

    `.pt` / `.pth` files are read by torch's loader with `weights_only=True`, so no arbitrary
    object is ever unpickled, after the file's sha256 checksum (which every `.pt` file torchfit
    writes carries; see `torchfit.saving.checksum`) is verified. A `.pt` dict that is not a
    plain state dict but holds one under `"model"` or `"module"` (a torchfit checkpoint, or a
    common hand-written checkpoint) yields that sub-dict. `.h5` / `.hdf5` files are read with
    h5py into CPU tensors, then moved to `map_location` if it names a device; `.safetensors`
    files likewise, by the safetensors package (which never unpickles), after their checksum
    is verified.

    Args:
        path: File to read; its suffix picks the format.
        map_location: As for `torch.load`; for `.h5` a device string or `torch.device`.
        like: Optional: the state dict of the module the weights are for. A `.h5` dataset (or
            `.safetensors` tensor) is
            then read only if its key is in `like` with the same shape and dtype (checked from
            the file's header before reading); any other comes back as a `meta` tensor of the
            declared shape and dtype, holding no memory, for the caller to report. No effect
            on `.pt` files (torch reads no more than the file holds).

    Returns:
        A dict of tensors, ready for `module.load_state_dict`.

    Raises:
        FileNotFoundError: Nothing exists at `path`.
        ValueError: Unsupported suffix; the file holds no state dict; the file is empty,
            truncated, corrupt or fails its checksum ("Could not read weights from ...: the
            file is damaged"); or a `.h5` file uses
            links, external or virtual storage, or declares an absurd size ("Refused to read
            weights from ...").
        pickle.UnpicklingError: A `.pt` file holds objects other than tensors and plain
            containers; it is refused rather than executed.

    Example:
        >>> from torchfit.saving import load_state_dict
        >>> net = nn.Linear(4, 2)
        >>> torch.save({"model": net.state_dict(), "epoch": 4}, "hand_written.pt")
        >>> sorted(load_state_dict("hand_written.pt"))
        ['bias', 'weight']
    """
    suffix = _check_suffix(path, "load_state_dict")
    _check_exists(path)
    if suffix in _H5_SUFFIXES:
        return hdf5.read_weights_file(path, map_location, like)
    if suffix in _SAFETENSORS_SUFFIXES:
        return safetensors_format.read_weights_file(path, map_location, like)
    return torch_format.read_weights_file(path, map_location)


def save_checkpoint(path, model_state, optimizer_state=None, training_state=None):
    """Save a full training checkpoint (see the module docstring for the layout), atomically.

    Args:
        path: Destination, `.pt`/`.pth` or `.h5`/`.hdf5`.
        model_state: The module's `state_dict()`.
        optimizer_state: `optimizer.state_dict()`, or None.
        training_state: A dict of plain values (epoch, step, schedule, RNG and callback
            states), or None.

    Raises:
        ValueError: Unsupported suffix (`.safetensors` included: it holds weights only).
        TypeError: A value that could not be loaded back safely, named by its place, e.g.
            `training_state['best']` holding a NumPy scalar (convert it with `float()`).

    Example:
        >>> from torchfit.saving import load_checkpoint, save_checkpoint
        >>> net = nn.Linear(4, 2)
        >>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
        >>> save_checkpoint("ckpt.pt", net.state_dict(), opt.state_dict(), {"epoch": 3})
        >>> ckpt = load_checkpoint("ckpt.pt")
        >>> net.load_state_dict(ckpt["model"])
        <All keys matched successfully>
        >>> opt.load_state_dict(ckpt["optimizer"])
        >>> ckpt["training"]
        {'epoch': 3}
    """
    suffix = _check_checkpoint_suffix(path, "save_checkpoint")
    _check_state_dict(model_state, "model_state")
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "model": model_state,
        "optimizer": optimizer_state,
        "training": training_state,
        "version": __version__,
    }
    if not _is_main_process():  # under torchrun rank 0 alone writes
        return
    if suffix in _TORCH_SUFFIXES:
        _encode_tree(model_state, [], "model_state")
        _encode_tree(optimizer_state, [], "optimizer_state")
        _encode_tree(training_state, [], "training_state")
        atomic_write(path, lambda tmp: torch_format.write_file(tmp, checkpoint))
    else:
        atomic_write(path, lambda tmp: hdf5.write_checkpoint_file(tmp, checkpoint))


def load_checkpoint(path, map_location="cpu", like=None):
    """Load a checkpoint written by `save_checkpoint` (or `Model.save`).

    Args:
        path: A `.pt`/`.pth` or `.h5`/`.hdf5` checkpoint file.
        map_location: As for `load_state_dict`.
        like: As for `load_state_dict`: for `.h5`, the `"model"` datasets that do not fit it
            are not read.

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

    Example:
        >>> from torchfit.saving import load_checkpoint, save_checkpoint
        >>> net = nn.Linear(4, 2)
        >>> save_checkpoint("ckpt.h5", net.state_dict(), training_state={"epoch": 1})
        >>> ckpt = load_checkpoint("ckpt.h5")
        >>> ckpt["format"], ckpt["optimizer"], ckpt["training"]
        ('torchfit.checkpoint.v1', None, {'epoch': 1})
    """
    suffix = _check_checkpoint_suffix(path, "load_checkpoint")
    _check_exists(path)
    if suffix in _H5_SUFFIXES:
        return hdf5.read_checkpoint_file(path, map_location, like)
    return torch_format.read_checkpoint_file(path, map_location)


# ---------------------------------------------------------------------------------------------
# Checks shared by the public functions


def _check_suffix(path, fn_name):
    try:
        path = _os.fspath(path)
    except TypeError:
        raise TypeError(
            f"`{fn_name}` expects a file path (str or os.PathLike). "
            f"Received: path={path!r} of type {type(path).__name__}."
        ) from None
    if _os.path.isdir(path):
        raise ValueError(
            f"`{fn_name}` needs a file path, but {path!r} is a folder. Received: "
            f"filepath={path!r}. Name a file inside it, e.g. {_os.path.join(path, 'model.pt')!r}."
        )
    suffix = _os.path.splitext(path)[1].lower()
    if suffix not in SUFFIXES:
        raise ValueError(
            f"`{fn_name}` cannot tell the file format from the suffix of {path!r}. "
            f"Received suffix: {suffix!r}. Expected one of: {', '.join(SUFFIXES)} "
            "(.pt/.pth: torch.save; .h5/.hdf5: HDF5; .safetensors: weights only)."
        )
    return suffix


def _check_checkpoint_suffix(path, fn_name):
    suffix = _check_suffix(path, fn_name)
    if suffix not in CHECKPOINT_SUFFIXES:
        raise ValueError(
            f"`{fn_name}` cannot use {_os.fspath(path)!r} for a full checkpoint: {suffix} files "
            "hold weights only (no optimizer state or training progress). Received suffix: "
            f"{suffix!r}. Expected one of: {', '.join(CHECKPOINT_SUFFIXES)} for a checkpoint "
            "(`model.save`), or save the weights alone with `model.save_weights(path)`."
        )
    return suffix


def _check_exists(path):
    if not _os.path.exists(path):
        raise FileNotFoundError(f"No such file: {_os.fspath(path)!r}.")


def _check_state_dict(state_dict, arg_name):
    if isinstance(state_dict, _torch.nn.Module):
        raise TypeError(
            f"`{arg_name}` must be a state dict, not a module. "
            f"Received: {type(state_dict).__name__}. Pass `module.state_dict()` instead."
        )
    if not isinstance(state_dict, _Mapping):
        raise TypeError(
            f"`{arg_name}` must be a mapping of names to tensors (`module.state_dict()`). "
            f"Received: {type(state_dict).__name__}."
        )
