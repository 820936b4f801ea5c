"""Lamb: Keras 3's ``keras.optimizers.Lamb`` as a ``torch.optim.Optimizer``."""

import numpy as np
import torch

from torchfit.optimizers.base import Optimizer
from torchfit.optimizers.keras_update import KerasUpdate

__all__ = ["Lamb"]


class _LambUpdate(KerasUpdate):
    """Keras 3's Lamb update (its generic ``update_step``, in foreach kernels)."""

    def _init_state(self, param, group):
        return {
            "momentum": torch.zeros_like(param, memory_format=torch.preserve_format),
            "velocity": torch.zeros_like(param, memory_format=torch.preserve_format),
        }

    def _update(self, group, params, grads, states):
        beta_1, beta_2, step = group["beta_1"], group["beta_2"], group["step"]
        m = [state["momentum"] for state in states]
        v = [state["velocity"] for state in states]
        torch._foreach_add_(m, torch._foreach_mul(torch._foreach_sub(grads, m), 1 - beta_1))
        squares = torch._foreach_mul(grads, grads)
        torch._foreach_add_(v, torch._foreach_mul(torch._foreach_sub(squares, v), 1 - beta_2))
        # The bias corrections in float32, as Keras computes them.
        step, one = np.float32(step), np.float32(1.0)
        correction_1 = float(one - np.power(np.float32(beta_1), step))
        correction_2 = float(one - np.power(np.float32(beta_2), step))
        m_hat = torch._foreach_div(m, correction_1)
        v_sqrt = torch._foreach_sqrt(torch._foreach_div(v, correction_2))
        torch._foreach_add_(v_sqrt, group["epsilon"])
        updates = torch._foreach_div(m_hat, v_sqrt)
        w_norms = torch._foreach_norm(params)
        u_norms = torch._foreach_norm(updates)
        for param, update, w_norm, u_norm in zip(params, updates, w_norms, u_norms):
            # The layer-wise trust ratio ||w|| / ||update||, 1 where either norm is 0: on the
            # device, no synchronisation.
            ratio = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, 1.0)
            param.sub_(ratio * group["lr"] * update)


class Lamb(Optimizer, _LambUpdate, learning_rate=0.001, name="lamb"):
    """Lamb (layer-wise adaptive moments, You et al. 2019), Keras 3's formula.

    For each variable ``w`` (a whole tensor: the "layer") with gradient ``g`` at step ``t``
    (from 1), moments ``m`` and ``v`` (zeros at first)::

        w = w * (1 - weight_decay * lr)            # only with weight_decay
        m = m + (g - m) * (1 - beta_1)
        v = v + (g**2 - v) * (1 - beta_2)
        update = (m / (1 - beta_1**t)) / (sqrt(v / (1 - beta_2**t)) + epsilon)
        ratio = ||w|| / ||update||                 # 1 if either norm is 0
        w = w - ratio * lr * update

    Args:
        learning_rate: A float or a schedule. Defaults to 0.001.
        beta_1: Decay of the first moment. Defaults to 0.9.
        beta_2: Decay of the second moment. Defaults to 0.999.
        epsilon: Added to the denominator. Defaults to 1e-7.
        weight_decay, clipnorm, clipvalue, global_clipnorm, name: As for every torchfit
            optimizer (``torchfit.optimizers.Optimizer``).

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0, 4.0]))
        >>> opt = Lamb(learning_rate=0.5)
        >>> opt.apply_gradients([(torch.tensor([1.0, 6.0, 7.0, 2.0]), w)])
        >>> w.detach()
        tensor([-0.3693,  0.6307,  1.6307,  2.6307])
    """

    _cpu_foreach = False  # its step always runs foreach kernels

    @staticmethod
    def keras_to_torch(beta_1=0.9, beta_2=0.999, epsilon=1e-07, *, weight_decay):
        return dict(beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, weight_decay=weight_decay)
