"""ScheduleFreeAdamW: Keras 3's ``keras.optimizers.ScheduleFreeAdamW`` as a torch optimizer."""

import numpy as np
import torch

from torchfit.optimizers.base import Optimizer
from torchfit.optimizers.keras_update import KerasUpdate

__all__ = ["ScheduleFreeAdamW"]


class _ScheduleFreeUpdate(KerasUpdate):
    """Keras 3's Schedule-Free AdamW update (its generic ``update_step``, in foreach kernels)."""

    def _init_state(self, param, group):
        return {
            "momentum": param.detach().clone(memory_format=torch.preserve_format),
            "velocity": torch.zeros_like(param, memory_format=torch.preserve_format),
        }

    def _update(self, group, params, grads, states):
        beta_1, beta_2, step = group["beta_1"], group["beta_2"], group["step"]
        lr = group["lr"]
        if group["warmup_steps"] > 0:
            lr = lr * min(step / group["warmup_steps"], 1.0)
        z = [state["momentum"] for state in states]
        v = [state["velocity"] for state in states]
        z_old = [t.clone() for t in z]
        squares = torch._foreach_mul(grads, grads)
        torch._foreach_add_(v, torch._foreach_mul(torch._foreach_sub(squares, v), 1 - beta_2))
        correction = float(np.float32(1.0) - np.power(np.float32(beta_2), np.float32(step)))
        denom = torch._foreach_sqrt(torch._foreach_div(v, correction))
        torch._foreach_add_(denom, group["epsilon"])
        torch._foreach_sub_(z, torch._foreach_div(torch._foreach_mul(grads, lr), denom))
        weight = 1.0 / step
        # x (the average) is not stored: it is recovered from y (the parameters) and z.
        x_old = torch._foreach_div(torch._foreach_sub(params, z_old, alpha=1 - beta_1), beta_1)
        x_new = torch._foreach_add(torch._foreach_mul(x_old, 1 - weight), z, alpha=weight)
        y_new = torch._foreach_add(torch._foreach_mul(z, 1 - beta_1), x_new, alpha=beta_1)
        torch._foreach_copy_(params, y_new)


class ScheduleFreeAdamW(
    Optimizer, _ScheduleFreeUpdate, learning_rate=0.0025, name="schedule_free_adam_w"
):
    """Schedule-Free AdamW (Defazio et al. 2024), Keras 3's formula.

    The parameters ``y`` interpolate between ``z`` (where the gradient steps go; ``y`` at
    first) and their running average ``x``. At step ``t`` (from 1), with gradient ``g`` at ``y``::

        y = y * (1 - weight_decay * lr)            # only with weight_decay (base lr)
        lr_t = lr * min(t / warmup_steps, 1)       # lr if warmup_steps == 0
        v = v + (g**2 - v) * (1 - beta_2)
        z_new = z - lr_t * g / (sqrt(v / (1 - beta_2**t)) + epsilon)
        x = (y - (1 - beta_1) * z) / beta_1        # the average, from the old z
        x = (1 - 1/t) * x + (1/t) * z_new
        y = (1 - beta_1) * z_new + beta_1 * x
        z = z_new

    Difference: Keras 3's code computes ``x`` from the old ``z`` as above (and so does this
    class), but on its torch backend ``momentum.value`` aliases the variable that
    ``assign_sub`` then updates in place, so Keras-on-torch computes ``x`` from ``z_new``.

    Args:
        learning_rate: A float or a schedule. Defaults to 0.0025.
        beta_1: Interpolation between ``z`` and ``x``. Defaults to 0.9.
        beta_2: Decay of the second moment. Defaults to 0.999.
        epsilon: Added to the denominator. Defaults to 1e-8.
        warmup_steps: Steps of linear learning-rate warmup. Defaults to 0.
        weight_decay, clipnorm, clipvalue, global_clipnorm, name: As for every torchfit
            optimizer (``torchfit.optimizers.Optimizer``).

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
        >>> opt = ScheduleFreeAdamW(learning_rate=0.1)
        >>> for _ in range(2):
        ...     opt.apply_gradients([(torch.tensor([0.5, -1.0]), w)])
        >>> w.detach()
        tensor([0.8450, 2.1550])
    """

    _cpu_foreach = False  # its step always runs foreach kernels

    @staticmethod
    def keras_to_torch(beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0, *, weight_decay):
        return dict(
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, warmup_steps=warmup_steps,
            weight_decay=weight_decay,
        )  # fmt: skip
