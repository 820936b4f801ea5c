"""compile(jit_compile=...): torch.compile of the forward with an eager fallback."""

import warnings

import numpy as np
import pytest
import torch

import torchfit
from helpers import blobs, make_model
from torchfit.trainer.jit import (check_jit_compile, compile_options, compiled_forward, set_jit,
                                  uses_cudagraphs)

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


def test_check_jit_compile_accepts_bools_dicts_and_mode_names():
    for value in (True, False, {"mode": "reduce-overhead"}, "default", "reduce-overhead",
                  "max-autotune", "max-autotune-no-cudagraphs"):
        check_jit_compile(value)
    with pytest.raises(ValueError, match=r"unknown torch.compile mode. Received: "
                                         r"jit_compile='yes'. Expected one of 'default', "
                                         r"'reduce-overhead', 'max-autotune', "
                                         r"'max-autotune-no-cudagraphs'"):
        check_jit_compile("yes")
    with pytest.raises(TypeError, match=r"must be True/False or a dict .* or a mode name .* "
                                        r"Received: jit_compile=1"):
        check_jit_compile(1)
    with pytest.raises(ValueError, match=r"Received: jit_compile='fast'"):
        make_model().compile(optimizer="sgd", loss="mse", jit_compile="fast")


class _FakeCompile:
    """Stands in for torch.compile (no inductor in the tests): records the options and the
    order of compiled calls and cudagraph step marks."""

    def __init__(self, monkeypatch):
        self.options, self.events = [], []
        monkeypatch.setattr(torch, "compile", self)
        monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin",
                            lambda: self.events.append("mark"))

    def __call__(self, fn, **options):
        self.options.append(options)

        def compiled(*args, **kwargs):
            self.events.append("call")
            return fn(*args, **kwargs)

        return compiled


@pytest.mark.parametrize("mode", ["default", "reduce-overhead", "max-autotune",
                                  "max-autotune-no-cudagraphs"])
def test_a_mode_name_compiles_with_that_mode(monkeypatch, mode):
    fake = _FakeCompile(monkeypatch)
    model = make_model()
    model.compile(optimizer=torchfit.optimizers.SGD(0.1), jit_compile=mode,
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(X, Y, batch_size=32, epochs=1, verbose=0)
    assert fake.options == [{"mode": mode}]
    calls = fake.events.count("call")
    assert calls == 2  # the two batches went through the compiled forward
    # CUDA-graph modes mark a new cudagraph iteration before every compiled call.
    graphs = mode in ("reduce-overhead", "max-autotune")
    assert fake.events == (["mark", "call"] * calls if graphs else ["call"] * calls)


def test_cudagraph_options_are_recognised():
    assert uses_cudagraphs({"mode": "reduce-overhead"})
    assert uses_cudagraphs({"mode": "max-autotune"})
    assert uses_cudagraphs({"options": {"triton.cudagraphs": True}})
    assert uses_cudagraphs({"backend": "cudagraphs"})
    assert not uses_cudagraphs({}) and not uses_cudagraphs({"mode": "max-autotune-no-cudagraphs"})
    assert not uses_cudagraphs({"backend": "eager", "mode": "reduce-overhead"})
    assert compile_options("max-autotune") == {"mode": "max-autotune"}
    assert compile_options({"dynamic": False}) == {"dynamic": False} and compile_options(True) == {}


def test_cudagraph_mode_marks_steps_in_evaluate_and_predict(monkeypatch):
    fake = _FakeCompile(monkeypatch)
    model = make_model()
    model.compile(optimizer="sgd", loss=torchfit.losses.SparseCategoricalCrossentropy(
        from_logits=True), jit_compile="reduce-overhead")
    model.evaluate(X, Y, batch_size=16, verbose=0)
    predictions = model.predict(X, batch_size=16, verbose=0)
    assert fake.events == ["mark", "call"] * 8
    model.module.eval()
    with torch.no_grad():
        expected = model.module(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(predictions, expected, rtol=1e-6, atol=1e-6)


def test_set_jit_installs_and_removes_the_compiled_forward():
    model = make_model()
    set_jit(model, {"backend": "eager"})
    assert "forward" in model.__dict__
    set_jit(model, False)
    assert "forward" not in model.__dict__


@pytest.mark.parametrize("optimizer, clones", [("sgd", False), ("lbfgs", True)])
def test_closure_optimizers_clone_the_graph_outputs_they_read_later(monkeypatch, optimizer,
                                                                   clones):
    from torchfit.trainer import jit

    seen = []
    monkeypatch.setattr(jit, "compiled_forward",
                        lambda eager, options, clone_with_grad: seen.append(clone_with_grad))
    net = make_model()
    opt = (torch.optim.LBFGS(net.parameters()) if optimizer == "lbfgs"
           else torch.optim.SGD(net.parameters(), lr=0.1))
    net.compile(optimizer=opt, loss="mse", jit_compile="reduce-overhead")
    assert seen == [clones]


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _cuda_fit(jit_compile):
    torch.manual_seed(0)
    model = torchfit.Model(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                               torch.nn.Linear(8, 3)), device="cuda")
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                  loss=torch.nn.CrossEntropyLoss(), metrics=["accuracy"], jit_compile=jit_compile)
    history = model.fit(X, Y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return model, history


@cuda
def test_reduce_overhead_fit_evaluate_and_predict_on_cuda():
    """CUDA graphs (cudagraph trees, inductor): the fit matches the eager one, and predict's
    batches survive the replays after them (else torch raises on reading overwritten outputs)."""
    from torch._dynamo.utils import counters  # inductor counts the graphs it did not capture

    eager, eager_history = _cuda_fit(False)
    counters.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graphs, history = _cuda_fit("reduce-overhead")
        predictions = graphs.predict(X, batch_size=16, verbose=0)  # 4 batches, one graph
    assert not [w for w in caught if "jit_compile" in str(w.message)]  # compiled, not eager
    assert counters["inductor"]["cudagraph_skips"] == 0
    for ours, theirs in zip(graphs.parameters(), eager.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(history.history["loss"], eager_history.history["loss"], rtol=1e-4)
    results = graphs.evaluate(X, Y, batch_size=16, verbose=0, return_dict=True)
    expected_results = eager.evaluate(X, Y, batch_size=16, verbose=0, return_dict=True)
    for name, value in expected_results.items():
        np.testing.assert_allclose(results[name], value, rtol=1e-4, err_msg=name)
    graphs.module.eval()
    with torch.no_grad():
        expected = graphs.module(torch.from_numpy(X).cuda()).cpu().numpy()
    np.testing.assert_allclose(predictions, expected, rtol=1e-4, atol=1e-5)


@cuda
def test_reduce_overhead_with_a_closure_optimizer_on_cuda():
    """LBFGS re-runs the forward inside its step: with CUDA graphs the first outputs, which the
    step's metrics read afterwards, must survive those replays."""
    torch.manual_seed(0)
    model = torchfit.Model(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                               torch.nn.Linear(8, 3)), device="cuda")
    model.compile(optimizer=torch.optim.LBFGS(model.parameters(), max_iter=4,
                                              line_search_fn="strong_wolfe"),
                  loss=torch.nn.CrossEntropyLoss(), metrics=["accuracy"],
                  jit_compile="reduce-overhead")
    history = model.fit(X, Y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(0 <= a <= 1 for a in history.history["accuracy"])
