"""Routing a batch's inputs to ``forward`` by structure, with one clear error for wrong names.

A single array/tensor is one positional argument, a list/tuple gives positional arguments in
order, a dict gives keyword arguments, whose names must be parameters of ``forward``.

A streamed batch of two or three items is read as ``(x, y)`` or ``(x, y, sample_weight)``
(Keras's convention); ``check_first_batch`` says so when ``forward`` or the third item disagree.
"""

import inspect
import itertools

import torch

from torchfit import data as data_module
from torchfit import nest

__all__ = ["check_first_batch", "check_input_names", "checked_forward", "first_batch_check",
           "floating_dtype", "forward_keywords", "positional_arity"]


def forward_keywords(forward):
    """The names ``forward`` takes by keyword, or ``None`` when it takes ``**kwargs`` (or has no
    signature to read), i.e. when any name may be right.

    Example:
        >>> forward_keywords(lambda image, *, mask=None: image)
        ['image', 'mask']
        >>> forward_keywords(lambda **inputs: inputs) is None
        True
    """
    try:
        params = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError):
        params = ()
    if not params or any(p.kind == p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def check_input_names(x, names, owner):
    """Raises ``ValueError`` when a key of the input dict ``x`` is not one of ``names``.

    Args:
        x: the input dict.
        names: ``forward_keywords(...)`` of the module (``None``: anything goes).
        owner: the module's class name, for the message.
    """
    unknown = [key for key in x if key not in names] if names is not None else []
    if unknown:
        raise ValueError(
            f"Input dict keys {unknown} do not match the parameters of {owner}.forward: "
            f"{names}. Name the inputs after them."
        )


def floating_dtype(module):
    """The dtype of ``module``'s first floating parameter or buffer; float32 when it has none.

    Example:
        >>> floating_dtype(torch.nn.Linear(2, 1).double())
        torch.float64
        >>> floating_dtype(torch.nn.ReLU())
        torch.float32
    """
    if not isinstance(module, torch.nn.Module):  # a stand-in model in a test, say
        return torch.float32
    tensors = itertools.chain(module.parameters(), module.buffers())
    return next((t.dtype for t in tensors if t.is_floating_point()), torch.float32)


def positional_arity(forward):
    """``(required, most)`` positional arguments of ``forward`` (``most`` is ``None`` with
    ``*args``), or ``None`` when its signature cannot be read.

    Example:
        >>> positional_arity(lambda input1, input2, scale=1.0: input1)
        (2, 3)
    """
    try:
        params = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):
        return None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = sum(p.default is p.empty for p in positional)
    most = None if any(p.kind == p.VAR_POSITIONAL for p in params) else len(positional)
    return required, most


_READ_AS = {1: "`(x,)`", 2: "`(x, y)`", 3: "`(x, y, sample_weight)`"}


def _describe(value):
    if isinstance(value, torch.Tensor):
        return (f"a tensor of dtype {str(value.dtype).replace('torch.', '')} and shape "
                f"{tuple(value.shape)}")
    return f"a {type(value).__name__}"


def check_first_batch(batch, source, forward, owner, seen_inputs=None, batch_size=None,
                      iterable=False):
    """Checks how the first streamed batch will be read, before any step runs.

    Args:
        batch: ``(x[, y[, sample_weight]])`` as the adapter yields it.
        source: ``"The Dataset"``, ``"The DataLoader"``, ... for the messages.
        forward: the module's ``forward``, whose positional arity is compared with ``x``;
            ``None`` when the model reads batches itself (an overridden ``train_step``...), so
            only the ranks are checked.
        owner: the module's class name.
        seen_inputs: inputs ``forward`` received before (``None``: none yet), whose ranks the
            batch's inputs must keep.
        batch_size: the adapter's ``batch_size`` when it batches the source's items itself
            (they are then samples); ``None`` when it uses them as batches.
        iterable: whether the source is an ``IterableDataset`` (for the fix the error names).

    Raises:
        ValueError: ``forward`` takes another number of inputs than ``x`` gives, the third item
            is not float per-sample weights of the batch's length, or the inputs' ranks changed.
    """
    x = batch[0]
    read_as = (f"{source} yielded batches of {len(batch)} items, read as {_READ_AS[len(batch)]} "
               "(Keras's convention)")
    several = ("Several inputs go as one nested item, e.g. `((img1, img2), target)` (a tuple "
               "of inputs, then the target), or a dict by forward's parameter names.")
    arity = None if forward is None else positional_arity(forward)
    if arity is not None and not isinstance(x, dict):
        given = len(x) if isinstance(x, (list, tuple)) else 1
        required, most = arity
        if given < required or (most is not None and given > most):
            raise ValueError(
                f"{read_as}, so {owner}.forward would receive {given} input(s) from `x`, but it "
                f"takes {required if most == required else f'{required} to {most}'}. "
                f"{several}"
            )
    length = getattr(nest.flatten(x)[0], "shape", (None,))[0]
    if forward is not None and len(batch) == 3 and batch[2] is not None:
        y = batch[1] if isinstance(batch[1], torch.Tensor) else None
        for weight in nest.flatten(batch[2]):
            if not _is_sample_weight(weight, length, y):
                raise ValueError(
                    f"{read_as}, but its third item is {_describe(weight)}, not float "
                    f"per-sample weights of the batch's length ({length}). If it is not a "
                    "weight (an index, say), leave it out of the items or make it part of `x` "
                    "or `y`; sample weights must be floats (`weight.float()`). " + several
                )
    if seen_inputs is not None:
        _check_ranks(x, seen_inputs, source, batch_size, iterable)


def _is_sample_weight(weight, length, y):
    """Float weights of shape ``(N,)``, ``(N, 1, ...)`` or a prefix of ``y``'s (per time step)."""
    if not (isinstance(weight, torch.Tensor) and weight.is_floating_point() and weight.dim()
            and weight.shape[0] == length):
        return False
    shape = tuple(weight.shape)
    return (all(size == 1 for size in shape[1:])
            or (y is not None and shape == tuple(y.shape[:len(shape)])))


def _check_ranks(x, seen_inputs, source, batch_size, iterable):
    if not nest.is_nested(x) and not nest.is_nested(seen_inputs):
        pairs = [(x, seen_inputs)]
    elif type(x) is type(seen_inputs) and len(nest.flatten(x)) == len(nest.flatten(seen_inputs)):
        pairs = list(zip(nest.flatten(x), nest.flatten(seen_inputs)))
    else:
        return  # another structure: forward's own errors say more than a rank could
    for new, old in pairs:
        if not (isinstance(new, torch.Tensor) and isinstance(old, torch.Tensor)):
            continue
        if new.dim() == old.dim():
            continue
        shapes = (f"its first batch has inputs of shape {tuple(new.shape)}, but `forward` "
                  f"received inputs of shape {('N',) + tuple(old.shape[1:])} before")
        if batch_size is None:
            fix = (f"{source}'s items are used as batches as they come: {shapes}. If they "
                   "are samples, pass a `batch_size` to batch them.")
        else:
            ready = ("pass `batch_size=None`" if iterable
                     else "wrap it in `DataLoader(dataset, batch_size=None)`")
            fix = (f"{source}'s items are samples, batched by batch_size={batch_size}: "
                   f"{shapes}. If its items are already batches, {ready}.")
        raise ValueError(fix)


def first_batch_check(model, base):
    """The ``check_batch(batch, adapter)`` hook the data adapters call on their first batch.

    It runs ``check_first_batch`` against ``model``'s forward, unless ``model`` overrides one of
    ``base``'s step methods (a model that reads batches itself may give the items another meaning).
    """
    target = model.module if model.module is not None else model
    own_steps = any(getattr(type(model), name) is not getattr(base, name) for name in (
        "train_step", "test_step", "predict_step", "call_with_inputs"))
    datasets = (data_module.DatasetAdapter, data_module.IterableDatasetAdapter)

    def check_batch(batch, adapter):  # the first streamed batch, once
        seen = model._example_inputs if isinstance(adapter, datasets) else None
        check_first_batch(batch, adapter.source, None if own_steps else target.forward,
                          type(target).__name__, seen, adapter.batch_size,
                          isinstance(adapter, data_module.IterableDatasetAdapter))

    return check_batch


def _shapes(x):
    """``(16, 5)`` for one tensor, ``[(16, 5), (16, 2)]`` / ``{'a': (16, 5)}`` for several."""
    def shape(value):
        return tuple(value.shape) if hasattr(value, "shape") else type(value).__name__
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {shape(v)}" for k, v in x.items()) + "}"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(str(shape(v)) for v in x) + "]"
    return str(shape(x))


def _refusing_layer(module, call, x):
    """``(name, layer)`` of the innermost submodule whose ``forward`` raised when ``call(x)``
    runs again (under ``no_grad``, buffers restored afterwards), or ``None``."""
    entered, hooks = [], []
    for name, layer in module.named_modules():
        hooks.append(layer.register_forward_pre_hook(
            lambda layer, args, name=name: entered.append((name, layer))))
        hooks.append(layer.register_forward_hook(lambda *args: entered.pop()))
    buffers = {name: b.detach().clone() for name, b in module.named_buffers()}
    try:
        with torch.no_grad():
            call(x)
    except RuntimeError:
        return entered[-1] if entered else None
    finally:
        for hook in hooks:
            hook.remove()
        with torch.no_grad():
            for name, buffer in module.named_buffers():
                if name in buffers:
                    buffer.copy_(buffers[name])
    return None


def checked_forward(model, call, x):
    """``call(x)``; a ``RuntimeError`` there (a feature size the first layer does not take, a
    device or dtype mismatch) becomes a ``ValueError`` naming ``x``'s shape and the layer that
    refused it, found by re-running the forward with hooks (only on that error path).

    ``Model`` runs its first forward of each ``fit``/``evaluate``/``predict`` through this, so
    the error comes before the first optimizer step and later steps pay nothing.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2))
        >>> checked_forward(net, net, torch.ones(3, 5))
        Traceback (most recent call last):
        ValueError: The model could not run on inputs of shape (3, 5): layer '0' (Linear(...
    """
    try:
        return call(x)
    except (NotImplementedError, torch.OutOfMemoryError):
        raise
    except RuntimeError as error:
        module = model.module if getattr(model, "module", None) is not None else model
        found = _refusing_layer(module, call, x)
        where = ("" if found is None else
                 f": layer '{found[0] or type(module).__name__}' ({found[1]!r}) refused them")
        raise ValueError(
            f"The model could not run on inputs of shape {_shapes(x)}{where}. torch said: "
            f"{error} Check that `x` has the shape the first layer expects (e.g. the number of "
            "features of its first Linear's `in_features`), or change that layer."
        ) from error
