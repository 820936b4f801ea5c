"""TerminateOnNaN: stops (or raises) at the first NaN batch."""

import numpy as np
import pytest
import torch

import torchfit
from torchfit.callbacks import LambdaCallback, TerminateOnNaN


def regression(seed=0):
    torch.manual_seed(seed)
    model = torchfit.Sequential(torch.nn.Linear(4, 1), device="cpu")
    model.compile(optimizer=torchfit.optimizers.Adam(1e-2), loss="mse")
    return model


def overflowing(blobs):
    """Finite data whose batch 3 (batch_size=8) makes the squared error overflow to inf."""
    x, _ = blobs
    x = x.copy()
    x[24:32] = 1e30
    return x, x[:, :1] * 0.5


def test_terminate_on_nan_stops_at_the_first_nan_batch(blobs, capsys):
    x, y = overflowing(blobs)  # batch 3's loss is inf, with batch_size=8 and no shuffling
    batches = []
    count = LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    history = regression().fit(x, y, batch_size=8, epochs=3, shuffle=False,
                               callbacks=[TerminateOnNaN(), count], verbose=0)
    assert capsys.readouterr().out == "Batch 3: Invalid loss, terminating training\n"
    assert batches == [0, 1, 2, 3] and len(history.history["loss"]) == 1
    assert TerminateOnNaN.lazy_batch_logs
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 3"):
        regression().fit(x, y, batch_size=8, shuffle=False, verbose=0,
                         callbacks=[TerminateOnNaN(raise_error=True)])


# ------------------------------------------ the bad step is never applied (issue 13 item 5)
def test_with_terminate_on_nan_the_non_finite_step_is_not_applied(blobs, capsys):
    x, y = overflowing(blobs)
    model = regression()
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                        callbacks=[TerminateOnNaN()])
    assert capsys.readouterr().out == "Batch 3: Invalid loss, terminating training\n"
    assert history.epoch == [0] and not np.isfinite(history.history["loss"][0])
    reference = regression()  # the same run over the 3 finite batches only
    reference.fit(x[:24], y[:24], batch_size=8, shuffle=False, verbose=0)
    for ours, theirs in zip(model.weights, reference.weights):
        assert torch.isfinite(ours).all() and torch.equal(ours, theirs)
    assert str(model.optimizer.state_dict()) == str(reference.optimizer.state_dict())
    assert model._step.check_loss is False  # off after the fit: later fits pay nothing


def test_negative_control_without_terminate_on_nan_the_step_is_applied(blobs):
    x, y = overflowing(blobs)
    model = regression()
    model.fit(x[:32], y[:32], batch_size=8, shuffle=False, verbose=0)
    assert not all(torch.isfinite(w).all() for w in model.weights)
    assert model._step.check_loss is False


def test_a_custom_train_step_stepping_itself_is_checked_on_the_logs_after_its_step(blobs,
                                                                                   capsys):
    class OwnStep(torchfit.Model):
        def train_step(self, data):
            x, y, _ = torchfit.data.unpack_x_y_sample_weight(data)
            y_pred = self.call_with_inputs(x)
            loss = self.compute_loss(x, y, y_pred)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            return self.compute_metrics(x, y, y_pred)

    x, y = overflowing(blobs)
    torch.manual_seed(0)
    model = OwnStep(torch.nn.Linear(4, 1), device="cpu")
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
              callbacks=[TerminateOnNaN()])
    assert capsys.readouterr().out == "Batch 3: Invalid loss, terminating training\n"
