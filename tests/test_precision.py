"""compile(precision=...), compile(jit_compile=...), compile(gradient_accumulation_steps=...)."""

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
        make_model().compile(loss="mse", jit_compile="yes")


def test_gradient_accumulation_equals_one_large_batch_with_sample_weights():
    weights = np.linspace(0.5, 2.0, len(Y))
    loss = torchfit.losses.SparseCategoricalCrossentropy(from_logits=True)
    large = make_model()
    large.compile(optimizer=torchfit.optimizers.SGD(0.1), loss=loss)
    large.fit(X, Y, sample_weight=weights, batch_size=32, epochs=2, shuffle=False, verbose=0)
    accumulated = make_model()
    accumulated.compile(optimizer=torchfit.optimizers.SGD(0.1), loss=loss,
                        gradient_accumulation_steps=4)
    accumulated.fit(X, Y, sample_weight=weights, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert accumulated.optimizer.iterations == large.optimizer.iterations == 4
    for ours, theirs in zip(accumulated.parameters(), large.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def _fit_weights(**compile_kwargs):
    model = make_model()
    model.compile(optimizer=torchfit.optimizers.SGD(0.1),
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
                  **compile_kwargs)
    model.fit(X, Y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return [p.detach().clone() for p in model.parameters()]


def test_jit_compile_takes_options_and_matches_eager():
    eager = _fit_weights()
    compiled = _fit_weights(jit_compile={"backend": "eager"})
    for a, b in zip(eager, compiled):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_jit_compile_falls_back_to_eager_with_one_warning():
    def broken_backend(graph_module, example_inputs):
        raise RuntimeError("no compiler for you")

    eager = _fit_weights()
    with pytest.warns(UserWarning, match=r"jit_compile: torch.compile failed .*running the "
                                         r"forward eagerly") as record:
        fallback = _fit_weights(jit_compile={"backend": broken_backend})
    assert len([w for w in record if "jit_compile" in str(w.message)]) == 1
    for a, b in zip(eager, fallback):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_jit_compile_keeps_the_module_state_dict_keys():
    model = make_model()
    model.compile(optimizer="sgd", loss="mse", jit_compile={"backend": "eager"})
    assert set(model.module.state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert all(k.startswith("module.") for k in model.state_dict())


@pytest.mark.slow
def test_jit_compile_with_inductor_trains():
    model = make_model()
    model.compile(optimizer=torchfit.optimizers.SGD(0.1), jit_compile=True,
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(X, Y, batch_size=16, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
