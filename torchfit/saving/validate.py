"""Checks a file's weights (and optimizer state) against a model before anything is copied.

torch's ``module.load_state_dict`` copies every tensor that fits and only then raises on the
first mismatch, and it casts other dtypes silently; ``optimizer.load_state_dict`` never looks at
the shapes of the state it loads. Loading through ``check_loadable`` first makes a load
all-or-nothing: the whole file is compared with the model (keys, shapes, dtypes, and the
optimizer's groups and per-parameter state), and a mismatch raises one ``ValueError`` that lists
every missing, unexpected and mismatched key while the model and optimizer are left untouched.
"""

import torch
from torch.nn.parameter import is_lazy

__all__ = ["PARAMETER_SHAPED_STATE", "check_loadable", "optimizer_problems", "state_problems"]

# Per-parameter optimizer state kept with the shape of its parameter: torch.optim's, then the
# slot variables of the Keras update rules (Keras's names; torchfit/optimizers/rules.py).
PARAMETER_SHAPED_STATE = frozenset({
    "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "exp_inf", "momentum_buffer", "square_avg",
    "grad_avg", "acc_delta", "sum", "prev", "step_size", "ax",
    "momentum", "velocity", "velocity_hat", "average_gradient", "accumulator",
    "accumulated_grad", "accumulated_delta_var", "norm",
})
_LISTED = 10  # keys listed per kind of problem; the rest are counted


def _describe(value):
    if isinstance(value, torch.Tensor):
        return f"{str(value.dtype).replace('torch.', '')} {tuple(value.shape)}"
    return type(value).__name__


def state_problems(expected, loaded, strict=True):
    """Compares a loaded state dict with a module's own ``state_dict()``.

    Args:
        expected: the module's ``state_dict()``.
        loaded: the state dict read from a file.
        strict: when False, missing and unexpected keys are not problems (as in torch).

    Returns:
        ``{"missing": [...], "unexpected": [...], "mismatched": [...]}``: one line per key.

    Example:
        >>> from torchfit.saving.validate import state_problems
        >>> ours = nn.Linear(4, 2).state_dict()
        >>> state_problems(ours, {"weight": torch.zeros(2, 5).double(), "scale": torch.ones(())})
        {'missing': ["'bias' float32 (2,)"], 'unexpected': ["'scale' float32 ()"], \
'mismatched': ["'weight' has float64 (2, 5) in the file, float32 (2, 4) in the model"]}
    """
    problems = {"missing": [], "unexpected": [], "mismatched": []}
    if strict:
        problems["missing"] = [f"'{k}' {_describe(v)}" for k, v in expected.items()
                               if k not in loaded]
        problems["unexpected"] = [f"'{k}' {_describe(v)}" for k, v in loaded.items()
                                  if k not in expected]
    for key, ours in expected.items():
        theirs = loaded.get(key)
        if not isinstance(ours, torch.Tensor) or theirs is None or is_lazy(ours):
            continue  # extra state is the module's own business; lazy tensors take any shape
        if (not isinstance(theirs, torch.Tensor) or theirs.shape != ours.shape
                or theirs.dtype != ours.dtype):
            problems["mismatched"].append(
                f"'{key}' has {_describe(theirs)} in the file, {_describe(ours)} in the model")
    return problems


def optimizer_problems(optimizer, loaded):
    """What keeps ``optimizer.load_state_dict(loaded)`` from restoring a usable optimizer.

    The checks torch makes (the number of parameter groups and of parameters in each), made
    before anything is copied, and the shape of each state in ``PARAMETER_SHAPED_STATE`` against
    its parameter (torch loads a wrong one and fails at the next step).

    Example:
        >>> from torchfit.saving.validate import optimizer_problems
        >>> net = nn.Linear(4, 2)
        >>> optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        >>> saved = optimizer.state_dict()
        >>> saved["state"] = {0: {"momentum_buffer": torch.zeros(3)}}
        >>> optimizer_problems(optimizer, saved)
        ["optimizer state 'momentum_buffer' of parameter 0 (group 0) has shape (3,) in the \
file, the parameter (2, 4)"]
    """
    if (not isinstance(loaded, dict) or not isinstance(loaded.get("param_groups"), list)
            or not isinstance(loaded.get("state"), dict)):
        return ["the file's optimizer state is not an optimizer `state_dict()` (it needs "
                "'state' and 'param_groups')"]
    groups, saved_groups = optimizer.param_groups, loaded["param_groups"]
    if len(groups) != len(saved_groups):
        return [f"the file's optimizer has {len(saved_groups)} parameter groups, this "
                f"optimizer {len(groups)}"]
    problems, params = [], {}
    for number, (group, saved) in enumerate(zip(groups, saved_groups)):
        saved_ids = saved.get("params", []) if isinstance(saved, dict) else []
        if len(saved_ids) != len(group["params"]):
            problems.append(f"parameter group {number} holds {len(saved_ids)} parameters in "
                            f"the file and {len(group['params'])} in the optimizer")
            continue
        params.update({i: (p, number) for i, p in zip(saved_ids, group["params"])})
    for index, state in loaded["state"].items():
        if index not in params or not isinstance(state, dict):
            continue
        param, number = params[index]
        for key, value in state.items():
            if (key in PARAMETER_SHAPED_STATE and isinstance(value, torch.Tensor)
                    and value.shape != param.shape):
                problems.append(
                    f"optimizer state '{key}' of parameter {index} (group {number}) has shape "
                    f"{tuple(value.shape)} in the file, the parameter {tuple(param.shape)}")
    return problems


def _listed(title, lines):
    shown = "; ".join(lines[:_LISTED])
    more = f"; and {len(lines) - _LISTED} more" if len(lines) > _LISTED else ""
    return f"{title} ({len(lines)}): {shown}{more}."


def check_loadable(path, module, state, strict=True, optimizer=None, optimizer_state=None,
                   hint="pass strict=False to skip missing and unexpected keys"):
    """Raises one ``ValueError`` naming every problem, unless the whole file can be loaded.

    Args:
        path: the file, for the message.
        module: the module the weights are for.
        state: the weights read from ``path``.
        strict: as for ``module.load_state_dict``.
        optimizer: the optimizer ``optimizer_state`` is for, or None to check weights only.
        optimizer_state: the optimizer state read from ``path``.
        hint: how to load such a file after all, ending the message.

    Raises:
        ValueError: "Could not load '<path>' into <Module>: the file does not match the model;
            nothing was loaded. Missing from the file (n): ... Unexpected in the file (n): ...
            Mismatched (n): ... Optimizer (n): ..."

    Example:
        >>> from torchfit.saving.validate import check_loadable
        >>> net = nn.Linear(4, 2)
        >>> check_loadable("net.pt", net, nn.Linear(4, 2).state_dict())  # loads: no error
        >>> check_loadable("net.pt", net, nn.Linear(4, 3).state_dict())
        Traceback (most recent call last):
        ...
        ValueError: Could not load 'net.pt' into Linear: the file does not match the model; \
nothing was loaded. Mismatched (2): 'weight' has float32 (3, 4) in the file, float32 (2, 4) in \
the model; 'bias' has float32 (3,) in the file, float32 (2,) in the model. To load it, build \
the model that wrote the file (same layers, sizes and dtypes), or pass strict=False to skip \
missing and unexpected keys.
    """
    problems = state_problems(module.state_dict(), state, strict)
    parts = [_listed(title, problems[key]) for key, title in (
        ("missing", "Missing from the file"), ("unexpected", "Unexpected in the file"),
        ("mismatched", "Mismatched")) if problems[key]]
    if optimizer is not None and optimizer_state is not None:
        optimizer_lines = optimizer_problems(optimizer, optimizer_state)
        if optimizer_lines:
            parts.append(_listed("Optimizer", optimizer_lines))
    if parts:
        raise ValueError(
            f"Could not load {str(path)!r} into {type(module).__name__}: the file does not "
            f"match the model; nothing was loaded. {' '.join(parts)} To load it, build the "
            f"model that wrote the file (same layers, sizes and dtypes), or {hint}."
        )
