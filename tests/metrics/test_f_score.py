"""Tests for torchfit/metrics/f_score.py: FBetaScore and F1Score."""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics
from metric_data import C, N, one_hot, probs, stream, weights

RNG = np.random.default_rng(8)
MULTI_TRUE = RNG.integers(0, 2, size=(N, C)).astype(np.float32)
MULTI_PRED = RNG.uniform(size=(N, C)).astype(np.float32)


def np_fbeta(y_true, y_pred, beta=1.0, threshold=None, average=None, w=None):
    """Keras 3's formula in float64 NumPy."""
    if threshold is None:
        pred = (y_pred >= y_pred.max(-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
    else:
        pred = y_pred > threshold
    pred, w = pred.astype(np.float64), (np.ones(len(y_true)) if w is None else w)[:, None]
    axis = None if average == "micro" else 0
    tp = (pred * y_true * w).sum(axis)
    fp = (pred * (1 - y_true) * w).sum(axis)
    fn = ((1 - pred) * y_true * w).sum(axis)
    support = (y_true * w).sum(axis)
    precision, recall = tp / (tp + fp + 1e-7), tp / (tp + fn + 1e-7)
    score = (1 + beta**2) * precision * recall / (beta**2 * precision + recall + 1e-7)
    if average == "weighted":
        return (score * support / (support.sum() + 1e-7)).sum()
    return score if average is None else score.mean()


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("beta, threshold", [(1.0, None), (0.5, 0.4), (2, 0.7)])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_fbeta_matches_numpy(average, beta, threshold, weighted):
    w = weights if weighted else None
    y_true, y_pred = (one_hot, probs) if threshold is None else (MULTI_TRUE, MULTI_PRED)
    result = stream(metrics.FBetaScore(average, beta, threshold), y_true, y_pred, w)
    expected = np_fbeta(y_true, y_pred, beta, threshold, average, w)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)
    if beta == 1.0:
        f1 = stream(metrics.F1Score(average, threshold), y_true, y_pred, w)
        np.testing.assert_allclose(f1, expected, rtol=1e-5, atol=1e-6)


def test_a_row_of_zeros_has_no_positive_prediction():
    metric = metrics.F1Score()
    metric.update_state(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.0, 0.0],
                                                                               [0.2, 0.9]]))
    np.testing.assert_allclose(metric.false_positives.numpy(), [0.0, 0.0])
    np.testing.assert_allclose(metric.false_negatives.numpy(), [1.0, 0.0])


def test_state_is_built_from_the_first_batch_and_merges():
    metric = metrics.FBetaScore(beta=2.0)
    assert metric.result().shape == () and not metric.state_specs  # nothing seen yet
    parts = [metrics.FBetaScore(beta=2.0) for _ in range(3)]
    parts[0].update_state(one_hot[:10], probs[:10])
    parts[2].update_state(one_hot[10:], probs[10:])
    unbuilt = metrics.FBetaScore(beta=2.0)
    unbuilt.merge_state(parts)  # parts[1] saw no data: nothing to merge from it
    single = stream(metrics.FBetaScore(beta=2.0), one_hot, probs)
    np.testing.assert_allclose(unbuilt.result().numpy(), single, rtol=1e-6)
    assert set(unbuilt.state_aggregations.values()) == {"sum"}
    assert unbuilt.true_positives.shape == (C,)
    loaded = metrics.FBetaScore(beta=2.0)
    loaded.load_state_dict(unbuilt.state_dict())
    np.testing.assert_allclose(loaded.result().numpy(), single, rtol=1e-6)
    loaded.reset_state()
    np.testing.assert_array_equal(loaded.result().numpy(), np.zeros(C))
    micro = metrics.F1Score(average="micro")
    assert micro.true_positives.shape == ()  # declared at construction


@pytest.mark.parametrize(
    "metric, expected",
    [(metrics.FBetaScore("macro", 0.5, 0.3, name="f"),
      {"name": "f", "dtype": "float32", "average": "macro", "beta": 0.5, "threshold": 0.3}),
     (metrics.F1Score("weighted", dtype="float64"),
      {"name": "f1_score", "dtype": "float64", "average": "weighted", "threshold": None})],
    ids=["FBetaScore", "F1Score"],
)
def test_config_round_trip(metric, expected):
    assert metric.get_config() == expected
    assert type(metric).from_config(expected).get_config() == expected


def test_invalid_arguments_and_inputs_are_refused():
    with pytest.raises(ValueError, match=r"Invalid `average` argument value.*average='mean'"):
        metrics.FBetaScore(average="mean")
    with pytest.raises(ValueError, match=r"Invalid `beta`.*> 0. Received: beta=0"):
        metrics.FBetaScore(beta=0)
    with pytest.raises(ValueError, match=r"0 < threshold <= 1.*Received: threshold=1.5"):
        metrics.F1Score(threshold=1.5)
    with pytest.raises(ValueError, match=r"expects 2D inputs.*y_pred.shape=\(4,\)"):
        metrics.F1Score().update_state(torch.zeros(4), torch.zeros(4))


def test_registered_under_keras_names():
    assert type(metrics.get("F1Score")) is metrics.F1Score
    assert metrics.get("f1_score").name == "f1_score"
    assert type(metrics.get("f_beta_score")) is metrics.FBetaScore
    assert metrics.get("FBetaScore").name == "fbeta_score"
