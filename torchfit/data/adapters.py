"""Adapters turn one kind of user data into batches of ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``.

Every adapter offers the same small surface, which is all the epoch iterator relies on:

- ``num_batches``: batches in one pass over the data, or ``None`` when unknown;
- ``on_device``: whether the batches it yields already live on the model's device;
- ``reiterable``: whether a new pass can start after the previous one ran out;
- ``batches()``: a fresh iterator over one pass.
"""

import math

import torch

from torchfit import nest
from torchfit.data import utils

__all__ = ["ArrayAdapter"]


class ArrayAdapter:
    """In-memory arrays (NumPy, torch, pandas, nests of those), moved to the device once.

    Batches are taken by index from the device-resident tensors: a slice (a view, no copy) when
    not shuffling, an ``index_select`` of a per-epoch ``randperm`` when shuffling. There is no
    per-sample work and no ``DataLoader``; this is the same work a hand-written loop does.

    Args:
        x, y, sample_weight: nests of array-likes with a common first dimension.
        batch_size: samples per batch (the last batch may be smaller).
        shuffle: reshuffle the samples at the start of every pass.
        class_weight: optional ``{class_index: weight}``, multiplied into the sample weights.
        device: where the tensors live.
    """

    on_device = True
    reiterable = True

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=False,
                 class_weight=None, device="cpu"):
        device = torch.device(device)
        x = nest.map_structure(lambda v: utils.to_tensor(v, "x"), x)
        if y is not None:
            y = nest.map_structure(lambda v: utils.to_tensor(v, "y", is_target=True), y)
        if sample_weight is not None:
            sample_weight = nest.map_structure(
                lambda v: utils.to_tensor(v, "sample_weight").float(), sample_weight
            )
        self.num_samples = utils.num_samples((x, y, sample_weight))
        if self.num_samples == 0:
            raise ValueError("Received empty input arrays: `x` holds 0 samples.")
        if class_weight is not None:
            if y is None:
                raise ValueError("`class_weight` needs targets `y` to look the classes up in.")
            weights = utils.class_weight_to_sample_weight(utils.check_class_weight(class_weight), y)
            sample_weight = weights if sample_weight is None else sample_weight * weights
        data = utils.pack_x_y_sample_weight(x, y, sample_weight)
        self._data = nest.map_structure(lambda t: t.to(device), data)
        self._leaves_only = not any(nest.is_nested(part) for part in self._data)
        self._device = device
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.num_batches = math.ceil(self.num_samples / batch_size)

    @property
    def data(self):
        """The whole ``(x, y, sample_weight)`` tuple as device tensors."""
        return self._data

    def _take(self, index):
        if self._leaves_only:
            return tuple(index(t) for t in self._data)
        return nest.map_structure(index, self._data)

    def batches(self):
        size = self.batch_size
        if self.shuffle:
            perm = torch.randperm(self.num_samples, device=self._device)
            for start in range(0, self.num_samples, size):
                ids = perm[start:start + size]
                yield self._take(lambda t: t.index_select(0, ids))
        else:
            for start in range(0, self.num_samples, size):
                yield self._take(lambda t: t[start:start + size])
