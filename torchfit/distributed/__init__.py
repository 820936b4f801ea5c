"""Distributed training on ``torch.distributed``, launched by ``torchrun``.

The user's script does not change: ``torchrun --nproc_per_node=N train.py`` trains it data
parallel. ``compile(strategy="auto")`` (the default) picks DDP when ``WORLD_SIZE > 1``.

Who owns what:

- ``runtime.py``: where this process stands (``rank()``, ``world_size()``,
  ``is_main_process()``), and the process group torchfit starts when the user did not.
- ``strategy.py``: ``Strategy``, what ``compile(strategy=...)`` builds: the DDP wrapper (or FSDP2
  sharding) of the model, the flags every rank must agree on.
- ``sharding.py``: each rank's share of a global batch, the samplers that deal it, and the
  rebuilt ``DataLoader`` of a user's loader.
- ``reduce.py``: metric states reduced across ranks by the aggregation they declare, and
  ``predict``'s outputs gathered in input order.
- ``fsdp.py``: FSDP2 (``fully_shard``) and its full state dicts.

Everything here is a no-op in a single process: ``world_size()`` is 1 and nothing is wrapped.
See ``docs/distributed.md``.
"""

from torchfit.distributed.runtime import (
    barrier,
    is_distributed,
    is_main_process,
    local_rank,
    rank,
    world_size,
)

__all__ = ["barrier", "is_distributed", "is_main_process", "local_rank", "rank", "world_size"]
