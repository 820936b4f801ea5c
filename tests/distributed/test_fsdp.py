"""FSDP2 sharding and full state dicts (torchfit.distributed.fsdp), on CPU with gloo.

Each fixture runs tests/distributed/fsdp_script.py once under torchrun (2 processes, a timeout so
that a hang fails) and the tests read what it wrote; the references are the same steps on one
process with the full batch, computed here with the script's own helpers.
"""

import json
import os

import pytest
import torch
import torch.distributed as dist
from torch import nn

import fsdp_script
from fsdp_script import STEPS, batches, make_mlp, make_optimizer, train
from launch import run_script
from torchfit.distributed import fsdp

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available in this torch build",
)


def _run(case, out_dir):
    """Run the script's ``case`` on 2 processes; the two ranks' reports."""
    run_script("fsdp_script.py", case, out_dir, nproc=2, timeout=120)
    reports = []
    for rank in range(2):
        with open(os.path.join(out_dir, f"report_{rank}.json")) as f:
            reports.append(json.load(f))
    return reports


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("fsdp_train")
    return out, _run("train", out)


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory):
    out = tmp_path_factory.mktemp("fsdp_checkpoint")
    return out, _run("checkpoint", out)


def _one_process(name, steps=STEPS):
    """The reference: ``steps`` full-batch steps of the unsharded MLP on this process."""
    module = make_mlp()
    train(module, make_optimizer(name, module), batches(steps))
    return module.state_dict()


def _assert_close(state, reference):
    assert list(state) == list(reference)
    for key, value in reference.items():
        torch.testing.assert_close(state[key], value, rtol=1e-5, atol=1e-7, msg=key)


OPTIMIZERS = ["torch_adam", "torch_sgd", "adam", "rmsprop", "sgd", "sgd_momentum",
              "adam_schedule"]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_sharded_training_gives_the_one_process_full_batch_weights(trained, name):
    out, reports = trained
    assert name not in reports[0]["errors"]
    state = torch.load(out / f"trained_{name}.pt", weights_only=True)
    _assert_close(state, _one_process(name))


def test_parameters_are_dtensors_and_the_mlp_layers_are_units(trained):
    _, reports = trained
    assert reports[0]["sharded"] == [True, "DTensor"]


def test_shard_module_units_look_through_containers_and_leave_tied_weights_to_the_root(trained):
    _, reports = trained
    structure = reports[0]["structure"]
    # first and last share a weight: the root holds them; the ModuleList's items are units.
    assert structure["units"] == ["", "blocks.0", "blocks.1"]
    assert structure["tied"] is True
    assert "is sharded already" in structure["shard_again"]


def test_full_state_dict_has_the_bare_modules_keys_as_cpu_tensors_on_rank_0_only(trained):
    out, reports = trained
    state = torch.load(out / "trained_adam.pt", weights_only=True)
    assert list(state) == list(make_mlp().state_dict())
    assert all(type(value) is torch.Tensor and value.device.type == "cpu"
               for value in state.values())
    assert reports[1]["other_ranks_got"] == [0] * len(fsdp_script.OPTIMIZERS)


def test_keras_clipnorm_steps_sharded_parameters(trained):
    out, reports = trained
    assert "adam_clipnorm" not in reports[0]["errors"], reports[0]["errors"].get("adam_clipnorm")
    state = torch.load(out / "trained_adam_clipnorm.pt", weights_only=True)
    _assert_close(state, _one_process("adam_clipnorm"))


def test_saved_full_state_loads_into_a_freshly_sharded_model(checkpointed):
    out, _ = checkpointed
    saved = torch.load(out / "checkpoint_adam.pt", weights_only=True)["model"]
    reloaded = torch.load(out / "resumed_adam.pt", weights_only=True)["reloaded"]
    assert list(reloaded) == list(saved)
    assert all(torch.equal(reloaded[key], saved[key]) for key in saved)


@pytest.mark.parametrize("name", ["torch_adam", "adam", "adam_schedule", "sgd",
                                  "ftrl"])
def test_full_optimizer_state_resumes_training_exactly(checkpointed, name):
    out, reports = checkpointed
    assert "error" not in reports[0][name], reports[0][name]
    runs = torch.load(out / f"resumed_{name}.pt", weights_only=True)
    for key, value in runs["continued"].items():
        assert torch.equal(runs["resumed"][key], value), key
    _assert_close(runs["continued"], _one_process(name, steps=STEPS + 2))
    iterations = None if name.startswith("torch") else STEPS  # torchfit's, restored
    assert [r[name]["iterations_after_load"] for r in reports] == [iterations, iterations]


def test_full_optimizer_state_is_keyed_by_parameter_name_with_torchfits_iterations(
        checkpointed):
    out, reports = checkpointed
    assert reports[0]["adam"]["optimizer_keys"] == ["iterations", "param_groups", "state"]
    assert reports[0]["adam"]["state_keys"] == sorted(make_mlp().state_dict())
    saved = torch.load(out / "checkpoint_adam.pt", weights_only=True)["optimizer"]
    assert saved["iterations"] == STEPS
    assert saved["param_groups"][0]["params"] == list(make_mlp().state_dict())
    slots = saved["state"]["0.weight"]
    assert sorted(slots) == ["momentum", "velocity"]
    assert slots["momentum"].shape == (7, 5) and type(slots["momentum"]) is torch.Tensor


def test_an_optimizer_that_never_stepped_is_saved_and_loaded_unstepped(checkpointed):
    _, reports = checkpointed
    for report in reports:  # [iterations, parameters with state, group["step"]]
        assert report["unstepped"]["after_saving"] == [0, 0, None]
        assert report["unstepped"]["after_loading"] == [0, 0, None]
    assert reports[0]["unstepped"]["saved"] == [0, 0, None]


def test_a_state_dict_of_another_model_raises_on_every_rank(checkpointed):
    _, reports = checkpointed
    for report in reports:
        assert report["bad_load_error"].startswith(
            "load_full_state_dict() received a state dict that does not fit")
        assert "missing keys ['0.bias', '2.weight', '2.bias']" in report["bad_load_error"]
        assert "'0.weight: (2, 2) instead of (7, 5)'" in report["bad_load_error"]


def test_full_state_dicts_are_snapshots_of_the_tensors_fsdp_does_not_shard(checkpointed):
    _, reports = checkpointed
    # [running_mean as saved, torch Adam's saved step after one more step: still 1]
    assert reports[0]["snapshot_kept"] == [True, 1.0]


# ---------------------------------------------------------------- in this process, no torchrun

def test_is_sharded_is_false_for_a_plain_module():
    assert fsdp.is_sharded(nn.Sequential(nn.Linear(2, 2))) is False


def test_shard_module_without_a_process_group_says_how_to_start_one():
    if dist.is_initialized():
        pytest.skip("a process group is initialised in this process")
    with pytest.raises(RuntimeError, match=r"needs an initialised process group.*torchrun"):
        fsdp.shard_module(nn.Linear(2, 2))


def test_shard_module_rejects_what_is_not_a_module():
    with pytest.raises(TypeError, match=r"expects a torch.nn.Module\. Received: 3 of type int"):
        fsdp.shard_module(3)


def test_full_state_dict_of_a_plain_module_round_trips_in_one_process():
    if dist.is_initialized():
        pytest.skip("a process group is initialised in this process")
    module, other = make_mlp(), make_mlp(seed=3)
    state = fsdp.full_state_dict(module)
    fsdp.load_full_state_dict(other, state)
    assert all(torch.equal(value, module.state_dict()[key]) for key, value in state.items())
    assert all(torch.equal(value, other.state_dict()[key]) for key, value in state.items())
    with pytest.raises(ValueError, match=r"missing keys \['2.bias'\]"):
        fsdp.load_full_state_dict(other, {k: v for k, v in state.items() if k != "2.bias"})
