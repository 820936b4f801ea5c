"""``Strategy``: what ``compile(strategy=...)`` sets up for a distributed run.

``"auto"`` (the default) is DDP when ``torchrun`` launched more than one process and nothing
otherwise; ``"ddp"`` and ``"fsdp"`` force one (and need a process group, or ``torchrun``'s
variables to start one); ``None`` trains each process on its own.

Under DDP the user's module is not replaced: ``model.module`` stays what the user passed, and
its ``state_dict`` keys are saved. The DDP wrapper (``DistributedDataParallel`` around a small
module that calls the model) is kept outside the module tree, and ``Model.__call__`` goes
through it only when gradients are recorded in training mode (``forward``); evaluation and
prediction call the module itself. Under FSDP the module is sharded in place with
``fully_shard`` (see ``fsdp.py``), before the optimizer is built.
"""

import torch
from torch import nn

from torchfit.distributed import fsdp, reduce, runtime, sharding

__all__ = ["STRATEGIES", "Strategy", "resolve_strategy"]

STRATEGIES = ("auto", "ddp", "fsdp", None)


def resolve_strategy(strategy, device):
    """The ``Strategy`` for ``compile(strategy=...)``, or ``None`` for a single process.

    Raises:
        ValueError: an unknown strategy, or ``"ddp"``/``"fsdp"`` without a process group or
            ``torchrun``'s variables.

    Example:
        >>> resolve_strategy("auto", "cpu") is None  # not under torchrun
        True
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}. Expected 'auto' (DDP under torchrun "
                         "with more than one process), 'ddp', 'fsdp' or None.")
    if strategy is None:
        return None
    if strategy == "auto":
        if runtime.is_distributed():
            strategy = "ddp"
        elif runtime.launched_world_size() > 1:
            strategy = "ddp"
        else:
            return None
    return Strategy(strategy, device)


class _Forward(nn.Module):
    """What DDP wraps: a call of the model (``Model.__call__`` then skips DDP)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)


class Strategy:
    """A data-parallel run: the process group, the wrapped model, and what ranks must share.

    Args:
        kind: ``"ddp"`` or ``"fsdp"``.
        device: the model's device (NCCL on CUDA, gloo otherwise).
    """

    def __init__(self, kind, device):
        self.kind = kind
        self.device = torch.device(device)
        if self.device.type == "cuda":  # NCCL and FSDP work on the current device
            torch.cuda.set_device(self.device)
        self.started_group = runtime.ensure_process_group(self.device)
        self.rank = runtime.rank()
        self.world = runtime.world_size()
        self._ddp = None
        self._inside = False  # within the DDP forward: Model.__call__ runs the module

    @property
    def shard(self):
        """``Shard(rank, world)``: what the data adapters take their share by."""
        return sharding.Shard(self.rank, self.world)

    @property
    def predict_shard(self):
        """``predict``'s share: a rank may get no sample (one sample under N processes)."""
        return sharding.Shard(self.rank, self.world, strict=False)

    def wrap(self, model, sync_batchnorm=False):
        """Wraps ``model`` for training (DDP) or shards it in place (FSDP); before the optimizer.

        ``sync_batchnorm`` converts the module's BatchNorm layers to ``nn.SyncBatchNorm`` first
        (CUDA only, as torch's ``SyncBatchNorm``).
        """
        module = model.weights_module()
        if sync_batchnorm:
            if self.device.type != "cuda":
                raise ValueError(
                    f"sync_batchnorm=True needs CUDA: torch's SyncBatchNorm runs on GPUs only, "
                    f"and the model is on {self.device}. Use sync_batchnorm=False (each process "
                    "then normalises with the statistics of its own share of the batch).")
            _convert_sync_batchnorm(module)
        if self.kind == "fsdp":
            fsdp.shard_module(module)
            return
        if not any(p.requires_grad for p in model.parameters()):
            return  # nothing to synchronise: the step is skipped (StepPolicy.bind warns)
        device_ids = [self.device] if self.device.type == "cuda" else None
        self._ddp = nn.parallel.DistributedDataParallel(_Forward(model), device_ids=device_ids)

    def routes(self, model):
        """Whether this ``Model.__call__`` should go through DDP (training, with gradients)."""
        return (self._ddp is not None and not self._inside and model.training
                and torch.is_grad_enabled())

    def forward(self, model, args, kwargs):
        """The DDP forward of ``model``; backward then averages the gradients across ranks.

        On the micro-batches of gradient accumulation that end without an optimizer step, the
        gradients are not synchronised (DDP's ``no_sync``).
        """
        self._ddp.require_backward_grad_sync = model._step.syncs_next_backward()
        self._inside = True
        try:
            return self._ddp(*args, **kwargs)
        finally:
            self._inside = False

    def prepare_step(self, model, batch):
        """Before each training step: the loss scale of this rank's share of ``batch``
        (``ShardBatch.scale``; 1 for a batch of its own), and, under FSDP, gradient sync only
        on the micro-batches that apply the optimizer."""
        model._step.loss_scale = getattr(batch, "scale", 1.0)
        if self.kind == "fsdp":
            module = model.weights_module()
            if hasattr(module, "set_requires_gradient_sync"):
                module.set_requires_gradient_sync(model._step.syncs_next_backward())

    def states_to_save(self, model, optimizer=True):
        """``(module state_dict, optimizer state_dict or None)`` for a file rank 0 writes: under
        DDP each rank's own (they are equal); under FSDP the full tensors, gathered from the
        shards (a collective: every rank must call it)."""
        optimizer = model.optimizer if optimizer else None
        module = model.weights_module()
        if self.kind == "fsdp":
            return (fsdp.full_state_dict(module), None if optimizer is None
                    else fsdp.full_optimizer_state_dict(module, optimizer))
        return module.state_dict(), None if optimizer is None else optimizer.state_dict()

    @property
    def shards_states(self):
        """Whether the model's states are sharded (FSDP): files then hold the gathered ones."""
        return self.kind == "fsdp"

    def load_full_states(self, model, model_state, optimizer_state=None):
        """Loads a file's full ``model_state`` (and ``optimizer_state``) into the sharded
        ``model``: each rank keeps its shards of rank 0's tensors (a collective)."""
        module = model.weights_module()
        fsdp.load_full_state_dict(module, model_state)
        if optimizer_state is not None:
            fsdp.load_full_optimizer_state_dict(module, model.optimizer, optimizer_state)

    def floats(self, logs):
        """The logs as Python floats, identical on every rank."""
        return reduce.distributed_to_floats(logs)

    def agree(self, flag):
        """True on every rank when ``flag`` is true on one (``stop_training``)."""
        return reduce.agree(flag, self.device)


def _convert_sync_batchnorm(module):
    """Replaces, in place, the BatchNorm layers below ``module`` by ``nn.SyncBatchNorm``."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        raise ValueError(
            "sync_batchnorm=True cannot convert a model that is itself one BatchNorm layer; "
            "wrap it, e.g. nn.Sequential(bn).")
    for name, child in module.named_children():
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(child)
        if converted is not child:
            setattr(module, name, converted)
