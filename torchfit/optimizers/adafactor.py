"""Adafactor: Keras 3's ``keras.optimizers.Adafactor`` as a ``torch.optim.Optimizer``."""

import numpy as np
import torch

from torchfit.optimizers.base import Optimizer
from torchfit.optimizers.keras_update import KerasUpdate

__all__ = ["Adafactor"]


def _rms(x):
    return x.square().mean().sqrt()


class _AdafactorUpdate(KerasUpdate):
    """Keras 3's Adafactor update, one tensor at a time (the factored moments differ in shape)."""

    def _init_state(self, param, group):
        if param.ndim < 2:
            return {"velocity": torch.zeros_like(param)}
        shape = param.shape
        return {
            "row": param.new_zeros(shape[:-1]),
            "column": param.new_zeros(shape[:-2] + shape[-1:]),
        }

    def _update(self, group, params, grads, states):
        # The step's scalars are computed as Keras does, in float32 (on the host): 1 - beta_2 is
        # small late in training, and its rounding is Keras's.
        step, one = np.float32(group["step"]), np.float32(1.0)
        rho = float(min(np.float32(group["lr"]), one / np.sqrt(step)))
        beta_2 = one - np.power(step, np.float32(group["beta_2_decay"]))
        beta_2, one_minus_beta_2 = float(beta_2), float(one - beta_2)
        for param, grad, state in zip(params, grads, states):
            alpha = torch.clamp(_rms(param), min=group["epsilon_2"]) * rho
            regulated = grad.square().add_(group["epsilon_1"])
            if param.ndim >= 2:
                row, column = state["row"], state["column"]
                row.mul_(beta_2).add_(regulated.mean(dim=-1), alpha=one_minus_beta_2)
                column.mul_(beta_2).add_(regulated.mean(dim=-2), alpha=one_minus_beta_2)
                # Keras stores this full-size product as a slot; it is rebuilt every step from
                # the factors, so it is not kept here (the factors are Adafactor's memory saving).
                normalised_row = row / row.mean(dim=-1, keepdim=True)
                velocity = normalised_row.unsqueeze(-1) * column.unsqueeze(-2)
            else:
                velocity = state["velocity"]
                velocity.mul_(beta_2).add_(regulated, alpha=one_minus_beta_2)
            update = grad / velocity.sqrt()
            update = update / torch.clamp(_rms(update) / group["clip_threshold"], min=1.0)
            param.sub_(alpha * update)


class Adafactor(Optimizer, _AdafactorUpdate, learning_rate=0.001, name="adafactor"):
    """Adafactor (Shazeer & Stern 2018), Keras 3's formula.

    For each variable ``w`` with gradient ``g`` at step ``t`` (from 1), with ``rms(x) =
    sqrt(mean(x**2))``::

        w = w * (1 - weight_decay * lr)            # only with weight_decay
        rho = min(lr, 1 / sqrt(t))
        alpha = max(epsilon_2, rms(w)) * rho
        beta_2 = 1 - t**beta_2_decay
        G = g**2 + epsilon_1
        if w.ndim >= 2:   # factored second moment over the last two axes
            r = beta_2 * r + (1 - beta_2) * mean(G, axis=-1)
            c = beta_2 * c + (1 - beta_2) * mean(G, axis=-2)
            v = (r / mean(r, axis=-1))[..., None] * c[..., None, :]
        else:
            v = beta_2 * v + (1 - beta_2) * G
        u = g / sqrt(v)
        w = w - alpha * u / max(1, rms(u) / clip_threshold)

    ``relative_step`` is accepted and kept for Keras compatibility, but as in Keras 3 it changes
    nothing: Keras 3 caps the learning rate at ``1 / sqrt(t)`` in ``rho`` whatever its value.
    ``clip_threshold`` is Adafactor's own update clipping, independent of ``clipnorm``,
    ``clipvalue`` and ``global_clipnorm``.

    Args:
        learning_rate: A float or a schedule. Defaults to 0.001.
        beta_2_decay: The decay rate of ``beta_2``. Defaults to -0.8.
        epsilon_1: Added to the squared gradients. Defaults to 1e-30.
        epsilon_2: Lower bound of ``rms(w)`` in the step size. Defaults to 1e-3.
        clip_threshold: Threshold of the update's RMS. Defaults to 1.0.
        relative_step: See above. Defaults to True.
        weight_decay, clipnorm, clipvalue, global_clipnorm, name: As for every torchfit
            optimizer (``torchfit.optimizers.Optimizer``).

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0, 4.0]))
        >>> opt = Adafactor(learning_rate=0.5)
        >>> opt.apply_gradients([(torch.tensor([1.0, 6.0, 7.0, 2.0]), w)])
        >>> w.detach()
        tensor([-0.3693,  0.6307,  1.6307,  2.6307])
    """

    _cpu_foreach = False  # its step loops over the tensors (factored shapes)

    @staticmethod
    def keras_to_torch(
        beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
        relative_step=True, *, weight_decay,
    ):  # fmt: skip
        return dict(
            beta_2_decay=beta_2_decay, epsilon_1=epsilon_1, epsilon_2=epsilon_2,
            clip_threshold=clip_threshold, relative_step=relative_step, weight_decay=weight_decay,
        )  # fmt: skip
