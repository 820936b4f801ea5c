"""torchfit.distributed.sharding in one process: each rank's share, simulated rank by rank.

The references are torch's own: ``torch.tensor_split`` for the sizes of the shares, the
batches of ``DataLoader(dataset, batch_size, shuffle)`` in one process with the same
``torch.manual_seed`` for the order, ``DistributedSampler`` for a rebuilt loader. That rank 0's
seed reaches every rank under torchrun is checked by test_reduce.py's launch.
"""

import pytest
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
)

from torchfit.data.adapters import DatasetAdapter
from torchfit.distributed import sharding
from torchfit.distributed.sharding import ShardBatch, ShardedBatchSampler, share_bounds

WORLD = 3


class Indices(Dataset):
    """Item ``i`` is ``i``: a batch shows which samples it holds."""

    def __init__(self, size):
        self.size = size

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        return torch.tensor(index)


@pytest.mark.parametrize("world", [1, 2, 3, 4, 7, 8])
def test_share_bounds_are_tensor_splits_shares(world):
    for size in range(0, 40):
        expected = [len(part) for part in torch.arange(size).tensor_split(world)]
        bounds = [share_bounds(size, rank, world) for rank in range(world)]
        assert [stop - start for start, stop in bounds] == expected, (size, world)
        # Contiguous, in rank order, covering the batch.
        assert bounds[0][0] == 0 and bounds[-1][1] == size
        assert all(bounds[r][1] == bounds[r + 1][0] for r in range(world - 1))


def _one_process_batches(size, batch_size, shuffle, seed):
    torch.manual_seed(seed)
    loader = DataLoader(Indices(size), batch_size=batch_size, shuffle=shuffle)
    return [batch.tolist() for batch in loader]


def _rank_batches(size, batch_size, shuffle, seed, rank):
    """What ``rank`` deals, drawn as DatasetAdapter draws it (a DataLoader over the sampler)."""
    torch.manual_seed(seed)  # each simulated rank starts where the one process started
    sampler = ShardedBatchSampler(size, batch_size, shuffle, rank, WORLD)
    batches = [batch.tolist() for batch in DataLoader(Indices(size), batch_sampler=sampler)]
    return batches, sampler.shares


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("size, batch_size", [(24, 6), (20, 6), (10, 4), (7, 3), (9, 9),
                                              (5, 4)])
def test_the_ranks_slices_make_the_one_process_batches(size, batch_size, shuffle):
    for seed in (0, 1, 123):
        expected = _one_process_batches(size, batch_size, shuffle, seed)
        order = [index for batch in expected for index in batch]  # the one-process permutation
        ranks = [_rank_batches(size, batch_size, shuffle, seed, rank) for rank in range(WORLD)]
        assert all(len(batches) == len(expected) for batches, _ in ranks)
        for index, batch in enumerate(expected):
            start = index * batch_size
            union = []
            for rank, (batches, shares) in enumerate(ranks):
                scale, positions = shares[index]
                lo, hi = share_bounds(len(batch), rank, WORLD)
                assert positions == range(start + lo, start + hi)
                assert scale == pytest.approx((hi - lo) * WORLD / len(batch))
                if positions:
                    assert batches[index] == [order[p] for p in positions]
                    union += batches[index]
            assert union == batch  # in the one-process order


def test_the_scales_average_to_one():
    # DDP averages the ranks' gradients: (1/W) sum_r n_r W / m = 1 for every batch.
    for size, batch_size in ((10, 4), (7, 3), (31, 8)):
        shares = [s for rank in range(WORLD)
                  for s in _rank_batches(size, batch_size, False, 0, rank)[1]]
        per_batch = len(shares) // WORLD
        for index in range(per_batch):
            total = sum(shares[rank * per_batch + index][0] for rank in range(WORLD))
            assert total / WORLD == pytest.approx(1.0)


def test_a_rank_without_samples_is_dealt_one_and_keeps_none():
    # 10 samples in batches of 4: the last batch of 2 leaves rank 2 without a sample.
    batches, shares = _rank_batches(10, 4, False, 0, rank=2)
    assert batches == [[3], [7], [8]]  # a stand-in: an empty batch cannot be collated
    assert shares[-1] == (0.0, range(10, 10))
    adapter = DatasetAdapter(Indices(10), batch_size=4, shard=(2, WORLD))
    parts = list(adapter.batches())
    assert [type(part) for part in parts] == [ShardBatch] * 3
    assert [part[0].tolist() for part in parts] == [[3], [7], []]
    assert [part.scale for part in parts] == pytest.approx([1 * 3 / 4, 1 * 3 / 4, 0.0])
    assert [part.positions for part in parts] == [range(3, 4), range(7, 8), range(10, 10)]


def test_the_sampler_length_counts_the_global_batches():
    assert len(ShardedBatchSampler(10, 4, True, 0, WORLD)) == 3
    assert len(ShardedBatchSampler(12, 4, False, 2, WORLD)) == 3


def test_a_shard_batch_is_a_tuple_that_keeps_its_share():
    batch = ShardBatch((torch.ones(2), torch.zeros(2)), 0.5, [4, 1])
    assert isinstance(batch, tuple) and len(batch) == 2
    moved = batch.like((batch[0] * 2, batch[1]))
    assert type(moved) is ShardBatch
    assert (moved.scale, moved.positions) == (0.5, [4, 1])
    assert moved[0].tolist() == [2.0, 2.0]
    plain = ShardBatch((torch.ones(1),))
    assert (plain.scale, plain.positions) == (1.0, None)


def test_shared_seed_in_one_process():
    assert sharding.shared_seed(987654321) == 987654321


def test_check_shardable_refuses_too_little_data():
    sharding.check_shardable(batch_size=3, num_samples=3, world=3)
    with pytest.raises(ValueError, match=r"The data holds 2 samples, fewer than the 3 processes: "
                                         r"some would have nothing to train on\. Use fewer "
                                         r"processes \(torchrun --nproc_per_node\)"):
        sharding.check_shardable(batch_size=8, num_samples=2, world=3)
    with pytest.raises(ValueError, match=r"batch_size=2 is the global batch, shared by 3 "
                                         r"processes, so some would get no sample\. Pass "
                                         r"batch_size >= 3 \(for example 96: 32 per process\)"):
        sharding.check_shardable(batch_size=2, num_samples=100, world=3)


def test_adapters_refuse_a_global_batch_smaller_than_the_world():
    with pytest.raises(ValueError, match=r"batch_size=2 is the global batch, shared by 3"):
        DatasetAdapter(Indices(10), batch_size=2, shard=(0, WORLD))


# -- distributed_loader -------------------------------------------------------------------

def _collate(items):
    return torch.stack(items) * 10


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("drop_last", [True, False])
def test_a_rebuilt_loader_keeps_the_users_settings(shuffle, drop_last):
    dataset = Indices(11)
    loader = DataLoader(dataset, batch_size=2, shuffle=shuffle, num_workers=2,
                        collate_fn=_collate, drop_last=drop_last, prefetch_factor=3,
                        persistent_workers=True)
    rebuilt = sharding.distributed_loader(loader, rank=1, world=WORLD, shuffle_seed=42)
    assert rebuilt is not loader and rebuilt.dataset is dataset
    assert (rebuilt.batch_size, rebuilt.num_workers, rebuilt.collate_fn, rebuilt.drop_last,
            rebuilt.prefetch_factor, rebuilt.persistent_workers) == (
        2, 2, _collate, drop_last, 3, True)
    sampler = rebuilt.sampler
    assert type(sampler) is DistributedSampler
    assert (sampler.num_replicas, sampler.rank, sampler.shuffle, sampler.seed,
            sampler.drop_last) == (WORLD, 1, shuffle, 42, drop_last)


def test_a_rebuilt_loader_deals_what_distributed_sampler_deals():
    dataset = Indices(11)
    loader = DataLoader(dataset, batch_size=2, shuffle=True, collate_fn=_collate)
    seen = []
    for rank in range(WORLD):
        rebuilt = sharding.distributed_loader(loader, rank, WORLD, shuffle_seed=7)
        rebuilt.sampler.set_epoch(3)
        reference = DistributedSampler(dataset, num_replicas=WORLD, rank=rank, shuffle=True,
                                       seed=7)
        reference.set_epoch(3)
        batches = [batch.tolist() for batch in rebuilt]
        dealt = [10 * index for index in reference]
        assert [value for batch in batches for value in batch] == dealt
        assert all(len(batch) <= 2 for batch in batches)  # the batch size is per process
        seen += dealt
    # Every sample once, and one padded (11 samples on 3 ranks: 4 each).
    assert sorted(set(seen)) == [10 * i for i in range(11)] and len(seen) == 12


def test_a_loader_without_workers_drops_the_worker_options():
    rebuilt = sharding.distributed_loader(DataLoader(Indices(4), batch_size=2), 0, 2, 0)
    assert rebuilt.num_workers == 0 and rebuilt.persistent_workers is False
    assert type(rebuilt.sampler) is DistributedSampler and rebuilt.sampler.shuffle is False


def test_a_loader_with_a_distributed_sampler_comes_back_unchanged():
    dataset = Indices(8)
    loader = DataLoader(dataset, batch_size=2,
                        sampler=DistributedSampler(dataset, num_replicas=2, rank=0))
    assert sharding.distributed_loader(loader, 0, 2, shuffle_seed=0) is loader


def test_an_explicit_default_sampler_is_rebuilt():
    dataset = Indices(8)
    loader = DataLoader(dataset, batch_size=2, sampler=SequentialSampler(dataset))
    assert type(sharding.distributed_loader(loader, 0, 2, 0).sampler) is DistributedSampler


class EvenFirst(Sampler):
    def __init__(self, size):
        self.size = size

    def __iter__(self):
        return iter(list(range(0, self.size, 2)) + list(range(1, self.size, 2)))

    def __len__(self):
        return self.size


class Pairs(BatchSampler):
    """A batch sampler of its own class (a subclass counts as custom too)."""


CUSTOM = (r"The DataLoader has a custom sampler \({}\), which torchfit cannot shard across the "
          r"2 processes\. Shard it yourself: build the DataLoader with a sampler that gives each "
          r"rank its own samples \(e\.g\. torch\.utils\.data\.DistributedSampler\(dataset, "
          r"num_replicas=world_size, rank=rank\), with set_epoch\), or pass the Dataset itself")


def test_a_custom_sampler_is_refused():
    loader = DataLoader(Indices(8), batch_size=2, sampler=EvenFirst(8))
    with pytest.raises(ValueError, match=CUSTOM.format("EvenFirst")):
        sharding.distributed_loader(loader, 0, 2, shuffle_seed=0)


def test_a_custom_batch_sampler_is_refused():
    dataset = Indices(8)
    loader = DataLoader(dataset, batch_sampler=Pairs(SequentialSampler(dataset), 2, False))
    with pytest.raises(ValueError, match=CUSTOM.format("Pairs")):
        sharding.distributed_loader(loader, 0, 2, shuffle_seed=0)


@pytest.mark.parametrize("options", [{"replacement": True}, {"num_samples": 5}])
def test_a_random_sampler_that_a_distributed_sampler_cannot_reproduce_is_refused(options):
    dataset = Indices(8)
    loader = DataLoader(dataset, batch_size=2, sampler=RandomSampler(dataset, **options))
    with pytest.raises(ValueError, match=r"The DataLoader's RandomSampler draws with replacement "
                                         r"or a num_samples of its own, which a "
                                         r"DistributedSampler cannot reproduce\. Shard it "
                                         r"yourself with a sampler per rank"):
        sharding.distributed_loader(loader, 0, 2, shuffle_seed=0)
