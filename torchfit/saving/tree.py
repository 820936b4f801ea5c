"""Safe-value trees: what a checkpoint may hold, and its JSON encoding for `.h5` files.

torchfit loads `.pt` files with `torch.load(..., weights_only=True)`, which reads back only
tensors, `None`, `bool`, `int`, `float`, `str`, `torch.dtype`, `torch.device`, and lists, tuples
and dicts of those. `encode_tree` accepts exactly these (refusing anything else with a TypeError
that names the value's place), so saving checks with it before writing either format; the `.h5`
checkpoint groups store its result.

Encoding: scalars stay as they are, lists stay lists, and every other value becomes a one-key JSON
object, so decoding is unambiguous: `{"__tensor__": i}` (the i-th tensor, stored apart),
`{"__tuple__": [...]}`, `{"__dict__": [[key, value], ...]}` (keys keep their type and order),
`{"__dtype__": "float32"}` and `{"__device__": "cuda:0"}`.
"""

from collections import OrderedDict

import torch

# Exact types that torch.load(weights_only=True) reads back; subclasses (np.float64 is a float,
# namedtuples are tuples, IntEnum members are ints) are pickled by class and would be refused.
_SCALAR_TYPES = (type(None), bool, int, float, str)
_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)
_DICT_TYPES = (dict, OrderedDict)
_SEQUENCE_TYPES = (list, tuple, torch.Size)


def encode_tree(obj, tensors, where):
    """Return `obj` as JSON-ready data, appending its tensors to `tensors`.

    Raises TypeError, naming `where` (e.g. "training_state['best']"), for a value that
    `torch.load(weights_only=True)` could not read back. Every JSON object in the result is a
    one-key marker, so decoding is unambiguous.

    Example:
        >>> from torchfit.saving.tree import decode_tree, encode_tree
        >>> tensors = []
        >>> data = encode_tree({"epoch": 3, "rng": torch.zeros(2)}, tensors, "training_state")
        >>> data
        {'__dict__': [['epoch', 3], ['rng', {'__tensor__': 0}]]}
        >>> decode_tree(data, tensors)
        {'epoch': 3, 'rng': tensor([0., 0.])}
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
        items = [encode_tree(item, tensors, f"{where}[{i}]") for i, item in enumerate(obj)]
        return items if kind is list else {"__tuple__": items}
    if kind in _DICT_TYPES:
        pairs = []
        for key, value in obj.items():
            if type(key) not in _SCALAR_TYPES:
                raise TypeError(
                    f"Cannot save {where}: its key {key!r} is a {type(key).__name__}. "
                    "Dict keys must be str, int, float, bool or None."
                )
            pairs.append([key, encode_tree(value, tensors, f"{where}[{key!r}]")])
        return {"__dict__": pairs}
    raise TypeError(
        f"Cannot save {where}: a {kind.__module__}.{kind.__qualname__} could not be loaded "
        "back safely (torchfit loads with weights_only=True). Allowed: tensors, None, bool, int, "
        "float, str, torch.dtype, torch.device, and lists, tuples and dicts of those. Convert it "
        "first, e.g. float(x) for a NumPy scalar or torch.as_tensor(x) for an array."
    )


def decode_tree(data, tensors):
    """The inverse of `encode_tree`: rebuilds the value from `data` and the stored `tensors`.

    Raises ValueError for a marker `encode_tree` never writes.

    Example:
        >>> from torchfit.saving.tree import decode_tree
        >>> decode_tree({"__tuple__": [1, {"__dtype__": "bfloat16"}]}, [])
        (1, torch.bfloat16)
    """
    if isinstance(data, list):
        return [decode_tree(item, tensors) for item in data]
    if not isinstance(data, dict):
        return data
    (marker, value), = data.items()
    if marker == "__tensor__":
        return tensors[value]
    if marker == "__tuple__":
        return tuple(decode_tree(item, tensors) for item in value)
    if marker == "__dict__":
        return {key: decode_tree(item, tensors) for key, item in value}
    if marker == "__dtype__":
        return torch_dtype(value)
    if marker == "__device__":
        return torch.device(value)
    raise ValueError(f"Unknown marker {marker!r} in a torchfit .h5 file.")


def torch_dtype(name):
    """The `torch.dtype` named `name` (`"float32"`, `"bfloat16"`, ...); ValueError if none is.

    Example:
        >>> from torchfit.saving.tree import torch_dtype
        >>> torch_dtype("bfloat16")
        torch.bfloat16
    """
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"Unknown torch dtype {name!r} in a torchfit .h5 file.")
    return dtype
