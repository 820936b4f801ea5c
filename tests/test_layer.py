"""Layer.add_loss / add_metric and the model-level add_loss / add_metric hooks."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torchfit
from helpers import blobs

X, Y = blobs()
XT, YT = torch.from_numpy(X), torch.from_numpy(Y)


class ActivityRegularization(torchfit.Layer):
    def forward(self, inputs):
        self.add_loss(inputs.sum() * 0.1)
        return inputs


class MetricLogging(torchfit.Layer):
    def forward(self, inputs):
        self.add_metric(inputs.std(), name="std_of_activation", aggregation="mean")
        self.add_metric(inputs.shape[0], name="samples_seen", aggregation="sum")
        return inputs


def net(*middle):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), *middle, nn.Linear(8, 3))


def compiled(module, **kwargs):
    model = torchfit.Model(module, device="cpu")
    model.compile(optimizer="sgd", loss=torchfit.losses.SparseCategoricalCrossentropy(
        from_logits=True), **kwargs)
    return model


def test_losses_hold_exactly_the_last_call():
    model = compiled(net(ActivityRegularization()))
    for start in (0, 16, 32):
        model(XT[start:start + 16])
    assert len(model.losses) == 1
    with torch.no_grad():
        hidden = model.module[1](model.module[0](XT[32:48]))
    torch.testing.assert_close(model.losses[0], hidden.sum() * 0.1)


def test_fit_adds_the_layer_losses_to_the_loss():
    model = compiled(net(ActivityRegularization()))
    history = model.fit(X, Y, batch_size=64, epochs=1, shuffle=False, verbose=0)
    reference = compiled(net())
    with torch.no_grad():
        hidden = reference.module[1](reference.module[0](XT))
        expected = F.cross_entropy(reference.module(XT), YT) + hidden.sum() * 0.1
    assert history.history["loss"][0] == pytest.approx(expected.item(), rel=1e-5)


def test_add_metric_values_are_aggregated_per_epoch_and_reset():
    model = compiled(net(MetricLogging()), metrics=["accuracy"])
    history = model.fit(X, Y, batch_size=16, epochs=2, verbose=0, validation_data=(X, Y))
    assert list(history.history) == ["loss", "accuracy", "std_of_activation", "samples_seen",
                                     "val_loss", "val_accuracy", "val_std_of_activation",
                                     "val_samples_seen"]
    assert history.history["samples_seen"] == [64.0, 64.0]  # summed, reset each epoch
    model.eval()
    with torch.no_grad():
        stds = [model.module[1](model.module[0](XT[i:i + 16])).std().item()
                for i in range(0, 64, 16)]
    evaluated = model.evaluate(X, Y, batch_size=16, verbose=0, return_dict=True)
    assert evaluated["std_of_activation"] == pytest.approx(np.mean(stds), rel=1e-5)


def test_a_clashing_add_metric_name_is_an_error():
    class Clash(torchfit.Layer):
        def forward(self, inputs):
            self.add_metric(inputs.mean(), name="accuracy")
            return inputs

    model = compiled(net(Clash()), metrics=["accuracy"])
    with pytest.raises(ValueError, match="'accuracy' clashes with a compiled metric"):
        model.fit(X, Y, epochs=1, verbose=0)


def test_model_level_add_loss_and_add_metric():
    module = net()
    model = compiled(module)
    model.add_loss(lambda: 1e-2 * module[0].weight.pow(2).sum())          # weight penalty
    model.add_loss(lambda out: 0.1 * out.sum(), on="1")                   # activity, after ReLU
    model.add_metric(lambda out: out.std(), name="std_of_activation", on="1")
    model.add_metric(lambda: module[0].weight.norm(), name="weight_norm", aggregation="mean")
    model(XT)
    assert len(model.losses) == 2
    with torch.no_grad():
        hidden = module[1](module[0](XT))
        expected = [1e-2 * module[0].weight.pow(2).sum(), 0.1 * hidden.sum()]
    torch.testing.assert_close(model.losses[1], expected[0])  # hooks run during the call first
    torch.testing.assert_close(model.losses[0], expected[1])
    logs = model.evaluate(X, Y, batch_size=64, verbose=0, return_dict=True)
    plain = F.cross_entropy(module(XT), YT).item()
    assert logs["loss"] == pytest.approx(plain + sum(e.item() for e in expected), rel=1e-5)
    assert logs["std_of_activation"] == pytest.approx(hidden.std().item(), rel=1e-5)
    assert logs["weight_norm"] == pytest.approx(module[0].weight.norm().item(), rel=1e-5)


@pytest.mark.parametrize("call, error, message", [
    (lambda layer: layer.add_loss(torch.ones(3)), ValueError,
     r"ActivityRegularization.add_loss expects a scalar tensor. Received: shape \(3,\)"),
    (lambda layer: layer.add_loss(0.5), ValueError, r"Received: a float"),
    (lambda layer: layer.add_metric(torch.ones(()), name="m", aggregation="max"), ValueError,
     r"`aggregation` must be one of 'mean', 'sum'. Received: aggregation='max'"),
])
def test_bad_layer_calls(call, error, message):
    with pytest.raises(error, match=message):
        call(ActivityRegularization())


def test_bad_model_hooks():
    model = compiled(net())
    with pytest.raises(ValueError, match=r"no submodule is named 'dense_1'. Available names: "
                                         r"'0', '1', '2'"):
        model.add_loss(lambda out: out.sum(), on="dense_1")
    with pytest.raises(ValueError, match="no submodule is named 'dense_9'"):
        model.add_metric(lambda out: out.std(), name="s", on="dense_9")
    with pytest.raises(TypeError, match="model.add_loss takes a callable"):
        model.add_loss(torch.ones(()))
    with pytest.raises(ValueError, match="`aggregation` must be one of"):
        model.add_metric(lambda: torch.ones(()), name="s", aggregation="median")
    model.add_loss(lambda out: out, on="0")  # not a scalar: fails at the first call, named
    with pytest.raises(ValueError, match=r"model.add_loss\(on='0'\) expects a scalar"):
        model(XT)
