import gzip
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from torchfit.datasets import mnist

DATA_DIR = os.path.join(os.path.dirname(mnist.__file__), "data")


# ---------------------------------------------------------------------------------------------
# The bundled sample


def test_sample_shapes_and_dtypes():
    (x_train, y_train), (x_test, y_test) = mnist.load_data(sample=True)
    assert x_train.shape == (5000, 28, 28) and y_train.shape == (5000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8
    assert x_train.max() == 255 and x_train.min() == 0


def test_sample_has_500_images_per_digit():
    (_, y_train), (_, y_test) = mnist.load_data(sample=True)
    np.testing.assert_array_equal(np.bincount(y_train), [500] * 10)
    assert set(np.unique(y_test)) == set(range(10))


def test_sample_never_downloads(monkeypatch, tmp_path):
    def no_network(url, file_path):
        raise AssertionError("sample=True must not download")

    monkeypatch.setattr(mnist, "_fetch", no_network)
    mnist.load_data(sample=True, cache_dir=str(tmp_path / "cache"))
    assert not (tmp_path / "cache").exists()


def test_sample_refuses_download_arguments():
    with pytest.raises(ValueError, match="sample=True"):
        mnist.load_data(sample=True, origin="file:///mnist.npz")


def test_idx_test_set_equals_npz_test_set():
    _, (x_test, y_test) = mnist.load_data(sample=True)
    images = mnist.load_idx(os.path.join(DATA_DIR, "t10k-images-idx3-ubyte.gz"))
    labels = mnist.load_idx(os.path.join(DATA_DIR, "t10k-labels-idx1-ubyte.gz"))
    assert images.dtype == np.uint8 and images.shape == (10000, 28, 28)
    np.testing.assert_array_equal(images, x_test)
    np.testing.assert_array_equal(labels, y_test)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_reads_big_endian_types_gzipped_or_not(tmp_path, compress):
    expected = np.arange(-6, 6, dtype=np.int32).reshape(3, 4) * 1000
    header = bytes([0, 0, 0x0C, 2]) + np.array([3, 4], ">u4").tobytes()
    data = header + expected.astype(">i4").tobytes()
    path = tmp_path / "x.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    array = mnist.load_idx(path)
    assert array.dtype == np.int32 and array.dtype.isnative
    np.testing.assert_array_equal(array, expected)


def test_idx_bad_magic_number(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="bad magic number '12340801'"):
        mnist.load_idx(path)


def test_idx_truncated(tmp_path):
    path = tmp_path / "short.idx"
    path.write_bytes(bytes([0, 0, 8, 1]) + np.array([10], ">u4").tobytes() + b"\x00" * 3)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        mnist.load_idx(path)


# ---------------------------------------------------------------------------------------------
# Download and cache, against a local file:// origin (tests never touch the network)


@pytest.fixture
def origin(tmp_path):
    """A tiny MNIST-layout npz served from file://; returns (url, sha256, arrays)."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "y_train": np.arange(6, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "y_test": np.arange(4, dtype=np.uint8),
    }
    path = tmp_path / "mirror" / "mnist.npz"
    path.parent.mkdir()
    np.savez(path, **arrays)
    return path.as_uri(), hashlib.sha256(path.read_bytes()).hexdigest(), arrays


@pytest.fixture
def fetch_count(monkeypatch):
    calls = []
    real_fetch = mnist._fetch

    def counting_fetch(url, file_path):
        calls.append(url)
        return real_fetch(url, file_path)

    monkeypatch.setattr(mnist, "_fetch", counting_fetch)
    return calls


def _assert_matches(result, arrays):
    (x_train, y_train), (x_test, y_test) = result
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_train, arrays["y_train"])
    np.testing.assert_array_equal(x_test, arrays["x_test"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])


def test_download_once_then_reuse_cache(tmp_path, origin, fetch_count, capsys):
    url, sha, arrays = origin
    cache = tmp_path / "cache"
    _assert_matches(mnist.load_data(cache_dir=str(cache), origin=url, file_hash=sha), arrays)
    assert "Downloading data from " + url in capsys.readouterr().out
    _assert_matches(mnist.load_data(cache_dir=str(cache), origin=url, file_hash=sha), arrays)
    assert fetch_count == [url]
    assert os.listdir(cache) == ["mnist.npz"]


def test_default_cache_dir_is_home_torchfit(tmp_path, origin, monkeypatch):
    url, sha, arrays = origin
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    mnist.load_data(origin=url, file_hash=sha)
    assert (tmp_path / "home" / ".torchfit" / "datasets" / "mnist.npz").is_file()


def test_absolute_path_ignores_cache_dir(tmp_path, origin):
    url, sha, arrays = origin
    target = tmp_path / "elsewhere" / "digits.npz"
    _assert_matches(mnist.load_data(path=str(target), cache_dir=str(tmp_path / "unused"),
                                    origin=url, file_hash=sha), arrays)
    assert target.is_file() and not (tmp_path / "unused").exists()


def test_checksum_mismatch_keeps_nothing(tmp_path, origin):
    url, _, _ = origin
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=r"SHA-256 .* expected 0{64}.*sample=True"):
        mnist.load_data(cache_dir=str(cache), origin=url, file_hash="0" * 64)
    assert os.listdir(cache) == []


def test_corrupt_cached_file_is_downloaded_again(tmp_path, origin, fetch_count):
    url, sha, arrays = origin
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "mnist.npz").write_bytes(b"not an npz")
    with pytest.warns(UserWarning, match="corrupt"):
        result = mnist.load_data(cache_dir=str(cache), origin=url, file_hash=sha)
    _assert_matches(result, arrays)
    assert fetch_count == [url]


def test_download_failure_says_what_and_how_to_fix(tmp_path):
    url = (tmp_path / "missing.npz").as_uri()
    cache = tmp_path / "cache"
    message = r"Could not download .*missing\.npz.*put it at .*sample=True"
    with pytest.raises(OSError, match=message):
        mnist.load_data(cache_dir=str(cache), origin=url, file_hash="0" * 64)
    assert os.listdir(cache) == []


def test_bad_file_hash_argument(tmp_path, origin):
    url, _, _ = origin
    with pytest.raises(ValueError, match="SHA-256 hex digest"):
        mnist.load_data(cache_dir=str(tmp_path), origin=url, file_hash="abc")


def test_default_origin_and_hash_are_the_keras_mirror():
    assert mnist.MNIST_URL == (
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
    )
    assert mnist.MNIST_SHA256 == "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
