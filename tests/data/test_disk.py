"""Arrays on disk (np.memmap, h5py.Dataset): streamed batches equal the in-memory ones, shuffling,
the automatic choice, validation views, finiteness, resuming, sharding and the RSS bound."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from torchfit import data, nest
from torchfit.data import disk
from helpers import blobs, compiled_model

X, Y = blobs()  # 64 samples, 4 features, 3 classes
W = np.linspace(0.5, 2.0, 64).astype(np.float32)


def memmap(folder, name, array, mode="r"):
    """``array`` written to ``folder/name`` and opened again as a memmap (read-only by default)."""
    path = os.path.join(folder, name)
    written = np.memmap(path, dtype=array.dtype, mode="w+", shape=array.shape)
    written[:] = array
    written.flush()
    return np.memmap(path, dtype=array.dtype, mode=mode, shape=array.shape)


@pytest.fixture
def on_disk(tmp_path):
    return memmap(tmp_path, "x.dat", X), memmap(tmp_path, "y.dat", Y), memmap(tmp_path, "w.dat", W)


@pytest.fixture
def h5(tmp_path):
    with h5py.File(tmp_path / "data.h5", "w") as file:
        file["x"], file["y"], file["w"] = X, Y.astype(np.int32), W
        file["a"], file["b"] = X[:, :2], X[:, 2:]
    file = h5py.File(tmp_path / "data.h5", "r")
    yield file
    file.close()


@pytest.fixture
def streamed(monkeypatch):
    """No memory to spare: every disk-backed array is streamed."""
    monkeypatch.setattr(disk, "available_memory", lambda: 0)


def finalized(adapter):
    return [adapter.finalize(batch) for batch in adapter.batches()]


def assert_same_batches(got, expected):
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected):
        mine, theirs = nest.flatten(tuple(mine)), nest.flatten(tuple(theirs))
        assert len(mine) == len(theirs)
        for a, b in zip(mine, theirs):
            assert a.dtype == b.dtype
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def weights(model):
    return [p.detach().clone() for p in model.module.parameters()]


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(2, 3), nn.Linear(2, 3)

    def forward(self, a, b):
        return self.a(a) + self.b(b)


def two_input_model():
    torch.manual_seed(0)
    model = torchfit.Model(TwoInputs(), device="cpu")
    model.compile(optimizer="sgd", loss=torchfit.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=["accuracy"])
    return model


# ------------------------------------------------------------------ batches
def test_unshuffled_batches_equal_the_in_memory_adapters(tmp_path, on_disk, h5):
    x, y, w = on_disk
    images = (np.arange(64 * 3) % 256).astype(np.uint8).reshape(64, 3)
    cases = [
        ((x, y, w), (X, Y, W)),
        ((h5["x"], h5["y"], h5["w"]), (X, Y.astype(np.int32), W)),
        (({"a": h5["a"], "b": x}, torch.from_numpy(Y), None), ({"a": X[:, :2], "b": X}, Y, None)),
        ((memmap(tmp_path, "u8.dat", images), y, None), (images, Y, None)),
    ]
    for (dx, dy, dw), (mx, my, mw) in cases:
        got = finalized(data.DiskArrayAdapter(dx, dy, dw, batch_size=24))
        expected = finalized(data.ArrayAdapter(mx, my, mw, batch_size=24))
        assert [len(nest.flatten(b[0])[0]) for b in got] == [24, 24, 16]
        assert_same_batches(got, expected)


def test_a_shuffled_pass_reads_every_sample_once_in_sorted_batches_within_blocks(on_disk):
    x, y, _ = on_disk
    torch.manual_seed(0)
    adapter = data.DiskArrayAdapter(x, y, batch_size=8, shuffle=True, block_size=16)
    rows = {tuple(row): i for i, row in enumerate(X)}
    passes = []
    for _ in range(2):
        batches = finalized(adapter)
        ids = [[rows[tuple(row)] for row in batch[0].numpy()] for batch in batches]
        for batch, indices in zip(batches, ids):
            assert indices == sorted(indices)  # read in increasing order (h5py's rule)
            assert len({i // 16 for i in indices}) == 1  # within one block of 16 rows
            np.testing.assert_array_equal(batch[1].numpy(), Y[indices])  # rows stay paired
        assert sorted(i for batch in ids for i in batch) == list(range(64))
        passes.append(ids)
    assert passes[0] != passes[1] and passes[0] != [list(range(i, i + 8)) for i in range(0, 64, 8)]


def test_the_block_is_about_64_mib_of_rows_in_whole_batches(tmp_path):
    wide = memmap(tmp_path, "wide.dat", np.zeros((3, 2**18), np.float32))  # 1 MiB rows
    assert data.DiskArrayAdapter(wide, batch_size=16).block_size == 64
    assert data.DiskArrayAdapter(wide, batch_size=100).block_size == 100  # at least a batch
    narrow = memmap(tmp_path, "narrow.dat", np.zeros((3, 1), np.float32))
    assert data.DiskArrayAdapter(narrow, batch_size=32).block_size == disk.MAX_BLOCK_ROWS


@pytest.mark.parametrize("on", ["disk", "memory"])
def test_shuffle_batch_shuffles_the_order_of_contiguous_batches(on_disk, on):
    x, y, _ = on_disk
    torch.manual_seed(0)
    adapter = (data.DiskArrayAdapter(x, y, batch_size=10, shuffle="batch") if on == "disk"
               else data.ArrayAdapter(X, Y, batch_size=10, shuffle="batch"))
    rows = {tuple(row): i for i, row in enumerate(X)}
    starts = []
    for batch in finalized(adapter):
        ids = [rows[tuple(row)] for row in batch[0].numpy()]
        assert ids == list(range(ids[0], ids[0] + len(ids))) and ids[0] % 10 == 0
        np.testing.assert_array_equal(batch[1].numpy(), Y[ids])
        starts.append(ids[0])
    assert sorted(starts[:-1]) == list(range(0, 60, 10)) and starts != sorted(starts)
    assert starts[-1] == 60  # the short batch stays last


def test_fit_takes_shuffle_batch_and_refuses_other_strings(on_disk, streamed):
    x, y, _ = on_disk
    history = compiled_model().fit(x, y, batch_size=8, epochs=2, shuffle="batch", verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]
    with pytest.raises(TypeError, match=r"`shuffle` must be True, False or 'batch'\. "
                                        r"Received: shuffle='yes'"):
        compiled_model().fit(X, Y, shuffle="yes", verbose=0)


# ------------------------------------------------------------------ fit / evaluate / predict
def test_fit_on_a_memmap_trains_to_the_weights_of_the_in_memory_arrays(on_disk, streamed):
    x, y, w = on_disk
    assert isinstance(data.get_adapter(x, y), data.DiskArrayAdapter)
    on_file, in_memory = compiled_model(), compiled_model()
    kwargs = dict(batch_size=16, epochs=3, shuffle=False, verbose=0)
    history = on_file.fit(x, y, sample_weight=w, validation_data=(x, y), **kwargs)
    reference = in_memory.fit(X, Y, sample_weight=W, validation_data=(X, Y), **kwargs)
    assert history.history == reference.history
    assert_same_batches([weights(on_file)], [weights(in_memory)])


def test_a_shuffled_fit_on_a_memmap_learns(on_disk, streamed):
    x, y, _ = on_disk
    adam = lambda: torchfit.optimizers.Adam(learning_rate=0.05)  # noqa: E731
    history = compiled_model(optimizer=adam()).fit(x, y, batch_size=8, epochs=5, verbose=0)
    reference = compiled_model(optimizer=adam()).fit(X, Y, batch_size=8, epochs=5, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]
    assert history.history["accuracy"][-1] == reference.history["accuracy"][-1] == 1.0


def test_evaluate_and_predict_on_a_memmap_equal_the_in_memory_arrays(on_disk, streamed):
    x, y, w = on_disk
    model = compiled_model(weighted_metrics=[])
    assert model.evaluate(x, y, batch_size=24, verbose=0) == \
        model.evaluate(X, Y, batch_size=24, verbose=0)
    assert model.evaluate(x, y, sample_weight=w, batch_size=24, verbose=0) == \
        model.evaluate(X, Y, sample_weight=W, batch_size=24, verbose=0)
    np.testing.assert_array_equal(model.predict(x, batch_size=24, verbose=0),
                                  model.predict(X, batch_size=24, verbose=0))


def test_h5py_datasets_in_dicts_fit_evaluate_and_predict_as_in_memory(h5, streamed):
    x, y = {"a": h5["a"], "b": h5["b"]}, h5["y"]
    assert isinstance(data.get_adapter(x, y), data.DiskArrayAdapter)
    memory_x = {"a": X[:, :2], "b": X[:, 2:]}
    on_file, in_memory = two_input_model(), two_input_model()
    kwargs = dict(batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert on_file.fit(x, y, **kwargs).history == in_memory.fit(memory_x, Y, **kwargs).history
    assert_same_batches([weights(on_file)], [weights(in_memory)])
    assert on_file.evaluate(x, y, verbose=0) == in_memory.evaluate(memory_x, Y, verbose=0)
    np.testing.assert_array_equal(on_file.predict(x, verbose=0),
                                  in_memory.predict(memory_x, verbose=0))
    shuffled = two_input_model().fit(x, y, batch_size=8, epochs=4, verbose=0)
    assert shuffled.history["loss"][-1] < shuffled.history["loss"][0]


def test_class_weight_on_streamed_data_equals_the_in_memory_arrays(on_disk, h5, streamed):
    x, y, _ = on_disk
    kwargs = dict(batch_size=16, epochs=2, shuffle=False, verbose=0, class_weight={0: 1, 2: 3})
    reference = compiled_model().fit(X, Y, **kwargs).history
    assert compiled_model().fit(x, y, **kwargs).history == reference
    assert compiled_model().fit(h5["x"], h5["y"], **kwargs).history == reference
    with pytest.raises(ValueError, match=r"`class_weight` needs targets `y`"):
        data.get_adapter(x, class_weight={0: 1.0})


def test_on_batch_methods_take_a_streamed_batch(on_disk, streamed):
    x, y, _ = on_disk
    on_file, in_memory = compiled_model(), compiled_model()
    assert on_file.train_on_batch(x, y, class_weight={1: 2.0}) == \
        in_memory.train_on_batch(X, Y, class_weight={1: 2.0})
    assert on_file.test_on_batch(x, y) == in_memory.test_on_batch(X, Y)
    np.testing.assert_array_equal(on_file.predict_on_batch(x), in_memory.predict_on_batch(X))


# ------------------------------------------------------------------ the automatic choice
def test_disk_arrays_are_loaded_when_they_take_at_most_a_quarter_of_the_free_memory(
        tmp_path, monkeypatch, on_disk, h5):
    x, y, _ = on_disk
    loaded = X.nbytes + Y.size * 8  # float32 x, int64 targets
    for available, kind in ((4 * loaded, data.ArrayAdapter),
                            (4 * loaded - 4, data.DiskArrayAdapter), (None, data.DiskArrayAdapter)):
        monkeypatch.setattr(disk, "available_memory", lambda available=available: available)
        assert type(data.get_adapter(x, y)) is kind
    monkeypatch.setattr(disk, "available_memory", lambda: 4 * loaded)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # two torchrun processes share the memory
    assert type(data.get_adapter(x, y)) is data.DiskArrayAdapter
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    images = memmap(tmp_path, "u8.dat", np.zeros((64, 4), np.uint8))  # 256 B, 1 KiB as float32
    monkeypatch.setattr(disk, "available_memory", lambda: 4 * 1024 - 4)
    assert type(data.get_adapter(images)) is data.DiskArrayAdapter
    monkeypatch.setattr(disk, "available_memory", lambda: 4 * 1024)
    assert type(data.get_adapter(images)) is data.ArrayAdapter
    monkeypatch.setattr(disk, "available_memory", lambda: 10**12)
    adapter = data.get_adapter(h5["x"], h5["y"], batch_size=64)  # loaded: read whole
    assert type(adapter) is data.ArrayAdapter
    np.testing.assert_array_equal(adapter.data[0].numpy(), X)
    assert type(data.get_adapter(np.array(x), Y)) is data.ArrayAdapter  # in memory: no choice


def test_available_memory_reads_the_system(monkeypatch):
    available = disk.available_memory()
    assert available is None or 0 < available <= os.sysconf("SC_PAGE_SIZE") * \
        os.sysconf("SC_PHYS_PAGES")


def test_disk_arrays_are_array_like_and_named_in_the_unsupported_type_error(on_disk, h5):
    x, _, _ = on_disk
    assert data.is_array_like({"a": h5["a"], "b": [x, X]}) and data.is_data(h5["x"])
    assert not disk.is_disk_array(np.array(x)) and not disk.is_disk_array(x.copy())
    with pytest.raises(TypeError, match=r"np\.memmap or h5py\.Dataset"):
        data.get_adapter(object())


def test_non_numeric_and_scalar_datasets_are_refused(h5, tmp_path, streamed):
    with h5py.File(tmp_path / "bad.h5", "w") as file:
        file["names"] = np.array([b"a", b"b"])
        file["scalar"] = 3.0
    with h5py.File(tmp_path / "bad.h5", "r") as file:
        with pytest.raises(TypeError, match=r"`x` must hold numbers"):
            data.get_adapter(file["names"])
        with pytest.raises(ValueError, match=r"`x` must have a leading sample axis"):
            data.get_adapter(file["scalar"])


# ------------------------------------------------------------------ validation_split
def test_validation_split_makes_views_of_disk_arrays_and_fits_as_in_memory(on_disk, h5, streamed):
    x, y, _ = on_disk
    (train_x, train_y, _), (val_x, val_y, _) = data.split_for_validation(x, y, None, 0.25)
    assert isinstance(train_x, np.memmap) and np.shares_memory(train_x, x)
    assert np.shares_memory(val_x, x) and (len(train_x), len(val_x)) == (48, 16)
    (train_h, _, _), (val_h, _, _) = data.split_for_validation(h5["x"], Y, None, 0.25)
    assert isinstance(val_h, disk.RowView) and val_h.shape == (16, 4)
    np.testing.assert_array_equal(np.asarray(val_h), X[48:])
    np.testing.assert_array_equal(val_h.read(np.array([0, 3])), X[[48, 51]])
    kwargs = dict(batch_size=16, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
    reference = compiled_model().fit(X, Y, **kwargs).history
    assert compiled_model().fit(x, y, **kwargs).history == reference
    assert compiled_model().fit(h5["x"], h5["y"], **kwargs).history == reference


# ------------------------------------------------------------------ check_finite
def test_nan_in_a_disk_array_is_found_slice_by_slice(tmp_path, monkeypatch):
    bad = X.copy()
    bad[[3, 40, 63], [0, 1, 2]] = [np.nan, np.inf, np.nan]
    monkeypatch.setattr(disk, "_CHECK_BYTES", 40)  # 2 rows a slice: 32 slices
    message = r"`x` holds 3 NaN or infinite value\(s\) \(in 256 entries\)"
    with h5py.File(tmp_path / "bad.h5", "w") as file:
        for x in (memmap(tmp_path, "bad.dat", bad), file.create_dataset("x", data=bad)):
            with pytest.raises(ValueError, match=message):
                compiled_model().fit(x, Y, verbose=0)
    compiled_model().fit(memmap(tmp_path, "ok.dat", X), Y, verbose=0)  # finite: no complaint
    with pytest.raises(ValueError, match=r"`sample_weight` holds 1 NaN"):
        compiled_model().fit(X, Y, sample_weight=memmap(tmp_path, "w.dat", W * np.array(
            [np.inf] + [1] * 63, np.float32)), verbose=0)


# ------------------------------------------------------------------ resuming, sharding
def test_the_shuffling_state_resumes_a_pass_exactly(on_disk):
    x, y, _ = on_disk
    torch.manual_seed(0)
    adapter = data.DiskArrayAdapter(x, y, batch_size=8, shuffle=True, block_size=16)
    batches = adapter.batches()
    first = [next(batches) for _ in range(3)]
    mid_pass = adapter.state_dict(mid_pass=True)
    first += list(batches)
    after = adapter.state_dict(mid_pass=False)
    second = list(adapter.batches())
    for state, expected in ((mid_pass, first), (after, second)):
        torch.manual_seed(1)
        resumed = data.DiskArrayAdapter(x, y, batch_size=8, shuffle=True, block_size=16)
        resumed.load_state_dict(state)
        assert_same_batches(list(resumed.batches()), expected)


class Interrupt(torchfit.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == (1, 3):
            raise RuntimeError("interrupted")


def test_backup_and_restore_resumes_a_shuffled_streamed_fit_exactly(tmp_path, on_disk, streamed):
    x, y, _ = on_disk
    kwargs = dict(batch_size=8, epochs=3, verbose=0)
    with pytest.raises(RuntimeError, match="interrupted"):
        compiled_model().fit(x, y, **kwargs, callbacks=[
            Interrupt(), torchfit.callbacks.BackupAndRestore(tmp_path / "b", save_freq=2)])
    resumed = compiled_model()
    resumed.fit(x, y, **kwargs, callbacks=[torchfit.callbacks.BackupAndRestore(tmp_path / "b")])
    reference = compiled_model()  # seeds torch as the interrupted run did: the same order
    reference.fit(x, y, **kwargs)
    assert_same_batches([weights(resumed)], [weights(reference)])


@pytest.mark.parametrize("shuffle", [False, True, "batch"])
def test_each_rank_reads_its_share_of_the_same_global_batches(on_disk, shuffle):
    x, y, _ = on_disk

    def adapter(shard):
        torch.manual_seed(0)
        return data.DiskArrayAdapter(x, y, batch_size=10, shuffle=shuffle, block_size=20,
                                     shard=shard)

    whole = list(adapter(None).batches())
    ranks = [list(adapter((rank, 2)).batches()) for rank in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(whole) == 7
    position = 0
    for batch, share0, share1 in zip(whole, *ranks):
        count = len(batch[0])
        for part in range(2):
            torch.testing.assert_close(torch.cat([share0[part], share1[part]]), batch[part])
        assert share0.scale == len(share0[0]) * 2 / count
        assert list(share0.positions) + list(share1.positions) == \
            list(range(position, position + count))
        position += count


# ------------------------------------------------------------------ memory
def test_read_pages_are_released_but_never_a_copy_on_write_memmaps(tmp_path, monkeypatch):
    monkeypatch.setattr(disk, "RELEASE_BYTES", 1)  # release after every batch
    released = []
    monkeypatch.setattr(disk, "_release", lambda mmaps: released.append(len(mmaps)))
    shared = memmap(tmp_path, "x.dat", X)
    list(data.DiskArrayAdapter({"a": shared, "b": shared[:, :2]}, batch_size=16).batches())
    assert released == [1] * 5  # the one mapping of both views: after each batch, at the end
    monkeypatch.undo()
    monkeypatch.setattr(disk, "RELEASE_BYTES", 1)
    changed = memmap(tmp_path, "x.dat", X, mode="c")
    changed[0] = 100.0  # in this process's private pages only: a release would drop it
    for _ in range(2):
        batches = list(data.DiskArrayAdapter(changed, batch_size=16).batches())
        assert batches[0][0][0].tolist() == [100.0] * 4
    assert np.memmap(tmp_path / "x.dat", np.float32, "r", shape=X.shape)[0, 0] == X[0, 0]


@pytest.mark.slow  # ~30 s: two fresh processes, each reading the 400 MB file four times
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="Linux's /proc only")
def test_fit_on_a_400_mb_memmap_grows_the_peak_rss_by_less_than_150_mb(tmp_path):
    rows, columns = 100_000, 1000  # 400 MB of float32
    path = tmp_path / "big.dat"
    with open(path, "wb") as file:
        for start in range(0, rows, 10_000):  # 40 MB at a time: this process stays small
            file.write(np.full((10_000, columns), 0.01 * (start // 10_000), np.float32))
    script = os.path.join(os.path.dirname(__file__), "rss_script.py")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    results = {}
    # 1 GB available: 400 MB is more than a quarter, so it is streamed; with 1 TB it is loaded.
    for available in (10**9, 10**12):
        proc = subprocess.run([sys.executable, script, str(path), str(rows), str(columns),
                               str(available)], capture_output=True, text=True, timeout=300,
                              env=env)
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        results[result["adapter"]] = result["growth"]
    assert results["DiskArrayAdapter"] < 150 * 2**20, results
    assert results["ArrayAdapter"] > 350 * 2**20, results  # the measure sees a load whole
