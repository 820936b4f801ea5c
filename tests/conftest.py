import os

import pytest

import helpers


@pytest.fixture
def blobs():
    return helpers.blobs()


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on its torch backend, for the differential tests in tests/compat/.

    ``keras`` is in the ``compat`` test extra, which ``scripts/test.sh`` installs, so CI runs them.
    Keras reads ``KERAS_BACKEND`` once, at import: it is set here, before the first import.
    Without Keras (a bare ``pip install -e .[test]``) the tests skip and say why.
    """
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="Keras 3 is in the `compat` extra")
    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras runs on the {keras.backend.backend()!r} backend, not 'torch'")
    return keras
