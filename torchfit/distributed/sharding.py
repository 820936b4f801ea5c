"""Each rank's share of the data.

Arrays, tensors, pandas and map-style Datasets: ``batch_size`` is the **global** batch. Every rank
draws the permutation one process would draw (the seed is rank 0's), cuts it into the same global
batches, and takes its slice of each: the first ``m % W`` ranks one sample more than the others
(``torch.tensor_split``'s rule), so any batch size works. A rank's loss is a mean over its slice;
the batch carries ``scale = n_r * W / m`` (``ShardBatch``), by which the step multiplies the loss,
so that the average DDP takes is the gradient of the whole batch's mean.

A user's ``DataLoader`` is rebuilt with a ``DistributedSampler`` (``distributed_loader``): its
``batch_size`` stays per process, as in a hand-written DDP script.
"""

import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
)

from torchfit.distributed import runtime

__all__ = [
    "Shard",
    "ShardBatch",
    "ShardedBatchSampler",
    "check_shardable",
    "distributed_loader",
    "share_bounds",
    "shared_seed",
]


def share_bounds(size, rank, world):
    """``(start, stop)`` of ``rank``'s slice of a batch of ``size`` samples split ``world`` ways.

    Example:
        >>> [share_bounds(5, r, 2) for r in range(2)]
        [(0, 3), (3, 5)]
        >>> [share_bounds(1, r, 2) for r in range(2)]  # an uneven last batch may leave none
        [(0, 1), (1, 1)]
    """
    base, extra = divmod(size, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


class ShardBatch(tuple):
    """A rank's share of one global batch: a tuple ``(x[, y[, sample_weight]])`` that also says

    - ``scale``: ``n_r * world / m``, what the step multiplies this rank's loss by;
    - ``positions``: the places of its samples in the input (a ``range`` or a list; ``predict``
      puts the gathered outputs back there), or ``None``.

    Example:
        >>> batch = ShardBatch((torch.ones(3, 2), torch.zeros(3)), scale=1.2,
        ...                    positions=range(0, 3))
        >>> len(batch), batch.scale, batch.positions
        (2, 1.2, range(0, 3))
        >>> batch.like(tuple(t * 2 for t in batch)).scale  # moved or cast: the same share
        1.2
    """

    scale = 1.0
    positions = None

    def __new__(cls, parts, scale=1.0, positions=None):
        batch = super().__new__(cls, parts)
        batch.scale = scale
        batch.positions = positions
        return batch

    def like(self, parts):
        """The same share, of other parts (the batch moved to the device)."""
        return ShardBatch(parts, self.scale, self.positions)


def shared_seed(seed, device="cpu"):
    """Rank 0's ``seed`` on every rank (a broadcast), so that all ranks draw the same order.

    In one process the seed comes back unchanged.

    Example:
        >>> shared_seed(1234)
        1234
    """
    if not runtime.is_distributed():
        return seed
    value = torch.tensor([seed], dtype=torch.int64, device=runtime.collective_device(device))
    torch.distributed.broadcast(value, src=0)
    return int(value.item())  # sync: once per pass, a host integer


class Shard(tuple):
    """``(rank, world)``: the share the data adapters take. ``Shard(rank, world,
    strict=False)`` (``predict``'s) lets a rank go without samples: no metric or backward needs
    them, so one sample can be predicted under any number of processes."""

    def __new__(cls, rank, world, strict=True):
        shard = super().__new__(cls, (rank, world))
        shard.strict = strict
        return shard


def check_shardable(batch_size, num_samples, world):
    """Refuses a global batch or a dataset too small to give every rank a sample (for
    training and evaluation: ``world`` is a number or a ``Shard``; a lenient ``Shard``, as
    ``predict``'s, refuses nothing).

    Raises:
        ValueError: ``batch_size`` or ``num_samples`` is smaller than ``world``.

    Example:
        >>> check_shardable(batch_size=64, num_samples=1000, world=4)  # nothing to refuse
        >>> check_shardable(batch_size=2, num_samples=1000, world=4)
        Traceback (most recent call last):
        ...
        ValueError: batch_size=2 is the global batch, shared by 4 processes, ...
    """
    if not getattr(world, "strict", True):
        return
    world = world[1] if isinstance(world, tuple) else world
    if num_samples < world:
        raise ValueError(
            f"The data holds {num_samples} samples, fewer than the {world} processes: some "
            "would have nothing to train on. Use fewer processes (torchrun --nproc_per_node) "
            "or more data.")
    if batch_size < world:
        raise ValueError(
            f"batch_size={batch_size} is the global batch, shared by {world} processes, so some "
            f"would get no sample. Pass batch_size >= {world} (for example {world * 32}: 32 per "
            "process).")


class ShardedBatchSampler(Sampler):
    """This rank's slice of each global batch of a map-style Dataset's indices.

    The order is the one ``DataLoader(dataset, batch_size, shuffle)`` gives in one process:
    ``RandomSampler``'s draw (a seed from torch's generator, then ``randperm``), with rank 0's
    seed. ``shares``: ``(scale, positions)`` of each batch of the current pass, for
    ``ShardBatch``. A rank left without samples by an uneven last batch is dealt that batch's
    first sample, with ``positions`` empty: the adapter keeps none of its rows (an empty batch
    cannot be collated).

    Example:
        >>> sampler = ShardedBatchSampler(5, 4, False, rank=1, world=2)  # batches of 4 and 1
        >>> list(sampler)  # rank 1's half of the first batch, then a stand-in for the second
        [[2, 3], [4]]
        >>> sampler.shares  # (scale, positions): no sample of the last batch is rank 1's
        [(1.0, range(2, 4)), (0.0, range(5, 5))]
    """

    def __init__(self, size, batch_size, shuffle, rank, world, device="cpu"):
        self.size = size
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rank = rank
        self.world = world
        self.device = device
        self.shares = []  # [(scale, positions)] of the current pass, one per batch

    def __len__(self):
        return -(-self.size // self.batch_size)

    def __iter__(self):
        if self.shuffle:
            drawn = torch.empty((), dtype=torch.int64).random_()  # RandomSampler's draw (CPU)
            seed = shared_seed(int(drawn.item()), self.device)  # sync: a CPU tensor, per pass
            order = torch.randperm(self.size, generator=torch.Generator().manual_seed(seed))
            order = order.tolist()
        else:
            order = range(self.size)
        self.shares = []
        for start in range(0, self.size, self.batch_size):
            size = min(self.batch_size, self.size - start)
            lo, hi = share_bounds(size, self.rank, self.world)
            self.shares.append(((hi - lo) * self.world / size, range(start + lo, start + hi)))
            yield list(order[start + lo:start + hi]) if hi > lo else [order[start]]


_LOADER_ARGUMENTS = ("num_workers", "collate_fn", "pin_memory", "drop_last", "timeout",
                     "worker_init_fn", "multiprocessing_context", "generator", "prefetch_factor",
                     "persistent_workers", "pin_memory_device", "in_order")


def distributed_loader(loader, rank, world, shuffle_seed):
    """``loader`` with a ``DistributedSampler`` in place of its default sampler.

    The batch size stays the loader's own (per process); shuffling stays on when the loader
    shuffled (``RandomSampler``), with ``shuffle_seed`` for every rank; ``drop_last`` is kept.
    A loader whose sampler is already a ``DistributedSampler`` comes back as it is.

    Raises:
        ValueError: the loader has a custom sampler or batch sampler.

    Example:
        >>> loader = torch.utils.data.DataLoader(range(5), batch_size=2, shuffle=True)
        >>> rebuilt = distributed_loader(loader, rank=1, world=2, shuffle_seed=0)
        >>> type(rebuilt.sampler).__name__, rebuilt.batch_size, rebuilt.sampler.shuffle
        ('DistributedSampler', 2, True)
    """
    sampler = loader.sampler
    if isinstance(sampler, DistributedSampler):
        return loader
    batch_sampler = loader.batch_sampler
    default_batches = batch_sampler is None or type(batch_sampler) is BatchSampler
    if not default_batches or type(sampler) not in (SequentialSampler, RandomSampler):
        custom = (type(batch_sampler).__name__ if not default_batches
                  else type(sampler).__name__)
        raise ValueError(
            f"The DataLoader has a custom sampler ({custom}), which torchfit cannot shard "
            f"across the {world} processes. Shard it yourself: build the DataLoader with a "
            "sampler that gives each rank its own samples (e.g. torch.utils.data."
            "DistributedSampler(dataset, num_replicas=world_size, rank=rank), with set_epoch), "
            "or pass the Dataset itself and let torchfit shard it.")
    if isinstance(sampler, RandomSampler) and (sampler.replacement
                                               or sampler.num_samples != len(sampler.data_source)):
        raise ValueError(
            "The DataLoader's RandomSampler draws with replacement or a num_samples of its own, "
            "which a DistributedSampler cannot reproduce. Shard it yourself with a sampler per "
            "rank, or use shuffle=True without those options.")
    shuffle = isinstance(sampler, RandomSampler)
    distributed = DistributedSampler(loader.dataset, num_replicas=world, rank=rank,
                                     shuffle=shuffle, seed=shuffle_seed,
                                     drop_last=loader.drop_last)
    kwargs = {name: getattr(loader, name) for name in _LOADER_ARGUMENTS if hasattr(loader, name)}
    if not kwargs.get("num_workers"):
        kwargs.pop("prefetch_factor", None)
        kwargs["persistent_workers"] = False
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=distributed, **kwargs)
