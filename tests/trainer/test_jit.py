"""compile(jit_compile=...): torch.compile of the forward with an eager fallback."""

import pytest
import torch

import torchfit
from helpers import blobs, make_model
from torchfit.trainer.jit import check_jit_compile, compiled_forward, set_jit

X, Y = blobs()


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


def test_compiled_forward_raises_user_errors_once_compilation_has_worked():
    calls = []

    def forward(x):
        calls.append(x.shape)
        if x.shape[0] == 3:
            raise ValueError("bad batch")
        return x * 2

    wrapped = compiled_forward(forward, {"backend": "eager"})
    assert torch.equal(wrapped(torch.ones(2)), torch.full((2,), 2.0))
    with pytest.raises(ValueError, match="bad batch"):
        wrapped(torch.ones(3))


def test_check_jit_compile_accepts_bools_and_dicts_only():
    check_jit_compile(True)
    check_jit_compile({"mode": "reduce-overhead"})
    with pytest.raises(TypeError, match=r"Received: jit_compile='yes'"):
        check_jit_compile("yes")


def test_set_jit_installs_and_removes_the_compiled_forward():
    model = make_model()
    set_jit(model, {"backend": "eager"})
    assert "forward" in model.__dict__
    set_jit(model, False)
    assert "forward" not in model.__dict__
