"""Arrays on disk, ``np.memmap`` and ``h5py.Dataset``: read whole when small, else streamed.

**The choice is automatic.** ``x`` holding a disk-backed leaf (a ``np.memmap``, an ``h5py.Dataset``,
alone or in a list/tuple/dict, with in-memory arrays beside it) goes through ``build``:

- when its disk-backed leaves, loaded in the model's dtypes (uint8 images become float32: four
  times the bytes), would take at most ``LOAD_FRACTION`` (a quarter) of the host memory available
  now (``available_memory``: Linux's ``MemAvailable`` within the cgroup's limit, shared among the
  ``torchrun`` processes of the machine), they are read whole and take the in-memory arrays'
  path, ``ArrayAdapter``: moved to the accelerator once, no per-batch work;
- when they would take more, or the available memory is unknown, ``DiskArrayAdapter`` streams
  them: each batch is read from the file when it is needed, and nothing holds more than a few
  batches. In-memory leaves beside them are indexed per batch too.

A disk-backed ``y`` or ``sample_weight`` beside an in-memory ``x`` is loaded (targets are small).

**Memory.** Reading a memmap maps its file's pages into the process: they count in its resident
set size until unmapped. The adapter unmaps them (``madvise(MADV_DONTNEED)``; the OS keeps them
in its page cache, which it reclaims as needed) every ``RELEASE_BYTES`` read, so the RSS stays
within a few batches of where it started. A copy-on-write memmap (``mode="c"``) is not released:
its pages may hold your changes. h5py reads into fresh buffers, which are freed with the batch.

**Shuffling** (``fit(shuffle=...)``):

- ``True``: the rows are cut into blocks of contiguous rows of about ``SHUFFLE_BLOCK_BYTES``
  (64 MiB, a whole number of batches, at most ``MAX_BLOCK_ROWS``); each epoch visits the blocks
  in a random order and permutes the rows within each block, and each batch reads its rows in
  increasing order. Why blocks: h5py's fancy indexing only takes increasing indices, and reads
  that stay within one block are fast. A block's pages are read from disk about once (the OS
  keeps them cached while its batches are drawn), in large pieces, however its rows are drawn;
  a permutation of the whole file would read each row from a random place of it. The price: a
  batch mixes the rows of one block (64 MiB of data), not of the whole set, as a shuffle buffer
  does; set ``SHUFFLE_BLOCK_BYTES`` larger for more mixing, smaller for colder disks.
- ``"batch"``: each batch is a run of contiguous rows, read in one slice; the order of the full
  batches is shuffled each epoch (a short last batch stays last). This is tf.keras 2's mode for
  HDF5 data (which also shuffles the rows within a batch: that changes nothing for a mean loss).
  Best for chunked or compressed HDF5: a chunk is read and decompressed once per epoch.
  In-memory arrays take it too.
- ``False``: the rows in order, in contiguous slices.

The shuffling state (a generator of the adapter's own, seeded from torch's) is saved and restored
as ``ArrayAdapter``'s, so ``BackupAndRestore`` resumes exactly; resuming mid-epoch reads the
batches it passes over once more.

Distributed (``shard=(rank, world)``): as for in-memory arrays, ``batch_size`` is the global batch;
every rank draws the same order (rank 0's seed) and reads only its share of each batch.
"""

import math
import mmap
import os
import sys

import numpy as np
import torch

from torchfit import nest
from torchfit.data import utils
from torchfit.data.adapters import ArrayAdapter, ShuffleState, _StreamAdapter
from torchfit.distributed import reduce, sharding

__all__ = [
    "LOAD_FRACTION",
    "SHUFFLE_BLOCK_BYTES",
    "DiskArrayAdapter",
    "RowView",
    "available_memory",
    "build",
    "check_finite",
    "holds_disk_array",
    "is_disk_array",
    "read_rows",
    "should_stream",
    "split_for_validation",
]

LOAD_FRACTION = 0.25  # disk-backed data up to this fraction of the available memory is loaded
SHUFFLE_BLOCK_BYTES = 64 * 2**20  # the rows a shuffled batch is drawn from (see the docstring)
MAX_BLOCK_ROWS = 2**20  # a block's permutation is drawn whole: at most 8 MiB of int64
RELEASE_BYTES = 32 * 2**20  # memmap pages read between two releases
_FAULT_BYTES = 64 * 2**10  # what one scattered row read maps (Linux's fault-around: 16 pages)
_CHECK_BYTES = 16 * 2**20  # the slices check_finite reads at a time


def _h5py_dataset(value):
    # h5py is never imported by torchfit: a Dataset exists only once the user imported it.
    h5py = sys.modules.get("h5py")
    return h5py is not None and isinstance(value, h5py.Dataset)


def is_disk_array(value):
    """True for a ``np.memmap`` backed by its file, an ``h5py.Dataset`` or a ``RowView``.

    Example:
        >>> is_disk_array(np.zeros(3)), is_disk_array(torch.zeros(3))
        (False, False)
    """
    if isinstance(value, np.memmap):
        return getattr(value, "_mmap", None) is not None  # a copy of a memmap lives in memory
    return isinstance(value, RowView) or _h5py_dataset(value)


def holds_disk_array(value):
    """True when a leaf of the nest ``value`` is on disk (``is_disk_array``)."""
    return value is not None and any(is_disk_array(leaf) for leaf in nest.flatten(value))


class RowView:
    """Rows ``start:stop`` of an ``h5py.Dataset``, read only when indexed.

    ``validation_split`` cuts h5py datasets into views like these (a memmap's slices are views
    already), so that neither part is read before its batches are.

    Example:
        >>> import h5py, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "rows.h5")
        >>> with h5py.File(path, "w") as file:
        ...     _ = file.create_dataset("x", data=np.arange(10.0))
        >>> view = RowView(h5py.File(path)["x"], 2, 8)[1:4]
        >>> view.shape, view.read(np.array([0, 2]))
        ((3,), array([3., 5.]))
    """

    def __init__(self, dataset, start, stop):
        self.dataset, self.start, self.stop = dataset, start, stop
        self.shape = (stop - start,) + tuple(dataset.shape[1:])
        self.dtype = dataset.dtype

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, index):
        if isinstance(index, slice) and index.step in (None, 1):
            start, stop, _ = index.indices(len(self))
            return RowView(self.dataset, self.start + start, self.start + max(start, stop))
        return self.read(index)

    def read(self, index):
        """Rows ``index`` (a slice, or increasing indices) of the view, as a NumPy array."""
        if isinstance(index, slice):
            start, stop, _ = index.indices(len(self))
            return read_rows(self.dataset, slice(self.start + start, self.start + stop))
        return read_rows(self.dataset, np.asarray(index, dtype=np.int64) + self.start)

    def __array__(self, dtype=None, copy=None):
        array = self.read(slice(None))
        return array if dtype is None else array.astype(dtype)


def read_rows(leaf, index):
    """Rows ``index`` of ``leaf`` (a slice, or increasing int64 indices), copied into memory.

    Example:
        >>> read_rows(np.arange(6).reshape(3, 2), np.array([0, 2]))
        array([[0, 1],
               [4, 5]])
    """
    if isinstance(leaf, torch.Tensor):
        if isinstance(index, slice):
            return leaf[index]
        return leaf.index_select(0, torch.as_tensor(index, device=leaf.device))
    if isinstance(leaf, RowView):
        return leaf.read(index)
    if isinstance(leaf, np.ndarray):
        if isinstance(index, slice):
            return np.array(leaf[index])  # a memmap's slice is a view of the file: copied
        return np.take(leaf, index, axis=0).view(np.ndarray)
    if not isinstance(index, slice) and len(index) == 0:  # h5py refuses an empty selection
        return np.empty((0,) + tuple(leaf.shape[1:]), leaf.dtype)
    return leaf[index]  # an h5py.Dataset: fancy indexing takes increasing indices only


def _row_bytes(leaf):
    return leaf.dtype.itemsize * math.prod(leaf.shape[1:])


def _loaded_bytes(leaf, name, dtype):
    """The bytes ``leaf`` takes once loaded in the model's dtypes (``ArrayAdapter``'s)."""
    kind, size = leaf.dtype.kind, leaf.dtype.itemsize
    floating = torch.empty((), dtype=dtype).element_size()
    if kind == "f" or (kind == "u" and size == 1 and name == "x"):
        size = floating if name != "sample_weight" else max(floating, 4)
    elif kind in "iu" and name != "x":
        size = 8  # integer targets become int64
    return size * math.prod(leaf.shape)


def available_memory():
    """Bytes of host memory available now, or ``None`` when this system does not say.

    Linux's ``MemAvailable`` (what can be allocated without swapping), capped by the cgroup's
    memory limit (a container's); elsewhere the free pages ``sysconf`` reports.
    """
    available = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            return None
    try:
        with open("/sys/fs/cgroup/memory.max") as limit, \
                open("/sys/fs/cgroup/memory.current") as used:
            limit, used = limit.read().strip(), int(used.read())
        if limit != "max":
            available = min(available, max(0, int(limit) - used))
    except (OSError, ValueError):
        pass
    return available


def should_stream(data, dtype=torch.float32):
    """Whether ``(x, y, sample_weight)`` is streamed: its disk-backed leaves, loaded, would take
    more than ``LOAD_FRACTION`` of ``available_memory()`` (shared among the ``torchrun``
    processes of this machine), or the available memory is unknown.

    Example:
        >>> should_stream((np.zeros((4, 2)), None, None))  # nothing on disk: nothing to stream
        False
    """
    nbytes = sum(_loaded_bytes(leaf, name, dtype)
                 for name, part in zip(("x", "y", "sample_weight"), data) if part is not None
                 for leaf in nest.flatten(part) if is_disk_array(leaf))
    if not nbytes:
        return False
    available = available_memory()
    processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))  # set by torchrun
    return available is None or nbytes > LOAD_FRACTION * available / processes


def _load(leaf):
    """A disk-backed leaf in memory (a memmap as it is: ``to_tensor`` reads it)."""
    if isinstance(leaf, RowView):
        return leaf.read(slice(None))
    if _h5py_dataset(leaf):
        return leaf[()]
    return leaf


def build(x, y, sample_weight, batch_size=None, shuffle=False, class_weight=None, device="cpu",
          dtype=torch.float32, check_batch=None, shard=None):
    """``DiskArrayAdapter`` when ``should_stream``, else the in-memory ``ArrayAdapter`` over the
    data read whole. ``check_batch`` is not used: the model checks array batches itself.

    Under ``torchrun`` the ranks decide together (streamed when any rank would stream), so that
    all of them draw their shares from the same order.
    """
    stream = should_stream((x, y, sample_weight), dtype)
    if shard is not None and shard[1] > 1:
        stream = reduce.agree(stream, device)
    if stream:
        return DiskArrayAdapter(x, y, sample_weight, batch_size=batch_size, shuffle=shuffle,
                                class_weight=class_weight, device=device, dtype=dtype,
                                shard=shard)
    x, y, sample_weight = (None if part is None else nest.map_structure(_load, part)
                           for part in (x, y, sample_weight))
    return ArrayAdapter(x, y, sample_weight, batch_size=batch_size, shuffle=shuffle,
                        class_weight=class_weight, device=device, dtype=dtype, shard=shard)


def _checked_leaf(value, name):
    """A leaf as it will be read: pandas as NumPy; a scalar or non-numeric leaf is refused."""
    if type(value).__module__.split(".")[0] == "pandas":
        value = value.to_numpy()
    if not len(getattr(value, "shape", ())):
        raise ValueError(
            f"`{name}` must have a leading sample axis, but received a scalar "
            f"{type(value).__name__} of shape {getattr(value, 'shape', ())}."
        )
    utils.to_tensor(read_rows(value, slice(0, 1)), name, dtype=None)  # numbers only
    return value


class DiskArrayAdapter(ShuffleState, _StreamAdapter):
    """Streams arrays on disk (see the module docstring), each batch read when it is needed.

    Args:
        x, y, sample_weight: nests of ``np.memmap`` / ``h5py.Dataset`` leaves, with in-memory
            arrays or tensors beside them, with a common first dimension.
        batch_size: rows per batch (the last may be smaller); default 32.
        shuffle: ``False``, ``True`` (blocks in a random order, rows permuted within each) or
            ``"batch"`` (contiguous batches in a random order).
        class_weight: a class-weight table, applied per batch on the device.
        device: the model's device (on CUDA, batches are pinned for an asynchronous copy).
        dtype: the model's floating dtype, which floating leaves take per batch, on the device.
        shard: ``(rank, world)`` under ``torchrun`` (see the module docstring).
        block_size: rows per shuffling block; default: ``SHUFFLE_BLOCK_BYTES`` of rows.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "x.dat")
        >>> x = np.memmap(path, dtype="float32", mode="w+", shape=(5, 2))
        >>> x[:] = np.arange(10).reshape(5, 2)
        >>> adapter = DiskArrayAdapter(x, np.arange(5), batch_size=2)
        >>> [batch[1].tolist() for batch in adapter.batches()]
        [[0, 1], [2, 3], [4]]
    """

    source = "The disk arrays"
    aligned = True

    def __init__(self, x, y=None, sample_weight=None, batch_size=None, shuffle=False,
                 class_weight=None, device="cpu", dtype=torch.float32, shard=None,
                 block_size=None):
        super().__init__(class_weight, dtype)
        if class_weight is not None and y is None:
            raise ValueError("`class_weight` needs targets `y` to look the classes up in.")
        parts = tuple(None if part is None else nest.map_structure(
            lambda value, name=name: _checked_leaf(value, name), part)
            for name, part in zip(("x", "y", "sample_weight"), (x, y, sample_weight)))
        self.num_samples = utils.num_samples(parts)
        if self.num_samples == 0:
            raise ValueError("Received empty input arrays: `x` holds 0 samples.")
        self._data = utils.pack_x_y_sample_weight(*parts)
        leaves = nest.flatten(self._data)
        self._device = torch.device(device)
        self._pin = self._device.type == "cuda"
        self.batch_size = batch_size or 32
        self.shuffle = shuffle
        self.num_batches = math.ceil(self.num_samples / self.batch_size)
        row_bytes = sum(_row_bytes(leaf) for leaf in leaves if is_disk_array(leaf)) or 1
        self.block_size = block_size or self.batch_size * max(1, min(
            SHUFFLE_BLOCK_BYTES // row_bytes, MAX_BLOCK_ROWS) // self.batch_size)
        mapped = [leaf for leaf in leaves if isinstance(leaf, np.memmap)
                  and is_disk_array(leaf) and leaf.mode != "c"]
        self._mmaps = list({id(leaf._mmap): leaf._mmap for leaf in mapped}.values())
        self._mapped_row_bytes = sum(_row_bytes(leaf) for leaf in mapped)
        self._unreleased = 0
        self._shard = shard if shard is not None and shard[1] > 1 else None
        if self._shard is not None:
            sharding.check_shardable(self.batch_size, self.num_samples, shard)
        self._generator = None  # as ArrayAdapter's: saved and restored by BackupAndRestore
        if shuffle:
            self._generator = torch.Generator()
            seed = int(torch.empty((), dtype=torch.int64).random_())
            self._generator.manual_seed(sharding.shared_seed(seed) if self._shard else seed)
        self._pass_start_state = None

    @property
    def data(self):
        """All the rows as one batch on the device, finalized (``train_on_batch``'s batch)."""
        batch = self._read(slice(0, self.num_samples))
        return self.finalize(nest.map_structure(lambda t: t.to(self._device), batch))

    def _pass_order(self):
        """The global batches of one pass, as slices or increasing row indices.

        Every random draw of the pass happens here, at its start (block order and one seed per
        block), so the generator's state after it is the next pass's, as ``ArrayAdapter``'s.
        """
        n, size = self.num_samples, self.batch_size
        if not self.shuffle:
            return [slice(start, min(start + size, n)) for start in range(0, n, size)]
        self._pass_start_state = self._generator.get_state()
        if isinstance(self.shuffle, str):  # "batch": as ArrayAdapter, the short batch last
            order = torch.randperm(n // size, generator=self._generator).tolist()
            return [slice(b * size, b * size + size) for b in order] + (
                [slice(n - n % size, n)] if n % size else [])
        blocks = math.ceil(n / self.block_size)
        order = torch.randperm(blocks, generator=self._generator).tolist()
        seeds = torch.randint(2**62, (blocks,), generator=self._generator).tolist()
        return _shuffled_blocks(order, seeds, self.block_size, size, n)

    def batches(self):
        position = 0
        for index in self._pass_order():
            count = _length(index)
            if self._shard is None:
                yield self._read(index)
            else:
                rank, world = self._shard
                lo, hi = sharding.share_bounds(count, rank, world)
                share = (slice(index.start + lo, index.start + hi)
                         if isinstance(index, slice) else index[lo:hi])
                yield sharding.ShardBatch(self._read(share), (hi - lo) * world / count,
                                          range(position + lo, position + hi))
            position += count
        self._release()

    def _read(self, index):
        """One batch ``(x[, y[, sample_weight]])`` of host tensors, read from the files."""
        batch = tuple(nest.map_structure(self._tensor, nest.map_structure(
            lambda leaf: read_rows(leaf, index), part)) for part in self._data)
        if len(batch) == 3:  # sample weights as ArrayAdapter makes them: floats
            weights = utils.weight_dtype(self.dtype)
            batch = batch[:2] + (nest.map_structure(
                lambda t: t if t.is_floating_point() else t.to(weights), batch[2]),)
        if self._mmaps:
            rows = _length(index)
            scattered = not isinstance(index, slice)
            self._unreleased += rows * (max(self._mapped_row_bytes, _FAULT_BYTES) if scattered
                                        else self._mapped_row_bytes)
            if self._unreleased >= RELEASE_BYTES:
                self._release()
        return batch

    def _tensor(self, array):
        if isinstance(array, np.ndarray):
            if array.dtype.byteorder not in "=|":
                array = array.astype(array.dtype.newbyteorder("="))
            array = torch.from_numpy(array)
        return array.pin_memory() if self._pin and array.device.type == "cpu" else array

    def _release(self):
        self._unreleased = 0
        _release(self._mmaps)


def _length(index):
    return index.stop - index.start if isinstance(index, slice) else len(index)


def _shuffled_blocks(order, seeds, block, size, n):
    """The batches of blocks visited in ``order``, each block's rows permuted by its seed and
    cut into batches, each batch's rows sorted (drawn lazily: one block's permutation at a time).
    """
    for b in order:
        lo, hi = b * block, min(b * block + block, n)
        generator = torch.Generator().manual_seed(seeds[b])
        rows = (torch.randperm(hi - lo, generator=generator) + lo).numpy()
        for start in range(0, hi - lo, size):
            yield np.sort(rows[start:start + size])


def _release(mmaps):
    """Unmaps the pages read from each memmap's file (the page cache keeps them)."""
    advice = getattr(mmap, "MADV_DONTNEED", None)
    for mapped in mmaps:
        try:
            mapped.madvise(advice)
        except (AttributeError, TypeError, OSError, ValueError):
            pass  # no madvise here, or a closed map: the OS reclaims the pages when it must


def split_for_validation(x, y, sample_weight, validation_split):
    """``validation_split`` of data with disk-backed leaves, as index views: no row is read.

    A memmap's slices are memmap views, an h5py dataset's are ``RowView``s; in-memory leaves
    become tensors and are sliced as ``utils.train_validation_split`` slices them.
    """
    def sliceable(value, name):
        if isinstance(value, (np.memmap, RowView)) and is_disk_array(value):
            return value
        if _h5py_dataset(value):
            return RowView(value, 0, len(value))
        return utils.to_tensor(value, name, name == "y", dtype=None)

    arrays = tuple(None if part is None else nest.map_structure(
        lambda value, name=name: sliceable(value, name), part)
        for name, part in zip(("x", "y", "sample_weight"), (x, y, sample_weight)))
    return utils.train_validation_split(arrays, validation_split)


def check_finite(value, argument, method="fit"):
    """``utils.check_finite``, reading disk-backed leaves a slice at a time (``_CHECK_BYTES``).

    One extra pass over the files before training; ``fit(check_finite=False)`` skips it.
    """
    utils.check_finite(value, argument, method, count=_nonfinite_count)


def _nonfinite_count(leaf):
    """NaN/inf entries of a disk-backed leaf, slice by slice; ``None`` for other leaves."""
    if not is_disk_array(leaf):
        return None
    if leaf.dtype.kind not in "fc":
        return 0
    rows = max(1, _CHECK_BYTES // max(1, _row_bytes(leaf)))
    mmaps = [leaf._mmap] if isinstance(leaf, np.memmap) and leaf.mode != "c" else []
    bad = 0
    for start in range(0, len(leaf), rows):
        chunk = read_rows(leaf, slice(start, min(start + rows, len(leaf))))
        bad += int(np.count_nonzero(~np.isfinite(chunk)))
        _release(mmaps)
    return bad
