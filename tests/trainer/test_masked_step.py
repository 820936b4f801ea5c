"""masked_step / skip_nonfinite_steps: a non-finite step is masked on the device, sync-free."""

import numpy as np
import pytest
import torch

import torchfit
from helpers import blobs as make_blobs
from torchfit.trainer.masked_step import all_finite, masked_step

KEEP = np.r_[0:24, 32:64]  # every batch of 8 but batch 3


def overflowing():
    """Finite data whose batch 3 (batch_size=8) makes the squared error, and the grads, inf."""
    x, _ = make_blobs()
    x = x.copy()
    x[24:32] = 1e30
    return x, x[:, :1] * 0.5


def regression(optimizer, skip):
    torch.manual_seed(0)
    model = torchfit.Sequential(torch.nn.Linear(4, 1), device="cpu")
    model.compile(optimizer=optimizer(model), loss="mse", skip_nonfinite_steps=skip)
    return model


TORCH_ADAM = lambda m: torch.optim.Adam(m.parameters(), lr=1e-2)  # noqa: E731
MOMENTUM = lambda m: torchfit.optimizers.SGD(1e-2, momentum=0.9)  # noqa: E731


@pytest.mark.parametrize("optimizer", [TORCH_ADAM, MOMENTUM], ids=["torch-adam", "sgd-momentum"])
@pytest.mark.parametrize("bad", [slice(0, 64), slice(24, 64)], ids=["mid-run", "first-step"])
def test_a_non_finite_step_is_as_if_the_batch_was_not_there(optimizer, bad):
    x, y = overflowing()
    model = regression(optimizer, skip=True)
    history = model.fit(x[bad], y[bad], batch_size=8, shuffle=False, verbose=0)
    assert not np.isfinite(history.history["loss"][0])  # the logged loss still shows it
    reference = regression(optimizer, skip=False)  # the same batches, without the bad one
    keep = KEEP[KEEP >= bad.start]
    reference.fit(x[keep], y[keep], batch_size=8, shuffle=False, verbose=0)
    for ours, theirs in zip(model.weights, reference.weights):
        assert torch.equal(ours, theirs)
    assert str(model.optimizer.state_dict()["state"]) == str(
        reference.optimizer.state_dict()["state"])


def test_negative_control_without_the_option_the_step_is_applied():
    x, y = overflowing()
    model = regression(TORCH_ADAM, skip=False)
    model.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    assert not all(torch.isfinite(w).all() for w in model.weights)


def test_torchfit_adam_keeps_finite_weights_and_counts_the_masked_step():
    x, y = overflowing()
    model = regression(lambda m: torchfit.optimizers.Adam(1e-2), skip=True)
    model.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    assert all(torch.isfinite(w).all() for w in model.weights)
    # The step count is a host number (param_groups), which a sync-free mask cannot hold back.
    assert model.optimizer.param_groups[0]["step"] == 8 and model.optimizer.iterations == 8


def test_the_step_does_not_synchronise(monkeypatch):
    x, y = overflowing()
    # torch's SGD reads nothing on the host (torch's Adam reads its CPU `step` tensor).
    model = regression(lambda m: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9), True)
    batch = (torch.from_numpy(x[24:32]), torch.from_numpy(y[24:32]))
    model.train_step(batch)  # builds the metrics
    before = [w.detach().clone() for w in model.weights]

    def sync(*args, **kwargs):
        raise AssertionError("a host read of a device tensor")

    for name in ("__bool__", "item", "__float__", "__int__", "tolist", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, sync)
    model.train_step(batch)
    model._step.check_loss = True  # the negative control: TerminateOnNaN's check reads the loss
    with pytest.raises(AssertionError, match="a host read"):
        model.train_step(batch)
    monkeypatch.undo()
    assert all(torch.equal(w, b) for w, b in zip(model.weights, before))


def test_finite_gradients_with_a_nan_entry_are_masked_with_the_momentum():
    w = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = torch.ones(3)
    optimizer.step()
    state = optimizer.state[w]["momentum_buffer"].clone()
    weights = w.detach().clone()
    w.grad = torch.tensor([1.0, float("inf"), 1.0])
    masked_step(optimizer, torch.tensor(0.3))  # a finite loss, an infinite gradient
    assert torch.equal(w.detach(), weights) and torch.equal(
        optimizer.state[w]["momentum_buffer"], state)
    w.grad = torch.ones(3)
    masked_step(optimizer, torch.tensor(float("nan")))  # a NaN loss, finite gradients
    assert torch.equal(w.detach(), weights)
    masked_step(optimizer, torch.tensor(0.3))  # a finite step is applied as optimizer.step()
    assert not torch.equal(w.detach(), weights)


def test_all_finite():
    assert bool(all_finite([torch.ones(2), torch.zeros(())]))
    assert not bool(all_finite([torch.ones(2), torch.tensor([float("nan")])]))


def test_bad_values_and_a_closure_optimizer_are_refused():
    model = torchfit.Sequential(torch.nn.Linear(4, 1), device="cpu")
    with pytest.raises(TypeError, match=r"`skip_nonfinite_steps` must be True or False\. "
                                        r"Received: skip_nonfinite_steps='yes'"):
        model.compile(optimizer="sgd", loss="mse", skip_nonfinite_steps="yes")
    with pytest.raises(ValueError, match=r"LBFGS optimizer's step\(\) takes a closure.*"
                                         r"skip_nonfinite_steps=True cannot mask"):
        model.compile(optimizer=torch.optim.LBFGS(model.parameters()), loss="mse",
                      skip_nonfinite_steps=True)


def test_accumulation_masks_a_step_with_one_non_finite_micro_batch():
    x, y = overflowing()
    model = regression(TORCH_ADAM, skip=True)
    model.compile(optimizer=torch.optim.Adam(model.parameters(), lr=1e-2), loss="mse",
                  skip_nonfinite_steps=True, gradient_accumulation_steps=2)
    model.fit(x[16:48], y[16:48], batch_size=8, shuffle=False, verbose=0)
    reference = regression(TORCH_ADAM, skip=False)
    reference.compile(optimizer=torch.optim.Adam(reference.parameters(), lr=1e-2), loss="mse",
                      gradient_accumulation_steps=2)
    reference.fit(x[32:48], y[32:48], batch_size=8, shuffle=False, verbose=0)
    for ours, theirs in zip(model.weights, reference.weights):
        assert torch.equal(ours, theirs)  # batches 2 and 3 (inf) were one masked step
