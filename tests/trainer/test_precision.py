"""compile(precision=...): autocast forward, float32 losses, a GradScaler for float16."""

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from helpers import blobs, make_model

X, Y = blobs()


class RecordsLossDtype(torchfit.Model):
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        self.seen_dtype = y_pred.dtype
        return super().compute_loss(x, y, y_pred, sample_weight)


class MixesDtypes(nn.Module):
    """A module with a float32 buffer multiplied into the activations: fine under autocast."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.register_buffer("scale", torch.full((3,), 2.0))

    def forward(self, x):
        self.inner_dtype = self.fc(x).dtype
        return self.fc(x) * self.scale


@pytest.mark.parametrize("precision, inner", [("bf16-mixed", torch.bfloat16),
                                              ("16-mixed", torch.float16)])
def test_mixed_precision_on_cpu(precision, inner):
    torch.manual_seed(0)
    module = MixesDtypes()
    model = RecordsLossDtype(module, device="cpu")
    model.compile(optimizer=torchfit.optimizers.SGD(0.1), precision=precision,
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(X, Y, batch_size=16, epochs=5, verbose=0)
    assert module.inner_dtype == inner            # the forward ran in low precision
    assert model.seen_dtype == torch.float32      # the loss saw float32
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert (model._step.precision.scaler is not None) == (precision == "16-mixed")
    predictions = model.predict(X, verbose=0)
    assert predictions.dtype == np.float32 and np.isfinite(predictions).all()


def test_bad_precision_and_accumulation_arguments():
    with pytest.raises(ValueError, match=r"`precision` must be one of '32', 'bf16-mixed'"):
        make_model().compile(loss="mse", precision="fp8")
    with pytest.raises(ValueError, match="`gradient_accumulation_steps` must be a positive"):
        make_model().compile(loss="mse", gradient_accumulation_steps=0)
    with pytest.raises(TypeError, match="`jit_compile` must be True/False or a dict"):
        make_model().compile(loss="mse", jit_compile=1)


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _hand_written_amp_loop(module, dtype, epochs, batch_size):
    """The AMP recipe of torch's docs: autocast forward and loss, a GradScaler for float16."""
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    x, y = torch.from_numpy(X).cuda(), torch.from_numpy(Y).cuda()
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            with torch.autocast("cuda", dtype=dtype):
                loss = nn.functional.cross_entropy(module(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
    return scaler


@cuda
@pytest.mark.parametrize("precision, inner", [("bf16-mixed", torch.bfloat16),
                                              ("16-mixed", torch.float16)])
def test_mixed_precision_on_cuda_matches_the_hand_written_amp_loop(precision, inner):
    torch.manual_seed(0)
    module = MixesDtypes()
    reference = MixesDtypes().cuda()
    reference.load_state_dict(module.state_dict())
    model = RecordsLossDtype(module, device="cuda")
    model.compile(optimizer=torch.optim.SGD(module.parameters(), lr=0.1), precision=precision,
                  loss=nn.CrossEntropyLoss(), metrics=["accuracy"])
    history = model.fit(X, Y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    scaler = _hand_written_amp_loop(reference, inner, epochs=3, batch_size=16)
    assert module.inner_dtype == inner and model.seen_dtype == torch.float32
    assert history.history["loss"][-1] < history.history["loss"][0]
    for ours, theirs in zip(module.parameters(), reference.parameters()):
        assert ours.device.type == "cuda" and ours.dtype == torch.float32
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
    ours_scaler = model._step.precision.scaler
    if precision == "16-mixed":  # the same scale after the same overflow-free steps
        assert ours_scaler.get_scale() == scaler.get_scale()  # sync: a test
    else:
        assert ours_scaler is None and scaler is None
    predictions = model.predict(X, verbose=0)
    assert predictions.dtype == np.float32 and np.isfinite(predictions).all()
