"""Adapters turn one kind of user data into `(x,)`, `(x, y)` or `(x, y, sample_weight)` batches.

Every adapter offers the same small surface, which is all the epoch iterator relies on:

- ``num_batches``: batches in one pass over the data, or ``None`` when unknown;
- ``on_device``: whether the batches it yields already live on the model's device;
- ``reiterable``: whether a new pass can start after the previous one ran out;
- ``infinite``: whether the data is known never to run out (``steps_per_epoch`` is then required);
- ``batches()``: an iterator over one pass;
- ``finalize(batch)``: the last touch on a batch once it is on the device (the model's dtypes,
  class weights);
- ``aligned``: under ``torchrun``, whether every rank is known to get the same number of batches
  (else the epoch iterator has the ranks agree at each step that all still have one).

Distributed (``shard=(rank, world)``, see ``torchfit.distributed.sharding``): arrays and map-style
Datasets yield this rank's ``ShardBatch`` of each global batch; a user's ``DataLoader`` is rebuilt
with a ``DistributedSampler``; generators and IterableDatasets are the user's to shard.

Dtypes: floating leaves (and uint8 inputs) take the model's floating dtype, ``dtype`` (a
``.double()`` module trains on float64; float16 or uint8 data into a float32 module becomes
float32); integer targets become int64; sample weights are float32 (float64 for a float64 model).
In-memory arrays are cast once; streamed batches on the device, in ``finalize`` (so uint8 images
cross to the accelerator at a quarter of the bytes).
"""

import itertools
import math

import numpy as np
import torch
from torch.utils.data import DataLoader

from torchfit import nest
from torchfit.data import indexed, utils
from torchfit.data.workers import loader_batches
from torchfit.distributed import sharding

__all__ = [
    "ArrayAdapter",
    "ShuffleState",
    "DataLoaderAdapter",
    "DatasetAdapter",
    "GeneratorAdapter",
    "IterableDatasetAdapter",
]


# In-memory arrays move to an accelerator once when they take at most this fraction of its free
# memory; larger ones stay in pinned host memory and go over batch by batch (non-blocking, with
# the next batch prefetched on a side stream).
DEVICE_RESIDENT_FRACTION = 0.25


def fits_on_device(nbytes, device):
    """Whether ``nbytes`` of data should live on ``device`` (always, for the CPU)."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= DEVICE_RESIDENT_FRACTION * free


class ShuffleState:
    """Resumable shuffling, for adapters that draw each pass's order from ``self._generator``
    (``None``: no shuffling) and keep the state the current pass started from in
    ``self._pass_start_state``."""

    def state_dict(self, mid_pass):
        """The shuffling state to resume from: the current pass's start when ``mid_pass``."""
        if self._generator is None:
            return {}
        state = self._pass_start_state if mid_pass else self._generator.get_state()
        return {"generator": state}

    def load_state_dict(self, state):
        if self._generator is not None and "generator" in state:
            self._generator.set_state(state["generator"])


class ArrayAdapter(ShuffleState):
    """In-memory arrays (NumPy, torch, pandas, nests of those), moved to the device once.

    Batches are taken by index from the device-resident tensors: a slice (a view, no copy) when
    not shuffling, an ``index_select`` of a per-epoch ``randperm`` when shuffling. There is no
    per-sample work and no ``DataLoader``; this is the same work a hand-written loop does. Arrays
    too large for the accelerator (``DEVICE_RESIDENT_FRACTION`` of its free memory) stay in pinned
    host memory instead, and each batch is gathered there and copied without blocking.

    Args:
        x, y, sample_weight: nests of array-likes with a common first dimension.
        batch_size: samples per batch (the last batch may be smaller); default 32.
        shuffle: reshuffle the samples at the start of every pass; ``"batch"``: shuffle the
            order of the batches, each a run of contiguous samples.
        class_weight: optional class-weight table (``utils.class_weight_table``), multiplied
            into the sample weights once, here.
        device: where the tensors live.
        dtype: the model's floating dtype (see the module docstring).
        shard: ``(rank, world)`` under ``torchrun``: ``batch_size`` is the global batch, and
            this rank yields its ``ShardBatch`` of each (``torchfit.distributed.sharding``).
    """

    on_device = True
    reiterable = True
    infinite = False
    aligned = True

    def __init__(self, x, y=None, sample_weight=None, batch_size=None, shuffle=False,
                 class_weight=None, device="cpu", resident=None, dtype=torch.float32,
                 shard=None):
        device = torch.device(device)
        x = nest.map_structure(lambda v: utils.to_tensor(v, "x", dtype=dtype), x)
        if y is not None:
            y = nest.map_structure(lambda v: utils.to_tensor(v, "y", True, dtype), y)
        if sample_weight is not None:
            weights = utils.weight_dtype(dtype)
            sample_weight = nest.map_structure(
                lambda v: utils.to_tensor(v, "sample_weight", dtype=None).to(weights),
                sample_weight,
            )
        self.num_samples = utils.num_samples((x, y, sample_weight))
        if self.num_samples == 0:
            raise ValueError("Received empty input arrays: `x` holds 0 samples.")
        if class_weight is not None:
            if y is None:
                raise ValueError("`class_weight` needs targets `y` to look the classes up in.")
            weights = utils.class_weight_to_sample_weight(class_weight, y)
            sample_weight = weights if sample_weight is None else sample_weight * weights
        data = utils.pack_x_y_sample_weight(x, y, sample_weight)
        if resident is None:
            nbytes = sum(t.numel() * t.element_size() for t in nest.flatten(data))
            resident = fits_on_device(nbytes, device)
        self.on_device = resident
        if resident:
            self._data = nest.map_structure(lambda t: t.to(device), data)
        else:  # pinned once, so every batch copies to the device without blocking the host
            pin = device.type == "cuda"
            self._data = nest.map_structure(lambda t: t.pin_memory() if pin else t, data)
        self._leaves_only = not any(nest.is_nested(part) for part in self._data)
        self._device = device if resident else torch.device("cpu")
        self.batch_size = batch_size or 32
        self.shuffle = shuffle
        self.num_batches = math.ceil(self.num_samples / self.batch_size)
        self._shard = shard if shard is not None and shard[1] > 1 else None
        if self._shard is not None:
            sharding.check_shardable(self.batch_size, self.num_samples, shard)
        # Shuffling draws from a generator of its own, seeded from torch's global one (so
        # torch.manual_seed still governs it): its state can be saved and restored exactly, and
        # dropout and the like never shift the order of the samples.
        self._generator = None
        if shuffle:
            self._generator = torch.Generator(device=self._device)
            seed = int(torch.empty((), dtype=torch.int64).random_())
            self._generator.manual_seed(sharding.shared_seed(seed) if self._shard else seed)
        self._pass_start_state = None

    @property
    def data(self):
        """The whole ``(x, y, sample_weight)`` tuple as device tensors."""
        return self._data

    def _take(self, index):
        if self._leaves_only:
            return tuple(index(t) for t in self._data)
        return nest.map_structure(index, self._data)

    def batches(self):
        if self._shard is not None:
            yield from self._shard_batches()
            return
        size = self.batch_size
        if self.shuffle:
            self._pass_start_state = self._generator.get_state()
            gather = _gather if self.on_device else _gather_pinned
            for ids in _pass_order(self).split(size):
                yield self._take(lambda t: gather(t, ids))
        elif self._leaves_only:  # every batch's views at once: one split per tensor
            yield from zip(*(t.split(size) for t in self._data))
        else:
            for start in range(0, self.num_samples, size):
                yield self._take(lambda t: t[start:start + size])

    def _shard_batches(self):
        """This rank's ``ShardBatch`` of each global batch (the one-process order)."""
        rank, world = self._shard
        perm = None
        if self.shuffle:
            self._pass_start_state = self._generator.get_state()
            perm = _pass_order(self)
        gather = _gather if self.on_device else _gather_pinned
        for start in range(0, self.num_samples, self.batch_size):
            size = min(self.batch_size, self.num_samples - start)
            lo, hi = sharding.share_bounds(size, rank, world)
            first, last = start + lo, start + hi
            if perm is None:
                batch = self._take(lambda t: t[first:last])
            else:
                ids = perm[first:last]
                batch = self._take(lambda t: gather(t, ids))
            yield sharding.ShardBatch(batch, (hi - lo) * world / size, range(first, last))

    def finalize(self, batch):
        return batch


def _pass_order(adapter):
    """One pass's order of the samples: a permutation, or with ``shuffle="batch"`` the full
    batches' runs of contiguous samples in a random order, then the short last one (tf.keras 2's
    mode for HDF5 data)."""
    device, generator = adapter._device, adapter._generator
    if not isinstance(adapter.shuffle, str):
        return torch.randperm(adapter.num_samples, device=device, generator=generator)
    full = adapter.num_samples // adapter.batch_size
    order = torch.randperm(full, device=device, generator=generator)
    runs = (order[:, None] * adapter.batch_size
            + torch.arange(adapter.batch_size, device=device)).flatten()
    return torch.cat([runs, torch.arange(full * adapter.batch_size, adapter.num_samples,
                                         device=device)])


_gather = utils.take_rows


def _gather_pinned(tensor, ids):
    return utils.take_rows(tensor, ids, pin=tensor.is_pinned())


def standardize_batch(batch, source, hint=""):
    """Checks one streamed batch and returns it as a tuple of tensors ``(x[, y[, sw]])``.

    A list at the top level counts as a tuple (``default_collate`` turns tuples into lists); a
    tensor, an array or a dict is ``x`` alone. NumPy leaves become tensors; dtypes are left to
    ``finalize``.
    """
    if isinstance(batch, list):
        batch = tuple(batch)
    if isinstance(batch, tuple) and 1 <= len(batch) <= 3 and all(
            type(part) is torch.Tensor and part.dim() for part in batch):
        return batch  # the usual collated (x, y): tensors that need no conversion
    if isinstance(batch, (torch.Tensor, np.ndarray, dict)):
        batch = (batch,)
    elif not isinstance(batch, tuple):
        raise TypeError(
            f"{source} yielded a {type(batch).__name__}. Each batch must be `x`, `(x,)`, "
            "`(x, y)` or `(x, y, sample_weight)`, each part an array, a tensor or a "
            "list/tuple/dict of them."
        )
    if not 1 <= len(batch) <= 3:
        raise ValueError(
            f"{source} yielded a tuple of {len(batch)} elements. Each batch must be `x`, "
            "`(x,)`, `(x, y)` or `(x, y, sample_weight)`; put several inputs or targets in a "
            "nested list or dict, e.g. `((image, series), y)`."
        )
    names = ("x", "y", "sample_weight")
    try:
        return tuple(
            None if part is None else nest.map_structure(
                lambda leaf, name=name: utils.to_tensor(leaf, name, dtype=None), part)
            for name, part in zip(names, batch)
        )
    except ValueError as error:  # a scalar part: often samples where batches were expected
        raise ValueError(f"{source} yielded a batch that is not one: {error}{hint}") from None


class _StreamAdapter:
    """Shared behaviour of the adapters whose batches are made on the host, one at a time.

    ``check_batch(batch, adapter)``, when given, sees the first batch once, before it is used
    (the model checks there how the batch will be read).
    """

    on_device = False
    reiterable = True
    infinite = False
    aligned = False  # the user shards a stream: ranks agree at each step that all have a batch
    source = "The data"
    batch_size = None  # samples per batch when the adapter batches items itself
    hint = ""  # added to the error about a batch without a sample axis

    def __init__(self, class_weight=None, dtype=torch.float32, check_batch=None):
        self._class_weight = class_weight
        self.dtype = dtype
        self._check_batch = check_batch
        # Batches whose leaves already have these dtypes pass finalize untouched.
        self._ready = ({dtype, torch.int64, torch.int32, torch.bool},
                       {dtype, torch.int64, torch.bool}, {utils.weight_dtype(dtype), torch.int64})

    def batches(self):
        batches = (standardize_batch(batch, self.source, self.hint)
                   for batch in self._raw_batches())
        if self._check_batch is None:
            return batches
        return self._checked(batches)

    def _checked(self, batches):
        first = next(batches, None)
        if first is None:
            return
        self._check_batch(first, self)
        self._check_batch = None  # once per adapter: no per-step work
        yield first
        yield from batches

    def _cast(self, batch):
        if all(type(part) is torch.Tensor and part.dtype in ready
               for part, ready in zip(batch, self._ready)):
            return batch
        return utils.cast_batch(batch, self.dtype)

    def finalize(self, batch):
        """Casts to the model's dtypes and applies ``class_weight``, on the device (no sync)."""
        batch = self._cast(batch)
        if self._class_weight is None:
            return batch
        if len(batch) < 2 or batch[1] is None:
            raise ValueError(
                f"`class_weight` needs targets, but {self.source.lower()} yielded batches "
                "without `y`."
            )
        y = batch[1]
        weights = utils.class_weight_to_sample_weight(self._class_weight, y)
        sample_weight = batch[2] if len(batch) == 3 else None
        return (batch[0], y, weights if sample_weight is None else sample_weight * weights)


def _length(obj):
    try:
        return len(obj)
    except TypeError:
        return None


class DatasetAdapter(_StreamAdapter):
    """A map-style ``torch.utils.data.Dataset``: items batched by ``batch_size`` (default 32).

    Items are ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``, each part nested as you
    like; they are collated by torch's ``default_collate``. On CUDA the batches are pinned, so
    that the copy to the device does not block.
    """

    source = "The Dataset"
    aligned = True

    def __init__(self, dataset, batch_size=None, shuffle=False, class_weight=None, device="cpu",
                 shard=None, **kwargs):
        super().__init__(class_weight, **kwargs)
        size = _length(dataset)
        if size is None:
            raise TypeError(
                f"The map-style Dataset {type(dataset).__name__} has no `__len__`. Define "
                "`__len__`, or make it a torch.utils.data.IterableDataset."
            )
        if size == 0:
            raise ValueError(f"The Dataset {type(dataset).__name__} is empty (len 0).")
        self.batch_size = batch_size or 32
        self.num_batches = math.ceil(size / self.batch_size)
        pin = torch.device(device).type == "cuda"
        self._sampler = None
        if shard is not None and shard[1] > 1:  # this rank's share of each global batch
            sharding.check_shardable(self.batch_size, size, shard)
            self._sampler = sharding.ShardedBatchSampler(size, self.batch_size, shuffle, *shard,
                                                         device=device)
            self.loader = DataLoader(dataset, batch_sampler=self._sampler, pin_memory=pin)
        else:
            self.loader = DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle,
                                     pin_memory=pin)

    def batches(self):
        batches = super().batches()
        if self._sampler is None:
            return batches
        return self._shares(batches, self._sampler)

    @staticmethod
    def _shares(batches, sampler):
        for index, batch in enumerate(batches):
            scale, positions = sampler.shares[index]  # filled as the sampler deals the batch
            if not positions:  # no sample for this rank: the batch keeps none of its rows
                batch = nest.map_structure(lambda t: t[:0], batch)
            yield sharding.ShardBatch(batch, scale, positions)

    def _raw_batches(self):
        return iter(self.loader)


class IterableDatasetAdapter(_StreamAdapter):
    """A ``torch.utils.data.IterableDataset``: items are samples batched by ``batch_size``, or,
    with ``batch_size=None``, ready batches used as they come (as ``DataLoader(batch_size=None)``).

    It is iterated afresh each epoch; ``shuffle`` does not apply (an iterable has no indices).
    """

    source = "The IterableDataset"

    def __init__(self, dataset, batch_size=None, class_weight=None, device="cpu", **kwargs):
        super().__init__(class_weight, **kwargs)
        self.batch_size = batch_size
        if batch_size is None:
            self.hint = (" With batch_size=None the IterableDataset's items are used as batches "
                         "as they come; if they are samples, pass a `batch_size` to batch them.")
        size = _length(dataset)
        self.num_batches = None if size is None else math.ceil(size / (batch_size or 1))
        self.loader = DataLoader(dataset, batch_size=batch_size,
                                 pin_memory=torch.device(device).type == "cuda")

    def _raw_batches(self):
        return iter(self.loader)


class DataLoaderAdapter(_StreamAdapter):
    """A ``torch.utils.data.DataLoader``: its batching, shuffling and workers.

    A plain one (a single process, the default samplers, a ``TensorDataset`` or a dataset with
    ``__getitems__``) is batched by index instead, with the same batches and random draws
    (``torchfit.data.indexed``); a ``TensorDataset``'s tensors then move to the model's device
    once, when they fit. Any other loader is iterated as it is.
    """

    source = "The DataLoader"

    def __init__(self, loader, class_weight=None, shard=None, device="cpu", **kwargs):
        super().__init__(class_weight, **kwargs)
        self._passes = 0
        self._indexed = None
        if shard is not None and shard[1] > 1 and not isinstance(
                loader.dataset, torch.utils.data.IterableDataset):
            seed = sharding.shared_seed(int(torch.empty((), dtype=torch.int64).random_()))
            loader = sharding.distributed_loader(loader, *shard, shuffle_seed=seed)
        else:
            self._indexed = indexed.index_batches(loader)
        self.loader = loader
        self.aligned = isinstance(loader.sampler, torch.utils.data.DistributedSampler)
        self.num_batches = _length(loader)
        if self.num_batches == 0:
            raise ValueError("The DataLoader is empty: it yields no batch.")
        if self._indexed is not None and self._indexed.tensors is not None:
            device = torch.device(device)
            nbytes = sum(t.numel() * t.element_size() for t in self._indexed.tensors
                         if t.device != device)
            self.on_device = fits_on_device(nbytes, device)
            self._indexed.move_to(device, pin=not self.on_device)

    def batches(self):
        if self._indexed is not None:
            return self._indexed_batches()
        sampler = self.loader.sampler
        if not self.aligned:
            return super().batches()
        sampler.set_epoch(self._passes)  # a new order each pass, the same on every rank
        self._passes += 1
        indices = list(iter(sampler))
        return self._with_positions(super().batches(), indices)

    @staticmethod
    def _with_positions(batches, indices):
        taken = 0
        for batch in batches:
            count = len(nest.flatten(batch[0])[0])
            yield sharding.ShardBatch(batch, 1.0, indices[taken:taken + count])
            taken += count

    def _indexed_batches(self):
        batches = super().batches()
        if not self.on_device:
            return batches
        return (self.finalize(batch) for batch in batches)  # the iterator skips finalize

    def _raw_batches(self):
        if self._indexed is not None:
            return self._indexed.batches()
        return loader_batches(self.loader)  # a failed worker: named, the others shut down


def _known_infinite(iterator):
    if isinstance(iterator, (itertools.count, itertools.cycle)):
        return True
    if isinstance(iterator, itertools.repeat):
        try:
            iterator.__length_hint__()  # repeat(obj, times) knows its length
        except TypeError:  # repeat(obj) repeats forever
            return True
    return False


class GeneratorAdapter(_StreamAdapter):
    """A Python generator or iterator of ready batches. It is consumed once: a finite one gives
    one pass over its data; with ``steps_per_epoch``, epochs continue where the last one stopped.
    """

    source = "The generator"
    reiterable = False

    def __init__(self, iterator, class_weight=None, **kwargs):
        super().__init__(class_weight, **kwargs)
        self._iterator = iter(iterator)
        self.infinite = _known_infinite(iterator)
        self.num_batches = None

    def _raw_batches(self):
        return self._iterator
