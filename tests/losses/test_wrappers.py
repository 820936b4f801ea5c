"""Tests for torchfit/losses/wrappers.py: TorchLossWrapper and LossFunctionWrapper."""

import functools
import json

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


def _scaled_abs(y_true, y_pred, scale=1.0):
    return scale * (y_true - y_pred).abs().mean(-1)


def test_loss_function_wrapper_config_is_keras_3s_and_json_safe():
    wrapper = losses.LossFunctionWrapper(losses.mean_squared_error, name="m", reduction="sum")
    # What Keras 3.15's LossFunctionWrapper(keras.losses.mean_squared_error, name="m",
    # reduction="sum").get_config() returns (keras/src/losses/losses.py: name, reduction, then
    # fn in serialize_keras_object's function form, then the kwargs).
    expected = {"name": "m", "reduction": "sum",
                "fn": {"module": "builtins", "class_name": "function",
                       "config": "mean_squared_error", "registered_name": "function"}}
    config = wrapper.get_config()
    assert config == expected and list(config) == list(expected)
    serialized = json.loads(json.dumps(losses.serialize(wrapper)))
    rebuilt = losses.deserialize(serialized)  # from torchfit's loss function registry
    assert type(rebuilt) is losses.LossFunctionWrapper and rebuilt.get_config() == config
    assert rebuilt.fn is losses.mean_squared_error
    y, p = regression()
    assert_close(rebuilt(torch.tensor(y), torch.tensor(p)), ref_mse(y, p).sum())


def test_loss_function_wrapper_rebuilds_a_users_function_from_custom_objects():
    wrapper = losses.LossFunctionWrapper(_scaled_abs, scale=3.0)
    config = json.loads(json.dumps(wrapper.get_config()))
    assert config["fn"]["config"] == "_scaled_abs" and config["scale"] == 3.0
    with pytest.raises(ValueError, match=r"Unknown loss function: '_scaled_abs'.*custom_objects="
                                         r"\{'_scaled_abs': _scaled_abs\}"):
        losses.LossFunctionWrapper.from_config(config)
    rebuilt = losses.LossFunctionWrapper.from_config(config, {"_scaled_abs": _scaled_abs})
    assert rebuilt.fn is _scaled_abs and rebuilt._fn_kwargs == {"scale": 3.0}
    serialized = json.loads(json.dumps(losses.serialize(wrapper)))
    assert losses.deserialize(serialized, {"_scaled_abs": _scaled_abs}).fn is _scaled_abs


def test_loss_function_wrapper_of_a_partial_has_a_repr_but_no_config():
    wrapper = losses.LossFunctionWrapper(functools.partial(_scaled_abs, scale=2.0), name="half")
    assert repr(wrapper).startswith("LossFunctionWrapper(fn=functools.partial(")
    with pytest.raises(TypeError, match=r"Cannot serialize functools.partial"):
        wrapper.get_config()
