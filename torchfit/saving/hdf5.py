"""`.h5` / `.hdf5` files: weights and checkpoints as plain HDF5 datasets, read without trust.

File layouts
------------
Weights: the root attribute `format = "torchfit.weights.v1"` (`WEIGHTS_FORMAT`) and one dataset
per state-dict key, in order, named by the key (`"fc.weight"`; a `/` in a key is written `%2F` and
`%` is written `%25`). Each dataset has the attribute `torch_dtype` (`"float32"`, `"bfloat16"`,
`"int64"`, ...), so dtypes NumPy lacks round-trip exactly; 0-d tensors stay 0-d. A `.h5` weights
file holds tensors only. A file without a `format` attribute (written by hand or by another tool)
is read as weights: the datasets at its root.

Checkpoints: the root attributes `format = "torchfit.checkpoint.v1"` (`CHECKPOINT_FORMAT`) and
`torchfit_version`, a group `model` laid out like a weights file, and, when not None, groups
`optimizer` and `training`, each holding a scalar string dataset `structure` (the value as JSON,
`tree.encode_tree`'s encoding, with tensors replaced by `{"__tensor__": i}`) and a group `tensors`
with datasets `"0"`, `"1"`, ... . Files from before the version was recorded lack
`torchfit_version` and load with `"version": None`.

Damaged and untrusted files
---------------------------
An empty, truncated or garbled file raises `ValueError("Could not read weights from '<path>': the
file is empty (0 bytes)" / "...truncated or corrupt..." / "...not an HDF5 file...")`, never h5py's
`OSError`. A file is read without following soft or external links and without external or
virtual storage (each is refused with a `ValueError` naming the HDF5 object), and a dataset that
declares more bytes than the file could hold (`_H5_MAX_EXPANSION` times the file size for
chunked, possibly compressed data; the file size itself otherwise) is refused before anything is
allocated.

Reading into a model
--------------------
Given `like` (the model's `state_dict()`), a weights dataset is read only if its key is in
`like` with the same shape and dtype, judged from the dataset's header before a byte of it is
read; any other is returned as a tensor on the `meta` device with the declared shape and dtype
(no memory), so that `validate.check_loadable` reports it and nothing large is ever allocated
for a file that does not fit the model.

h5py is imported only when a `.h5` file is read or written (see `_h5py`).
"""

import json
import os
import urllib.parse

import numpy as np
import torch
from torch.nn.parameter import is_lazy

from torchfit.saving.formats import (CHECKPOINT_FORMAT, WEIGHTS_FORMAT, check_checkpoint_format,
                                     describe, unreadable)
from torchfit.saving.tree import decode_tree, encode_tree, torch_dtype


def _h5py():
    # Imported here, not at the top: h5py is needed only for .h5 files, and `import torchfit`
    # must stay light (tests/test_import.py checks that it never imports h5py).
    try:
        import h5py
    except ImportError as err:
        raise ImportError(
            "Reading and writing .h5 files needs h5py: `pip install h5py`, or use a .pt path."
        ) from err
    return h5py


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
        if obj.is_meta:
            return obj  # a placeholder for a dataset that was not read (see `like`)
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
    structure = encode_tree(obj, tensors, where)
    group.create_dataset("structure", data=json.dumps(structure))
    tensor_group = group.create_group("tensors", track_order=True)
    for i, tensor in enumerate(tensors):
        _write_tensor(tensor_group, str(i), tensor)


def write_weights_file(tmp_path, state_dict):
    """Writes `state_dict` (tensors only) to `tmp_path` as a `.h5` weights file.

    Example:
        >>> from torchfit.saving.hdf5 import read_weights_file, write_weights_file
        >>> write_weights_file("w.h5", {"fc.weight": torch.ones(2, dtype=torch.bfloat16)})
        >>> read_weights_file("w.h5", "cpu")
        {'fc.weight': tensor([1., 1.], dtype=torch.bfloat16)}
    """
    with _h5py().File(tmp_path, "w", track_order=True) as f:
        f.attrs["format"] = WEIGHTS_FORMAT
        _write_weights_group(f, state_dict, "state_dict")


def write_checkpoint_file(tmp_path, checkpoint):
    """Writes `checkpoint` (the dict of `CHECKPOINT_KEYS`) to `tmp_path` as a `.h5` checkpoint."""
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
            raise unreadable(self.path, self.what, (
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
            raise unreadable(self.path, self.what, (
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
            raise unreadable(self.path, self.what, (
                f"dataset {dataset.name!r} holds {dataset.dtype} data, not numbers, so it is not "
                "a tensor torchfit wrote"))
        self.check_storage(dataset)
        tensor = torch.from_numpy(np.asarray(dataset[()]))  # a 0-d dataset reads as a scalar
        dtype_name = dataset.attrs.get("torch_dtype")
        if dtype_name is None or str(tensor.dtype).removeprefix("torch.") == dtype_name:
            return tensor
        try:
            return tensor.view(torch_dtype(str(dtype_name)))
        except (ValueError, RuntimeError) as err:
            raise unreadable(self.path, self.what, (
                f"dataset {dataset.name!r} has torch_dtype {dtype_name!r}, which its "
                f"{dataset.dtype} data cannot be viewed as ({describe(err)})")) from err

    def declared(self, dataset):
        """The (shape, torch dtype) a dataset would read as, from its header; None if unclear."""
        try:
            dtype = torch.from_numpy(np.empty(0, dataset.dtype.newbyteorder("="))).dtype
            name = dataset.attrs.get("torch_dtype")
            if name is not None:
                dtype = torch_dtype(str(name))
        except (TypeError, ValueError, RuntimeError, KeyError, OSError):
            return None
        return torch.Size(dataset.shape), dtype

    def weights(self, group, like=None):
        """The weights in `group`; with `like`, only the datasets that fit it are read."""
        weights = {}
        for name, dataset in self.datasets(group):
            key = urllib.parse.unquote(name)
            if like is not None:
                weights[key] = self.fitting_tensor(dataset, like.get(key))
            else:
                weights[key] = self.tensor(dataset)
        return weights

    def fitting_tensor(self, dataset, ours):
        """`dataset` read if it has the shape and dtype of `ours`, else a `meta` placeholder."""
        if isinstance(ours, torch.Tensor) and is_lazy(ours):
            return self.tensor(dataset)  # a lazy module takes any shape
        declared = self.declared(dataset)
        if declared is None:
            return self.tensor(dataset)  # refused or read under the storage checks
        shape, dtype = declared
        if isinstance(ours, torch.Tensor) and (ours.shape, ours.dtype) == (shape, dtype):
            return self.tensor(dataset)
        return torch.empty(shape, dtype=dtype, device="meta")

    def tree(self, group):
        h5py = _h5py()
        structure = self.required(group, "structure", h5py.Dataset)
        tensor_group = self.required(group, "tensors", h5py.Group)
        tensors = [self.tensor(self.required(tensor_group, str(i), h5py.Dataset))
                   for i in range(len(tensor_group))]
        self.check_storage(structure)
        try:
            return decode_tree(json.loads(structure.asstr()[()]), tensors)
        except (ValueError, TypeError, KeyError, IndexError) as err:
            raise unreadable(self.path, self.what, (
                f"{structure.name!r} is not the JSON torchfit writes ({describe(err)})")) from err


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
        raise unreadable(path, what, _h5_problem(path, err)) from err
    with file:
        try:
            return read_fn(_H5Reader(file, path, what))
        except (OSError, KeyError, RuntimeError) as err:  # h5py's errors on damaged bytes
            raise unreadable(path, what, (
                f"the file is corrupt (HDF5 could not read it): {describe(err)}")) from err


def _h5_problem(path, err):
    size = os.path.getsize(path)
    if size == 0:
        return "the file is empty (0 bytes)"
    if not _h5py().is_hdf5(path):
        return f"not an HDF5 file (its {size} bytes start with no HDF5 signature)"
    return f"the file is truncated or corrupt (HDF5 could not open it): {describe(err)}"


def read_weights_file(path, map_location, like=None):
    """The state dict in a `.h5` weights file (torchfit's or plain datasets) or checkpoint.

    With `like`, datasets that do not fit it are not read (see "Reading into a model").
    """
    device = _h5_device(map_location)

    def read(reader):
        fmt = reader.file.attrs.get("format")
        if fmt == WEIGHTS_FORMAT:
            return reader.weights(reader.file, like)
        if fmt is None:  # not written by torchfit: read the datasets at the root, if any
            weights = reader.weights(reader.file, like)
            if not weights:
                raise ValueError(
                    f"{os.fspath(path)!r} holds no weights torchfit can read: no 'format' "
                    "attribute and no datasets at the root of the file."
                )
            return weights
        check_checkpoint_format(fmt, path)
        return reader.weights(reader.required(reader.file, "model", _h5py().Group), like)

    return _to_device(_h5_read(path, "weights", read), device)


def read_checkpoint_file(path, map_location, like=None):
    """The checkpoint in a `.h5` file, as a dict with the keys of `CHECKPOINT_KEYS`.

    With `like`, the model's datasets that do not fit it are not read.
    """
    device = _h5_device(map_location)

    def read(reader):
        f = reader.file
        check_checkpoint_format(f.attrs.get("format"), path)
        group_kind = _h5py().Group
        checkpoint = {"format": CHECKPOINT_FORMAT,
                      "model": reader.weights(reader.required(f, "model", group_kind), like)}
        for key in ("optimizer", "training"):
            present = reader.member(f, key) is not None
            checkpoint[key] = reader.tree(reader.required(f, key, group_kind)) if present else None
        version = f.attrs.get("torchfit_version")  # absent in files from before it was recorded
        checkpoint["version"] = None if version is None else str(version)
        return checkpoint

    return _to_device(_h5_read(path, "a checkpoint", read), device)
