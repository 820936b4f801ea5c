"""A user's ``DataLoader`` batched by index, when that gives exactly the batches it would yield.

Iterating ``DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)`` indexes the dataset one
sample at a time and stacks the samples (``default_collate``): per-sample Python work that makes
the usual loop 1.25-1.35x slower than taking each batch as ``x[ids]``. When the loader is plain
enough for the two to be the same, ``index_batches`` returns the batches taken by index instead,
drawing the random numbers exactly where torch's iterator draws them, so the batches, the trained
weights and every generator's state afterwards are the ones iterating the loader gives:

- each pass first draws the iterator's base seed (``torch.empty((), dtype=torch.int64)
  .random_(generator=loader.generator)``, drawn even without workers);
- ``RandomSampler`` then takes a fresh generator seeded from torch's global one (or uses its own
  ``generator``) and draws ``randperm(n)``, and, once the pass is exhausted, a second (empty)
  one, at the moment ``BatchSampler`` asks past the last sample.

Plain enough means: a single process (``num_workers=0``), the default ``BatchSampler`` over a
``SequentialSampler`` or a ``RandomSampler`` without replacement or ``num_samples``, and either a
``TensorDataset`` (possibly inside ``Subset``s, as ``random_split`` makes) with the default collate,
or a dataset with its own ``__getitems__`` (then ``collate_fn(dataset.__getitems__(ids))``, as the
loader's fetcher calls it, with any ``collate_fn``). Anything else (workers, custom samplers,
pinned batches from ``__getitems__``, subclasses that may override ``__getitem__``) is iterated
as it is. A ``TensorDataset``'s tensors are read where they are: batches see in-place changes to
them, as the loader's would.
"""

import torch
from torch.utils.data import (
    BatchSampler,
    RandomSampler,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
)

from torchfit.data import utils

__all__ = ["IndexedBatches", "index_batches"]


def index_batches(loader):
    """The ``IndexedBatches`` for ``loader``, or ``None`` when it must be iterated as it is.

    A ``TensorDataset``'s tensors stay where they are until ``IndexedBatches.move_to`` (the
    caller decides whether they fit on the model's device).

    Example:
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> loader = DataLoader(TensorDataset(torch.arange(5.0)), batch_size=2)
        >>> [batch[0].tolist() for batch in index_batches(loader).batches()]
        [[0.0, 1.0], [2.0, 3.0], [4.0]]
        >>> index_batches(DataLoader(TensorDataset(torch.arange(5.0)), num_workers=2)) is None
        True
    """
    sampler = loader.sampler
    plain_sampler = type(sampler) is SequentialSampler or (
        type(sampler) is RandomSampler and not sampler.replacement
        and sampler._num_samples is None)
    batch_sampler = loader.batch_sampler
    if (loader.num_workers != 0 or not plain_sampler or type(batch_sampler) is not BatchSampler
            or batch_sampler.sampler is not sampler or loader.batch_size is None):
        return None
    dataset = loader.dataset
    if type(dataset) not in (TensorDataset, Subset) and callable(
            getattr(dataset, "__getitems__", None)):
        if loader.pin_memory and torch.cuda.is_available():
            return None  # the loader pins its batches: leave that to it
        return IndexedBatches(loader, take=_items_taker(dataset, loader.collate_fn))
    tensors, rows = _tensors_of(dataset)
    if tensors is None or loader.collate_fn is not default_collate or not 1 <= len(tensors) <= 3:
        return None
    return IndexedBatches(loader, tensors=tensors, rows=rows)


def _tensors_of(dataset):
    """``(tensors, rows)`` of a ``TensorDataset`` seen through ``Subset``s (``rows``: the
    dataset's rows in the tensors, ``None`` for all of them in order); ``(None, None)`` when
    ``dataset`` is something else."""
    rows = None
    while type(dataset) is Subset:
        indices = torch.as_tensor(list(dataset.indices), dtype=torch.int64)
        size = len(dataset.dataset)
        if len(indices) and not bool(((indices >= -size) & (indices < size)).all()):
            return None, None  # out of range: the loader raises its own IndexError
        indices = torch.where(indices < 0, indices + size, indices)
        rows = indices if rows is None else indices[rows]
        dataset = dataset.dataset
    if type(dataset) is not TensorDataset or not all(
            isinstance(t, torch.Tensor) and t.dim() for t in dataset.tensors):
        return None, None
    return tuple(dataset.tensors), rows


def _items_taker(dataset, collate_fn):
    def take(ids):
        return collate_fn(dataset.__getitems__(ids.tolist()))
    return take


class IndexedBatches:
    """One pass of a loader's batches at a time, taken by index (see the module docstring).

    Either ``tensors`` (a ``TensorDataset``'s, with ``rows`` mapping dataset indices to tensor
    rows) or ``take(ids) -> batch`` (a dataset with ``__getitems__``) says how a batch is made.
    """

    def __init__(self, loader, tensors=None, rows=None, take=None):
        self.loader = loader
        self.tensors = tensors
        self._rows = rows
        self._take = take
        self._size = len(loader.sampler.data_source)
        self._pin = False

    def move_to(self, device, pin=False):
        """Moves the tensors to ``device`` once (with ``pin``: keeps them on the host and
        gathers each batch into pinned memory instead)."""
        if self.tensors is None:
            return
        if pin:
            self._pin = True
            return
        self.tensors = tuple(t.to(device) for t in self.tensors)
        if self._rows is not None:
            self._rows = self._rows.to(device)

    def _batch(self, ids):
        if self._take is not None:
            return self._take(ids)
        if self._rows is not None:
            ids = self._rows[ids.to(self._rows.device)]
        pin = self._pin
        return tuple(utils.take_rows(t, ids if pin else ids.to(t.device), pin)
                     for t in self.tensors)

    def batches(self):
        """One pass: the loader's batches, in its order, with its random draws."""
        loader, size = self.loader, self._size
        batch_size, drop_last = loader.batch_size, loader.drop_last
        torch.empty((), dtype=torch.int64).random_(generator=loader.generator)  # the base seed
        sampler = loader.sampler
        generator = None
        if type(sampler) is RandomSampler:
            generator = sampler.generator
            if generator is None:  # RandomSampler's own: seeded from torch's global generator
                draw = torch.empty((), dtype=torch.int64).random_()
                seed = int(draw.item())  # sync: none, a CPU tensor (RandomSampler's own read)
                generator = torch.Generator()
                generator.manual_seed(seed)
            order = torch.randperm(size, generator=generator)
        else:
            order = torch.arange(size)
        stop = size - size % batch_size if drop_last else size
        for start in range(0, stop, batch_size):
            end = min(start + batch_size, size)
            if end == size and end - start < batch_size and generator is not None:
                torch.randperm(size, generator=generator)  # exhausted before the short batch
                generator = None
            yield self._batch(order[start:end])
        if generator is not None:  # exhausted when the batch after the last one is asked for
            torch.randperm(size, generator=generator)
