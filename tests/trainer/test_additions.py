"""Additions on its own: what Layers, zero-argument callables and submodule hooks add per call."""

import pytest
import torch
from torch import nn

import torchfit
from torchfit.trainer.additions import Additions


class Penalised(torchfit.Layer):
    def forward(self, x):
        self.add_loss(x.abs().sum())
        self.add_metric(x.mean(), name="activation_mean")
        return x


def call(additions, module, x):
    additions.begin_call(module)
    out = module(x)
    additions.end_call()
    return out


def test_a_plain_module_adds_nothing():
    assert Additions().empty(nn.Linear(2, 2))


def test_layer_values_are_those_of_the_last_call_only():
    net = nn.Sequential(nn.Linear(2, 2), Penalised())
    additions = Additions()
    assert not additions.empty(net)
    first = call(additions, net, torch.ones(1, 2))
    second = call(additions, net, torch.full((1, 2), 2.0))
    (loss,) = additions.losses(net)
    torch.testing.assert_close(loss, second.abs().sum())
    assert not torch.equal(loss, first.abs().sum())
    [(name, value, aggregation)] = additions.metric_values(net)
    assert (name, aggregation) == ("activation_mean", "mean")
    torch.testing.assert_close(value, second.mean())


def test_callables_and_submodule_hooks():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    additions = Additions()
    additions.add_loss(lambda: net[0].weight.pow(2).sum())
    additions.add_loss(lambda out: 0.5 * out.sum(), on="1", root=net)
    additions.add_metric(lambda out: out.max(), "peak", "sum", on="1", root=net)
    out = call(additions, net, torch.ones(4, 2))
    hook_loss, weight_loss = additions.losses(net)  # hooks fire during the call, callables after
    torch.testing.assert_close(weight_loss, net[0].weight.pow(2).sum())
    torch.testing.assert_close(hook_loss, 0.5 * out.sum())
    assert [(n, a) for n, _, a in additions.metric_values(net)] == [("peak", "sum")]


def test_trackers_aggregate_over_calls_and_refuse_taken_names():
    net = nn.Sequential(Penalised())
    additions = Additions()
    made = []
    for value in (1.0, 3.0):
        call(additions, net, torch.full((2,), value))
        made.append(additions.update_trackers(net, taken_names=["loss"], device="cpu"))
    assert made == [True, False]  # the tracker is made once, on first sight
    assert float(additions.trackers["activation_mean"].result()) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="add_metric name 'activation_mean' clashes"):
        Additions().update_trackers(net, taken_names=["activation_mean"], device="cpu")


def test_a_non_scalar_added_loss_names_where_it_came_from():
    net = nn.Sequential()
    net.add_module("fc", nn.Linear(2, 2))
    additions = Additions()
    additions.add_loss(lambda out: out, on="fc", root=net)
    with pytest.raises(ValueError, match=r"model.add_loss\(on='fc'\) expects a scalar tensor"):
        call(additions, net, torch.ones(1, 2))
    with pytest.raises(ValueError, match=r"add_metric\(on='fc2'\): no submodule is named 'fc2'. "
                                         r"Available names: 'fc'"):
        additions.add_metric(lambda out: out.sum(), "s", on="fc2", root=net)
    with pytest.raises(TypeError, match="model.add_loss takes a callable"):
        additions.add_loss(torch.ones(()))


def test_refresh_finds_layers_added_later():
    net = nn.Sequential(nn.Linear(2, 2))
    additions = Additions()
    assert additions.empty(net)
    net.append(Penalised())
    assert additions.empty(net)  # the submodules were looked at once
    additions.refresh()
    assert not additions.empty(net)
