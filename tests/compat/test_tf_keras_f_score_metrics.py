"""tf.keras 2's own tests for FBetaScore and F1Score, ported to torchfit.

Ported from tf_keras/metrics/f_score_metrics_test.py, every case (each parameterisation), with
Keras's expected numbers.
"""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics


def run(y_true, y_pred, sample_weights, average, beta, threshold, reference_result):
    fbeta = metrics.FBetaScore(average, beta, threshold)
    weight = None if sample_weights is None else torch.as_tensor(sample_weights)
    fbeta.update_state(torch.tensor(y_true, dtype=torch.float32),
                       torch.tensor(y_pred, dtype=torch.float32), weight)
    np.testing.assert_allclose(fbeta.result().numpy(), reference_result, atol=1e-6)


def test_fbeta_config():
    fbeta_obj = metrics.FBetaScore(beta=0.5, threshold=0.3, average=None)
    fbeta_obj2 = metrics.FBetaScore.from_config(fbeta_obj.get_config())
    for o in (fbeta_obj, fbeta_obj2):
        assert o.beta == 0.5 and o.average is None and o.threshold == 0.3
        assert o.dtype == torch.float32


AVERAGES_AND_BETAS = [(a, b) for a in ("micro", "macro", "weighted") for b in (0.5, 1.0, 2.0)]
PRED = [[0.7, 0.7, 0.7], [1, 0, 0], [0.9, 0.8, 0]]


@pytest.mark.parametrize("average, beta", AVERAGES_AND_BETAS)
def test_fbeta_perfect_score(average, beta):
    run([[1, 1, 1], [1, 0, 0], [1, 1, 0]], PRED, None, average, beta, 0.66, 1.0)


@pytest.mark.parametrize("average, beta", AVERAGES_AND_BETAS)
def test_fbeta_worst_score(average, beta):
    run([[0, 0, 0], [0, 1, 0], [0, 0, 1]], PRED, None, average, beta, 0.66, 0.0)


@pytest.mark.parametrize(
    "average, beta, result",
    [
        (None, 0.5, [0.71428573, 0.5, 0.833334]),
        (None, 1.0, [0.8, 0.5, 0.6666667]),
        (None, 2.0, [0.9090904, 0.5, 0.555556]),
        ("micro", 0.5, 0.6666667),
        ("micro", 1.0, 0.6666667),
        ("micro", 2.0, 0.6666667),
        ("macro", 0.5, 0.6825397),
        ("macro", 1.0, 0.6555555),
        ("macro", 2.0, 0.6548822),
        ("weighted", 0.5, 0.6825397),
        ("weighted", 1.0, 0.6555555),
        ("weighted", 2.0, 0.6548822),
    ],
)
def test_fbeta_random_score(average, beta, result):
    run([[0, 0, 1], [1, 1, 0], [1, 1, 1]], PRED, None, average, beta, 0.66, result)


ARGMAX_TRUE = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [1, 0, 0], [0, 0, 1]]
ARGMAX_PRED = [[0.9, 0.1, 0], [0.2, 0.6, 0.2], [0, 0, 1], [0.4, 0.3, 0.3], [0, 0.9, 0.1],
               [0, 0, 1]]


@pytest.mark.parametrize(
    "average, beta, result",
    [
        (None, 0.5, [0.9090904, 0.555556, 1.0]),
        (None, 1.0, [0.8, 0.6666667, 1.0]),
        (None, 2.0, [0.71428573, 0.833334, 1.0]),
        ("micro", 0.5, 0.833334),
        ("micro", 1.0, 0.833334),
        ("micro", 2.0, 0.833334),
        ("macro", 0.5, 0.821549),
        ("macro", 1.0, 0.822222),
        ("macro", 2.0, 0.849206),
        ("weighted", 0.5, 0.880471),
        ("weighted", 1.0, 0.844445),
        ("weighted", 2.0, 0.829365),
    ],
)
def test_fbeta_random_score_none(average, beta, result):
    run(ARGMAX_TRUE, ARGMAX_PRED, None, average, beta, None, result)


ONES, HOLES, HALVES = ([1.0] * 6, [1.0, 0.0, 1.0, 1.0, 0.0, 1.0], [0.5, 1.0, 1.0, 1.0, 0.5, 1.0])


@pytest.mark.parametrize(
    "average, beta, sample_weights, result",
    [
        (None, 0.5, ONES, [0.909091, 0.555556, 1.0]),
        (None, 0.5, HOLES, [1.0, 0.0, 1.0]),
        (None, 0.5, HALVES, [0.9375, 0.714286, 1.0]),
        (None, 1.0, ONES, [0.8, 0.666667, 1.0]),
        (None, 1.0, HOLES, [1.0, 0.0, 1.0]),
        (None, 1.0, HALVES, [0.857143, 0.8, 1.0]),
        (None, 2.0, ONES, [0.714286, 0.833333, 1.0]),
        (None, 2.0, HOLES, [1.0, 0.0, 1.0]),
        (None, 2.0, HALVES, [0.789474, 0.909091, 1.0]),
        ("micro", 0.5, ONES, 0.833333),
        ("micro", 0.5, HOLES, 1.0),
        ("micro", 0.5, HALVES, 0.9),
        ("micro", 1.0, ONES, 0.833333),
        ("micro", 1.0, HOLES, 1.0),
        ("micro", 1.0, HALVES, 0.9),
        ("micro", 2.0, ONES, 0.833333),
        ("micro", 2.0, HOLES, 1.0),
        ("micro", 2.0, HALVES, 0.9),
        ("macro", 0.5, ONES, 0.821549),
        ("macro", 0.5, HOLES, 0.666667),
        ("macro", 0.5, HALVES, 0.883929),
        ("macro", 1.0, ONES, 0.822222),
        ("macro", 1.0, HOLES, 0.666667),
        ("macro", 1.0, HALVES, 0.885714),
        ("macro", 2.0, ONES, 0.849206),
        ("macro", 2.0, HOLES, 0.666667),
        ("macro", 2.0, HALVES, 0.899522),
        ("weighted", 0.5, ONES, 0.880471),
        ("weighted", 0.5, HOLES, 1.0),
        ("weighted", 0.5, HALVES, 0.917857),
        ("weighted", 1.0, ONES, 0.844444),
        ("weighted", 1.0, HOLES, 1.0),
        ("weighted", 1.0, HALVES, 0.902857),
        ("weighted", 2.0, ONES, 0.829365),
        ("weighted", 2.0, HOLES, 1.0),
        ("weighted", 2.0, HALVES, 0.897608),
    ],
)
def test_fbeta_weighted_random_score_none(average, beta, sample_weights, result):
    run(ARGMAX_TRUE, ARGMAX_PRED, sample_weights, average, beta, None, result)


def test_f1_config():
    config = metrics.F1Score().get_config()
    assert "beta" not in config
    f1_obj = metrics.F1Score.from_config(config)
    assert f1_obj.average is None and f1_obj.dtype == torch.float32


def test_f1_correctness():
    f1, fbeta = metrics.F1Score(), metrics.FBetaScore(beta=1.0)
    fbeta.update_state(torch.tensor(ARGMAX_TRUE), torch.tensor(ARGMAX_PRED))
    f1.update_state(torch.tensor(ARGMAX_TRUE), torch.tensor(ARGMAX_PRED))
    np.testing.assert_allclose(fbeta.result().numpy(), f1.result().numpy(), atol=1e-6)
