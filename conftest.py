"""Root conftest: the setting every docstring example runs in (``--doctest-modules torchfit``).

Docstring examples are written as a user would type them after ``import torch, torchfit``,
``from torch import nn`` and ``import numpy as np``; the doctests get the same names, and run
in a temporary folder so that examples which save files leave nothing behind.
"""

import numpy as np
import pytest
import torch
from _pytest.doctest import DoctestItem
from torch import nn

import torchfit


@pytest.fixture(autouse=True)
def _doctest_setting(request, doctest_namespace, tmp_path, monkeypatch):
    if isinstance(request.node, DoctestItem):
        doctest_namespace.update(np=np, torch=torch, nn=nn, torchfit=torchfit)
        monkeypatch.chdir(tmp_path)


def pytest_ignore_collect(collection_path, config):
    """Conftest files hold fixtures, not doctests: collecting them as doctest modules imports
    each as ``conftest``, which clashes once two directories have one (tests/, tests/compat/)."""
    if collection_path.name == "conftest.py":
        return True
    return None
