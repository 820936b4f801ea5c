"""Tests for torchfit/losses/functions.py: each function against NumPy, shapes and dtypes."""

import math

import numpy as np
import pytest
import torch

from torchfit import losses
from loss_references import (
    C,
    EPS,
    N,
    assert_close,
    binary_probs,
    ref_bce,
    ref_mae,
    ref_mse,
    regression,
)


def test_per_sample_losses_match_reference(case):
    cls, kwargs, fn, fn_kwargs, y, p, expected = case
    assert_close(cls(**kwargs).call(y, p), expected)
    assert_close(fn(y, p, **fn_kwargs), expected)


def test_float32_inputs_keep_float32():
    y, p = regression()
    result = losses.MeanSquaredError()(torch.tensor(y, dtype=torch.float32),
                                       torch.tensor(p, dtype=torch.float32))
    assert result.dtype == torch.float32
    assert_close(result, ref_mse(y, p).mean(), rtol=1e-5)


def test_accepts_numpy_and_lists():
    y, p = regression()
    assert_close(losses.MeanSquaredError()(y, p), ref_mse(y, p).mean())
    assert_close(losses.mean_absolute_error(y.tolist(), torch.tensor(p)), ref_mae(y, p))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_probability_zero_is_clipped_to_finite_loss(dtype):
    expected = -math.log(EPS)
    # Only the lower bound: in float32, 1 - 1e-7 rounds to 1 - 2**-23.
    bce = losses.BinaryCrossentropy()(torch.tensor([[1.0], [1.0]], dtype=dtype),
                                      torch.tensor([[0.0], [0.0]], dtype=dtype))
    cce = losses.CategoricalCrossentropy()(torch.tensor([[1.0, 0.0]], dtype=dtype),
                                           torch.tensor([[0.0, 1.0]], dtype=dtype))
    scce = losses.SparseCategoricalCrossentropy()(torch.tensor([0]),
                                                  torch.tensor([[0.0, 1.0]], dtype=dtype))
    for result in (bce, cce, scce):
        assert torch.isfinite(result)
        assert_close(result, expected, rtol=1e-5)
    assert_close(losses.binary_crossentropy(torch.ones(2, 1), torch.zeros(2, 1)),
                 [expected] * 2, rtol=1e-5)
    upper = losses.binary_crossentropy(torch.zeros(1, dtype=torch.float64),
                                       torch.ones(1, dtype=torch.float64))
    assert_close(upper, [expected], rtol=1e-5)


def test_hinge_keeps_labels_that_are_not_binary():
    y = np.array([[0.0, 1.0, 0.5]])
    p = np.array([[0.3, -0.2, 2.0]])
    assert_close(losses.hinge(torch.tensor(y), torch.tensor(p)), np.maximum(1 - y * p, 0).mean(-1))


def test_rank_mismatch_by_trailing_one_is_aligned():
    y, p = regression()
    y, p = y[:, 0], p[:, :1]  # (N,) targets, (N, 1) outputs
    expected = (y - p[:, 0]) ** 2
    loss = losses.MeanSquaredError()
    assert_close(loss.call(torch.tensor(y), torch.tensor(p)), expected)
    assert_close(loss.call(torch.tensor(y[:, None]), torch.tensor(p[:, 0])), expected)
    w = np.arange(N, dtype=float)
    assert_close(loss(torch.tensor(y), torch.tensor(p), sample_weight=w), (w * expected).mean())


def test_one_dimensional_outputs_give_one_loss_per_sample():
    y, p = binary_probs()
    y, p = y[:, 0], p[:, 0]
    expected = ref_bce(y[:, None], p[:, None])
    assert_close(losses.BinaryCrossentropy(reduction="none")(torch.tensor(y), torch.tensor(p)),
                 expected)
    w = np.linspace(0, 2, N)
    assert_close(losses.BinaryCrossentropy()(torch.tensor(y), torch.tensor(p), sample_weight=w),
                 (w * expected).mean())


def test_incompatible_shapes_raise():
    with pytest.raises(ValueError, match=r"y_true.shape=\(16, 3\), y_pred.shape=\(16, 5\)"):
        losses.MeanSquaredError()(torch.zeros(N, 3), torch.zeros(N, C))
    with pytest.raises(ValueError, match=r"y_true.shape=\(16,\), y_pred.shape=\(16, 5\).*"
                                         r"use SparseCategoricalCrossentropy"):
        losses.CategoricalCrossentropy()(torch.zeros(N, dtype=torch.long), torch.zeros(N, C))
    with pytest.raises(ValueError, match=r"shape \(16,\).*Received: y_true.shape=\(16, 5\).*"
                                         r"use CategoricalCrossentropy"):
        losses.SparseCategoricalCrossentropy()(torch.zeros(N, C), torch.rand(N, C))


def test_function_aliases_are_the_same_function():
    assert losses.mse is losses.MSE is losses.mean_squared_error
    assert losses.kld is losses.kullback_leibler_divergence is losses.kl_divergence
    assert losses.logcosh is losses.log_cosh


def test_saturated_binary_crossentropy_follows_keras_3():
    # Keras 3 clips to [1e-7, 1 - 1e-7] and adds nothing inside the logs (its losses_test:
    # 3.98559); tf.keras 2 computes log(p + 1e-7), which gives 3.833 on the same inputs.
    y_true = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    y_pred = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    p = np.clip(y_pred.numpy(), np.float32(1e-7), np.float32(1 - 1e-7))
    expected = -(y_true.numpy() * np.log(p) + (1 - y_true.numpy()) * np.log(1 - p)).mean()
    np.testing.assert_allclose(losses.BinaryCrossentropy()(y_true, y_pred).item(), expected,
                               rtol=1e-6)
    np.testing.assert_allclose(expected, 3.98559, rtol=1e-5)


def test_sparse_crossentropy_of_unnormalised_probabilities_follows_keras_3():
    # Keras 3: -log(clip(p_y / sum(p))); tf.keras 2 clipped before normalising.
    y_pred = torch.tensor([[0.0, 2.0, 2.0], [1e-9, 0.5, 0.5]])
    labels = torch.tensor([0, 0])
    p = np.clip(y_pred.numpy() / y_pred.numpy().sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(labels, y_pred).numpy(),
                               -np.log(p[:, 0]), rtol=1e-6)
