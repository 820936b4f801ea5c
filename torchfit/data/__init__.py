"""Data input: one table that picks the adapter for what the user passed, and one error otherwise.

Accepted for ``x``: NumPy arrays, torch tensors, pandas DataFrames/Series, and lists/tuples/dicts
of those (with ``y`` and ``sample_weight`` alike); or, with ``y=None``, a map-style
``torch.utils.data.Dataset``, an ``IterableDataset``, a ``DataLoader``, or a Python generator /
iterator, each yielding ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``.
"""

import collections.abc

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset

from torchfit import nest
from torchfit.data.adapters import (
    ArrayAdapter,
    DataLoaderAdapter,
    DatasetAdapter,
    GeneratorAdapter,
    IterableDatasetAdapter,
)
from torchfit.data.utils import (
    class_weight_table,
    class_weight_to_sample_weight,
    pack_x_y_sample_weight,
    to_tensor,
    train_validation_split,
    unpack_x_y_sample_weight,
)

__all__ = [
    "get_adapter",
    "is_array_like",
    "is_data",
    "split_for_validation",
    "ArrayAdapter",
    "DataLoaderAdapter",
    "DatasetAdapter",
    "GeneratorAdapter",
    "IterableDatasetAdapter",
    "class_weight_to_sample_weight",
    "pack_x_y_sample_weight",
    "train_validation_split",
    "unpack_x_y_sample_weight",
]

ACCEPTED = (
    "NumPy arrays, torch tensors, pandas DataFrames/Series, or lists/tuples/dicts of those; "
    "a torch.utils.data Dataset, IterableDataset or DataLoader; or a Python generator/iterator "
    "of batches"
)


def _is_array_leaf(value):
    return isinstance(value, (np.ndarray, torch.Tensor)) or (
        type(value).__module__.split(".")[0] == "pandas" and hasattr(value, "to_numpy")
    )


def is_array_like(value):
    """True for an array leaf or a non-empty nest whose leaves are all array leaves."""
    leaves = nest.flatten(value)
    return bool(leaves) and all(_is_array_leaf(leaf) for leaf in leaves)


def _is_map_dataset(value):
    return isinstance(value, Dataset) and not isinstance(value, IterableDataset)


def _is_iterator(value):
    return isinstance(value, collections.abc.Iterator)


def _streamed(adapter_cls, name, takes_batch_size):
    """Builds a streamed adapter after refusing the arguments that make no sense for it."""
    def build(x, y, sample_weight, batch_size=None, shuffle=False, class_weight=None,
              device="cpu"):
        for argument, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None:
                raise ValueError(
                    f"`{argument}` is not accepted when `x` is a {name}: the {name} yields "
                    f"`(x, y, sample_weight)` batches itself. Put `{argument}` in its items."
                )
        kwargs = {"class_weight": class_weight}
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


# (accepts?, builds the adapter): the first row whose predicate holds wins. IterableDataset
# comes before Dataset, its base class.
_ADAPTERS = (
    (is_array_like, ArrayAdapter),
    (lambda x: isinstance(x, DataLoader), _streamed(DataLoaderAdapter, "DataLoader", False)),
    (lambda x: isinstance(x, IterableDataset),
     _streamed(IterableDatasetAdapter, "IterableDataset", True)),
    (_is_map_dataset, _streamed(DatasetAdapter, "Dataset", True)),
    (_is_iterator, _streamed(GeneratorAdapter, "generator", False)),
)


def is_data(value):
    """True when ``get_adapter`` accepts ``value`` as ``x``."""
    return any(accepts(value) for accepts, _ in _ADAPTERS)


def get_adapter(x, y=None, sample_weight=None, batch_size=None, shuffle=False,
                class_weight=None, device="cpu"):
    """Returns the adapter for ``x`` (with ``y`` and ``sample_weight``), or raises one clear error.

    ``class_weight`` (a dict) is validated here for every input kind.
    """
    table = None if class_weight is None else class_weight_table(class_weight, device)
    for accepts, build in _ADAPTERS:
        if accepts(x):
            return build(x, y, sample_weight, batch_size=batch_size, shuffle=shuffle,
                         class_weight=table, device=device)
    raise TypeError(
        f"Unsupported data type for `x`: {type(x).__name__}. Expected {ACCEPTED}."
    )


def split_for_validation(x, y, sample_weight, validation_split):
    """Splits off the last ``validation_split`` of arrays or of a map-style Dataset.

    Returns ``(x, y, sample_weight), (val_x, val_y, val_sample_weight)``.
    """
    if is_array_like(x):
        arrays = tuple(
            None if part is None else nest.map_structure(
                lambda v, name=name: to_tensor(v, name, name == "y"), part)
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
        return ((Subset(x, range(split_at)), y, sample_weight),
                (Subset(x, range(split_at, size)), None, None))
    raise ValueError(
        "`validation_split` is only supported for arrays, tensors and map-style Datasets "
        f"(it takes their last fraction). Received x of type {type(x).__name__}: split the "
        "data yourself and pass `validation_data` instead."
    )
