"""Helpers shared by the tests of torchfit.saving (tests/saving/test_*.py).

They keep the names they had in the former tests/test_saving.py, so the tests read as before.
"""

import numpy as np
import torch
from torch import nn

from torchfit import saving


def _net():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def assert_tree_equal(actual, expected, where="root"):
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor), where
        assert actual.dtype == expected.dtype and actual.shape == expected.shape, where
        assert torch.equal(actual, expected), where
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert list(actual) == list(expected), where
        for key in expected:
            assert_tree_equal(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert type(actual) is type(expected) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_tree_equal(a, e, f"{where}[{i}]")
    elif isinstance(expected, float) and np.isnan(expected):
        assert np.isnan(actual), where
    else:
        assert type(actual) is type(expected) and actual == expected, where


def _damaged(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _saved_bytes(tmp_path, suffix, legacy=False):
    path = tmp_path / f"source{suffix}"
    state = {"w": torch.randn(64, 32), "b": torch.randn(32)}
    if legacy:
        torch.save(state, path, _use_new_zipfile_serialization=False)
    else:
        saving.save_state_dict(state, path)
    return path.read_bytes()

