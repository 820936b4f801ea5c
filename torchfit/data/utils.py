"""Data helpers shared by the adapters and the model: unpacking, conversion, splitting, weights."""

import math
import numbers

import numpy as np
import torch

from torchfit import nest

__all__ = [
    "unpack_x_y_sample_weight",
    "take_rows",
    "pack_x_y_sample_weight",
    "to_tensor",
    "cast",
    "cast_batch",
    "weight_dtype",
    "num_samples",
    "train_validation_split",
    "check_class_weight",
    "check_finite",
    "class_weight_table",
    "class_weight_to_sample_weight",
]


def unpack_x_y_sample_weight(data):
    """Splits a batch into ``(x, y, sample_weight)``; missing parts are ``None``.

    A tuple of one to three elements is ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``; anything
    else (a tensor, a list, a dict) is ``x`` alone, as in Keras.
    """
    if isinstance(data, tuple) and not hasattr(data, "_fields"):
        if len(data) == 1:
            return data[0], None, None
        if len(data) == 2:
            return data[0], data[1], None
        if len(data) == 3:
            return data
        raise ValueError(
            "Data is expected to be `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`. "
            f"Received a tuple of length {len(data)}."
        )
    return data, None, None


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """Inverse of :func:`unpack_x_y_sample_weight`."""
    if y is None:
        return (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def _is_pandas(value):
    # Checked by module name so that pandas is never imported by torchfit itself.
    return type(value).__module__.split(".")[0] == "pandas"


def to_tensor(value, argument, is_target=False, dtype=torch.float32):
    """Converts one array-like leaf to a tensor, sharing memory with NumPy where possible.

    Floating leaves (and uint8 inputs, e.g. images) take ``dtype``, the model's floating dtype
    (``None`` keeps them as they are); integer targets become int64, the dtype torch's
    classification losses index with. Object and string arrays are refused.

    Example:
        >>> to_tensor(np.zeros((2, 3)), "x").dtype
        torch.float32
        >>> to_tensor(np.zeros((2, 3)), "x", dtype=torch.float64).dtype
        torch.float64
        >>> to_tensor(np.array([1, 2], np.uint8), "y", is_target=True).dtype
        torch.int64
    """
    if isinstance(value, torch.Tensor):
        tensor = value
    else:
        if _is_pandas(value):
            value = value.to_numpy()
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"`{argument}` must hold numbers, but received an array of dtype {array.dtype} "
                f"(shape {array.shape}). Convert it first, e.g. `{argument}.astype('float32')`, "
                "and encode strings or categories as integers."
            )
        if not array.flags.writeable or array.dtype.byteorder not in "=|":
            array = np.array(array, dtype=array.dtype.newbyteorder("="))
        tensor = torch.from_numpy(array)
    if tensor.dim() == 0:
        raise ValueError(
            f"`{argument}` must have a leading sample axis, but received a scalar {tensor}."
        )
    return cast(tensor, is_target, dtype)


def cast(tensor, is_target, dtype):
    """One leaf in the model's dtypes: see :func:`to_tensor` (``dtype=None``: floats kept)."""
    if tensor.is_floating_point():
        return tensor if dtype is None or tensor.dtype == dtype else tensor.to(dtype)
    if is_target:
        return tensor if tensor.dtype in (torch.int64, torch.bool) else tensor.long()
    if tensor.dtype == torch.uint8 and dtype is not None:  # 8-bit images, cast as Keras does
        return tensor.to(dtype)
    return tensor


def weight_dtype(dtype):
    """The dtype of sample weights for a model of floating ``dtype``: float32, or float64."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def cast_batch(batch, dtype):
    """``(x[, y[, sample_weight]])`` in the model's dtypes (floating sample weights:
    ``weight_dtype``; a custom ``train_step`` may give the third item another meaning)."""
    weights = weight_dtype(dtype)
    casts = (lambda t: cast(t, False, dtype), lambda t: cast(t, True, dtype),
             lambda t: t.to(weights) if t.is_floating_point() and t.dtype != weights else t)
    return tuple(
        None if part is None else nest.map_structure(
            lambda t, fn=fn: fn(t) if isinstance(t, torch.Tensor) else t, part)
        for part, fn in zip(batch, casts)
    )


def num_samples(data, names=("x", "y", "sample_weight")):
    """Returns the common first dimension of every leaf of ``(x, y, sample_weight)``.

    Raises a ``ValueError`` naming each array by its path (``x['ts_input']``) and its size when
    the sizes disagree.
    """
    sizes = [(path, leaf.shape[0]) for name, part in zip(names, data) if part is not None
             for path, leaf in nest.flatten_with_paths(part, name)]
    distinct = {size for _, size in sizes}
    if len(distinct) > 1:
        described = ", ".join(f"{path}: {size}" for path, size in sizes[:12])
        raise ValueError(
            f"Data cardinality is ambiguous: the arrays hold different numbers of samples "
            f"({described}{', ...' if len(sizes) > 12 else ''}). "
            "Make sure all arrays contain the same number of samples."
        )
    return distinct.pop() if distinct else 0


def train_validation_split(arrays, validation_split):
    """Splits every leaf of ``arrays`` into its first ``1 - validation_split`` and its last part.

    Like Keras, the split takes the *last* samples, before any shuffling.
    """
    total = num_samples(arrays)
    split_at = int(math.floor(total * (1.0 - validation_split)))
    if split_at == 0 or split_at == total:
        raise ValueError(
            f"validation_split={validation_split} leaves an empty training or validation set "
            f"with {total} samples (training: {split_at}, validation: {total - split_at}). "
            "Use a value that keeps samples on both sides, or pass `validation_data`."
        )

    def split(part, start, stop):
        return None if part is None else nest.map_structure(lambda t: t[start:stop], part)

    train = tuple(split(part, 0, split_at) for part in arrays)
    val = tuple(split(part, split_at, total) for part in arrays)
    return train, val


def check_class_weight(class_weight):
    """Validates ``{class_index: weight}`` and returns it with int keys and float values."""
    if not isinstance(class_weight, dict):
        raise TypeError(
            "`class_weight` must be a dict mapping class indices to weights, e.g. "
            f"{{0: 1.0, 1: 2.0}}. Received: class_weight={class_weight!r}"
        )
    checked = {}
    for key, weight in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, numbers.Integral) or key < 0:
            raise ValueError(
                "`class_weight` keys must be non-negative class indices (int). "
                f"Received key {key!r} in class_weight={class_weight!r}"
            )
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            raise ValueError(
                "`class_weight` values must be numbers. "
                f"Received {weight!r} for class {key} in class_weight={class_weight!r}"
            )
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(
                "`class_weight` values must be finite non-negative numbers. "
                f"Received {weight!r} for class {key} in class_weight={class_weight!r}. "
                "Give each class a weight >= 0 (0 leaves the class out of the loss)."
            )
        checked[int(key)] = float(weight)
    return checked


def class_weight_table(class_weight, device="cpu"):
    """``class_weight`` as a float32 lookup tensor indexed by class (built once, on ``device``)."""
    class_weight = check_class_weight(class_weight)
    size = max(class_weight) + 1 if class_weight else 1
    table = torch.ones(size, dtype=torch.float32)
    for cls, weight in class_weight.items():
        table[cls] = weight
    return table.to(device)


def class_weight_to_sample_weight(class_weight, y):
    """Per-sample weights ``class_weight[class of y]`` on ``y``'s device (1.0 for unlisted classes).

    ``class_weight`` is a dict or a table from :func:`class_weight_table`; ``y`` holds class
    indices, shape ``(N,)`` or ``(N, 1)``, or one-hot rows ``(N, C)``. No host sync.
    """
    if isinstance(y, (list, tuple, dict)):
        raise ValueError(
            "`class_weight` is only supported for models with a single output; for several outputs "
            "pass per-output `sample_weight` instead."
        )
    if y.dim() > 2:
        raise ValueError(
            f"`class_weight` needs targets of shape (N,), (N, 1) or one-hot (N, C); "
            f"received targets of shape {tuple(y.shape)}."
        )
    if y.dim() == 2:
        labels = y.argmax(dim=1) if y.shape[1] > 1 else y[:, 0]
    else:
        labels = y
    labels = labels.long()
    table = (class_weight.to(y.device) if isinstance(class_weight, torch.Tensor)
             else class_weight_table(class_weight, y.device))
    size = table.shape[0]
    # Labels beyond the table get weight 1.0, like Keras 3's unlisted classes.
    weights = table[labels.clamp(0, size - 1)]
    return torch.where(labels < size, weights, torch.ones_like(weights))


def take_rows(tensor, ids, pin=False):
    """``tensor``'s rows ``ids`` (a new tensor); with ``pin``, gathered into pinned host memory
    (PyTorch caches pinned blocks) so that the copy to the accelerator can be asynchronous.

    Example:
        >>> take_rows(torch.arange(6).reshape(3, 2), torch.tensor([2, 0])).tolist()
        [[4, 5], [0, 1]]
    """
    if not pin:
        return tensor.index_select(0, ids)
    out = torch.empty((len(ids),) + tuple(tensor.shape[1:]), dtype=tensor.dtype, pin_memory=True)
    return torch.index_select(tensor, 0, ids, out=out)


def _nonfinite_count(leaf):
    """How many NaN/inf entries a floating array or tensor holds (0 for other leaves)."""
    if isinstance(leaf, torch.Tensor):
        if not (leaf.is_floating_point() or leaf.is_complex()):
            return 0
        return int((~torch.isfinite(leaf)).sum())  # sync: once per fit, vectorised
    if not hasattr(leaf, "__array__") and not isinstance(leaf, (list, tuple)):
        return 0
    try:
        array = np.asarray(leaf)
    except (TypeError, ValueError):
        return 0
    if array.dtype.kind not in "fc":
        return 0
    return int(np.count_nonzero(~np.isfinite(array)))


def check_finite(value, argument, method="fit", count=None):
    """Raises ``ValueError`` when the in-memory ``value`` (``x``, ``y`` or ``sample_weight``: an
    array, tensor, DataFrame, or a list/dict of them) holds NaN or infinite values.

    One vectorised pass per leaf (for a device tensor, one sync); streams are not looked into.
    ``count(leaf)``, when given, counts a leaf's non-finite entries first (``None``: the default
    count); ``torchfit.data.disk`` reads arrays on disk with it, a slice at a time.

    Example:
        >>> check_finite(np.array([1.0, np.nan]), "x")
        Traceback (most recent call last):
        ValueError: `x` holds 1 NaN or infinite value(s) (in 2 entries)...
    """
    if value is None:
        return
    leaves = nest.flatten(value) if nest.is_nested(value) else [value]
    for leaf in leaves:
        bad = None if count is None else count(leaf)
        bad = _nonfinite_count(leaf) if bad is None else bad
        if bad:
            size = int(np.prod(getattr(leaf, "shape", (len(leaf),))))
            raise ValueError(
                f"`{argument}` holds {bad} NaN or infinite value(s) (in {size} entries), which "
                "would make the loss and then the weights NaN. Clean or impute them (e.g. "
                f"`np.nan_to_num`, or drop those samples), or pass `check_finite=False` to "
                f"`{method}()` to skip this check."
            )
