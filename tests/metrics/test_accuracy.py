"""Tests for torchfit/metrics/accuracy.py: accuracy metrics against NumPy."""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics
from metric_data import (
    N,
    binary_pred,
    binary_true,
    labels,
    one_hot,
    probs,
    stream,
    weighted_mean,
    weights,
)


def np_in_top_k(scores, targets, k):
    order = np.argsort(-scores, axis=-1)[:, :k]
    return (order == targets[:, None]).any(axis=1).astype(np.float64)


ACCURACY_CASES = [
    (metrics.SparseCategoricalAccuracy(), labels, probs, (labels == probs.argmax(1)).astype(float)),
    (
        metrics.SparseCategoricalAccuracy(),
        labels[:, None],
        probs,
        (labels == probs.argmax(1)).astype(float),
    ),
    (metrics.CategoricalAccuracy(), one_hot, probs, (labels == probs.argmax(1)).astype(float)),
    (
        metrics.BinaryAccuracy(),
        binary_true,
        binary_pred,
        (binary_true == (binary_pred > 0.5))[:, 0].astype(float),
    ),
    (
        metrics.BinaryAccuracy(threshold=0.7),
        binary_true[:, 0],
        binary_pred,
        (binary_true == (binary_pred > 0.7))[:, 0].astype(float),
    ),
    (metrics.TopKCategoricalAccuracy(k=2), one_hot, probs, np_in_top_k(probs, labels, 2)),
    (metrics.SparseTopKCategoricalAccuracy(k=3), labels, probs, np_in_top_k(probs, labels, 3)),
    (metrics.Accuracy(), labels, probs.argmax(1), (labels == probs.argmax(1)).astype(float)),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(
    "metric, y_true, y_pred, per_sample", ACCURACY_CASES, ids=lambda x: getattr(x, "name", "")
)
def test_accuracy_metrics_match_numpy(metric, y_true, y_pred, per_sample, weighted):
    metric.reset_state()
    w = weights if weighted else None
    np.testing.assert_allclose(
        stream(metric, y_true, y_pred, w), weighted_mean(per_sample, w), rtol=1e-6
    )


def test_accuracy_functions_return_per_sample_values():
    values = metrics.sparse_categorical_accuracy(
        torch.as_tensor(labels[:, None]), torch.as_tensor(probs)
    )
    assert values.shape == (N,) and values.dtype == torch.float32
    np.testing.assert_array_equal(values.numpy(), labels == probs.argmax(1))
    assert metrics.binary_accuracy(
        torch.as_tensor(binary_true), torch.as_tensor(binary_pred)
    ).shape == (N,)
    assert metrics.top_k_categorical_accuracy(
        torch.as_tensor(one_hot), torch.as_tensor(probs), k=1
    ).shape == (N,)


def test_top_k_counts_ties_as_hits_like_in_top_k():
    scores = torch.tensor([[0.2, 0.4, 0.4, 0.0]])
    assert metrics.sparse_top_k_categorical_accuracy(torch.tensor([2]), scores, k=1).item() == 1.0
    assert metrics.sparse_top_k_categorical_accuracy(torch.tensor([0]), scores, k=2).item() == 0.0
