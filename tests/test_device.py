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
    """Makes any host-device sync an error during a fit's steps, lifting it after each epoch's
    last step, where the once-per-epoch read of the results is expected. The fit's first step
    is left alone: it range-checks the sparse labels, one sync per fit (``loss_checks.py``)."""

    lazy_batch_logs = True  # it never reads batch logs (reading them would sync)

    def on_train_begin(self, logs=None):
        self.steps_seen = self.guarded_steps = 0

    def on_train_batch_begin(self, batch, logs=None):
        if self.steps_seen:
            torch.cuda.set_sync_debug_mode("error")
            self.guarded_steps += 1

    def on_train_batch_end(self, batch, logs=None):
        self.steps_seen += 1
        if batch == self.params["steps"] - 1:
            torch.cuda.set_sync_debug_mode(0)


def _fit_under_sync_guard(model, x, y, verbose=0):
    model.fit(x, y, epochs=1, verbose=0)  # warm-up: the first batch builds the metrics
    guard = _SyncGuard()
    try:
        model.fit(x, y, batch_size=8, epochs=2, verbose=verbose, callbacks=[guard])
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert guard.guarded_steps == 2 * 8 - 1


def _cuda_model(precision="32"):
    model = torchfit.Model(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                               torch.nn.Linear(8, 3)), device="cuda")
    model.compile(optimizer="adam", loss=torchfit.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=["accuracy"], precision=precision)
    return model


@cuda
@pytest.mark.parametrize("verbose", [0, 1])
def test_fit_does_not_sync_per_step_on_cuda(verbose):
    _fit_under_sync_guard(_cuda_model(), X, Y, verbose)


@cuda
def test_bf16_mixed_fit_does_not_sync_per_step_on_cuda():
    model = _cuda_model("bf16-mixed")
    _fit_under_sync_guard(model, X, Y)
    assert model.module[0].weight.dtype == torch.float32  # autocast: the weights stay float32


@cuda
def test_fit_on_host_resident_arrays_does_not_sync_per_step_on_cuda(monkeypatch):
    from torchfit.data import adapters

    monkeypatch.setattr(adapters, "fits_on_device", lambda nbytes, device: False)
    model = _cuda_model()
    _fit_under_sync_guard(model, X, Y)  # pinned host batches, prefetched on a side stream
    expected = model.module(torch.from_numpy(X).cuda()).detach().cpu()
    torch.testing.assert_close(torch.from_numpy(model.predict(X, verbose=0)), expected,
                               rtol=1e-4, atol=1e-4)


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
