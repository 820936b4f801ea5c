"""Tests for torchfit/losses/wrappers.py: TorchLossWrapper and LossFunctionWrapper."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from torchfit import losses
from loss_references import (
    C,
    N,
    assert_close,
    distributions,
    ref_mae,
    ref_mse,
    regression,
    sparse_logits,
)


def test_torch_cross_entropy_wrapper():
    labels, x = sparse_logits()
    labels, x = torch.tensor(labels), torch.tensor(x)
    loss = losses.TorchLossWrapper(nn.CrossEntropyLoss())
    assert loss.name == "cross_entropy_loss"
    assert_close(loss(labels, x), F.cross_entropy(x, labels).item())
    w = torch.linspace(0, 2, N, dtype=torch.float64)
    per_sample = F.cross_entropy(x, labels, reduction="none")
    assert_close(loss(labels, x, sample_weight=w), (w * per_sample).sum().item() / N)
    assert_close(loss(labels, x, sample_weight=torch.full((N,), 2.0)), 2 * per_sample.mean().item())
    assert loss.module.reduction == "mean"  # the user's module is untouched


def test_torch_mse_wrapper_reduces_non_batch_dims_by_mean():
    y, p = regression()
    y, p = torch.tensor(y), torch.tensor(p)
    loss = losses.get(nn.MSELoss())
    assert_close(loss(y, p), F.mse_loss(p, y).item())
    w = np.random.default_rng(1).uniform(0, 2, N)
    assert_close(loss(y, p, sample_weight=w), (w * ref_mse(y.numpy(), p.numpy())).sum() / N)
    summed = losses.get(nn.MSELoss(reduction="sum"))
    assert_close(summed(y, p), F.mse_loss(p, y, reduction="sum").item())
    assert summed.reduction == "sum"


def test_torch_kl_div_batchmean_sums_per_sample():
    y, p = distributions()
    y, p = torch.tensor(y), torch.tensor(p)
    loss = losses.get(nn.KLDivLoss(reduction="batchmean"))
    per_sample = F.kl_div(p.log(), y, reduction="none").sum(-1)
    assert_close(loss(y, p.log()), per_sample.mean().item())
    assert_close(loss(y, p.log(), sample_weight=torch.full((N,), 2.0)),
                 2 * per_sample.mean().item())


def test_torch_wrapper_copy_shares_buffers():
    module = nn.CrossEntropyLoss(weight=torch.ones(C))
    loss = losses.TorchLossWrapper(module)
    module.double()
    assert loss._unreduced.weight.dtype == torch.float64


def test_torch_wrapper_rejects_non_loss_modules():
    with pytest.raises(TypeError, match=r"expects a torch.nn.Module.*Received: 3"):
        losses.TorchLossWrapper(3)


def test_loss_function_wrapper():
    def scaled_abs(y_true, y_pred, scale=1.0):
        return scale * (y_true - y_pred).abs().mean(-1)

    y, p = regression()
    loss = losses.LossFunctionWrapper(scaled_abs, scale=3.0)
    assert loss.name == "scaled_abs"
    assert_close(loss(torch.tensor(y), torch.tensor(p)), 3 * ref_mae(y, p).mean())
    w = np.random.default_rng(1).uniform(0, 2, N)
    assert_close(loss(torch.tensor(y), torch.tensor(p), sample_weight=w),
                 3 * (w * ref_mae(y, p)).sum() / N)
    assert losses.LossFunctionWrapper(scaled_abs, name="custom").name == "custom"
    # (N,) targets are aligned to (N, 1) outputs, giving one loss per sample.
    unreduced = losses.LossFunctionWrapper(scaled_abs, reduction="none")
    per_sample = unreduced(y[:, 0], torch.tensor(p[:, :1]))
    assert_close(per_sample, np.abs(y[:, 0] - p[:, 0]))
    # A scalar-returning function is weighted Keras-style: loss * mean(weights).
    scalar = losses.LossFunctionWrapper(lambda t, q: ((t - q) ** 2).mean())
    assert_close(scalar(torch.tensor(y), torch.tensor(p), sample_weight=[2.0] * N),
                 2 * ref_mse(y, p).mean())
    with pytest.raises(TypeError, match="expects a callable"):
        losses.LossFunctionWrapper("mse")


class _AbsModule(nn.Module):
    """A custom torch-order loss module without a `reduction` attribute."""

    def forward(self, input, target):
        return (input - 2 * target).abs().mean()


class _PerSampleAbsModule(nn.Module):
    def forward(self, input, target):
        return (input - 2 * target).abs().mean(dim=-1)


def test_torch_wrapper_custom_module_keeps_torch_order_and_refuses_sample_weight():
    y, p = regression()
    y, p = torch.tensor(y), torch.tensor(p)
    loss = losses.TorchLossWrapper(_AbsModule())
    assert_close(loss(y, p), (p - 2 * y).abs().mean().item())
    with pytest.raises(ValueError, match=r"_AbsModule returns a scalar and has no `reduction`"):
        loss(y, p, sample_weight=torch.ones(N))


def test_torch_wrapper_custom_module_returning_per_sample_losses_takes_sample_weight():
    y, p = regression()
    y, p = torch.tensor(y), torch.tensor(p)
    loss = losses.TorchLossWrapper(_PerSampleAbsModule())
    per_sample = (p - 2 * y).abs().mean(-1)
    assert_close(loss(y, p), per_sample.mean().item())
    w = torch.linspace(0, 2, N, dtype=torch.float64)
    assert_close(loss(y, p, sample_weight=w), (w * per_sample).sum().item() / N)
