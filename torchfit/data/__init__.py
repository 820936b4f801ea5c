"""Data input: one table that picks the adapter for what the user passed, and one error otherwise.

Accepted for ``x``: NumPy arrays, torch tensors, pandas DataFrames/Series, arrays on disk
(``np.memmap``, ``h5py.Dataset``: read whole when small, else streamed, see
``torchfit.data.disk``), and lists/tuples/dicts of those (with ``y`` and ``sample_weight``
alike); or, with ``y=None``, a map-style
``torch.utils.data.Dataset``, an ``IterableDataset``, a ``DataLoader``, or a Python generator /
iterator, each yielding ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``.

A map-style ``Dataset``'s item is one sample; items are batched by ``batch_size`` (default 32). An
``IterableDataset``'s items are samples batched by ``batch_size`` when one is given, and ready
batches used as they come with ``batch_size=None`` (the default, as ``DataLoader(batch_size=None)``
and Keras's datasets). A ``DataLoader`` and a generator yield ready batches.
"""

import collections.abc as _collections_abc

import numpy as _np
import torch as _torch
from torch.utils.data import DataLoader as _DataLoader
from torch.utils.data import Dataset as _Dataset
from torch.utils.data import IterableDataset as _IterableDataset
from torch.utils.data import Subset as _Subset

from torchfit import nest as _nest
from torchfit.data import disk as _disk
from torchfit.data.adapters import (
    ArrayAdapter,
    DataLoaderAdapter,
    DatasetAdapter,
    GeneratorAdapter,
    IterableDatasetAdapter,
)
from torchfit.data.disk import DiskArrayAdapter, check_finite
from torchfit.data.utils import (
    class_weight_to_sample_weight,
    pack_x_y_sample_weight,
    train_validation_split,
    unpack_x_y_sample_weight,
)
from torchfit.data.utils import class_weight_table as _class_weight_table
from torchfit.data.utils import to_tensor as _to_tensor

__all__ = [
    "get_adapter",
    "check_array_leaves",
    "is_array_like",
    "batches_samples",
    "is_data",
    "split_for_validation",
    "ArrayAdapter",
    "DiskArrayAdapter",
    "DataLoaderAdapter",
    "DatasetAdapter",
    "GeneratorAdapter",
    "IterableDatasetAdapter",
    "check_finite",
    "class_weight_to_sample_weight",
    "pack_x_y_sample_weight",
    "train_validation_split",
    "unpack_x_y_sample_weight",
]

_ACCEPTED = (
    "NumPy arrays, torch tensors, pandas DataFrames/Series, np.memmap or h5py.Dataset arrays, "
    "or lists/tuples/dicts of those; "
    "a torch.utils.data Dataset, IterableDataset or DataLoader; or a Python generator/iterator "
    "of batches"
)


def _is_array_leaf(value):
    return isinstance(value, (_np.ndarray, _torch.Tensor)) or _disk.is_disk_array(value) or (
        type(value).__module__.split(".")[0] == "pandas" and hasattr(value, "to_numpy")
    )


def is_array_like(value):
    """True for an array leaf or a non-empty nest whose leaves are all array leaves."""
    leaves = _nest.flatten(value)
    return bool(leaves) and all(_is_array_leaf(leaf) for leaf in leaves)


def _is_map_dataset(value):
    return isinstance(value, _Dataset) and not isinstance(value, _IterableDataset)


def _is_iterator(value):
    return isinstance(value, _collections_abc.Iterator)


def _streamed(adapter_cls, name, takes_batch_size):
    """Builds a streamed adapter after refusing the arguments that make no sense for it."""
    def build(x, y, sample_weight, batch_size=None, shuffle=False, class_weight=None,
              device="cpu", dtype=_torch.float32, check_batch=None, shard=None):
        for argument, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None:
                raise ValueError(
                    f"`{argument}` is not accepted when `x` is a {name}: the {name} yields "
                    f"`(x, y, sample_weight)` batches itself. Put `{argument}` in its items."
                )
        kwargs = {"class_weight": class_weight, "dtype": dtype, "check_batch": check_batch}
        if adapter_cls in (DatasetAdapter, DataLoaderAdapter):
            kwargs["shard"] = shard
        if adapter_cls is DataLoaderAdapter:
            kwargs["device"] = device
        if takes_batch_size:
            kwargs.update(batch_size=batch_size, device=device)
            if adapter_cls is DatasetAdapter:
                kwargs["shuffle"] = shuffle
        elif batch_size is not None:
            raise ValueError(
                f"`batch_size` is not accepted when `x` is a {name}: it yields ready batches. "
                f"Set the batch size where the {name} is made."
            )
        return adapter_cls(x, **kwargs)
    return build


# (accepts?, builds the adapter): the first row whose predicate holds wins. Arrays on disk come
# before in-memory arrays (``disk.build`` streams them, or reads them whole when they are small),
# IterableDataset before Dataset, its base class.
_ADAPTERS = (
    (lambda x: is_array_like(x) and _disk.holds_disk_array(x), _disk.build),
    (is_array_like, ArrayAdapter),
    (lambda x: isinstance(x, _DataLoader), _streamed(DataLoaderAdapter, "DataLoader", False)),
    (lambda x: isinstance(x, _IterableDataset),
     _streamed(IterableDatasetAdapter, "IterableDataset", True)),
    (_is_map_dataset, _streamed(DatasetAdapter, "Dataset", True)),
    (_is_iterator, _streamed(GeneratorAdapter, "generator", False)),
)


def batches_samples(value):
    """True when torchfit batches ``value`` itself: arrays and map-style Datasets.

    A ``DataLoader``, an ``IterableDataset`` and a generator are used as they come (``fit``'s
    ``batch_size`` does not reach a validation stream).

    Example:
        >>> batches_samples(np.zeros((4, 2))), batches_samples(iter([]))
        (True, False)
    """
    return is_array_like(value) or _is_map_dataset(value)


def is_data(value):
    """True when ``get_adapter`` accepts ``value`` as ``x``."""
    return any(accepts(value) for accepts, _ in _ADAPTERS)


def get_adapter(x, y=None, sample_weight=None, batch_size=None, shuffle=False,
                class_weight=None, device="cpu", dtype=_torch.float32, check_batch=None,
                shard=None):
    """Returns the adapter for ``x`` (with ``y`` and ``sample_weight``), or raises one clear error.

    ``class_weight`` (a dict) is validated here for every input kind. ``dtype`` is the model's
    floating dtype, which floating inputs take; ``check_batch(batch, adapter)`` sees the first
    streamed batch once. ``shard`` is ``(rank, world)`` in a distributed run (see the adapters).
    """
    table = None if class_weight is None else _class_weight_table(class_weight, device)
    for accepts, build in _ADAPTERS:
        if accepts(x):
            if build is ArrayAdapter:
                return ArrayAdapter(x, y, sample_weight, batch_size=batch_size, shuffle=shuffle,
                                    class_weight=table, device=device, dtype=dtype, shard=shard)
            return build(x, y, sample_weight, batch_size=batch_size, shuffle=shuffle,
                         class_weight=table, device=device, dtype=dtype, check_batch=check_batch,
                         shard=shard)
    check_array_leaves(x, "x")
    raise TypeError(
        f"Unsupported data type for `x`: {type(x).__name__}. Expected {_ACCEPTED}."
    )


def check_array_leaves(value, argument):
    """Raises a ``TypeError`` naming the first leaf of the nest ``value`` that is not an array.

    Example:
        >>> check_array_leaves({"input": np.zeros((4, 2)), "future": 1000}, "x")
        Traceback (most recent call last):
        ...
        TypeError: `x['future']` is an int (1000), not an array...
    """
    leaves = _nest.flatten_with_paths(value, argument) if _nest.is_nested(value) else []
    if not any(_is_array_leaf(leaf) for _, leaf in leaves):
        return  # not a nest of arrays at all: the caller's general error says what is accepted
    for path, leaf in leaves:
        if not _is_array_leaf(leaf):
            name = type(leaf).__name__
            shown = repr(leaf) if len(repr(leaf)) <= 40 else repr(leaf)[:37] + "..."
            raise TypeError(
                f"`{path}` is a{'n' if name[0] in 'aeiou' else ''} {name} ({shown}), not an "
                f"array: every input in `{argument}` must be an array or tensor with one row per "
                "sample. To pass a constant argument to `forward`, keep it out of the data: "
                "give `forward` a default (`def forward(self, input, future=1000)`), or wrap "
                "the module in one whose forward passes it (`def forward(self, input): return "
                "self.net(input, future=1000)`; `functools.partial` binds it likewise)."
            )


def split_for_validation(x, y, sample_weight, validation_split):
    """Splits off the last ``validation_split`` of arrays or of a map-style Dataset.

    Returns ``(x, y, sample_weight), (val_x, val_y, val_sample_weight)``. Arrays on disk are
    split into views (``disk.split_for_validation``): no row is read.
    """
    if is_array_like(x) and any(_disk.holds_disk_array(part) for part in (x, y, sample_weight)):
        return _disk.split_for_validation(x, y, sample_weight, validation_split)
    if is_array_like(x):
        arrays = tuple(
            None if part is None else _nest.map_structure(
                lambda v, name=name: _to_tensor(v, name, name == "y", dtype=None), part)
            for name, part in zip(("x", "y", "sample_weight"), (x, y, sample_weight))
        )
        return train_validation_split(arrays, validation_split)
    if _is_map_dataset(x):
        size = len(x)
        split_at = int(size * (1.0 - validation_split))
        if split_at in (0, size):
            raise ValueError(
                f"validation_split={validation_split} leaves an empty training or validation "
                f"set with a Dataset of {size} items."
            )
        return ((_Subset(x, range(split_at)), y, sample_weight),
                (_Subset(x, range(split_at, size)), None, None))
    raise ValueError(
        "`validation_split` is only supported for arrays, tensors and map-style Datasets "
        f"(it takes their last fraction). Received x of type {type(x).__name__}: split the "
        "data yourself and pass `validation_data` instead."
    )
