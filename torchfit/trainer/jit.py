"""``compile(jit_compile=...)``: ``torch.compile`` of the forward pass with an eager fallback.

``jit_compile`` is ``True`` (``torch.compile``'s defaults), a dict of ``torch.compile`` options,
or one of its mode names as a shorthand for ``{"mode": ...}``: ``"default"``,
``"reduce-overhead"`` (CUDA graphs, for launch-bound small models), ``"max-autotune"`` (which
uses CUDA graphs too) or ``"max-autotune-no-cudagraphs"``.

The first call tries the compiled forward; if compilation fails (in any of the many exception
types torch raises for graph breaks, unsupported ops or missing compilers), a one-line warning
is shown and the eager forward runs from then on. Once a compiled call has succeeded, later
errors are the user's and are raised.

CUDA graphs (cudagraph trees) replay into the same output memory: a forward's outputs are
overwritten by the next replay. In a training step torchfit reads the outputs (loss, then
metrics) before the next forward, but ``predict`` keeps every batch's outputs until it joins
them, and ``predict_on_batch`` hands them to the caller. So with a CUDA-graph mode each compiled
call is preceded by ``torch.compiler.cudagraph_mark_step_begin()`` (torch's documented marker
of a new iteration: the previous outputs are then free to overwrite, whatever the heuristic
about pending backwards would say, e.g. after a step that skipped its backward), and outputs
computed without grad (evaluate, predict) are cloned out of the graph's memory (one copy per
output), and so are those of a model whose optimizer's step takes a closure (``LBFGS``: the
closure re-runs the forward before the step's metrics read the first outputs). A custom
``train_step`` that keeps ``y_pred`` past the next forward must clone it.
"""

import warnings

import torch

from torchfit import nest

__all__ = ["COMPILE_MODES", "compiled_forward", "check_jit_compile", "compile_options",
           "set_jit", "uses_cudagraphs"]

# torch.compile's modes, accepted as `jit_compile="<mode>"`.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
_CUDAGRAPH_MODES = ("reduce-overhead", "max-autotune")


def check_jit_compile(jit_compile):
    """Raises unless ``jit_compile`` is a bool, a dict of torch.compile options or a mode name.

    Example:
        >>> check_jit_compile("reduce-overhead")
        >>> try:
        ...     check_jit_compile("fast")
        ... except ValueError as error:
        ...     print(str(error)[:64])
        `jit_compile` got an unknown torch.compile mode. Received: jit_c
    """
    if isinstance(jit_compile, str):
        if jit_compile not in COMPILE_MODES:
            raise ValueError(
                "`jit_compile` got an unknown torch.compile mode. Received: "
                f"jit_compile={jit_compile!r}. Expected one of "
                f"{', '.join(map(repr, COMPILE_MODES))}, or True/False, or a dict of "
                "torch.compile options such as {'mode': 'max-autotune', 'dynamic': False}."
            )
        return
    if not isinstance(jit_compile, (bool, dict)):
        raise TypeError(
            "`jit_compile` must be True/False or a dict of torch.compile options, e.g. "
            f"{{'mode': 'max-autotune'}}, or a mode name ({', '.join(map(repr, COMPILE_MODES))})."
            f" Received: jit_compile={jit_compile!r}"
        )


def compile_options(jit_compile):
    """The keyword arguments of ``torch.compile`` that ``jit_compile`` stands for.

    Example:
        >>> compile_options("reduce-overhead"), compile_options(True)
        ({'mode': 'reduce-overhead'}, {})
    """
    if isinstance(jit_compile, str):
        return {"mode": jit_compile}
    return dict(jit_compile) if isinstance(jit_compile, dict) else {}


def uses_cudagraphs(options):
    """Whether ``torch.compile(**options)`` replays CUDA graphs (on a CUDA device).

    Example:
        >>> uses_cudagraphs({"mode": "reduce-overhead"}), uses_cudagraphs({"mode": "default"})
        (True, False)
    """
    if options.get("backend") == "cudagraphs":
        return True
    if options.get("backend", "inductor") != "inductor":
        return False
    if options.get("mode") in _CUDAGRAPH_MODES:
        return True
    return bool((options.get("options") or {}).get("triton.cudagraphs"))


def _out_of_graph_memory(outputs):
    """Clones CUDA tensors of a forward run without grad, so a later replay leaves them alone."""
    return nest.map_structure(
        lambda t: t.clone() if isinstance(t, torch.Tensor) and t.is_cuda else t, outputs)


def compiled_forward(eager, options, clone_with_grad=False):
    """A function calling ``torch.compile(eager, **options)``, or ``eager`` once that failed.

    With CUDA graphs, outputs computed without grad are cloned out of the graph's memory; with
    ``clone_with_grad`` those computed with grad too (a closure optimizer's step re-runs the
    forward before the step's metrics read the first outputs).

    Example:
        >>> forward = compiled_forward(nn.Linear(2, 1), {"backend": "eager"})
        >>> forward(torch.ones(3, 2)).shape
        torch.Size([3, 1])
    """
    compiled = torch.compile(eager, **options)
    graphs = uses_cudagraphs(options)
    state = {"status": "untried"}

    def forward(*args, **kwargs):
        if state["status"] == "failed":
            return eager(*args, **kwargs)
        try:
            if graphs:  # a new iteration: the previous replay's outputs may be overwritten
                torch.compiler.cudagraph_mark_step_begin()
            outputs = compiled(*args, **kwargs)
        except Exception as error:  # compilation failures come in many exception types
            if state["status"] == "ok":
                raise
            state["status"] = "failed"
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            warnings.warn(f"jit_compile: torch.compile failed ({type(error).__name__}: "
                          f"{reason[:200]}); running the forward eagerly.", stacklevel=2)
            return eager(*args, **kwargs)
        state["status"] = "ok"
        if graphs and (clone_with_grad or not torch.is_grad_enabled()):  # kept past a replay
            return _out_of_graph_memory(outputs)
        return outputs

    return forward


def set_jit(model, jit_compile):
    """Runs ``model``'s forward through ``torch.compile`` (or back to eager when ``False``)."""
    model.__dict__.pop("forward", None)
    if not jit_compile:
        return
    eager = model.module if model.module is not None else type(model).forward.__get__(model)
    # LBFGS & co. (``StepPolicy.bind`` ran first, at ``compile``): the closure's re-evaluations
    # replay the graph before the step's metrics read the first outputs.
    closure = getattr(getattr(model, "_step", None), "takes_closure", False)
    # An instance attribute: nn.Module's __call__ looks `forward` up on the instance first.
    model.__dict__["forward"] = compiled_forward(eager, compile_options(jit_compile),
                                                 clone_with_grad=closure)
