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


def test_a_callable_needing_arguments_without_on_is_refused_at_add_time():
    additions = Additions()
    net = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"add_loss\(loss\) without `on=` calls loss\(\) with no "
                                        r"arguments.*requires 1.*Received: <lambda>\(out\).*"
                                        r"add_loss\(lambda: .*add_loss\(lambda out: .*"
                                        r"on=\"encoder\".*on=\"\""):
        additions.add_loss(lambda out: out.sum(), root=net)
    with pytest.raises(TypeError, match=r"add_metric\(metric\) without `on=`.*requires 2"):
        additions.add_metric(lambda a, b: a, name="m", root=net)
    with pytest.raises(TypeError, match=r"add_loss\(loss, on='0'\) calls loss\(output\).*"
                                        r"takes no arguments"):
        additions.add_loss(lambda: 0.0, on="0", root=nn.Sequential(net))
    assert additions.empty(net)  # nothing was registered
    additions.add_loss(lambda *args, scale=1.0: torch.tensor(scale))  # no required argument: ok
    additions.add_loss(sum, on="", root=net)  # one positional argument: the output


def test_on_empty_string_hooks_the_whole_model_output():
    net = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
    additions = Additions()
    additions.add_loss(lambda out: 0.5 * out.pow(2).sum(), on="", root=net)
    additions.add_metric(lambda out: out.max(), name="out_max", on="", root=net)
    out = call(additions, net, torch.ones(4, 3))
    (loss,) = additions.losses(net)
    torch.testing.assert_close(loss, 0.5 * out.pow(2).sum())
    [(name, value, _)] = additions.metric_values(net)
    assert name == "out_max"
    torch.testing.assert_close(value, out.max().detach())


def test_model_add_loss_on_the_whole_model_output():
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    model = torchfit.Model(net, device="cpu")
    model.add_loss(lambda out: 0.1 * out.abs().mean(), on="")
    x = torch.randn(5, 3)
    out = model(x)
    torch.testing.assert_close(model.losses[0], 0.1 * net(x).abs().mean())
    assert out.shape == (5, 2)


def test_a_nested_models_added_losses_and_metrics_count_in_the_outer_model():
    """As a nested Keras model's: the inner model's callables and hooks join the outer's
    losses and metrics, after the Layers' and before the outer model's own."""
    inner_net = nn.Linear(2, 1)
    inner = torchfit.Model(inner_net, device="cpu")
    inner.add_loss(lambda: inner_net.weight.abs().sum())
    inner.add_metric(lambda out: out.mean(), name="inner_mean", on="")
    outer = torchfit.Model(inner, device="cpu")
    outer.add_metric(lambda: torch.tensor(2.0), name="outer_two")
    out = outer(torch.ones(3, 2))
    torch.testing.assert_close(outer.losses, [inner_net.weight.abs().sum()])
    names = [name for name, _, _ in outer._additions.metric_values(outer)]
    assert names == ["inner_mean", "outer_two"]
    torch.testing.assert_close(outer._additions.metric_values(outer)[0][1], out.mean().detach())
