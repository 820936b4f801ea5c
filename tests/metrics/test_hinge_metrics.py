"""Tests for torchfit/metrics/hinge_metrics.py: hinge metrics against NumPy formulas."""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics
from metric_data import RNG, stream, weighted_mean

Y01 = RNG.integers(0, 2, size=(20, 3)).astype(np.float32)
SCORES = RNG.normal(size=(20, 3)).astype(np.float32)
W = RNG.uniform(0.0, 2.0, size=20).astype(np.float32)
SIGNED = 2 * Y01 - 1


def np_categorical_hinge(y_true, y_pred):
    pos = (y_true * y_pred).sum(-1)
    neg = ((1 - y_true) * y_pred).max(-1)
    return np.maximum(neg - pos + 1, 0)


@pytest.mark.parametrize(("cls", "per_sample"), [
    (metrics.Hinge, lambda t, p: np.maximum(1 - t * p, 0).mean(-1)),
    (metrics.SquaredHinge, lambda t, p: np.square(np.maximum(1 - t * p, 0)).mean(-1)),
])  # fmt: skip
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_hinges_map_labels_to_plus_minus_one(cls, per_sample, weighted):
    weight = W if weighted else None
    expected = weighted_mean(per_sample(SIGNED, SCORES), weight)
    np.testing.assert_allclose(stream(cls(), Y01, SCORES, weight), expected, rtol=1e-5)


def test_categorical_hinge_matches_numpy():
    one_hot = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, size=20)]
    expected = weighted_mean(np_categorical_hinge(one_hot, SCORES), W)
    np.testing.assert_allclose(stream(metrics.CategoricalHinge(), one_hot, SCORES, W), expected,
                               rtol=1e-5)  # fmt: skip


@pytest.mark.parametrize("cls", [metrics.Hinge, metrics.SquaredHinge, metrics.CategoricalHinge])
def test_config_round_trip_and_lower_is_better(cls):
    metric = cls(name="h", dtype=torch.float64)
    assert metric.get_config() == {"name": "h", "dtype": "float64"}
    assert cls.from_config(metric.get_config()).get_config() == metric.get_config()
    assert cls.higher_is_better is False
