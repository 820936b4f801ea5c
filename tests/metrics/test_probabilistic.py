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
