"""Keras gradient clipping on the device: ``clipvalue``, ``clipnorm`` and ``global_clipnorm``.

Every function works in place, with torch's ``foreach`` kernels (a few dispatches for all the
gradients, grouped by device and dtype) and without a host synchronisation.

Example:
    >>> from torchfit.optimizers import clipping
    >>> grads = [torch.tensor([3.0, 4.0]), torch.tensor([0.3, 0.4])]
    >>> clipping.clip_gradients_(grads, clipnorm=1.0)
    >>> [g.tolist() for g in grads]
    [[0.6000000238418579, 0.800000011920929], [0.30000001192092896, 0.4000000059604645]]
"""

import torch

__all__ = ["clip_gradients_"]


def clip_gradients_(grads, clipvalue=None, clipnorm=None, global_clipnorm=None):
    """Clip ``grads`` in place as a Keras optimizer does: values first, then norms.

    Args:
        grads: A list of gradient tensors.
        clipvalue: Clamp each element to ``[-clipvalue, clipvalue]``.
        clipnorm: Scale each gradient by ``clipnorm / max(||g||, clipnorm)`` separately.
        global_clipnorm: Scale all gradients by ``global_clipnorm / max(global_norm,
            global_clipnorm)`` (ignored if ``clipnorm`` is given; the optimizers refuse both).
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
    """tensors *= scale (a 0-d tensor), one foreach kernel per device."""
    by_device = {}
    for tensor in tensors:
        by_device.setdefault(tensor.device, []).append(tensor)
    for device, group in by_device.items():
        torch._foreach_mul_(group, scale.to(device))


def _clip_each_norm_(grads, clipnorm):
    """Keras ``clipnorm``: g *= clipnorm / max(||g||, clipnorm), for each gradient separately."""
    by_key = {}
    for grad in grads:
        by_key.setdefault((grad.device, grad.dtype), []).append(grad)
    for group in by_key.values():
        scales = torch._foreach_norm(group)
        torch._foreach_clamp_min_(scales, clipnorm)
        torch._foreach_reciprocal_(scales)
        torch._foreach_mul_(scales, clipnorm)
        torch._foreach_mul_(group, scales)


def _clip_global_norm_(grads, clipnorm):
    """Keras ``global_clipnorm``: all g *= clipnorm / max(global norm, clipnorm).

    Same cost as ``torch.nn.utils.clip_grad_norm_``, but without its ``+ 1e-6`` in the
    denominator, so the result is Keras's.
    """
    total_norm = torch.nn.utils.get_total_norm(grads, foreach=True)
    _scale_(grads, clipnorm / total_norm.clamp(min=clipnorm))
