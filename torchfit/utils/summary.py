"""``summary``: Keras's ``model.summary()`` table for a ``torchfit.Model`` or any ``nn.Module``.

One row per submodule, in ``named_modules`` order and named by its dotted path (the keys of the
module's ``state_dict``), with its output shape and the number of its *own* weights; then the
totals. Output shapes come from one forward pass on ``example_inputs`` (in eval mode, under
``torch.no_grad``, with a forward hook on every submodule); without inputs they read ``?``.

Example:
    >>> net = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
    ...                     nn.Linear(64, 10))
    >>> text = summary(net, torch.zeros(2, 784))  # doctest: +ELLIPSIS
    Model: "Sequential"
    _________________________________________________________________
    Layer (type)                 Output Shape              Param #
    =================================================================
    0 (Linear)                   (None, 64)                50240
    _________________________________________________________________
    ...
    =================================================================
    Total params: 55,050
    Trainable params: 55,050
    Non-trainable params: 0
    _________________________________________________________________

The forward-pass helpers here (``resolve_inputs``, ``run_forward``, ``inference_mode``,
``format_shape``) are shared with ``plot_model``.
"""

import contextlib

import numpy as np
import torch
from torch import nn

from torchfit import nest
from torchfit.data.utils import to_tensor

__all__ = ["summary", "count_params"]

# Keras's Sequential layout: 65 characters, column ends at 45%, 85% and 100%.
_DEFAULT_LINE_LENGTH = 65
_POSITIONS = (0.45, 0.85, 1.0)
_HEADER = ("Layer (type)", "Output Shape", "Param #")
UNKNOWN = "?"


# ---------------------------------------------------------------------- shared with plot_model
def root_module(model):
    """The module whose submodules are listed: a torchfit Model's wrapped module, else the model."""
    module = getattr(model, "module", None)
    return module if isinstance(module, nn.Module) else model


def model_device(model):
    """``model.device`` for a torchfit Model, else the device of the first parameter or buffer."""
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


def resolve_inputs(model, example_inputs):
    """``example_inputs``, else the model's stored ``_example_inputs``, else ``None``."""
    if example_inputs is None:
        example_inputs = getattr(model, "_example_inputs", None)
    return example_inputs


def to_device(example_inputs, device):
    """NumPy/pandas/tensor leaves → tensors on ``device``; float64 → float32, as in ``fit``."""
    def convert(leaf):
        if isinstance(leaf, torch.Tensor) and leaf.dim() == 0:
            return leaf.to(device)
        if isinstance(leaf, (torch.Tensor, np.ndarray)) or \
                type(leaf).__module__.split(".")[0] == "pandas":
            return to_tensor(leaf, "example_inputs").to(device)
        return leaf

    return nest.map_structure(convert, example_inputs)


def run_forward(model, inputs):
    """Calls the model on ``inputs`` routed as torchfit routes them (dict → keywords, ...)."""
    if hasattr(model, "call_with_inputs"):
        # Inspecting is not training: keep the sample the model stored from real data.
        stored = getattr(model, "_example_inputs", None)
        try:
            return model.call_with_inputs(inputs)
        finally:
            if hasattr(model, "_example_inputs"):
                model._example_inputs = stored
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (list, tuple)):
        return model(*inputs)
    return model(inputs)


@contextlib.contextmanager
def inference_mode(model):
    """Eval mode and ``no_grad`` for one inspection pass; every submodule's mode is restored."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, training in modes:
            module.training = training


def format_shape(value, batch_size=None):
    """``(2, 64)`` for a tensor; lists and dicts of those for nested values; else the type name.

    With ``batch_size``, a leading dimension of that size is the batch and reads ``None``, as in
    Keras: ``(None, 64)``.
    """
    if isinstance(value, torch.Tensor):
        shape = tuple(value.shape)
        if batch_size is not None and shape and shape[0] == batch_size:
            return "(None" + "".join(f", {dim}" for dim in shape[1:]) + ")"
        return str(shape)
    if isinstance(value, dict):
        return "{" + ", ".join(
            f"{key}: {format_shape(v, batch_size)}" for key, v in value.items()) + "}"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(format_shape(v, batch_size) for v in value) + "]"
    if value is None:
        return "None"
    return type(value).__name__


def join_shapes(shapes):
    """One call → its shape; several calls with one shape → that shape; else ``a | b``."""
    distinct = list(dict.fromkeys(shapes))
    return " | ".join(distinct) if distinct else UNKNOWN


# ---------------------------------------------------------------------- parameters
def _own_counts(module, seen):
    """(trainable, non-trainable) weights held by ``module`` itself, each tensor counted once.

    Non-trainable: parameters with ``requires_grad=False`` and persistent floating-point buffers
    (BatchNorm's moving statistics, as Keras counts them); ``num_batches_tracked`` is a counter.
    """
    trainable = frozen = 0
    for param in module.parameters(recurse=False):
        if id(param) in seen or nn.parameter.is_lazy(param):
            continue
        seen.add(id(param))
        if param.requires_grad:
            trainable += param.numel()
        else:
            frozen += param.numel()
    for name, buffer in module.named_buffers(recurse=False):
        if (id(buffer) in seen or name in module._non_persistent_buffers_set
                or not (buffer.is_floating_point() or buffer.is_complex())
                or nn.parameter.is_lazy(buffer)):
            continue
        seen.add(id(buffer))
        frozen += buffer.numel()
    return trainable, frozen


def count_params(model):
    """``(total, trainable, non_trainable)`` as ``summary`` counts them."""
    seen = set()
    counts = [_own_counts(module, seen) for module in root_module(model).modules()]
    trainable = sum(c[0] for c in counts)
    frozen = sum(c[1] for c in counts)
    return trainable + frozen, trainable, frozen


# ---------------------------------------------------------------------- output shapes
def _record_output_shapes(model, root, inputs):
    """Runs one forward pass; returns ``{module: [formatted output shape per call]}``."""
    shapes = {module: [] for module in root.modules()}
    inputs = to_device(inputs, model_device(model))
    batch_size = _batch_size(inputs)
    handles = []
    for module in shapes:
        def hook(mod, args, output):
            shapes[mod].append(format_shape(output, batch_size))
        handles.append(module.register_forward_hook(hook))
    try:
        with inference_mode(model):
            run_forward(model, inputs)
    except Exception as error:
        raise ValueError(
            f"summary() could not run {type(root).__name__} on `example_inputs`: {error} "
            "Pass example_inputs shaped and routed as in fit(): one tensor, a list/tuple of "
            "positional inputs, or a dict of inputs by `forward` parameter name."
        ) from error
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def _batch_size(inputs):
    """The leading dimension of the first input tensor (the batch), or ``None``."""
    for leaf in nest.flatten(inputs):
        if isinstance(leaf, torch.Tensor) and leaf.dim() > 0:
            return leaf.shape[0]
    return None


# ---------------------------------------------------------------------- table
def _rows(root, shapes):
    seen = set()
    rows = []
    for name, module in root.named_modules():
        trainable, frozen = _own_counts(module, seen)
        if module is root and not trainable + frozen:
            continue  # the model itself is the header, unless it holds weights of its own
        label = f"{name or '(root)'} ({type(module).__name__})"
        shape = join_shapes(shapes[module]) if shapes is not None else UNKNOWN
        rows.append((label, shape, str(trainable + frozen)))
    return rows


def _column_ends(rows, line_length):
    if line_length is not None:
        return [int(line_length * p) for p in _POSITIONS]
    default = [int(_DEFAULT_LINE_LENGTH * p) for p in _POSITIONS]
    ends, start = [], 0
    for i, minimum in enumerate(b - a for a, b in zip([0] + default, default)):
        width = max([minimum] + [len(row[i]) + 1 for row in rows + [_HEADER]])
        start += width
        ends.append(start)
    return ends


def _format_row(fields, ends):
    line = ""
    for field, end in zip(fields, ends):
        line = (line + field)[:end]
        line += " " * (end - len(line))
    return line.rstrip()


def summary(model, example_inputs=None, print_fn=print, line_length=None):
    """Prints and returns Keras's summary table of ``model``.

    Args:
        model: a ``torchfit.Model`` (its wrapped ``model.module`` is listed) or any ``nn.Module``.
        example_inputs: inputs for one forward pass that measures the output shapes, routed as in
            ``fit``: a tensor or array, a list/tuple (positional arguments) or a dict (keyword
            arguments). Defaults to the model's ``_example_inputs`` (one sample of the last data
            it was trained or evaluated on) when set; without inputs the shapes read ``?``.
            As in Keras the batch dimension reads ``None`` (``(None, 64)``: a leading dimension
            of the inputs' batch size); a module called several times with different shapes
            shows them joined: ``(None, 8) | (None, 4, 8)``.
        print_fn: called with each line (Keras's convention); ``None`` prints nothing.
        line_length: total width; by default at least 65 and wide enough for every cell.

    Returns:
        The table as one string.
    """
    root = root_module(model)
    example_inputs = resolve_inputs(model, example_inputs)
    shapes = None
    if example_inputs is not None:
        shapes = _record_output_shapes(model, root, example_inputs)
    rows = _rows(root, shapes)
    total, trainable, frozen = count_params(model)
    ends = _column_ends(rows, line_length)
    width = ends[-1]
    lines = [f'Model: "{type(root).__name__}"', "_" * width, _format_row(_HEADER, ends),
             "=" * width]
    for i, row in enumerate(rows):
        lines.append(_format_row(row, ends))
        lines.append("_" * width if i < len(rows) - 1 else "=" * width)
    if not rows:
        lines.append("=" * width)
    lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {frozen:,}", "_" * width]
    if print_fn is not None:
        for line in lines:
            print_fn(line)
    return "\n".join(lines)
