"""Worker of tests/distributed/test_fsdp.py, run under torchrun (2 processes, gloo, CPU).

    python -m torch.distributed.run --nproc_per_node=2 fsdp_script.py CASE OUT_DIR

Each rank trains an ``nn.Sequential`` MLP sharded by ``torchfit.distributed.fsdp`` on its half
of every batch; rank 0 writes what the test compares (``torch.save`` files and ``report.json``)
to OUT_DIR. The test computes the references on one process with the same helpers
(``make_mlp``, ``batches``, ``make_optimizer``), full batches.

Cases:
    train: ``STEPS`` steps with each optimizer of ``OPTIMIZERS``; the full weights of each
        (``trained_<name>.pt``), and the error of each that fails.
    checkpoint: full state dict and optimizer state saved by rank 0 with ``torch.save``, loaded
        into a freshly sharded model and optimizer, training continued; the errors raised on
        each rank by a bad state dict.
"""

import json
import os
import sys

import torch
from torch import nn

import torchfit
from torchfit.distributed import fsdp
from worker import leave

STEPS = 3
BATCH = 8  # the global batch; each of the 2 ranks takes half
OPTIMIZERS = ("torch_adam", "torch_sgd", "adam", "rmsprop", "sgd", "sgd_momentum",
              "adam_schedule", "adam_clipnorm")


def make_mlp(seed=0):
    """5 -> 7 -> 3: every weight's first dimension is odd, so the shards are uneven."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))


def make_optimizer(name, module):
    """The optimizer ``name`` of ``OPTIMIZERS`` over ``module``'s parameters."""
    params = list(module.parameters())
    optimizers = torchfit.optimizers
    if name == "torch_adam":
        return torch.optim.Adam(params, lr=0.01)
    if name == "torch_sgd":
        return torch.optim.SGD(params, lr=0.1, momentum=0.9)
    if name == "sgd_momentum":
        return optimizers.build(optimizers.SGD(0.1, momentum=0.9, nesterov=True), params)
    if name == "adam_schedule":
        schedule = torchfit.schedules.ExponentialDecay(0.01, decay_steps=1, decay_rate=0.5)
        return optimizers.build(optimizers.Adam(schedule, weight_decay=0.1), params)
    if name == "adam_clipnorm":
        return optimizers.build(optimizers.Adam(0.01, clipnorm=0.05), params)
    return optimizers.build(name, params, paths=None)


def batches(steps, start=0):
    """``steps`` global batches ``(x, y)`` of ``BATCH`` samples, the same on every rank."""
    generator = torch.Generator().manual_seed(1)
    data = [(torch.randn(BATCH, 5, generator=generator), torch.randn(BATCH, 3, generator=generator))
            for _ in range(start + steps)]
    return data[start:]


def train(module, optimizer, data, rank=0, world_size=1):
    """One step per batch; each rank's loss is the mean over its share of the batch."""
    share = BATCH // world_size
    for x, y in data:
        x, y = x[rank * share:(rank + 1) * share], y[rank * share:(rank + 1) * share]
        loss = (module(x) - y).pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


class Tied(nn.Module):
    """A first and a last layer sharing their weight, blocks in a ModuleList, and a parameter of
    the root's own."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.first = nn.Linear(6, 6)
        self.blocks = nn.ModuleList([nn.Linear(6, 6), nn.Sequential(nn.Linear(6, 6), nn.ReLU())])
        self.last = nn.Linear(6, 6)
        self.last.weight = self.first.weight
        self.scale = nn.Parameter(torch.ones(1))  # FSDP2 refuses 0-d parameters

    def forward(self, x):
        x = self.first(x)
        for block in self.blocks:
            x = block(x)
        return self.last(x) * self.scale


def _structure(rank, world_size):
    """Which modules ``shard_module`` makes FSDP units, and its error on a sharded module."""
    from torch.distributed.fsdp import FSDPModule

    module = fsdp.shard_module(Tied())
    module(torch.randn(2, 6)).sum().backward()
    units = [name for name, sub in module.named_modules() if isinstance(sub, FSDPModule)]
    try:
        fsdp.shard_module(module)
        again = None
    except ValueError as error:
        again = str(error)
    return {"units": units, "tied": module.first.weight is module.last.weight,
            "shard_again": again}


def _train_case(out_dir, rank, world_size):
    report = {"errors": {}, "sharded": None, "structure": _structure(rank, world_size)}
    for name in OPTIMIZERS:
        module = fsdp.shard_module(make_mlp())
        report["sharded"] = [fsdp.is_sharded(module), type(module[0].weight).__name__]
        optimizer = make_optimizer(name, module)
        try:
            train(module, optimizer, batches(STEPS), rank, world_size)
        except Exception as error:  # raised on every rank alike: no collective is left waiting
            report["errors"][name] = f"{type(error).__name__}: {error}"
            continue
        state = fsdp.full_state_dict(module)
        if rank == 0:
            torch.save(state, os.path.join(out_dir, f"trained_{name}.pt"))
        else:
            report.setdefault("other_ranks_got", []).append(len(state))
    return report


def _checkpoint_model(out_dir, rank, world_size, name):
    """Train, save (rank 0), load into a fresh model and optimizer, train on, save again."""
    module = fsdp.shard_module(make_mlp())
    optimizer = make_optimizer(name, module)
    train(module, optimizer, batches(STEPS), rank, world_size)
    weights, state = fsdp.full_state_dict(module), fsdp.full_optimizer_state_dict(module, optimizer)
    path = os.path.join(out_dir, f"checkpoint_{name}.pt")
    if rank == 0:
        torch.save({"model": weights, "optimizer": state}, path)
    torch.distributed.barrier()
    train(module, optimizer, batches(2, start=STEPS), rank, world_size)
    continued = fsdp.full_state_dict(module)

    fresh = fsdp.shard_module(make_mlp(seed=7))
    fresh_optimizer = make_optimizer(name, fresh)
    saved = torch.load(path, weights_only=True) if rank == 0 else None  # rank 0 reads alone
    fsdp.load_full_state_dict(fresh, None if saved is None else saved["model"])
    reloaded = fsdp.full_state_dict(fresh)
    fsdp.load_full_optimizer_state_dict(fresh, fresh_optimizer, saved and saved["optimizer"])
    iterations = getattr(fresh_optimizer, "iterations", None)
    train(fresh, fresh_optimizer, batches(2, start=STEPS), rank, world_size)
    resumed = fsdp.full_state_dict(fresh)
    if rank == 0:
        torch.save({"reloaded": reloaded, "continued": continued, "resumed": resumed},
                   os.path.join(out_dir, f"resumed_{name}.pt"))
    return {"iterations_after_load": iterations,
            "optimizer_keys": sorted(state) if rank == 0 else None,
            "state_keys": sorted(state["state"]) if rank == 0 else None}


def _unstepped(rank):
    """An optimizer that never stepped: its full state, it afterwards, and a trained optimizer
    after loading that state."""
    module = fsdp.shard_module(make_mlp())
    optimizer = make_optimizer("adam", module)
    state = fsdp.full_optimizer_state_dict(module, optimizer)
    other_module = fsdp.shard_module(make_mlp())
    other = make_optimizer("adam", other_module)
    train(other_module, other, batches(1), rank, 2)
    fsdp.load_full_optimizer_state_dict(other_module, other, state)
    return {"after_saving": [optimizer.iterations, len(optimizer.state),
                             optimizer.param_groups[0].get("step")],
            "after_loading": [other.iterations, len(other.state), other.param_groups[0].get("step")],
            "saved": None if rank else [state["iterations"], len(state["state"]),
                                        state["param_groups"][0].get("step")]}


def _bad_load(rank):
    """The error each rank raises when rank 0 passes a state dict of another model."""
    module = fsdp.shard_module(make_mlp())
    wrong = {"0.weight": torch.zeros(2, 2)} if rank == 0 else None
    try:
        fsdp.load_full_state_dict(module, wrong)
    except ValueError as error:
        return str(error)
    return None


def _snapshot(rank):
    """Whether full state dicts keep their values when the module's buffers and torch Adam's
    ``step`` counters (tensors that are not sharded) change afterwards."""
    module = fsdp.shard_module(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)))
    optimizer = torch.optim.Adam(module.parameters())
    module(torch.randn(8, 4)).sum().backward()
    optimizer.step()
    state = fsdp.full_state_dict(module)
    optimizer_state = fsdp.full_optimizer_state_dict(module, optimizer)
    before = None if rank else state["1.running_mean"].clone()
    module(torch.randn(8, 4) + 3.0).sum().backward()  # updates running_mean in place
    optimizer.step()
    if rank:
        return None
    return [bool(torch.equal(before, state["1.running_mean"])),
            float(optimizer_state["state"]["0.weight"]["step"])]


def _checkpoint_case(out_dir, rank, world_size):
    report = {name: _checkpoint_model(out_dir, rank, world_size, name)
              for name in ("torch_adam", "adam", "adam_schedule", "sgd")}
    try:  # raised on every rank alike, before the first collective that could be left waiting
        report["ftrl"] = _checkpoint_model(out_dir, rank, world_size, "ftrl")
    except ZeroDivisionError as error:
        report["ftrl"] = {"error": f"{type(error).__name__}: {error}"}
    report["unstepped"] = _unstepped(rank)
    report["bad_load_error"] = _bad_load(rank)
    report["snapshot_kept"] = _snapshot(rank)
    return report


def main():
    case, out_dir = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo")
    rank, world_size = torch.distributed.get_rank(), torch.distributed.get_world_size()
    try:
        report = {"train": _train_case, "checkpoint": _checkpoint_case}[case](
            out_dir, rank, world_size)
        with open(os.path.join(out_dir, f"report_{rank}.json"), "w") as f:
            json.dump(report, f)
    finally:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
    leave()
