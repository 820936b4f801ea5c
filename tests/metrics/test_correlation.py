"""Tests for torchfit/metrics/correlation.py: Pearson and concordance against NumPy."""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics
from metric_data import reg_pred, reg_true, stream, weighted_mean, weights


def np_pearson(t, p):
    t = (t - t.mean(-1, keepdims=True)) / t.std(-1, keepdims=True)
    p = (p - p.mean(-1, keepdims=True)) / p.std(-1, keepdims=True)
    return (t * p).mean(-1)


def np_concordance(t, p):
    # Keras 3's formula, including its covariance term centred on mean(y_pred) for both.
    tm, pm = t.mean(-1, keepdims=True), p.mean(-1, keepdims=True)
    norm = t.var(-1, keepdims=True) + p.var(-1, keepdims=True) + (tm - pm) ** 2
    return (2 * (t - pm) * (p - pm) / (norm + 1e-7)).mean(-1)


def test_functions_match_numpy():
    t, p = torch.as_tensor(reg_true), torch.as_tensor(reg_pred)
    np.testing.assert_allclose(metrics.pearson_correlation(t, p), np_pearson(reg_true, reg_pred),
                               rtol=1e-4, atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(metrics.concordance_correlation(t, p),
                               np_concordance(reg_true, reg_pred), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("cls", "fn"), [(metrics.PearsonCorrelation, np_pearson),
                                         (metrics.ConcordanceCorrelation, np_concordance)])
def test_classes_are_weighted_running_means(cls, fn):
    expected = weighted_mean(fn(reg_true, reg_pred), weights)
    np.testing.assert_allclose(stream(cls(), reg_true, reg_pred, weights), expected, rtol=1e-4)
    metric = cls(axis=0, name="c")
    assert metric.get_config() == {"name": "c", "dtype": "float32", "axis": 0}
    assert cls.from_config(metric.get_config()).axis == 0 and cls.higher_is_better
