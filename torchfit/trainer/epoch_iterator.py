"""EpochIterator: how many steps an epoch has, where batches come from, and where they go.

Separation of concerns: adapters (``torchfit.data``) know how to make batches from one kind of
data; this iterator knows about epochs: how many steps each one runs (``steps_per_epoch`` or one
full pass), what happens when the data runs out, and moving batches that are not yet on the
model's device. The loops in ``loops.py`` only ever see ``(step, batch)`` pairs.

With ``steps_per_epoch`` the underlying iterator is *not* restarted at each epoch (Keras
semantics): epoch 2 continues where epoch 1 stopped. A re-iterable source (arrays, map-style
datasets) then starts a new pass when it runs out; a one-shot source (a generator) stops training
with a warning that says how many steps ran.
"""

import warnings

import torch

from torchfit import nest
from torchfit.distributed import reduce, runtime
from torchfit.distributed.sharding import ShardBatch

__all__ = ["EpochIterator"]


class EpochIterator:
    """Yields ``(step, batch)`` for one epoch at a time.

    Args:
        adapter: a ``torchfit.data`` adapter.
        steps_per_epoch: steps per epoch, or ``None`` for one full pass per epoch.
        device: the model's device; batches not already there are moved with ``non_blocking``.
    """

    def __init__(self, adapter, steps_per_epoch=None, device="cpu"):
        if steps_per_epoch is not None and (
            not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0
        ):
            raise ValueError(
                f"`steps` / `steps_per_epoch` must be a positive integer or None. "
                f"Received: {steps_per_epoch!r}"
            )
        if adapter.infinite and steps_per_epoch is None:
            raise ValueError(
                "The data never runs out (an infinite generator), so an epoch would never end. "
                "Pass `steps_per_epoch` (or `steps` / `validation_steps`) to say how many "
                "batches make an epoch."
            )
        self.adapter = adapter
        self.steps_per_epoch = steps_per_epoch
        self.device = torch.device(device)
        self._iterator = None
        self.ran_out_of_data = False
        self._total_steps = 0
        self._skip = 0  # batches to pass over at the start of the next epoch (resume)

    @property
    def num_steps(self):
        """Steps in one epoch, or ``None`` when neither the user nor the data says."""
        return self.steps_per_epoch or self.adapter.num_batches

    def _prepare(self, batch):
        """Moves a host batch to the device (non-blocking from pinned memory on CUDA)."""
        if self.adapter.on_device:
            return batch
        if self.device.type == "cpu":  # host batches are already where they run
            prepared = self.adapter.finalize(batch)
        else:
            non_blocking = self.device.type == "cuda"
            prepared = self.adapter.finalize(nest.map_structure(
                lambda t: t.to(self.device, non_blocking=non_blocking)
                if isinstance(t, torch.Tensor) else t,
                tuple(batch),
            ))
        if type(batch) is ShardBatch and type(prepared) is not ShardBatch:
            return batch.like(prepared)  # a rank's share keeps its scale and positions
        return prepared

    def skip_steps(self, count):
        """Makes the next epoch pass over its first ``count`` batches (resuming mid-epoch).

        The skipped batches are drawn but not moved or used, so the data order after them is the
        one an uninterrupted run would see.
        """
        self._skip = count

    def state_dict(self, mid_epoch):
        """The data-order state to resume from (the shuffling generator of in-memory arrays)."""
        adapter_state = getattr(self.adapter, "state_dict", None)
        return adapter_state(mid_epoch) if adapter_state else {}

    def load_state_dict(self, state):
        if state and hasattr(self.adapter, "load_state_dict"):
            self.adapter.load_state_dict(state)

    def __iter__(self):
        """One epoch of ``(step, batch)``; on CUDA, host batches are prefetched a step ahead."""
        steps = self._steps()
        if self.adapter.on_device:  # nothing to move or finalize
            return steps
        if self.device.type == "cuda":
            return _prefetch(steps, self._prepare, self.device)
        return ((step, self._prepare(batch)) for step, batch in steps)

    def _batches(self):
        """One pass of the adapter; under ``torchrun``, for a stream the user shards, it ends on
        every rank as soon as one rank's data runs out (one flag ``all_reduce`` per step)."""
        batches = self.adapter.batches()
        if self.adapter.aligned or not runtime.is_distributed():
            return batches
        return _together(batches, self.device)

    def _steps(self):
        """``(step, host or device batch)`` for one epoch, past the batches to skip."""
        skip, self._skip = self._skip, 0
        if self.steps_per_epoch is None:
            step = -1
            for step, batch in enumerate(self._batches()):
                self._total_steps += 1
                if step >= skip:
                    yield step, batch
            if step == -1:
                self._out_of_data()
            return
        for step in range(self.steps_per_epoch):
            batch = self._next_batch()
            if batch is None:
                return
            if step >= skip:
                yield step, batch

    def _next_batch(self):
        for attempt in range(2):
            if self._iterator is None:
                self._iterator = iter(self._batches())
            try:
                batch = next(self._iterator)
            except StopIteration:
                self._iterator = None
                if self.adapter.reiterable and attempt == 0 and self._total_steps:
                    continue
                break
            self._total_steps += 1
            return batch
        self._out_of_data()
        return None

    def _out_of_data(self):
        if not self._total_steps:
            raise ValueError(
                "The input produced no batch: the dataset, DataLoader or generator is empty "
                "(or was already consumed)."
            )
        self.ran_out_of_data = True
        warnings.warn(
            f"Your input ran out of data after {self._total_steps} steps; interrupting training. "
            "Make sure that your dataset or generator can generate at least "
            "`steps_per_epoch * epochs` batches.",
            stacklevel=3,
        )


def _together(batches, device):
    """``batches`` until any rank has none left (every rank then stops at the same step)."""
    for batch in batches:
        if reduce.agree(False, device):  # another rank ran out
            return
        yield batch
    reduce.agree(True, device)  # this rank ran out: the others stop with it


def _prefetch(steps, prepare, device):
    """Copies batch ``i + 1`` to the device on a side stream while batch ``i`` is computed."""
    stream = torch.cuda.Stream(device)
    current = torch.cuda.current_stream(device)

    def load(item):
        step, batch = item
        with torch.cuda.stream(stream):
            return step, prepare(batch)

    iter_steps = iter(steps)
    first = next(iter_steps, None)
    pending = load(first) if first is not None else None
    while pending is not None:
        current.wait_stream(stream)  # the copy of this batch is done before compute uses it
        step, batch = pending
        for tensor in nest.flatten(batch):
            if isinstance(tensor, torch.Tensor):
                tensor.record_stream(current)  # keep the side-stream memory until compute ends
        following = next(iter_steps, None)
        pending = load(following) if following is not None else None
        yield step, batch
