"""Tests for torchfit/metrics/r2_score.py: R2Score against NumPy (sklearn's formula)."""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics
from metric_data import batches, reg_pred, reg_true, weights


def np_r2(y_true, y_pred, w):
    w = np.broadcast_to(w[:, None], y_true.shape)
    mean = (w * y_true).sum(0) / w.sum(0)
    total = (w * (y_true - mean) ** 2).sum(0)
    residual = (w * (y_true - y_pred) ** 2).sum(0)
    return 1 - residual / total, total


@pytest.mark.parametrize("class_aggregation",
                         [None, "uniform_average", "variance_weighted_average"])
def test_r2_over_uneven_batches_matches_numpy(class_aggregation):
    m = metrics.R2Score(class_aggregation=class_aggregation)
    for y, p, w in batches(reg_true, reg_pred, weights):
        m.update_state(y, p, sample_weight=w)
    scores, total = np_r2(reg_true.astype(np.float64), reg_pred.astype(np.float64), weights)
    expected = {None: scores, "uniform_average": scores.mean(),
                "variance_weighted_average": (scores * total).sum() / total.sum()}
    np.testing.assert_allclose(m.result(), expected[class_aggregation], rtol=1e-4)


def test_adjusted_r2_counts_values_and_falls_back_without_a_sync():
    y_true, y_pred = torch.as_tensor(reg_true), torch.as_tensor(reg_pred)
    plain, adjusted = metrics.R2Score(), metrics.R2Score(num_regressors=2)
    plain.update_state(y_true, y_pred)
    adjusted.update_state(y_true, y_pred)
    n = reg_true.size  # tf.keras 2 and Keras 3.15 count values, not samples
    expected = 1 - (1 - plain.result().item()) * (n - 1) / (n - 2 - 1)
    np.testing.assert_allclose(adjusted.result(), expected, rtol=1e-5)
    too_many = metrics.R2Score(num_regressors=1000)
    too_many.update_state(y_true, y_pred)
    np.testing.assert_allclose(too_many.result(), plain.result())


def test_merge_state_equals_one_metric_and_config_round_trips():
    parts = []
    for y, p in batches(reg_true, reg_pred):
        part = metrics.R2Score()
        part.update_state(y, p)
        parts.append(part)
    single = metrics.R2Score()
    single.update_state(torch.as_tensor(reg_true), torch.as_tensor(reg_pred))
    parts[0].merge_state(parts[1:])
    np.testing.assert_allclose(parts[0].result(), single.result(), rtol=1e-5)
    config = metrics.R2Score(class_aggregation=None, num_regressors=1).get_config()
    assert config == {"name": "r2_score", "dtype": "float32", "class_aggregation": None,
                      "num_regressors": 1}  # fmt: skip
    assert metrics.R2Score.from_config(config).get_config() == config
