"""FSDP2 for torchfit: shard a module with ``fully_shard``, gather and load full state dicts.

``shard_module`` applies torch's FSDP2 (``torch.distributed.fsdp.fully_shard``) in place: every
parameter becomes a ``DTensor`` sharded on dim 0 across the ranks (``Shard(0)``); each FSDP unit
all-gathers its parameters before its forward and backward, frees them after, and
reduce-scatters the gradients, averaged over the ranks as DDP averages them. So a rank's loss is
the mean over its share of the global batch, and the step is the full-batch step.

Any ``torch.optim`` optimizer built on ``module.parameters()`` *after* sharding steps the
shards: torch's, and torchfit's, whose Keras update rules run their foreach kernels on DTensors
(every rule gives the one-process numbers), with ``clipvalue`` and ``global_clipnorm``; not yet
with Keras's per-gradient ``clipnorm`` (it clamps the norms in place, which DTensor refuses).

The state-dict helpers are collectives: every rank must call them, in the same order. They use
``torch.distributed.checkpoint.state_dict``; keys are the bare module's ``state_dict()`` keys
(FSDP2 adds no prefix, and torch drops a ``torch.compile`` ``_orig_mod.`` one), so the files are
those one process writes.

Tested on CPU with gloo (torch 2.13, 2 processes); CUDA with NCCL follows torch's documentation.
The process group must be initialised first, and on CUDA each process put on its device
(``torch.cuda.set_device(local_rank)``): FSDP moves the module to the device of its mesh.

torch.distributed's FSDP and checkpoint packages take about a second to import: they are
imported by the functions that use them, never by ``import torchfit``.

Example:
    >>> import torch.distributed as dist
    >>> from torchfit.distributed import fsdp
    >>> dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    >>> net = fsdp.shard_module(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
    >>> fsdp.is_sharded(net), type(net[0].weight).__name__
    (True, 'DTensor')
    >>> net(torch.ones(4, 2)).mean().backward()
    >>> state = fsdp.full_state_dict(net)  # a collective: every rank calls it
    >>> list(state), type(state["0.weight"]).__name__
    (['0.weight', '0.bias', '2.weight', '2.bias'], 'Tensor')
    >>> fsdp.load_full_state_dict(net, state)
    >>> dist.destroy_process_group()
"""

import contextlib
import sys

import torch
from torch import nn

__all__ = [
    "shard_module",
    "is_sharded",
    "full_state_dict",
    "load_full_state_dict",
    "full_optimizer_state_dict",
    "load_full_optimizer_state_dict",
]

_NO_FORWARD = (nn.ModuleList, nn.ModuleDict)  # containers fully_shard refuses as units
_OPTIMIZER_KEYS = ("state", "param_groups")


def _check_module(module, what):
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"{what}() expects a torch.nn.Module. Received: {module!r} of type "
            f"{type(module).__name__}."
        )


def _check_process_group(what):
    if not torch.distributed.is_available() or not torch.distributed.is_initialized():
        raise RuntimeError(
            f"{what}() needs an initialised process group: FSDP shards across its ranks. Launch "
            "with torchrun and call torch.distributed.init_process_group() first (\"gloo\" on "
            "CPU, \"nccl\" on CUDA)."
        )


def _has_parameters(module):
    return next(module.parameters(), None) is not None


def _units(module):
    """The submodules ``shard_module`` shards before the root (see its docstring)."""
    units, stack = [], [(child, True) for child in reversed(list(module.children()))]
    while stack:
        child, direct = stack.pop()
        if isinstance(child, _NO_FORWARD) or (direct and isinstance(child, nn.Sequential)):
            stack.extend((item, False) for item in reversed(list(child.children())))
        elif _has_parameters(child) and all(child is not unit for unit in units):
            units.append(child)
    # A parameter in two units (tied weights) may belong to one FSDP group only: the units
    # sharing it are left to the root, whose group then holds it.
    owners = {}
    for unit in units:
        for param in unit.parameters():
            owners.setdefault(id(param), set()).add(id(unit))
    shared = {unit for ids in owners.values() if len(ids) > 1 for unit in ids}
    return [unit for unit in units if id(unit) not in shared]


def shard_module(module, **fully_shard_kwargs):
    """Shard ``module`` in place with FSDP2; returns it (the same object).

    ``fully_shard`` is applied to each direct child that has parameters, except that a child
    ``nn.Sequential``, ``nn.ModuleList`` or ``nn.ModuleDict`` is replaced by its items (so for
    ``self.blocks = nn.ModuleList(...)`` each block is a unit; items that are a ``ModuleList``
    or ``ModuleDict`` again, which have no forward, are replaced by theirs), then to ``module``
    itself, which takes the parameters no unit holds: its own, and those of units that share a
    (tied) parameter with another. For an ``nn.Sequential`` MLP, each ``Linear`` is a unit.
    Each unit's parameters are gathered for its own forward and backward only, so at most one
    unit is whole at a time.

    Afterwards every parameter is a ``DTensor`` (a ``Shard(0)`` slice on each rank) and each
    sharded module's class is an ``FSDPModule`` subclass of its own (``nn.Linear`` becomes
    ``FSDPLinear``, still an ``nn.Linear``). Build the optimizer on ``module.parameters()``
    after this call. A collective: every rank calls it on the same architecture.

    Args:
        module: The module to shard; it must not be sharded already.
        **fully_shard_kwargs: Passed to every ``fully_shard`` call (``mesh``,
            ``reshard_after_forward``, ``mp_policy``, ``offload_policy``).

    Returns:
        ``module``, sharded.

    Raises:
        TypeError: ``module`` is not an ``nn.Module``.
        ValueError: ``module`` or one of its submodules is sharded already; torch's, for a
            0-d parameter (FSDP2 shards on dim 0: make it a 1-element tensor).
        RuntimeError: No process group is initialised.
    """
    _check_module(module, "shard_module")
    if is_sharded(module):
        raise ValueError(
            f"shard_module() received a {type(module).__name__} that is sharded already "
            "(fully_shard was applied to it or to one of its submodules). Shard a module once."
        )
    _check_process_group("shard_module")
    from torch.distributed.fsdp import fully_shard  # ~1 s to import: only when sharding

    for unit in _units(module):
        fully_shard(unit, **fully_shard_kwargs)
    fully_shard(module, **fully_shard_kwargs)
    return module


def is_sharded(module):
    """Whether ``fully_shard`` was applied to ``module`` or to any of its submodules.

    Example:
        >>> from torchfit.distributed.fsdp import is_sharded
        >>> is_sharded(nn.Linear(2, 1))
        False
    """
    _check_module(module, "is_sharded")
    fsdp = sys.modules.get("torch.distributed.fsdp")
    if fsdp is None:  # nothing can be sharded before torch's FSDP package is imported
        return False
    return any(isinstance(sub, fsdp.FSDPModule) for sub in module.modules())


def _local_storages(tensors):
    """The storages of the plain (not DTensor) tensors among ``tensors``."""
    from torch.distributed.tensor import DTensor

    return {
        t.untyped_storage().data_ptr()
        for t in tensors
        if isinstance(t, torch.Tensor) and not isinstance(t, DTensor)
    }


def _unalias(tree, storages):
    """``tree`` with every tensor that shares one of ``storages`` replaced by a copy.

    On the CPU, torch's full state dicts return the live tensors that are not sharded (buffers,
    torch.optim's ``step`` counters) as they are; a copy keeps the dict a snapshot.
    """
    if isinstance(tree, torch.Tensor):
        return tree.clone() if tree.untyped_storage().data_ptr() in storages else tree
    if isinstance(tree, dict):
        return {key: _unalias(value, storages) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_unalias(value, storages) for value in tree]
    return tree


def _full_options(**kwargs):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kwargs)


def full_state_dict(module):
    """The full, unsharded state dict of ``module``, gathered on rank 0.

    A collective: every rank must call it. Rank 0 gets every entry of the bare module's
    ``state_dict()`` (same keys, same order) as a plain CPU tensor, its own copy; every other
    rank gets an empty dict. Each tensor is all-gathered in turn and kept (on the CPU) by rank 0
    alone, so no other rank ever holds the whole model. Save it from rank 0 with
    ``torch.save``. An unsharded module gives its state dict copied to the CPU (in a process
    group: on rank 0 only).

    Args:
        module: A module sharded by ``shard_module`` (or any module).

    Returns:
        A dict of CPU tensors on rank 0, ``{}`` on the others.
    """
    _check_module(module, "full_state_dict")
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    state = get_model_state_dict(module, options=_full_options(cpu_offload=True))
    return _unalias(state, _local_storages(module.state_dict().values()))


def _from_rank0(value):
    """Rank 0's ``value`` (picklable), on every rank; ``value`` itself without a process group.

    Errors found on rank 0 go through it, so that every rank raises rather than one being left
    waiting in the next collective."""
    if torch.distributed.is_initialized():
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        value = box[0]
    return value


def _check_full_state(module, state_dict):
    """The mismatch between ``state_dict`` (rank 0's) and ``module``'s keys and shapes, or None."""
    if not isinstance(state_dict, dict):
        return (f"load_full_state_dict() expects a dict of tensors on rank 0. Received: "
                f"{type(state_dict).__name__}.")
    expected = module.state_dict()  # DTensors: their .shape is the full shape
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    wrong = [f"{key}: {tuple(state_dict[key].shape)} instead of {tuple(expected[key].shape)}"
             for key in expected
             if key in state_dict and isinstance(state_dict[key], torch.Tensor)
             and state_dict[key].shape != expected[key].shape]
    if not (missing or unexpected or wrong):
        return None
    return (f"load_full_state_dict() received a state dict that does not fit the "
            f"{type(module).__name__}: missing keys {missing}, unexpected keys {unexpected}, "
            f"wrong shapes {wrong}. Expected the full state dict of the same architecture, "
            "e.g. one written by full_state_dict() or the bare module's state_dict().")


def load_full_state_dict(module, state_dict):
    """Load a full (unsharded) state dict into ``module``, sharded or not; strict.

    A collective: every rank must call it. Only rank 0's ``state_dict`` is read: it is checked
    against the module's keys and full shapes, then broadcast one tensor at a time
    (``broadcast_from_rank0``, which works with gloo on the CPU) and each rank keeps its shard.
    The other ranks may pass the same dict or None, so only rank 0 needs to read the file.
    ``state_dict`` itself is not modified.

    Args:
        module: A module sharded by ``shard_module`` (or any module).
        state_dict: The bare module's keys, full tensors (on any device), e.g. a dict
            ``full_state_dict`` returned; ignored on ranks other than 0.

    Raises:
        ValueError: On every rank, when rank 0's dict misses keys of the module, has other
            keys, or a tensor of another shape.
    """
    _check_module(module, "load_full_state_dict")
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    distributed = torch.distributed.is_initialized()
    rank = torch.distributed.get_rank() if distributed else 0
    error = _from_rank0(_check_full_state(module, state_dict) if rank == 0 else None)
    if error is not None:
        raise ValueError(error)
    # torch writes the loaded shards into the dict it is given: hand it a shallow copy.
    given = dict(state_dict) if rank == 0 else {}
    set_model_state_dict(module, given, options=_full_options(broadcast_from_rank0=distributed))


def _extra_entries(optimizer):
    """The entries of ``optimizer.state_dict()`` besides torch's (torchfit's ``iterations``),
    which ``get_optimizer_state_dict`` leaves out."""
    return {k: v for k, v in optimizer.state_dict().items() if k not in _OPTIMIZER_KEYS}


@contextlib.contextmanager
def _without_initialising_step(optimizer):
    """Keep torch from stepping an optimizer that holds no state yet.

    ``get_optimizer_state_dict`` initialises such an optimizer's state by a ``step()`` with zero
    gradients and a zero learning rate: it would count in torchfit's ``iterations`` and Keras's
    bias corrections (and Ftrl divides by the learning rate). torch skips that step when a
    parameter has a gradient: one gets a zero gradient meanwhile.
    """
    params = [param for group in optimizer.param_groups for param in group["params"]]
    fresh = params and not optimizer.state and all(param.grad is None for param in params)
    if fresh:
        params[0].grad = torch.zeros_like(params[0])
    try:
        yield
    finally:
        if fresh:
            params[0].grad = None


def full_optimizer_state_dict(module, optimizer):
    """The full, unsharded state of ``optimizer`` over sharded ``module``, gathered on rank 0.

    A collective: every rank must call it. Rank 0 gets torch's full optimizer state dict
    (``get_optimizer_state_dict(..., full_state_dict=True, cpu_offload=True)``): ``"state"`` and
    the ``"params"`` of each of ``"param_groups"`` keyed by parameter name (the keys of
    ``full_state_dict``), every tensor a plain CPU one of its own, plus the optimizer's own
    entries (torchfit's ``"iterations"``, which torch's dict leaves out); the other ranks get
    ``{}``. The optimizer is left as it was, also one that has not stepped yet (its ``"state"``
    is then empty; torch would initialise it by stepping it once with a zero learning rate).

    Args:
        module: The sharded module.
        optimizer: A ``torch.optim.Optimizer`` built on ``module.parameters()``.

    Returns:
        A dict on rank 0, ``{}`` on the others.
    """
    _check_module(module, "full_optimizer_state_dict")
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    extras = _extra_entries(optimizer)
    with _without_initialising_step(optimizer):
        state = get_optimizer_state_dict(module, optimizer,
                                         options=_full_options(cpu_offload=True))
    if not state:
        return state
    tensors = [t for slots in optimizer.state.values() for t in slots.values()]
    return {**_unalias(state, _local_storages(tensors)), **extras}


def _has_sharded_slots(state):
    """Whether a full optimizer state holds tensors to shard (any slot with a dimension)."""
    return any(isinstance(value, torch.Tensor) and value.dim() > 0
               for slots in state["state"].values() for value in slots.values())


def _load_unsharded(optimizer, state):
    """Load a full state whose slots are all scalars (an optimizer that has not stepped, SGD
    without momentum), which torch's loader refuses: the groups' ``"params"`` name the
    parameters in the optimizer's order."""
    local = optimizer.state_dict()
    groups, slots = [], {}
    for mine, saved in zip(local["param_groups"], state["param_groups"]):
        groups.append({**saved, "params": mine["params"]})
        for index, name in zip(mine["params"], saved["params"]):
            if name in state["state"]:
                slots[index] = state["state"][name]
    rest = {k: v for k, v in state.items() if k not in _OPTIMIZER_KEYS}
    optimizer.load_state_dict({**rest, "state": slots, "param_groups": groups})


def load_full_optimizer_state_dict(module, optimizer, state):
    """Load a full optimizer state (``full_optimizer_state_dict``'s) into ``optimizer``.

    A collective: every rank must call it. Only rank 0's ``state`` is read and broadcast
    (``set_optimizer_state_dict(..., broadcast_from_rank0=True)``, which works with gloo on the
    CPU); each rank keeps its shards. The other ranks may pass the same dict or None. The extra
    entries (torchfit's ``"iterations"``) are broadcast too and loaded through
    ``optimizer.load_state_dict``. ``state`` itself is not modified.

    torch needs the state of an optimizer that has not stepped yet to exist before it can place
    the shards, and creates it by a ``step()`` with zero gradients and a zero learning rate
    (its values are then all replaced); every torch and torchfit optimizer takes that step
    (torchfit's ``Ftrl``, whose update divides by the rate, skips it).

    Args:
        module: The sharded module ``optimizer`` optimizes.
        optimizer: A ``torch.optim.Optimizer`` built on ``module.parameters()``.
        state: On rank 0, a dict from ``full_optimizer_state_dict``.

    Raises:
        ValueError: On every rank, when rank 0's ``state`` is not such a dict.
    """
    _check_module(module, "load_full_optimizer_state_dict")
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    distributed = torch.distributed.is_initialized()
    rank = torch.distributed.get_rank() if distributed else 0
    plan = None  # rank 0's: (error or None, the extra entries, the whole state if unsharded)
    if rank == 0:
        if not (isinstance(state, dict) and all(k in state for k in _OPTIMIZER_KEYS)):
            plan = ("load_full_optimizer_state_dict() expects the dict that "
                    "full_optimizer_state_dict() returns, with keys 'state' and 'param_groups'. "
                    f"Received: {state!r:.200}", None, None)
        else:
            extras = {k: v for k, v in state.items() if k not in _OPTIMIZER_KEYS}
            plan = (None, extras, None if _has_sharded_slots(state) else state)
    error, extras, unsharded = _from_rank0(plan)
    if error is not None:
        raise ValueError(error)
    if unsharded is not None:
        _load_unsharded(optimizer, unsharded)
        return
    given = _unalias(state, set()) if rank == 0 else {}  # torch rewrites the dict it is given
    set_optimizer_state_dict(module, optimizer, given,
                             options=_full_options(broadcast_from_rank0=distributed))
    if extras:
        optimizer.load_state_dict({**optimizer.state_dict(), **extras})
