"""Gradient clipping on the device: ``clipvalue``, ``clipnorm`` and ``global_clipnorm``.

Used by the torchfit optimizers (Keras's clipping arguments) and by ``compile(clipnorm=...,
clipvalue=..., global_clipnorm=...)`` for any optimizer. ``clipvalue`` and ``clipnorm`` are
Keras's; ``global_clipnorm`` is ``torch.nn.utils.clip_grad_norm_``, bit for bit.

Every function works in place, with torch's ``foreach`` kernels (a few dispatches for all the
gradients, grouped by device and dtype) and without a host synchronisation.

Example:
    >>> from torchfit.optimizers import clipping
    >>> grads = [torch.tensor([3.0, 4.0]), torch.tensor([0.3, 0.4])]
    >>> clipping.clip_gradients_(grads, clipnorm=1.0)
    >>> [g.tolist() for g in grads]
    [[0.6000000238418579, 0.800000011920929], [0.30000001192092896, 0.4000000059604645]]
"""

import numbers

import torch

__all__ = ["check_clipping", "clip_gradients_"]

_NAMES = ("clipvalue", "clipnorm", "global_clipnorm")


def check_clipping(clipvalue=None, clipnorm=None, global_clipnorm=None, optimizer=None):
    """Validates ``compile``'s clipping arguments; returns them as a dict, or None if unset.

    Args:
        clipvalue, clipnorm, global_clipnorm: positive numbers or None (see ``clip_gradients_``).
        optimizer: what ``compile`` received; a torchfit optimizer that clips itself is refused
            with compile clipping, since the two would clip twice in an order nobody chose.

    Raises:
        TypeError: a threshold that is not a number.
        ValueError: a non-positive threshold, ``clipnorm`` with ``global_clipnorm``, or clipping
            set both here and on a torchfit optimizer.

    Example:
        >>> check_clipping(global_clipnorm=0.25)
        {'global_clipnorm': 0.25}
        >>> check_clipping() is None
        True
    """
    given = {}
    for name, value in zip(_NAMES, (clipvalue, clipnorm, global_clipnorm)):
        if value is None:
            continue
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise TypeError(f"`{name}` must be a number or None. Received: {name}={value!r}.")
        if not value > 0:
            raise ValueError(f"`{name}` must be > 0 or None. Received: {name}={value!r}.")
        given[name] = float(value)
    if not given:
        return None
    if "clipnorm" in given and "global_clipnorm" in given:
        raise ValueError(
            "Only one of `clipnorm` and `global_clipnorm` can be set. Received: "
            f"clipnorm={clipnorm}, global_clipnorm={global_clipnorm}. Use clipnorm to clip each "
            "gradient separately, global_clipnorm (torch's clip_grad_norm_) their joint norm."
        )
    own = {name: getattr(optimizer, f"_{name}", None) for name in _NAMES}
    own = {name: value for name, value in own.items() if value is not None}
    if own and isinstance(optimizer, torch.optim.Optimizer):
        ours = ", ".join(f"{name}={value}" for name, value in given.items())
        theirs = ", ".join(f"{name}={value}" for name, value in own.items())
        raise ValueError(
            f"Gradient clipping is set twice: {ours} in compile() and {theirs} on the "
            f"{type(optimizer).__name__} optimizer. Set clipping in one place: on the "
            "torchfit optimizer, or in compile() (which works for any optimizer)."
        )
    return given


def clip_gradients_(grads, clipvalue=None, clipnorm=None, global_clipnorm=None):
    """Clip ``grads`` in place as a Keras optimizer does: values first, then norms.

    Args:
        grads: A list of gradient tensors.
        clipvalue: Clamp each element to ``[-clipvalue, clipvalue]``.
        clipnorm: Scale each gradient by ``clipnorm / max(||g||, clipnorm)`` separately.
        global_clipnorm: Scale all gradients by ``min(global_clipnorm / (global_norm + 1e-6),
            1)``, exactly as ``torch.nn.utils.clip_grad_norm_`` (ignored if ``clipnorm`` is
            given; the optimizers and ``compile`` refuse both).
    """
    if not grads:
        return
    if clipvalue is not None:
        torch._foreach_clamp_min_(grads, -clipvalue)
        torch._foreach_clamp_max_(grads, clipvalue)
    if clipnorm is not None:
        _clip_each_norm_(grads, clipnorm)
    elif global_clipnorm is not None:
        _clip_global_norm_(grads, global_clipnorm)


def _scale_(tensors, scale):
    """tensors *= scale (a 0-d tensor), one foreach kernel per device and dtype (as torch)."""
    by_device = {}
    for tensor in tensors:
        by_device.setdefault((tensor.device, tensor.dtype), []).append(tensor)
    for (device, _), group in by_device.items():
        torch._foreach_mul_(group, scale.to(device))


def _clip_each_norm_(grads, clipnorm):
    """Keras ``clipnorm``: g *= clipnorm / max(||g||, clipnorm), for each gradient separately."""
    by_key = {}
    for grad in grads:
        by_key.setdefault((grad.device, grad.dtype), []).append(grad)
    for group in by_key.values():
        # Out of place: on FSDP's sharded (DTensor) gradients a norm is a partial value that an
        # in-place clamp cannot take.
        scales = torch._foreach_clamp_min(torch._foreach_norm(group), clipnorm)
        torch._foreach_reciprocal_(scales)
        torch._foreach_mul_(scales, clipnorm)
        torch._foreach_mul_(group, scales)


def _clip_global_norm_(grads, clipnorm):
    """``global_clipnorm``: exactly ``torch.nn.utils.clip_grad_norm_(params, clipnorm)``.

    The same kernels in the same order as torch (its total norm, then
    ``g *= min(clipnorm / (total_norm + 1e-6), 1)``), so the numbers are torch's bit for bit:
    the ported hand-written loops (e.g. word_language_model's SGD at lr=20) train identically.
    Keras's ``clipnorm / max(total_norm, clipnorm)`` differs from it in the last bits, which such a
    learning rate amplifies step after step.
    """
    total_norm = torch.nn.utils.get_total_norm(grads)
    _scale_(grads, torch.clamp(clipnorm / (total_norm + 1e-6), max=1.0))
