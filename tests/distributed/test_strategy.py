"""torchfit.distributed.strategy in one process: choosing a strategy, and DDP in a group of one.

A process group of one process (gloo, a HashStore) runs DDP for real while staying in this
process: training through it must give what training without it gives. Two processes are the
business of the torchrun tests (test_reduce.py's launch checks ``resolve_strategy("auto")``
there).
"""

import launch
import pytest
import torch
import torch.distributed as dist
from torch import nn

import torchfit
from torchfit.distributed import sharding, strategy
from torchfit.distributed.strategy import STRATEGIES, Strategy, resolve_strategy

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available in this torch build",
)

MISSING = r"missing: RANK, MASTER_ADDR, MASTER_PORT\. Launch the script with `torchrun"


plain_process, world_of_one = launch.plain_process, launch.world_of_one  # fixtures


def test_the_strategies():
    assert STRATEGIES == ("auto", "ddp", "fsdp", None)


def test_auto_and_none_outside_torchrun_are_one_process(plain_process):
    assert resolve_strategy("auto", "cpu") is None
    assert resolve_strategy(None, "cpu") is None
    assert not dist.is_initialized()  # nothing was started


@pytest.mark.parametrize("bad", ["dp", "DDP", "", 2])
def test_an_unknown_strategy_is_refused(bad):
    with pytest.raises(ValueError, match=rf"Unknown strategy {bad!r}\. Expected 'auto' \(DDP "
                                         r"under torchrun with more than one process\), 'ddp', "
                                         r"'fsdp' or None\."):
        resolve_strategy(bad, "cpu")


def test_compile_refuses_an_unknown_strategy():
    model = torchfit.Model(nn.Linear(2, 1), device="cpu")
    with pytest.raises(ValueError, match=r"Unknown strategy 'horovod'"):
        model.compile("sgd", "mse", strategy="horovod")


@pytest.mark.parametrize("kind", ["ddp", "fsdp"])
def test_a_forced_strategy_outside_torchrun_names_what_is_missing(plain_process, kind):
    with pytest.raises(ValueError, match=MISSING):
        resolve_strategy(kind, "cpu")
    model = torchfit.Model(nn.Linear(2, 1), device="cpu")
    with pytest.raises(ValueError, match=MISSING):
        model.compile("sgd", "mse", strategy=kind)
    assert not dist.is_initialized()


def test_auto_with_world_size_2_but_no_rendezvous_is_refused(plain_process, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match=MISSING):
        resolve_strategy("auto", "cpu")


def test_auto_with_a_bad_world_size_is_refused(plain_process, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "many")
    with pytest.raises(ValueError, match=r"Received: WORLD_SIZE='many'"):
        resolve_strategy("auto", "cpu")


def test_auto_in_a_group_of_one_is_one_process(world_of_one):
    assert resolve_strategy("auto", "cpu") is None


def test_a_forced_strategy_joins_the_users_group(world_of_one):
    for kind in ("ddp", "fsdp"):
        found = resolve_strategy(kind, "cpu")
        assert isinstance(found, Strategy)
        assert (found.kind, found.started_group, found.shard) == (kind, False, (0, 1))
        assert found.device == torch.device("cpu")
    # In one process the agreements are the values themselves.
    assert (sharding.shared_seed(17), found.agree(False), found.agree(True)) == (17, False, True)
    assert found.floats({"loss": torch.tensor(0.25)}) == {"loss": 0.25}


def _fit(strategy_name, seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    model = torchfit.Model(net, device="cpu")
    model.compile("adam", torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], strategy=strategy_name)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(21, 3, generator=generator)
    y = (x[:, 0] > 0).long()
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    return model, history.history


def test_ddp_in_a_group_of_one_trains_as_one_process(world_of_one):
    reference, reference_history = _fit(None)
    model, history = _fit("ddp")
    assert model._strategy.kind == "ddp"
    assert isinstance(model._strategy._ddp, nn.parallel.DistributedDataParallel)
    assert type(model.module) is nn.Sequential  # the user's module, not a wrapper
    assert history.keys() == reference_history.keys()
    for key, values in reference_history.items():
        torch.testing.assert_close(history[key], values, rtol=1e-6, atol=1e-7)
    weights, optimizer_state = model._states_to_save()
    assert list(weights) == list(reference.module.state_dict())  # the bare module's keys
    for key, value in reference.module.state_dict().items():
        torch.testing.assert_close(weights[key], value, rtol=1e-6, atol=1e-7)
    assert optimizer_state.keys() == reference.optimizer.state_dict().keys()
    assert model._step.loss_scale == 1.0  # reset when fit ends


def test_training_calls_go_through_ddp_and_the_others_do_not(world_of_one):
    model = torchfit.Model(nn.Linear(3, 2), device="cpu")
    model.compile("sgd", "mse", strategy="ddp")
    calls = []
    model._strategy._ddp.register_forward_pre_hook(lambda module, args: calls.append("ddp"))
    x = torch.ones(4, 3)
    model.train()
    model(x)
    with torch.no_grad():
        model(x)
    model.eval()
    model(x)
    assert calls == ["ddp"]
    assert model._strategy.routes(model) is False  # eval mode


def test_prepare_step_takes_the_loss_scale_of_the_share(world_of_one):
    model = torchfit.Model(nn.Linear(3, 2), device="cpu")
    model.compile("sgd", "mse", strategy="ddp")
    found = model._strategy
    found.prepare_step(model, sharding.ShardBatch((torch.ones(2, 3),), 0.75, range(0, 2)))
    assert model._step.loss_scale == 0.75
    found.prepare_step(model, (torch.ones(2, 3),))  # a batch of its own (a stream)
    assert model._step.loss_scale == 1.0


def test_a_closure_optimizer_is_refused_under_a_strategy(world_of_one):
    model = torchfit.Model(nn.Linear(3, 2), device="cpu")
    with pytest.raises(ValueError, match=r"The LBFGS optimizer's step\(\) takes a closure that "
                                         r"re-evaluates the loss, which torchfit does not run "
                                         r"data parallel"):
        model.compile(torch.optim.LBFGS, "mse", strategy="ddp")


def test_sync_batchnorm_conversion():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4),
                        nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, momentum=0.3)))
    strategy._convert_sync_batchnorm(net)
    assert [type(layer).__name__ for layer in (net[1], net[2][1])] == ["SyncBatchNorm"] * 2
    assert net[2][1].momentum == 0.3
    with pytest.raises(ValueError, match=r"cannot convert a model that is itself one BatchNorm "
                                         r"layer; wrap it, e\.g\. nn\.Sequential\(bn\)"):
        strategy._convert_sync_batchnorm(nn.BatchNorm1d(4))
