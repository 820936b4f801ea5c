"""Tests for torchfit/losses/segmentation.py: Dice and Tversky, with Keras 3's test numbers.

The numbers are those of Keras 3's keras/src/losses/losses_test.py (DiceTest, TverskyTest);
Tversky's `alpha` weighs false positives, as Keras documents it and as Keras 3.16 computes it.
"""

import numpy as np
import pytest
import torch

from torchfit import losses

SMALL_TRUE, SMALL_PRED = [[1, 2], [1, 2]], [[4, 1], [6, 1]]
SEG_TRUE = [[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]]
SEG_PRED = [[0, 1, 0, 1], [1, 0, 1, 1], [0, 1, 0, 1], [1, 0, 1, 1]]
AXIS_TRUE = [[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]]
AXIS_PRED = [[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]]


def t(values):
    return torch.tensor(values, dtype=torch.float32)


@pytest.mark.parametrize("loss,y_true,y_pred,expected", [
    (losses.Dice(), SMALL_TRUE, SMALL_PRED, -0.55555546),
    (losses.Dice(), SEG_TRUE, SEG_PRED, 0.77777773),
    (losses.Dice(axis=(1, 2, 3), reduction=None), AXIS_TRUE, AXIS_PRED, [0.5, 0.75757575]),
    (losses.Tversky(), SMALL_TRUE, SMALL_PRED, -0.55555558),
    (losses.Tversky(alpha=0.2, beta=0.8), SMALL_TRUE, SMALL_PRED, -0.94444442),
    (losses.Tversky(), SEG_TRUE, SEG_PRED, 0.77777779),
    (losses.Tversky(axis=(1, 2, 3), reduction=None), AXIS_TRUE, AXIS_PRED, [0.5, 0.75757575]),
    (losses.Tversky(alpha=0.2, beta=0.8), SEG_TRUE, SEG_PRED, 0.76190472),
    (losses.Tversky(alpha=0.2, beta=0.8, axis=(1, 2, 3), reduction=None), AXIS_TRUE, AXIS_PRED,
     [0.5, 0.78494626]),
], ids=["dice", "dice_segmentation", "dice_axis", "tversky", "tversky_coefficients",
        "tversky_segmentation", "tversky_axis", "tversky_segmentation_coefficients",
        "tversky_axis_coefficients"])
def test_keras_3_numbers(loss, y_true, y_pred, expected):
    np.testing.assert_allclose(loss(t(y_true), t(y_pred)).numpy(), expected, rtol=1e-6)


def test_tversky_alpha_weighs_false_positives():
    # One false positive (0.5 predicted where y = 0) and one half-false negative.
    y_true, y_pred = t([[1.0, 0.0]]), t([[0.5, 0.5]])
    tp, fp, fn = 0.5, 0.5, 0.5
    for alpha, beta in [(0.1, 0.9), (0.9, 0.1)]:
        expected = 1 - tp / (tp + alpha * fp + beta * fn + 1e-7)
        np.testing.assert_allclose(losses.tversky(y_true, y_pred, alpha, beta).item(), expected,
                                   rtol=1e-6)
    y_pred = t([[1.0, 1.0]])  # only a false positive: alpha matters, beta does not
    assert losses.tversky(y_true, y_pred, alpha=0.9, beta=0.0) > losses.tversky(
        y_true, y_pred, alpha=0.1, beta=1.0)


def test_default_axis_gives_one_scalar_and_weights_scale_it():
    y_true, y_pred = t(SEG_TRUE), t(SEG_PRED)
    value = losses.dice(y_true, y_pred)
    assert value.shape == ()
    weights = t([1.0, 2.0, 3.0, 4.0])  # Keras: a scalar loss times each weight, then averaged
    np.testing.assert_allclose(losses.Dice()(y_true, y_pred, sample_weight=weights).item(),
                               value.item() * 2.5, rtol=1e-6)


def test_config_round_trip():
    for loss in (losses.Dice(axis=(1, 2), name="mydice"),
                 losses.Tversky(alpha=0.2, beta=0.8, axis=(1, 2), reduction="sum")):
        rebuilt = type(loss).from_config(loss.get_config())
        assert rebuilt.get_config() == loss.get_config()
