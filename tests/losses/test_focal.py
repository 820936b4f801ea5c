"""Tests for torchfit/losses/focal.py: focal and generalized crossentropies.

Formulas are checked against NumPy through the shared `case` fixture (loss_references.py); here,
the numbers of Keras 3's own tests and docstrings, and the argument checks.
"""

import numpy as np
import pytest
import torch

from torchfit import losses


def t(values):
    return torch.tensor(values, dtype=torch.float32)


@pytest.mark.parametrize("kwargs,y_true,y_pred,sample_weight,expected", [
    ({"gamma": 2}, [0, 1, 0, 0], [-18.6, 0.51, 2.94, -12.8], None, 0.691),
    ({"apply_class_balancing": True, "gamma": 2}, [0, 1, 0, 0], [-18.6, 0.51, 2.94, -12.8],
     None, 0.51),
    ({"gamma": 3}, [[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]], None, 0.647),
    ({"apply_class_balancing": True, "gamma": 3}, [[0, 1], [0, 0]],
     [[-18.6, 0.51], [2.94, -12.8]], None, 0.482),
    ({"gamma": 3}, [[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]], [0.8, 0.2], 0.133),
    ({"apply_class_balancing": True, "gamma": 3}, [[0, 1], [0, 0]],
     [[-18.6, 0.51], [2.94, -12.8]], [0.8, 0.2], 0.097),
    ({"gamma": 4, "reduction": "sum"}, [[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]], None,
     1.222),
    ({"apply_class_balancing": True, "gamma": 4, "reduction": "sum"}, [[0, 1], [0, 0]],
     [[-18.6, 0.51], [2.94, -12.8]], None, 0.914),
    ({"gamma": 5, "reduction": None}, [[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]], None,
     [0.0017, 1.1561]),
    ({"apply_class_balancing": True, "gamma": 5, "reduction": None}, [[0, 1], [0, 0]],
     [[-18.6, 0.51], [2.94, -12.8]], None, [0.0004, 0.8670]),
])
def test_binary_focal_keras_docstring_numbers(kwargs, y_true, y_pred, sample_weight, expected):
    # keras/src/losses/losses.py, BinaryFocalCrossentropy's examples (printed to 3-4 decimals).
    loss = losses.BinaryFocalCrossentropy(from_logits=True, **kwargs)
    weights = None if sample_weight is None else t(sample_weight)
    result = loss(t(y_true), t(y_pred), sample_weight=weights)
    np.testing.assert_allclose(result.numpy(), expected, atol=5e-4)


def test_focal_with_gamma_0_is_the_crossentropy():
    y_true, y_pred = t([[0, 1, 0], [1, 0, 0]]), t([[0.2, 0.7, 0.1], [0.5, 0.3, 0.2]])
    torch.testing.assert_close(losses.binary_focal_crossentropy(y_true, y_pred, gamma=0.0),
                               losses.binary_crossentropy(y_true, y_pred))
    torch.testing.assert_close(
        losses.categorical_focal_crossentropy(y_true, y_pred, alpha=1.0, gamma=0.0),
        losses.categorical_crossentropy(y_true, y_pred))


def test_categorical_focal_alpha_per_class():
    y_true, y_pred = t([[0, 1, 0], [0, 0, 1]]), t([[0.2, 0.7, 0.1], [0.5, 0.3, 0.2]])
    alpha = [0.1, 0.5, 2.0]
    unit = losses.categorical_focal_crossentropy(y_true, y_pred, alpha=1.0)
    torch.testing.assert_close(losses.categorical_focal_crossentropy(y_true, y_pred, alpha=alpha),
                               unit * t([0.5, 2.0]))


def test_categorical_focal_warns_on_one_class():
    with pytest.warns(SyntaxWarning, match=r"In loss categorical_focal_crossentropy, expected "
                                           r"y_pred\.shape to be \(batch_size, num_classes\)"):
        losses.CategoricalFocalCrossentropy()(t([[1.0], [0.0]]), t([[1.0], [1.0]]))


@pytest.mark.parametrize("q", [0.5, 0.8])
def test_generalized_cross_entropy_keras_3_numbers(q):
    # Keras 3's CategoricalGeneralizedCrossEntropyTest (binary and multi-class).
    y_true = torch.tensor([0, 1, 0, 1])
    for y_pred, probabilities in [
        ([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.4, 0.6]], [0.7, 0.8, 0.6, 0.6]),
        ([[0.7, 0.3, 0.0], [0.2, 0.2, 0.6], [0.6, 0.4, 0.0], [0.2, 0.2, 0.6]],
         [0.7, 0.2, 0.6, 0.2]),
    ]:
        expected = ((1 - np.power(probabilities, q)) / q).mean()
        loss = losses.CategoricalGeneralizedCrossEntropy(q=q)(y_true, t(y_pred))
        np.testing.assert_allclose(loss.item(), expected, rtol=1e-6)


def test_generalized_cross_entropy_segmentation_of_perfect_predictions_is_0():
    y_true = torch.tensor([[0, 1, 1, 0], [1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 1]])
    y_pred = torch.nn.functional.one_hot(y_true, 2).float()
    assert losses.CategoricalGeneralizedCrossEntropy()(y_true, y_pred).item() == 0.0


@pytest.mark.parametrize("q", [0.0, 1.0, -0.5, 2.0])
def test_generalized_cross_entropy_refuses_q_outside_0_1(q):
    with pytest.raises(ValueError, match=rf"q must be in the interval \(0, 1\)\. "
                                         rf"Received: q={q!r}"):
        losses.CategoricalGeneralizedCrossEntropy(q=q)


def test_config_round_trip():
    for loss in (losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.1, gamma=1.5,
                                                from_logits=True, label_smoothing=0.1, axis=1),
                 losses.CategoricalFocalCrossentropy(alpha=[0.2, 0.8], gamma=1.0, name="cf"),
                 losses.CategoricalGeneralizedCrossEntropy(q=0.3, reduction="sum")):
        rebuilt = type(loss).from_config(loss.get_config())
        assert rebuilt.get_config() == loss.get_config()
