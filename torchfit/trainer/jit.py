"""``compile(jit_compile=...)``: ``torch.compile`` of the forward pass with an eager fallback.

The first call tries the compiled forward; if compilation fails (in any of the many exception
types torch raises for graph breaks, unsupported ops or missing compilers), a one-line warning
is shown and the eager forward runs from then on. Once a compiled call has succeeded, later
errors are the user's and are raised.
"""

import warnings

import torch

__all__ = ["compiled_forward", "check_jit_compile", "set_jit"]


def check_jit_compile(jit_compile):
    """Raises ``TypeError`` unless ``jit_compile`` is a bool or a dict of torch.compile options."""
    if not isinstance(jit_compile, (bool, dict)):
        raise TypeError(
            "`jit_compile` must be True/False or a dict of torch.compile options, e.g. "
            f"{{'mode': 'max-autotune'}}. Received: jit_compile={jit_compile!r}"
        )


def compiled_forward(eager, options):
    """A function calling ``torch.compile(eager, **options)``, or ``eager`` once that failed.

    Example:
        >>> forward = compiled_forward(nn.Linear(2, 1), {"backend": "eager"})
        >>> forward(torch.ones(3, 2)).shape
        torch.Size([3, 1])
    """
    compiled = torch.compile(eager, **options)
    state = {"status": "untried"}

    def forward(*args, **kwargs):
        if state["status"] == "failed":
            return eager(*args, **kwargs)
        try:
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
        return outputs

    return forward


def set_jit(model, jit_compile):
    """Runs ``model``'s forward through ``torch.compile`` (or back to eager when ``False``)."""
    model.__dict__.pop("forward", None)
    if not jit_compile:
        return
    options = jit_compile if isinstance(jit_compile, dict) else {}
    eager = model.module if model.module is not None else type(model).forward.__get__(model)
    # An instance attribute: nn.Module's __call__ looks `forward` up on the instance first.
    model.__dict__["forward"] = compiled_forward(eager, options)
