"""Tests for torchfit/metrics/regression.py: regression metrics against NumPy."""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics
from metric_data import reg_pred, reg_true, stream, weighted_mean, weights


def np_mape(t, p):
    return 100 * np.mean(np.abs((t - p) / np.maximum(np.abs(t), 1e-7)), axis=-1)


def np_msle(t, p):
    return np.mean(
        (np.log(np.maximum(p, 1e-7) + 1) - np.log(np.maximum(t, 1e-7) + 1)) ** 2, axis=-1
    )


def np_cosine(t, p):
    return (t * p).sum(-1) / (np.linalg.norm(t, axis=-1) * np.linalg.norm(p, axis=-1))


REGRESSION_CASES = [
    (metrics.MeanSquaredError, np.mean((reg_pred - reg_true) ** 2, axis=-1)),
    (metrics.MeanAbsoluteError, np.mean(np.abs(reg_pred - reg_true), axis=-1)),
    (metrics.MeanAbsolutePercentageError, np_mape(reg_true, reg_pred)),
    (metrics.MeanSquaredLogarithmicError, np_msle(reg_true, reg_pred)),
    (metrics.LogCoshError, np.mean(np.log(np.cosh(reg_pred - reg_true)), axis=-1)),
    (metrics.CosineSimilarity, np_cosine(reg_true, reg_pred)),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(
    "cls, per_sample", REGRESSION_CASES, ids=lambda x: getattr(x, "__name__", "")
)
def test_regression_metrics_match_numpy(cls, per_sample, weighted):
    w = weights[:, None] if weighted else None  # (N, 1) weights work like (N,)
    np.testing.assert_allclose(
        stream(cls(), reg_true, reg_pred, w), weighted_mean(per_sample, w), rtol=1e-5
    )


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_root_mean_squared_error(weighted):
    w = weights if weighted else None
    expected = np.sqrt(weighted_mean((reg_pred - reg_true) ** 2, w))
    np.testing.assert_allclose(
        stream(metrics.RootMeanSquaredError(), reg_true, reg_pred, w), expected, rtol=1e-5
    )


def test_one_dimensional_regression_targets_are_per_sample():
    # (N,) targets against (N, 1) predictions: the (N, 1) axis is dropped, each element is a sample.
    expected = np.mean((reg_pred[:, 0] - reg_true[:, 0]) ** 2)
    result = stream(metrics.MeanSquaredError(), reg_true[:, 0], reg_pred[:, :1])
    np.testing.assert_allclose(result, expected, rtol=1e-5)


def test_mean_relative_error_matches_numpy_and_config_round_trips():
    normalizer = np.abs(reg_true).mean(0) + 0.5  # one normaliser per output
    expected = weighted_mean(np.abs(reg_true - reg_pred) / normalizer, weights)
    m = metrics.MeanRelativeError(normalizer=normalizer)
    np.testing.assert_allclose(stream(m, reg_true, reg_pred, weights), expected, rtol=1e-5)
    config = m.get_config()
    assert config["name"] == "mean_relative_error" and config["dtype"] == "float32"
    np.testing.assert_allclose(config["normalizer"], normalizer, rtol=1e-6)
    rebuilt = metrics.MeanRelativeError.from_config(config)
    assert torch.equal(rebuilt.normalizer, m.normalizer)
