"""Ftrl: Keras 3's ``keras.optimizers.Ftrl`` as a ``torch.optim.Optimizer``."""

import torch

from torchfit.optimizers.base import Optimizer
from torchfit.optimizers.keras_update import KerasUpdate

__all__ = ["Ftrl"]


class _FtrlUpdate(KerasUpdate):
    """Keras 3's FTRL-proximal update (its generic ``update_step``, in foreach kernels)."""

    def _init_state(self, param, group):
        accumulator = torch.full_like(param, group["initial_accumulator_value"])
        return {"accumulator": accumulator, "linear": torch.zeros_like(param)}

    def _update(self, group, params, grads, states):
        lr, power = group["lr"], -group["learning_rate_power"]
        if lr == 0:  # the FTRL step divides by the rate: at 0 (a warm-up's start) nothing moves
            return
        l1 = group["l1_regularization_strength"]
        l2 = group["l2_regularization_strength"] + group["beta"] / (2.0 * lr)
        accumulators = [state["accumulator"] for state in states]
        linears = [state["linear"] for state in states]
        shrinkage = 2 * group["l2_shrinkage_regularization_strength"]
        shrunk = torch._foreach_add(grads, params, alpha=shrinkage)
        new_accumulators = torch._foreach_add(accumulators, torch._foreach_mul(grads, grads))
        new_powers = torch._foreach_pow(new_accumulators, power)
        old_powers = torch._foreach_pow(accumulators, power)
        sigma = torch._foreach_div(torch._foreach_sub(new_powers, old_powers), lr)
        torch._foreach_add_(linears, torch._foreach_sub(shrunk, torch._foreach_mul(sigma, params)))
        quadratic = torch._foreach_add(torch._foreach_div(new_powers, lr), 2 * l2)
        clipped = [linear.clamp(-l1, l1) for linear in linears]
        new_params = torch._foreach_div(torch._foreach_sub(clipped, linears), quadratic)
        for param, new_param, accumulator, new_accumulator in zip(
            params, new_params, accumulators, new_accumulators
        ):
            param.copy_(new_param)
            accumulator.copy_(new_accumulator)


def _check_non_negative(name, value):
    if value < 0.0:
        raise ValueError(f"`{name}` needs to be positive or zero. Received: {name}={value}.")


class Ftrl(Optimizer, _FtrlUpdate, learning_rate=0.001, name="ftrl"):
    """FTRL-proximal (McMahan et al. 2013), Keras 3's formula (that of tf.keras 2 too).

    For each variable ``w`` with gradient ``g``, accumulator ``n`` (``initial_accumulator_value``
    at first) and linear term ``z`` (zeros), with ``p = -learning_rate_power``::

        w = w * (1 - weight_decay * lr)            # only with weight_decay
        l2 = l2_regularization_strength + beta / (2 * lr)
        g_s = g + 2 * l2_shrinkage_regularization_strength * w
        n_new = n + g**2
        z = z + g_s - (n_new**p - n**p) / lr * w
        w = (clip(z, -l1, l1) - z) / (n_new**p / lr + 2 * l2)    # l1 = l1_regularization_strength
        n = n_new

    Args:
        learning_rate: A float or a schedule. Defaults to 0.001.
        learning_rate_power: ``<= 0``; how the learning rate decreases (0: a fixed rate).
            Defaults to -0.5.
        initial_accumulator_value: ``>= 0``, the accumulators' start. Defaults to 0.1.
        l1_regularization_strength: ``>= 0``. Defaults to 0.
        l2_regularization_strength: ``>= 0``, the stabilisation penalty. Defaults to 0.
        l2_shrinkage_regularization_strength: ``>= 0``, the magnitude penalty. Defaults to 0.
        beta: The paper's beta. Defaults to 0.
        weight_decay, clipnorm, clipvalue, global_clipnorm, name: As for every torchfit
            optimizer (``torchfit.optimizers.Optimizer``).

    Raises:
        ValueError: A negative ``initial_accumulator_value`` or regularization strength, or a
            positive ``learning_rate_power`` (Keras's messages).

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0, 4.0]))
        >>> opt = Ftrl(learning_rate=0.5)
        >>> opt.apply_gradients([(torch.tensor([1.0, 6.0, 7.0, 2.0]), w)])
        >>> w.detach()
        tensor([0.2218, 1.3954, 2.3651, 2.8814])
    """

    _cpu_foreach = False  # its step always runs foreach kernels

    @staticmethod
    def keras_to_torch(
        learning_rate_power=-0.5, initial_accumulator_value=0.1, l1_regularization_strength=0.0,
        l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0, beta=0.0, *,
        weight_decay,
    ):  # fmt: skip
        _check_non_negative("initial_accumulator_value", initial_accumulator_value)
        if learning_rate_power > 0.0:
            raise ValueError(
                "`learning_rate_power` needs to be negative or zero. Received: "
                f"learning_rate_power={learning_rate_power}."
            )
        _check_non_negative("l1_regularization_strength", l1_regularization_strength)
        _check_non_negative("l2_regularization_strength", l2_regularization_strength)
        _check_non_negative(
            "l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength
        )
        return dict(
            learning_rate_power=learning_rate_power,
            initial_accumulator_value=initial_accumulator_value,
            l1_regularization_strength=l1_regularization_strength,
            l2_regularization_strength=l2_regularization_strength,
            l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength,
            beta=beta, weight_decay=weight_decay,
        )  # fmt: skip
