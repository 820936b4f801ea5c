"""Device placement: resident arrays, the pinned-host fallback, no host sync per step on CUDA."""

import numpy as np
import pytest
import torch

import torchfit
from helpers import blobs, compiled_model

X, Y = blobs()
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_arrays_that_do_not_fit_stay_on_the_host_and_give_the_same_batches():
    resident = torchfit.data.ArrayAdapter(X, Y, batch_size=10, shuffle=True)
    streamed = torchfit.data.ArrayAdapter(X, Y, batch_size=10, shuffle=True, resident=False)
    assert resident.on_device and not streamed.on_device
    streamed.load_state_dict(resident.state_dict(mid_pass=False))
    for (xa, ya), (xb, yb) in zip(resident.batches(), streamed.batches()):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_residency_threshold_is_a_fraction_of_free_memory(monkeypatch):
    from torchfit.data import adapters

    assert adapters.fits_on_device(10**12, torch.device("cpu"))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (1000, 4000))
    assert adapters.fits_on_device(250, torch.device("cuda"))
    assert not adapters.fits_on_device(251, torch.device("cuda"))


class _SyncGuard(torchfit.callbacks.Callback):
    """Makes any host-device sync an error during an epoch's steps, lifting it after the last
    step, where the once-per-epoch read of the results is expected."""

    lazy_batch_logs = True  # it never reads batch logs (reading them would sync)

    def on_epoch_begin(self, epoch, logs=None):
        torch.cuda.set_sync_debug_mode("error")

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.params["steps"] - 1:
            torch.cuda.set_sync_debug_mode(0)


@cuda
@pytest.mark.parametrize("verbose", [0, 1])
def test_fit_does_not_sync_per_step_on_cuda(verbose):
    model = torchfit.Model(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                               torch.nn.Linear(8, 3)), device="cuda")
    model.compile(optimizer="adam", loss=torchfit.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=["accuracy"])
    model.fit(X, Y, epochs=1, verbose=0)  # warm-up: the first batch builds the metrics
    try:
        model.fit(X, Y, batch_size=8, epochs=2, verbose=verbose, callbacks=[_SyncGuard()])
    finally:
        torch.cuda.set_sync_debug_mode(0)


@cuda
def test_host_resident_arrays_are_prefetched_on_cuda():
    adapter = torchfit.data.ArrayAdapter(X, Y, batch_size=16, shuffle=True, device="cuda",
                                         resident=False)
    assert adapter.data[0].is_pinned()
    iterator = torchfit.trainer.epoch_iterator.EpochIterator(adapter, device="cuda")
    batches = [batch for _, batch in iterator]
    assert len(batches) == 4 and all(b[0].is_cuda for b in batches)
    assert sorted(torch.cat([b[1] for b in batches]).tolist()) == sorted(Y.tolist())
    assert np.isfinite(compiled_model().predict(X, verbose=0)).all()
