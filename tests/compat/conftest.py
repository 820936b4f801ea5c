"""Differential tests against Keras 3 itself (``keras==3.15.1`` on its torch backend).

``keras`` is in the ``compat`` test extra, which ``scripts/test.sh`` installs, so CI runs these.
Keras reads ``KERAS_BACKEND`` once, at import: it is set here, before the first import. Without
Keras (a bare ``pip install -e .[test]``) these tests skip and say why.
"""

import os

import pytest


@pytest.fixture(scope="session")
def keras():
    """The ``keras`` module on the torch backend (skips the test when Keras is not installed)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="Keras 3 is in the `compat` extra")
    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras runs on the {keras.backend.backend()!r} backend, not 'torch'")
    return keras
