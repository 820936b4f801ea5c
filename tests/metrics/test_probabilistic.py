"""Tests for torchfit/metrics/probabilistic.py: crossentropy metrics against NumPy."""

import numpy as np
import pytest

import torchfit.metrics as metrics
from metric_data import (
    N,
    binary_pred,
    binary_true,
    labels,
    logits,
    one_hot,
    probs,
    stream,
    weighted_mean,
    weights,
)


def np_bce(t, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -np.mean(t * np.log(p + 1e-7) + (1 - t) * np.log(1 - p + 1e-7), axis=-1)


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_crossentropy_metrics_match_numpy(weighted):
    w = weights if weighted else None
    scce = -np.log(np.clip(probs[np.arange(N), labels], 1e-7, 1 - 1e-7))
    cases = [
        (metrics.SparseCategoricalCrossentropy(), labels, probs, scce),
        (
            metrics.SparseCategoricalCrossentropy(from_logits=True),
            labels,
            logits,
            -np.log(np_softmax(logits)[np.arange(N), labels]),
        ),
        (metrics.CategoricalCrossentropy(), one_hot, probs, scce),
        (
            metrics.CategoricalCrossentropy(from_logits=True),
            one_hot,
            logits,
            -np.log(np_softmax(logits)[np.arange(N), labels]),
        ),
        (metrics.BinaryCrossentropy(), binary_true, binary_pred, np_bce(binary_true, binary_pred)),
        (
            metrics.BinaryCrossentropy(from_logits=True),
            binary_true,
            logits[:, :1],
            np_bce(binary_true, 1 / (1 + np.exp(-logits[:, :1]))),
        ),
    ]
    for metric, y_true, y_pred, per_sample in cases:
        np.testing.assert_allclose(
            stream(metric, y_true, y_pred, w), weighted_mean(per_sample, w), rtol=1e-4
        )


def test_poisson_and_kl_divergence_match_numpy():
    rate = probs * 3 + 0.1
    expected = weighted_mean((rate - one_hot * np.log(rate + 1e-7)).mean(-1), weights)
    np.testing.assert_allclose(stream(metrics.Poisson(), one_hot, rate, weights), expected,
                               rtol=1e-5)  # fmt: skip
    t, p = np.clip(one_hot, 1e-7, 1), np.clip(probs, 1e-7, 1)
    expected = weighted_mean((t * np.log(t / p)).sum(-1), weights)
    np.testing.assert_allclose(stream(metrics.KLDivergence(), one_hot, probs, weights), expected,
                               rtol=1e-5)  # fmt: skip


@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_crossentropy_ignore_class_leaves_those_samples_out(weighted):
    ignored = labels == 2
    weight = weights if weighted else np.ones(N, np.float32)
    per_sample = -np.log(np.clip(probs[np.arange(N), labels], 1e-7, 1 - 1e-7))
    expected = (per_sample * weight)[~ignored].sum() / weight[~ignored].sum()
    metric = metrics.SparseCategoricalCrossentropy(ignore_class=2)
    result = stream(metric, labels, probs, weights if weighted else None)
    np.testing.assert_allclose(result, expected, rtol=1e-5)


def test_sparse_crossentropy_axis_and_configs():
    per_sample = -np.log(np.clip(probs[np.arange(N), labels], 1e-7, 1 - 1e-7))
    metric = metrics.SparseCategoricalCrossentropy(axis=0)
    np.testing.assert_allclose(metric(labels, probs.T.copy()).numpy(), per_sample.mean(),
                               rtol=1e-5)  # fmt: skip
    assert metric.get_config() == {"name": "sparse_categorical_crossentropy", "dtype": "float32",
                                   "from_logits": False, "ignore_class": None, "axis": 0}
    for cls in (metrics.BinaryCrossentropy, metrics.CategoricalCrossentropy, metrics.Poisson,
                metrics.KLDivergence, metrics.SparseCategoricalCrossentropy):
        config = cls(name="x").get_config()
        assert cls.from_config(config).get_config() == config
