"""Muon: Keras 3's ``keras.optimizers.Muon`` as a ``torch.optim.Optimizer``."""

import re

import numpy as np
import torch

from torchfit.optimizers.base import Optimizer
from torchfit.optimizers.keras_update import KerasUpdate

__all__ = ["Muon", "zeropower_via_newtonschulz5", "lr_adjust"]


def _transpose_last(x):
    return x.transpose(-2, -1)


def zeropower_via_newtonschulz5(x, steps, a, b, c):
    """Keras 3's quintic Newton-Schulz iteration towards the orthogonal factor of ``x``."""
    tall = x.shape[-2] > x.shape[-1]
    if tall:
        x = _transpose_last(x)
    x = x / (torch.linalg.matrix_norm(x, keepdim=True) + 1e-7)
    for _ in range(steps):
        gram = x @ _transpose_last(x)
        x = a * x + (b * gram + c * gram @ gram) @ x
    return _transpose_last(x) if tall else x


def lr_adjust(x, rms_rate):
    """Keras 3's Moonlight scale of a 2-d update: ``x * sqrt(max(rows, columns)) * rms_rate``."""
    if rms_rate is None:
        return x
    return x * float(np.sqrt(np.float32(max(x.shape[0], x.shape[1])))) * rms_rate


class _MuonUpdate(KerasUpdate):
    """Keras 3's Muon update: Newton-Schulz-orthogonalised momentum for 2-d weights, AdamW for
    the others (one tensor at a time: the iteration is per matrix)."""

    def _use_adamw(self, param, group):
        if param.ndim != 2:
            return True
        names = group.get("param_names")
        if names is None:
            if group["exclude_layers"]:
                raise ValueError(
                    "Muon(exclude_layers=...) needs the parameters' names. Build it with "
                    "optimizer.build(model.named_parameters()) before compile() or "
                    "apply_gradients(). Received: parameters without names."
                )
            return False
        name = names[next(i for i, p in enumerate(group["params"]) if p is param)]
        if group["exclude_embeddings"] and "embedding" in name.lower():
            return True
        return any(re.search(keyword, name) for keyword in group["exclude_layers"])

    def _init_state(self, param, group):
        state = {"momentum": torch.zeros_like(param, memory_format=torch.preserve_format)}
        if self._use_adamw(param, group):  # a velocity marks the AdamW parameters
            state["velocity"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        return state

    def _decay(self, group, params):
        pass  # per parameter in _update: weight_decay for Muon's, adam_weight_decay for AdamW's

    def _update(self, group, params, grads, states):
        lr = group["lr"]
        for param, grad, state in zip(params, grads, states):
            adamw = "velocity" in state
            decay = group["adam_weight_decay"] if adamw else group["muon_weight_decay"]
            if decay:
                param.sub_(param * decay * lr)
            if adamw:
                self._adamw_step(group, param, grad, state, lr * group["adam_lr_ratio"])
            else:
                self._muon_step(group, param, grad, state, lr)

    @staticmethod
    def _muon_step(group, param, grad, state, lr):
        m, momentum = state["momentum"], group["momentum"]
        m.add_(grad + m * (momentum - 1))
        direction = grad + momentum * m if group["nesterov"] else m
        ns = (group["muon_a"], group["muon_b"], group["muon_c"])
        update = lr * zeropower_via_newtonschulz5(direction, group["ns_steps"], *ns)
        param.sub_(lr_adjust(update, group["rms_rate"]))

    @staticmethod
    def _adamw_step(group, param, grad, state, lr):
        beta_1, beta_2 = group["adam_beta_1"], group["adam_beta_2"]
        step, one = np.float32(group["step"]), np.float32(1.0)
        power_1, power_2 = np.power(np.float32(beta_1), step), np.power(np.float32(beta_2), step)
        alpha = float(np.float32(lr) * np.sqrt(one - power_2) / (one - power_1))
        m, v = state["momentum"], state["velocity"]
        m.add_((grad - m) * (1 - beta_1))
        v.add_((grad.square() - v) * (1 - beta_2))
        param.sub_((m * alpha) / (v.sqrt() + group["epsilon"]))


class Muon(Optimizer, _MuonUpdate, learning_rate=0.001, name="muon"):
    """Muon (momentum orthogonalised by Newton-Schulz), Keras 3's formula.

    2-d weights take the Muon step, all others an AdamW step at ``lr * adam_lr_ratio``. So do
    2-d weights whose name contains ``"embedding"`` (with ``exclude_embeddings``) or matches a
    regular expression of ``exclude_layers``: names come from ``build(model.named_parameters())``
    (``compile`` passes the parameters without names, so build first; ``exclude_layers``
    without names is an error). Keras recommends AdamW for embeddings and the output layer.

    At step ``t`` (from 1), for a Muon weight ``w`` (momentum ``m``, zeros at first)::

        w = w - w * weight_decay * lr              # only with weight_decay
        m = momentum * m + g
        d = g + momentum * m if nesterov else m
        X = d / (||d||_F + 1e-7), transposed if it has more rows than columns
        repeat ns_steps: A = X X^T; X = muon_a * X + (muon_b * A + muon_c * A A) X
        w = w - lr * X * sqrt(max(rows, columns)) * rms_rate   # no factor if rms_rate is None

    and for an AdamW weight (``adam_weight_decay``, ``lr_a = lr * adam_lr_ratio``)::

        w = w - w * adam_weight_decay * lr
        m = m + (g - m) * (1 - adam_beta_1);  v = v + (g**2 - v) * (1 - adam_beta_2)
        w = w - m * lr_a * sqrt(1 - adam_beta_2**t) / (1 - adam_beta_1**t) / (sqrt(v) + epsilon)

    Difference: Keras's positional order puts ``name``, ``exclude_layers`` ... ``rms_rate``
    after the base arguments; here they follow ``weight_decay`` (pass them by keyword).

    Args:
        learning_rate: A float or a schedule. Defaults to 0.001.
        adam_beta_1, adam_beta_2: AdamW's moment decays. Defaults to 0.9 and 0.999.
        adam_weight_decay: AdamW's decoupled decay (None: none). Defaults to 0.004.
        epsilon: AdamW's "epsilon hat". Defaults to 1e-7.
        weight_decay: Muon's decoupled decay (None: none). Defaults to 0.004.
        exclude_layers: Regular expressions of names that take AdamW. Defaults to none.
        exclude_embeddings: Names containing "embedding" take AdamW. Defaults to True.
        muon_a, muon_b, muon_c: The Newton-Schulz coefficients (3.4445, -4.7750, 2.0315).
        adam_lr_ratio: AdamW's learning rate over ``learning_rate``. Defaults to 1.
        momentum: Muon's momentum. Defaults to 0.95.
        ns_steps: Newton-Schulz iterations. Defaults to 5.
        nesterov: Nesterov momentum. Defaults to True.
        rms_rate: The Moonlight update scale (None: off). Defaults to 0.2.
        clipnorm, clipvalue, global_clipnorm, name: As for every torchfit optimizer.

    Example:
        >>> net = torch.nn.Linear(4, 3)
        >>> opt = Muon(learning_rate=0.01).build(net.named_parameters())
        >>> net(torch.ones(2, 4)).sum().backward()
        >>> opt.step()
        >>> sorted(opt.state[net.weight]), sorted(opt.state[net.bias])  # Muon, AdamW
        (['momentum'], ['momentum', 'velocity'])
    """

    _cpu_foreach = False  # its step loops over the tensors

    def get_config(self):
        config = super().get_config()
        config["exclude_layers"] = list(config["exclude_layers"] or [])  # as Keras writes it
        return config

    @staticmethod
    def keras_to_torch(
        adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004, epsilon=1e-7,
        weight_decay=0.004, exclude_layers=None, exclude_embeddings=True, muon_a=3.4445,
        muon_b=-4.7750, muon_c=2.0315, adam_lr_ratio=1, momentum=0.95, ns_steps=5,
        nesterov=True, rms_rate=0.2,
    ):  # fmt: skip
        return dict(
            adam_beta_1=adam_beta_1, adam_beta_2=adam_beta_2, adam_weight_decay=adam_weight_decay,
            epsilon=epsilon, muon_weight_decay=weight_decay,
            exclude_layers=list(exclude_layers or []), exclude_embeddings=exclude_embeddings,
            muon_a=muon_a, muon_b=muon_b, muon_c=muon_c, adam_lr_ratio=adam_lr_ratio,
            momentum=momentum, ns_steps=ns_steps, nesterov=nesterov, rms_rate=rms_rate,
        )  # fmt: skip
