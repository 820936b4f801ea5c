"""Data input: one table that picks the adapter for what the user passed, and one error otherwise."""

import numpy as np
import torch

from torchfit import nest
from torchfit.data.adapters import ArrayAdapter
from torchfit.data.utils import (
    class_weight_to_sample_weight,
    pack_x_y_sample_weight,
    train_validation_split,
    unpack_x_y_sample_weight,
)

__all__ = [
    "get_adapter",
    "is_array_like",
    "ArrayAdapter",
    "class_weight_to_sample_weight",
    "pack_x_y_sample_weight",
    "train_validation_split",
    "unpack_x_y_sample_weight",
]

ACCEPTED = (
    "NumPy arrays, torch tensors, pandas DataFrames/Series, or lists/tuples/dicts of those"
)


def _is_array_leaf(value):
    return isinstance(value, (np.ndarray, torch.Tensor)) or (
        type(value).__module__.split(".")[0] == "pandas" and hasattr(value, "to_numpy")
    )


def is_array_like(value):
    """True for an array leaf or a non-empty nest whose leaves are all array leaves."""
    leaves = nest.flatten(value)
    return bool(leaves) and all(_is_array_leaf(leaf) for leaf in leaves)


# (accepts?, adapter class): the first row whose predicate holds builds the adapter.
_ADAPTERS = (
    (is_array_like, ArrayAdapter),
)


def get_adapter(x, y=None, sample_weight=None, **kwargs):
    """Returns the adapter for ``x`` (with ``y`` and ``sample_weight``), or raises one clear error."""
    for accepts, adapter in _ADAPTERS:
        if accepts(x):
            return adapter(x, y, sample_weight, **kwargs)
    raise TypeError(
        f"Unsupported data type for `x`: {type(x).__name__}. Expected {ACCEPTED}."
    )
