"""`.safetensors` files: weights only, in the format of the `safetensors` package, sealed by a checksum.

Layout
------
A plain safetensors file (8-byte header length, JSON header, raw tensor bytes), so
`safetensors.torch.load_file(path)` returns the bare module's `state_dict` and
`module.load_state_dict(load_file(path))` works without torchfit. One tensor per state-dict key;
dtypes (bfloat16 and int64 included) and shapes (0-d included) round-trip exactly. The header's
`__metadata__` (strings only, as safetensors requires) holds:

* `format`: `"pt"`, the value Hugging Face's loaders expect of a torch file;
* `torchfit_format`: `"torchfit.weights.v1"` (`WEIGHTS_FORMAT`), and `torchfit_version`;
* `torchfit_keys`: the keys in `state_dict` order, as JSON (safetensors itself sorts them);
* `torchfit_sha256`: the sha256 of the whole file with these 64 hex digits read as zeros.

Tensors that share memory (tied weights: one parameter under two keys) are written once per
key, each a copy (safetensors refuses shared storage), and load back as separate tensors that
`load_state_dict` copies into the one tied parameter. A file holds tensors only: a module with
non-tensor extra state must be saved to `.pt`. Full checkpoints (optimizer state, training
progress) are not written to `.safetensors`: `torchfit.saving` refuses them with a pointer to
`.pt` / `.h5`.

Reading
-------
safetensors parses the JSON header and checks that the tensors exactly cover the file; it never
unpickles. An empty, truncated or garbled file raises `ValueError("Could not read weights from
'<path>': ...")`; a file whose bytes changed since torchfit sealed it fails its checksum ("the
file is damaged"). Files without `torchfit_sha256` (written by other tools) are read unchecked,
in the file's key order. Given `like` (the model's `state_dict()`), a tensor is read only if its
key is in `like` with the same shape and dtype, judged from the header; any other comes back on
the `meta` device (no memory) for `validate.check_loadable` to report.

`safetensors` (the `safetensors` extra) is imported only when a `.safetensors` file is used.
"""

import hashlib
import json
import os

import torch
from torch.nn.parameter import is_lazy

from torchfit._version import __version__
from torchfit.saving.formats import WEIGHTS_FORMAT, describe, unreadable

__all__ = ["read_weights_file", "write_weights_file"]

_DIGEST_KEY = "torchfit_sha256"
_ZERO_DIGEST = "0" * 64
_CHUNK = 1 << 20
# safetensors' dtype names -> torch dtypes (those this torch build has).
_DTYPES = {name: getattr(torch, attr) for name, attr in {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "C64": "complex64",
}.items() if hasattr(torch, attr)}


def _safetensors():
    # Imported here, not at the top: `import torchfit` never imports safetensors.
    try:
        import safetensors
        import safetensors.torch
    except ImportError as err:
        raise ImportError(
            "Reading and writing .safetensors files needs the safetensors package: "
            "`pip install torchfit[safetensors]` (or `pip install safetensors`), or use a .pt path."
        ) from err
    return safetensors


def _plain_tensors(state_dict):
    """Contiguous CPU tensors that own their storage (safetensors refuses shared memory)."""
    tensors, storages = {}, set()
    for key, value in state_dict.items():
        if not isinstance(key, str) or key == "__metadata__":
            raise TypeError(
                f"Cannot save state_dict to .safetensors: key {key!r} cannot name a tensor there "
                "(keys are strings, and '__metadata__' is the header's own). Save to a .pt path."
            )
        if not isinstance(value, torch.Tensor) or value.layout != torch.strided or value.is_meta:
            kind = type(value).__name__ if not isinstance(value, torch.Tensor) else (
                "meta tensor" if value.is_meta else f"{value.layout} tensor")
            raise TypeError(
                f"Cannot save state_dict[{key!r}] to .safetensors: it is a {kind}, and "
                ".safetensors files hold dense tensors only. Save to a .pt path instead."
            )
        tensor = value.detach().cpu()
        storage = tensor.untyped_storage()
        pointer = storage.data_ptr()
        if (not tensor.is_contiguous() or pointer in storages
                or storage.nbytes() != tensor.numel() * tensor.element_size()):
            tensor = tensor.clone(memory_format=torch.contiguous_format)  # tied or a view
        else:
            storages.add(pointer)
        tensors[key] = tensor
    return tensors


def write_weights_file(tmp_path, state_dict):
    """Writes `state_dict` (tensors only) to `tmp_path` as a sealed `.safetensors` file.

    Example:
        >>> from safetensors.torch import load_file
        >>> from torchfit.saving.safetensors_format import read_weights_file, write_weights_file
        >>> write_weights_file("w.safetensors", {"w": torch.ones(2), "b": torch.zeros(())})
        >>> read_weights_file("w.safetensors", "cpu")
        {'w': tensor([1., 1.]), 'b': tensor(0.)}
        >>> sorted(load_file("w.safetensors"))  # the safetensors package reads it too
        ['b', 'w']
    """
    tensors = _plain_tensors(state_dict)
    metadata = {
        "format": "pt",
        "torchfit_format": WEIGHTS_FORMAT,
        "torchfit_version": __version__,
        "torchfit_keys": json.dumps(list(tensors)),
        _DIGEST_KEY: _ZERO_DIGEST,
    }
    # atomic_write's temp file has the mode a plain open() would give; safetensors recreates
    # the file owner-only (0o600): put the mode back.
    mode = os.stat(tmp_path).st_mode if os.path.exists(tmp_path) else None
    _safetensors().torch.save_file(tensors, tmp_path, metadata=metadata)
    if mode is not None:
        os.chmod(tmp_path, mode)
    _seal(tmp_path)


def _digest_field(digest):
    return f'"{_DIGEST_KEY}":"{digest}"'.encode("ascii")


def _header(f):
    """`(header_bytes, size)` of an open safetensors file whose structure safetensors checked."""
    f.seek(0)
    length = int.from_bytes(f.read(8), "little")
    return f.read(length), 8 + length


def _sha256(f, header, start):
    """The sha256 of the file with the digest in `header` (already zeroed by the caller)."""
    digest = hashlib.sha256()
    f.seek(0)
    digest.update(f.read(8))
    digest.update(header)
    f.seek(start)
    for block in iter(lambda: f.read(_CHUNK), b""):
        digest.update(block)
    return digest.hexdigest()


def _seal(path):
    """Writes the sha256 of the file into its `torchfit_sha256` field (same length, in place)."""
    with open(path, "r+b") as f:
        header, start = _header(f)
        field = _digest_field(_ZERO_DIGEST)
        at = header.find(field)
        if at < 0 or header.count(field) != 1:
            raise RuntimeError(f"safetensors wrote no single {_DIGEST_KEY} field to {path!r}.")
        digest = _sha256(f, header, start)
        f.seek(8 + at)
        f.write(_digest_field(digest))


def _verify(path, metadata):
    """Raises the damaged-file ValueError unless the file matches the checksum it carries."""
    stored = (metadata or {}).get(_DIGEST_KEY)
    if stored is None:
        return  # not written by torchfit: nothing to check against
    with open(path, "rb") as f:
        header, start = _header(f)
        field = _digest_field(stored)
        actual = _sha256(f, header.replace(field, _digest_field(_ZERO_DIGEST), 1), start)
    if field not in header or actual != stored:
        raise unreadable(path, "weights", (
            "the file is damaged: its contents do not match the sha256 checksum torchfit "
            f"stored in it (stored {stored[:12]}..., computed {actual[:12]}...), so some of its "
            "bytes changed after it was written"))


def _key_order(keys, metadata):
    """The keys in the order they were saved (`torchfit_keys`), else in the file's order."""
    try:
        saved = json.loads((metadata or {}).get("torchfit_keys", "null"))
    except ValueError:
        saved = None
    if isinstance(saved, list) and sorted(saved) == sorted(keys):
        return saved
    return list(keys)


def _fits(like, key, shape, dtype):
    if like is None:
        return True
    ours = like.get(key)
    if not isinstance(ours, torch.Tensor):
        return False
    return is_lazy(ours) or (tuple(ours.shape) == tuple(shape) and ours.dtype == dtype)


def _read_tensors(f, path, metadata, like):
    state = {}
    for key in _key_order(f.keys(), metadata):
        piece = f.get_slice(key)
        shape, name = piece.get_shape(), piece.get_dtype()
        if name not in _DTYPES:
            raise unreadable(path, "weights", (
                f"tensor {key!r} has the safetensors dtype {name!r}, which this torch cannot "
                "hold"))
        if _fits(like, key, shape, _DTYPES[name]):
            state[key] = f.get_tensor(key)
        else:  # a placeholder, never read: check_loadable reports it
            state[key] = torch.empty(shape, dtype=_DTYPES[name], device="meta")
    return state


def _device(map_location):
    if map_location is None or isinstance(map_location, (str, torch.device)):
        return None if map_location in (None, "cpu") else torch.device(map_location)
    raise TypeError(
        "For .safetensors files `map_location` must be a device string or torch.device. "
        f"Received: {map_location!r}."
    )


def read_weights_file(path, map_location, like=None):
    """The state dict in a `.safetensors` file, checksum verified, keys in saved order.

    With `like`, tensors that do not fit it are not read (see "Reading" above).
    """
    device = _device(map_location)
    if os.path.getsize(path) == 0:
        raise unreadable(path, "weights", "the file is empty (0 bytes)")
    safetensors = _safetensors()
    try:
        with safetensors.safe_open(os.fspath(path), framework="pt") as f:
            metadata = f.metadata()
            _verify(path, metadata)
            state = _read_tensors(f, path, metadata, like)
    except safetensors.SafetensorError as err:
        raise unreadable(path, "weights", (
            f"the file is truncated or corrupt (not a complete safetensors file): "
            f"{describe(err)}")) from err
    if device is not None:
        state = {k: v if v.is_meta else v.to(device) for k, v in state.items()}
    return state
