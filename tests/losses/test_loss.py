"""Tests for torchfit/losses/loss.py: the Loss base class, reductions and sample weights."""

import numpy as np
import pytest
import torch

from torchfit import losses
from torchfit.losses.loss import apply_sample_weight, check_reduction, reduce_losses
from loss_references import C, N, assert_close


def test_default_reduction_is_mean_over_batch(case):
    cls, kwargs, _, _, y, p, expected = case
    result = cls(**kwargs)(y, p)
    assert result.dim() == 0 and result.dtype == torch.float64
    assert_close(result, expected.mean())


def test_sample_weight_divides_by_batch_size_not_weight_sum(case):
    cls, kwargs, _, _, y, p, expected = case
    loss = cls(**kwargs)
    w = np.random.default_rng(1).uniform(0, 2, N)
    assert_close(loss(y, p, sample_weight=torch.tensor(w)), (w * expected).sum() / N)
    assert_close(loss(y, p, sample_weight=w.reshape(N, 1)), (w * expected).sum() / N)
    assert_close(loss(y, p, sample_weight=[2.0] * N), 2 * expected.mean())


def test_sum_and_none_reductions(case):
    cls, kwargs, _, _, y, p, expected = case
    w = np.random.default_rng(1).uniform(0, 2, N)
    assert_close(cls(**kwargs, reduction="sum")(y, p), expected.sum())
    assert_close(cls(**kwargs, reduction="sum")(y, p, sample_weight=w), (w * expected).sum())
    assert_close(cls(**kwargs, reduction="none")(y, p), expected)
    assert_close(cls(**kwargs, reduction="none")(y, p, sample_weight=w), w * expected)


def test_sample_weight_of_wrong_length_raises():
    with pytest.raises(ValueError, match=r"sample_weight.shape=\(3,\).*losses of shape \(16,\)"):
        losses.MeanSquaredError()(torch.zeros(N, C), torch.ones(N, C), sample_weight=torch.ones(3))


def test_custom_subclass_gets_weighting_and_reduction():
    class ScaledMSE(losses.Loss):
        def call(self, y_true, y_pred):
            return 2.0 * ((y_true - y_pred) ** 2).mean(dim=-1)

    loss = ScaledMSE()
    assert loss.name == "scaled_mse"
    assert_close(loss(torch.zeros(4, 3), torch.ones(4, 3)), 2.0)
    assert_close(loss(torch.zeros(4, 3), torch.ones(4, 3), torch.full((4,), 2.0)), 4.0)


def test_invalid_reduction_raises():
    with pytest.raises(ValueError, match=r"Received: reduction='avg'. Expected one of: "
                                         r"'sum_over_batch_size', 'sum', 'mean', "
                                         r"'mean_with_sample_weight', 'none', None"):
        losses.MeanSquaredError(reduction="avg")
    assert losses.MeanSquaredError(reduction="auto").reduction == "sum_over_batch_size"


def test_check_reduction_names_the_valid_reductions():
    assert check_reduction("sum") == "sum" and check_reduction("none") == "none"
    assert check_reduction("auto") == "sum_over_batch_size"
    with pytest.raises(ValueError, match=r"Received: reduction='batch'\. Expected one of"):
        check_reduction("batch")


def test_apply_sample_weight_aligns_and_casts_the_weights():
    per_sample = torch.tensor([1.0, 2.0, 3.0])
    weighted = apply_sample_weight(per_sample, [[2.0], [0.0], [1.0]])  # (N, 1) for (N,)
    np.testing.assert_array_equal(weighted.numpy(), [2.0, 0.0, 3.0])
    per_step = torch.ones(3, 4)  # (batch, timesteps): a (batch,) weight covers every step
    weighted = apply_sample_weight(per_step, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    assert weighted.dtype == torch.float32
    np.testing.assert_array_equal(weighted.numpy(), np.repeat([[1.0], [2.0], [3.0]], 4, axis=1))


def test_reduce_losses_divides_by_the_number_of_losses():
    values = torch.tensor([1.0, 3.0, 5.0, 7.0])
    weight = torch.tensor([1.0, 1.0, 0.0, 0.0])
    assert reduce_losses(values, None, "sum_over_batch_size").item() == 4.0
    assert reduce_losses(values, weight, "sum_over_batch_size").item() == 1.0  # (1 + 3) / 4
    assert reduce_losses(values, weight, "sum").item() == 4.0
    np.testing.assert_array_equal(reduce_losses(values, weight, "none").numpy(), [1, 3, 0, 0])


@pytest.mark.parametrize("sample_weight", [None, torch.ones(4)], ids=["unweighted", "weighted"])
def test_an_invalid_reduction_set_after_construction_is_rejected_at_call_time(sample_weight):
    loss = losses.MeanSquaredError()
    loss.reduction = "batchmean"  # torch's name, not a Keras reduction
    with pytest.raises(ValueError, match=r"Invalid reduction\. Received: reduction='batchmean'\. "
                                         r"Expected one of: 'sum_over_batch_size', 'sum', 'mean'"):
        loss(torch.zeros(4, 2), torch.ones(4, 2), sample_weight)
    wrapped = losses.to_loss(torch.nn.L1Loss())
    wrapped.reduction = "avg"
    with pytest.raises(ValueError, match=r"Received: reduction='avg'"):
        wrapped(torch.zeros(4, 2), torch.ones(4, 2), torch.ones(4))
    loss.reduction = "auto"  # tf.keras 2's default still means sum_over_batch_size
    assert torch.equal(loss(torch.zeros(4, 2), torch.ones(4, 2), torch.ones(4)), torch.tensor(1.0))


def test_keras_3_mean_reductions(case):
    # Keras 3: "mean" is sum_over_batch_size; "mean_with_sample_weight" divides by sum(weights).
    cls, kwargs, _, _, y, p, expected = case
    w = np.random.default_rng(1).uniform(0, 2, N)
    assert_close(cls(**kwargs, reduction="mean")(y, p), expected.mean())
    assert_close(cls(**kwargs, reduction="mean")(y, p, sample_weight=w), (w * expected).mean())
    assert_close(cls(**kwargs, reduction="mean_with_sample_weight")(y, p), expected.mean())
    assert_close(cls(**kwargs, reduction="mean_with_sample_weight")(y, p, sample_weight=w),
                 (w * expected).sum() / w.sum())
    assert_close(cls(**kwargs, reduction=None)(y, p, sample_weight=w), w * expected)


def test_mask_is_applied_as_keras_3_applies_it():
    values = torch.tensor([1.0, 3.0, 5.0, 7.0])
    mask = torch.tensor([True, False, True, False])
    weight = torch.tensor([2.0, 1.0, 1.0, 4.0])
    # Averaging reductions divide by the number of unmasked entries.
    assert reduce_losses(values, None, "sum_over_batch_size", mask).item() == 3.0
    assert reduce_losses(values, weight, "mean", mask).item() == 3.5  # (2 + 5) / 2
    assert reduce_losses(values, weight, "sum", mask).item() == 7.0
    assert reduce_losses(values, weight, "mean_with_sample_weight", mask).item() == pytest.approx(
        7.0 / 3.0)  # (2 + 5) / (2 + 1)
    np.testing.assert_array_equal(reduce_losses(values, weight, "none", mask).numpy(),
                                  [2, 0, 5, 0])
    nothing = torch.zeros(4, dtype=torch.bool)
    assert reduce_losses(values, None, "sum_over_batch_size", nothing).item() == 0.0
    assert reduce_losses(values, torch.zeros(4), "mean_with_sample_weight").item() == 0.0


def test_a_subclass_may_return_a_mask():
    class PositiveOnly(losses.Loss):
        def call(self, y_true, y_pred):
            return y_pred - y_true

        def call_with_mask(self, y_true, y_pred):
            losses_ = self.call(y_true, y_pred)
            return losses_, losses_ > 0

    loss = PositiveOnly()
    y_true, y_pred = torch.zeros(4), torch.tensor([1.0, -1.0, 3.0, -2.0])
    assert loss(y_true, y_pred).item() == 2.0
    assert loss(y_true, y_pred, sample_weight=torch.ones(4)).item() == 2.0
