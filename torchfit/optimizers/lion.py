"""Lion: Keras 3's ``keras.optimizers.Lion`` as a ``torch.optim.Optimizer``."""

import torch

from torchfit.optimizers.base import Optimizer
from torchfit.optimizers.keras_update import KerasUpdate

__all__ = ["Lion"]


class _LionUpdate(KerasUpdate):
    """Keras 3's Lion update (its torch backend's foreach kernels, in the same order)."""

    def _init_state(self, param, group):
        return {"momentum": torch.zeros_like(param, memory_format=torch.preserve_format)}

    def _update(self, group, params, grads, states):
        beta_1, beta_2 = group["beta_1"], group["beta_2"]
        momentums = [state["momentum"] for state in states]
        direction = torch._foreach_mul(momentums, beta_1)
        torch._foreach_add_(direction, grads, alpha=1 - beta_1)
        direction = [d.sign_() for d in direction]
        torch._foreach_mul_(direction, group["lr"])
        torch._foreach_sub_(params, direction)
        torch._foreach_mul_(momentums, beta_2)
        torch._foreach_add_(momentums, grads, alpha=1 - beta_2)


class Lion(Optimizer, _LionUpdate, learning_rate=0.001, name="lion"):
    """Lion (evolved sign momentum, Chen et al. 2023), Keras 3's formula.

    For each variable ``w`` with gradient ``g`` and momentum ``m`` (zeros at first)::

        w = w * (1 - weight_decay * lr)            # only with weight_decay
        w = w - lr * sign(beta_1 * m + (1 - beta_1) * g)
        m = beta_2 * m + (1 - beta_2) * g

    A good learning rate is 3-10x smaller than AdamW's, and ``weight_decay`` 3-10x larger.

    Args:
        learning_rate: A float or a schedule. Defaults to 0.001.
        beta_1: Weight of the momentum in the update's sign, in ``(0, 1]``. Defaults to 0.9.
        beta_2: Decay of the momentum. Defaults to 0.99.
        weight_decay, clipnorm, clipvalue, global_clipnorm, name: As for every torchfit
            optimizer (``torchfit.optimizers.Optimizer``).

    Raises:
        ValueError: ``beta_1`` outside ``(0, 1]`` (Keras's message).

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0, 4.0]))
        >>> opt = Lion(learning_rate=0.5)
        >>> opt.apply_gradients([(torch.tensor([1.0, 6.0, 7.0, 2.0]), w)])
        >>> w.detach()
        tensor([0.5000, 1.5000, 2.5000, 3.5000])
    """

    _cpu_foreach = False  # its step always runs foreach kernels

    @staticmethod
    def keras_to_torch(beta_1=0.9, beta_2=0.99, *, weight_decay):
        if beta_1 <= 0 or beta_1 > 1:
            raise ValueError(
                "Argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer "
                f"degenerates to SignSGD. Received: beta_1={beta_1}."
            )
        return dict(beta_1=beta_1, beta_2=beta_2, weight_decay=weight_decay)
