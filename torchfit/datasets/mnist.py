"""MNIST handwritten digits: `load_data()` as in `keras.datasets.mnist`, and an IDX reader.

`load_data()` downloads the full dataset once (11 MB, the same `mnist.npz` Keras uses) into
`~/.torchfit/datasets` and checks its SHA-256 on every call. `load_data(sample=True)` returns the
5,000-image sample bundled with torchfit (500 of each digit from the official training set, plus
the official 10,000-image test set): offline, for tests, examples and demos.

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges, licensed CC BY-SA 3.0; see
`torchfit/datasets/data/NOTICE.md`.
"""

import gzip
import hashlib
import importlib.resources
import io
import os
import urllib.request
import warnings

import numpy as np

from torchfit.saving.atomic import atomic_write

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
DEFAULT_CACHE_DIR = os.path.join("~", ".torchfit", "datasets")
SAMPLE_FILE = "mnist-5k.npz"
SAMPLE_ORDER_SEED = 20191122  # fixed: the sample's order must never change between releases

# IDX type code -> NumPy dtype (IDX data is big-endian).
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_DOWNLOAD_TIMEOUT_S = 60


def load_data(path="mnist.npz", sample=False, cache_dir=None, *, origin=None, file_hash=None):
    """Load MNIST as NumPy arrays, like `keras.datasets.mnist.load_data`.

    Args:
        path: Where to cache the full dataset, relative to `cache_dir` (an absolute path is used
            as is).
        sample: If True, return the bundled sample (5,000 training images, 500 per digit, and
            the full 10,000-image test set) without touching the network. The training images
            come in a fixed shuffled order (the same on every call and machine).
        cache_dir: Cache folder; default `~/.torchfit/datasets`.
        origin: URL to download from; default `MNIST_URL` (the public Keras mirror). Any URL
            urllib opens works, `file://` included.
        file_hash: Expected SHA-256 of the file, in hex; default `MNIST_SHA256`.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 arrays; images are (N, 28, 28) with values
        0-255, labels are (N,) digits 0-9.

    Raises:
        OSError: The download failed (the message gives the URL and how to fix it).
        ValueError: The downloaded file's checksum does not match (nothing is kept), or the file
            is not an MNIST npz.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data(sample=True)
        >>> x_train.shape, x_test.shape
        ((5000, 28, 28), (10000, 28, 28))
    """
    if sample:
        if origin is not None or file_hash is not None:
            raise ValueError(
                "`origin` and `file_hash` apply to the download; `sample=True` reads the bundled "
                f"sample. Received: origin={origin!r}, file_hash={file_hash!r}."
            )
        resource = importlib.resources.files("torchfit.datasets") / "data" / SAMPLE_FILE
        (x_train, y_train), test = _read_npz(io.BytesIO(resource.read_bytes()), SAMPLE_FILE)
        # The file stores the training images sorted by digit; a fixed permutation gives them the
        # mixed order of the real training set, so "the last N samples" is a fair holdout.
        order = np.random.default_rng(SAMPLE_ORDER_SEED).permutation(len(y_train))
        return (x_train[order], y_train[order]), test
    cache_dir = os.path.expanduser(DEFAULT_CACHE_DIR if cache_dir is None else cache_dir)
    file_path = os.path.join(cache_dir, os.fspath(path))
    _ensure_file(file_path, origin or MNIST_URL, _check_hash(file_hash or MNIST_SHA256))
    return _read_npz(file_path, file_path)


def load_idx(path):
    """Read an IDX file (the format of the original MNIST files), gzipped or not.

    The header is two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, then each dimension as a big-endian
    uint32.

    Args:
        path: An IDX file, e.g. `t10k-images-idx3-ubyte.gz` (gzip is detected from the content).

    Returns:
        A NumPy array of the file's shape and dtype, in native byte order.

    Raises:
        ValueError: Bad magic number, or the data does not match the header's shape.

    Example:
        >>> import importlib.resources
        >>> folder = importlib.resources.files("torchfit.datasets") / "data"
        >>> load_idx(folder / "t10k-labels-idx1-ubyte.gz").shape
        (10000,)
    """
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{os.fspath(path)!r} is not an IDX file: bad magic number {data[:4].hex()!r}. "
            "Expected 0x0000, a type code (08, 09, 0b, 0c, 0d or 0e) and the number of "
            "dimensions, e.g. '00000803' for uint8 images."
        )
    dtype, ndim = np.dtype(_IDX_DTYPES[data[2]]), data[3]
    header_size = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header_size != expected:
        raise ValueError(
            f"{os.fspath(path)!r} is truncated or corrupt: its header says shape {shape} "
            f"({expected} bytes of {dtype.name}), but it holds {len(data) - header_size} bytes."
        )
    array = np.frombuffer(data, dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def _read_npz(source, name):
    with np.load(source, allow_pickle=False) as f:
        missing = [key for key in _NPZ_KEYS if key not in f.files]
        if missing:
            raise ValueError(
                f"{name!r} is not an MNIST npz file: missing {missing}. Found: {f.files}."
            )
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def _check_hash(file_hash):
    if not (isinstance(file_hash, str) and len(file_hash) == 64):
        raise ValueError(
            f"`file_hash` must be a SHA-256 hex digest (64 characters). Received: {file_hash!r}."
        )
    return file_hash.lower()


def _sha256(file_path):
    digest = hashlib.sha256()
    with open(file_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _ensure_file(file_path, origin, file_hash):
    """Make sure `file_path` holds the file with `file_hash`, downloading it if needed."""
    if os.path.exists(file_path):
        if _sha256(file_path) == file_hash:
            return
        warnings.warn(
            f"The cached file {file_path!r} is corrupt (SHA-256 mismatch); downloading it again.",
            stacklevel=3,
        )
        os.remove(file_path)
    _download(origin, file_path, file_hash)


def _download(origin, file_path, file_hash):
    """Download `origin` to `file_path` atomically; nothing is left behind unless it verifies."""
    how_to_fix = (
        f"To fix: check your network and try again; or download {origin} yourself and put it "
        f"at {file_path}; or use load_data(sample=True) for the bundled 5,000-image sample."
    )

    def fetch_and_verify(tmp_path):
        actual = _fetch(origin, tmp_path)
        if actual != file_hash:
            raise ValueError(
                f"The file downloaded from {origin} has SHA-256 {actual}, expected {file_hash}: "
                f"the download is corrupt or the file changed. Nothing was saved at "
                f"{file_path}. {how_to_fix}"
            )

    print(f"Downloading data from {origin}")
    try:
        atomic_write(file_path, fetch_and_verify)
    except OSError as err:  # urllib.error.URLError is an OSError
        raise OSError(f"Could not download {origin} to {file_path}: {err}. {how_to_fix}") from err


def _fetch(url, file_path):
    """Stream `url` into `file_path`; return the content's SHA-256 hex digest."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
        with open(file_path, "wb") as f:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                f.write(chunk)
    return digest.hexdigest()
