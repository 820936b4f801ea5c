"""Keras 3's update rules of SGD, RMSprop, Adam(W), Adagrad, Adadelta, Adamax and Nadam.

Each rule is a ``KerasUpdate`` (``keras_update``): ``_init_state`` creates Keras's slot variables
of a parameter under Keras's names, ``_update`` is Keras 3's ``update_step`` over a whole param
group with torch's ``_foreach_*`` kernels: the same kernels as Keras's torch backend
(``keras/src/backend/torch/optimizers/``) where that costs nothing, fused ones (``addcmul`` /
``addcdiv``) where Keras allocates intermediates, so that a step launches no more kernels than
torch's own foreach step. The numbers equal Keras 3's to float32 rounding.

The host-side scalars (bias corrections, Nadam's momentum schedule) are computed from the group's
Python floats and ``group["step"]`` (Keras's ``iterations + 1``), rounded as Keras rounds them:
in the parameters' dtype, float32 unless they are float64 (a float64 operation on float32 inputs,
rounded to float32, is exactly the float32 operation). No host-device synchronisation.

Example:
    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = AdamUpdate([w], lr=0.1, betas=(0.9, 0.999), eps=1e-7, amsgrad=False)
    >>> w.grad = torch.tensor([1e-8])  # a gradient near epsilon shows where epsilon enters
    >>> opt.step()
    >>> # Keras: lr * sqrt(1 - b2) * g / (sqrt(1 - b2) * g + eps)
    >>> round(1.0 - w.item(), 6)  # sync: the example reads its CPU weight
    0.000315
    >>> round(0.1 * 1e-8 / (1e-8 + 1e-7), 6)  # torch.optim.Adam: lr * g / (g + eps)
    0.009091
"""

import math

import numpy as np
import torch

from torchfit.optimizers.keras_update import KerasUpdate

__all__ = [
    "SGDUpdate",
    "RMSpropUpdate",
    "AdamUpdate",
    "AdagradUpdate",
    "AdadeltaUpdate",
    "AdamaxUpdate",
    "NadamUpdate",
]


def _float32(value):
    return float(np.float32(value))


def _rounding(params):
    """Keras computes scalars in the variable dtype: float64 stays, anything else is float32."""
    return float if params[0].dtype == torch.float64 else _float32


def _zeros(param):
    return torch.zeros_like(param, memory_format=torch.preserve_format)


def _first_moment(states, grads, beta_1):
    """``m = beta_1 * m + (1 - beta_1) * g`` in place (Adam, Adamax, Nadam); returns the ``m``s."""
    momentums = [s["momentum"] for s in states]
    torch._foreach_mul_(momentums, beta_1)
    torch._foreach_add_(momentums, grads, alpha=1 - beta_1)
    return momentums


def _adam_moments(states, grads, beta_1, beta_2):
    """Adam's (and Nadam's) moments, updated in place: ``m`` as ``_first_moment``,
    ``v = beta_2 * v + (1 - beta_2) * g**2``; returns the two lists of slot tensors."""
    momentums = _first_moment(states, grads, beta_1)
    velocities = [s["velocity"] for s in states]
    torch._foreach_mul_(velocities, beta_2)
    torch._foreach_addcmul_(velocities, grads, grads, value=1 - beta_2)
    return momentums, velocities


def _slot(states, params, name):
    """The ``name`` slot of every parameter, created (zeros) where it is missing: a momentum
    switched on after the first step (e.g. by torch's ``CyclicLR``) starts from zero."""
    return [s[name] if name in s else s.setdefault(name, _zeros(p)) for s, p in zip(states, params)]


class _KerasRule(KerasUpdate):
    """Checks that a loaded state holds this rule's slots (not another optimizer's)."""

    _slots = ()  # the slot names _init_state creates

    def load_state_dict(self, state_dict):
        expected = set(self._slots)
        for param_state in state_dict.get("state", {}).values():
            foreign = set(param_state) - expected
            if foreign:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict() received the state of another "
                    f"optimizer: per-parameter keys {sorted(param_state)}, expected some of "
                    f"{sorted(expected)} (Keras's slot variables). A torch.optim state_dict "
                    "cannot continue a Keras update rule; load one saved by this class."
                )
        super().load_state_dict(state_dict)


class SGDUpdate(_KerasRule):
    """Keras 3 SGD: ``m = momentum * m - lr * g``; ``w += m`` (nesterov:
    ``w += momentum * m - lr * g``); without momentum ``w -= lr * g``."""

    _slots = ("momentum",)

    def _init_state(self, param, group):
        return {"momentum": _zeros(param)} if group["momentum"] else {}

    def _update(self, group, params, grads, states):
        lr, momentum = group["lr"], group["momentum"]
        if not momentum:
            torch._foreach_add_(params, grads, alpha=-lr)
            return
        buffers = _slot(states, params, "momentum")
        torch._foreach_mul_(buffers, momentum)
        torch._foreach_add_(buffers, grads, alpha=-lr)
        if group["nesterov"]:
            torch._foreach_add_(params, grads, alpha=-lr)
            torch._foreach_add_(params, buffers, alpha=momentum)
        else:
            torch._foreach_add_(params, buffers)


class RMSpropUpdate(_KerasRule):
    """Keras 3 RMSprop: ``v = rho * v + (1 - rho) * g**2``; centered: ``a = rho * a + (1 - rho) *
    g`` and ``d = sqrt(v - a**2 + eps)``, else ``d = sqrt(v + eps)``; ``w -= lr * g / d``, or with
    momentum ``m = momentum * m + lr * g / d; w -= m``. The group key of ``rho`` is torch's
    ``alpha``."""

    _slots = ("velocity", "momentum", "average_gradient")

    def _init_state(self, param, group):
        state = {"velocity": _zeros(param)}
        if group["momentum"] > 0:
            state["momentum"] = _zeros(param)
        if group["centered"]:
            state["average_gradient"] = _zeros(param)
        return state

    def _update(self, group, params, grads, states):
        lr, rho, momentum = group["lr"], group["alpha"], group["momentum"]
        velocities = [s["velocity"] for s in states]
        torch._foreach_mul_(velocities, rho)
        if group["centered"]:
            # v - a**2 cancels as the gradients settle: Keras's own kernels (their rounding)
            # for v and a**2, since any other rounding of the difference shows in the update.
            torch._foreach_add_(velocities, torch._foreach_mul(grads, grads), alpha=1 - rho)
            denominators = torch._foreach_add(velocities, group["eps"])
            averages = _slot(states, params, "average_gradient")
            torch._foreach_mul_(averages, rho)
            torch._foreach_add_(averages, grads, alpha=1 - rho)
            torch._foreach_add_(denominators, torch._foreach_mul(averages, averages), alpha=-1)
        else:
            torch._foreach_addcmul_(velocities, grads, grads, value=1 - rho)
            denominators = torch._foreach_add(velocities, group["eps"])
        torch._foreach_sqrt_(denominators)
        if momentum > 0:
            buffers = _slot(states, params, "momentum")
            torch._foreach_mul_(buffers, momentum)
            torch._foreach_addcdiv_(buffers, grads, denominators, value=lr)
            torch._foreach_sub_(params, buffers)
        else:
            torch._foreach_addcdiv_(params, grads, denominators, value=-lr)


class AdamUpdate(_KerasRule):
    """Keras 3 Adam / AdamW (``epsilon`` is the paper's "epsilon hat"): ``m = b1 * m + (1 - b1) *
    g``; ``v = b2 * v + (1 - b2) * g**2`` (amsgrad: ``v_hat = max(v_hat, v)`` in its place);
    ``w -= lr * sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v) + eps)``."""

    _slots = ("momentum", "velocity", "velocity_hat")

    def _init_state(self, param, group):
        state = {"momentum": _zeros(param), "velocity": _zeros(param)}
        if group["amsgrad"]:
            state["velocity_hat"] = _zeros(param)
        return state

    def _update(self, group, params, grads, states):
        beta_1, beta_2 = group["betas"]
        r, t = _rounding(params), group["step"]
        b1, b2 = r(beta_1), r(beta_2)
        correction = r(math.sqrt(r(1 - r(b2**t))))
        alpha = r(r(r(group["lr"]) * correction) / r(1 - r(b1**t)))
        momentums, velocities = _adam_moments(states, grads, beta_1, beta_2)
        if group["amsgrad"]:
            maxima = _slot(states, params, "velocity_hat")
            torch._foreach_maximum_(maxima, velocities)
            velocities = maxima
        denominators = torch._foreach_sqrt(velocities)
        torch._foreach_add_(denominators, group["eps"])
        torch._foreach_addcdiv_(params, momentums, denominators, value=-alpha)


class AdagradUpdate(_KerasRule):
    """Keras 3 Adagrad: ``a += g**2`` (``a`` starts at ``initial_accumulator_value``);
    ``w -= lr * g / sqrt(a + eps)``."""

    _slots = ("accumulator",)

    def _init_state(self, param, group):
        initial = group["initial_accumulator_value"]
        return {"accumulator": torch.full_like(param, initial, memory_format=torch.preserve_format)}

    def _update(self, group, params, grads, states):
        accumulators = [s["accumulator"] for s in states]
        torch._foreach_addcmul_(accumulators, grads, grads)
        denominators = torch._foreach_add(accumulators, group["eps"])
        torch._foreach_sqrt_(denominators)
        torch._foreach_addcdiv_(params, grads, denominators, value=-group["lr"])


class AdadeltaUpdate(_KerasRule):
    """Keras 3 Adadelta: ``a = rho * a + (1 - rho) * g**2``; ``delta = -sqrt(d + eps) * g /
    sqrt(a + eps)``; ``d = rho * d + (1 - rho) * delta**2``; ``w += lr * delta``."""

    _slots = ("accumulated_grad", "accumulated_delta_var")

    def _init_state(self, param, group):
        return {"accumulated_grad": _zeros(param), "accumulated_delta_var": _zeros(param)}

    def _update(self, group, params, grads, states):
        rho, eps = group["rho"], group["eps"]
        accumulated = [s["accumulated_grad"] for s in states]
        deltas_squared = [s["accumulated_delta_var"] for s in states]
        torch._foreach_mul_(accumulated, rho)
        torch._foreach_addcmul_(accumulated, grads, grads, value=1 - rho)
        steps = torch._foreach_add(deltas_squared, eps)  # becomes -delta
        torch._foreach_sqrt_(steps)
        torch._foreach_mul_(steps, grads)
        denominators = torch._foreach_add(accumulated, eps)
        torch._foreach_sqrt_(denominators)
        torch._foreach_div_(steps, denominators)
        torch._foreach_mul_(deltas_squared, rho)
        torch._foreach_addcmul_(deltas_squared, steps, steps, value=1 - rho)
        torch._foreach_add_(params, steps, alpha=-group["lr"])


class AdamaxUpdate(_KerasRule):
    """Keras 3 Adamax: ``m = b1 * m + (1 - b1) * g``; ``u = max(b2 * u, |g|)``;
    ``w -= lr * m / ((1 - b1**t) * (u + eps))``."""

    _slots = ("momentum", "norm")

    def _init_state(self, param, group):
        return {"momentum": _zeros(param), "norm": _zeros(param)}

    def _update(self, group, params, grads, states):
        beta_1, beta_2 = group["betas"]
        r = _rounding(params)
        step_size = r(r(group["lr"]) / r(1 - r(r(beta_1) ** group["step"])))
        momentums = _first_moment(states, grads, beta_1)
        norms = [s["norm"] for s in states]
        torch._foreach_mul_(norms, beta_2)
        torch._foreach_maximum_(norms, torch._foreach_abs(grads))
        denominators = torch._foreach_add(norms, group["eps"])
        torch._foreach_addcdiv_(params, momentums, denominators, value=-step_size)


class NadamUpdate(_KerasRule):
    """Keras 3 Nadam: ``u_t = b1 * (1 - 0.5 * 0.96**t)``, ``P_t = u_1 * ... * u_t`` (kept in
    ``group["u_product"]``, Keras's ``_u_product``); ``m``, ``v`` as Adam's;
    ``m_hat = u_{t+1} * m / (1 - P_t * u_{t+1}) + (1 - u_t) * g / (1 - P_t)``;
    ``w -= lr * m_hat / (sqrt(v / (1 - b2**t)) + eps)``."""

    _slots = ("momentum", "velocity")

    def _init_state(self, param, group):
        return {"momentum": _zeros(param), "velocity": _zeros(param)}

    def _update(self, group, params, grads, states):
        beta_1, beta_2 = group["betas"]
        r, t = _rounding(params), group["step"]
        b1, decay = r(beta_1), r(0.96)
        u_t = r(b1 * r(1 - r(0.5 * r(decay**t))))
        u_next = r(b1 * r(1 - r(0.5 * r(decay ** (t + 1)))))
        product = group["u_product"] = r(group.get("u_product", 1.0) * u_t)
        lr = r(group["lr"])
        momentum_scale = r(u_next / r(1 - r(product * u_next)))
        gradient_scale = r(r(1 - u_t) / r(1 - product))
        momentums, velocities = _adam_moments(states, grads, beta_1, beta_2)
        denominators = torch._foreach_div(velocities, r(1 - r(r(beta_2) ** t)))
        torch._foreach_sqrt_(denominators)
        torch._foreach_add_(denominators, group["eps"])
        # m_hat as one tensor, as Keras: the parameters are rounded once per step (updates
        # near their float32 resolution, e.g. with tiny gradients, would drift otherwise).
        m_hat = torch._foreach_mul(momentums, momentum_scale)
        torch._foreach_add_(m_hat, grads, alpha=gradient_scale)
        torch._foreach_addcdiv_(params, m_hat, denominators, value=-lr)
