"""torchfit.optimizers.rules against Keras 3's update_step written out in NumPy (float64).

The reference follows keras/src/optimizers/<name>.py line by line, one variable at a time, with
Keras 3's decoupled weight decay first (base_optimizer._apply_weight_decay); torchfit's float32
foreach kernels must agree to float32 rounding over 30 steps of the same float32 gradients.
"""

import numpy as np
import pytest
import torch

from torchfit import optimizers
from optimizer_helpers import make_model


def keras_sgd(w, g, s, t, lr, momentum=0.0, nesterov=False):
    if momentum == 0:
        return w - lr * g
    s["m"] = s.get("m", 0.0) * momentum - lr * g
    return w + momentum * s["m"] - lr * g if nesterov else w + s["m"]


def keras_rmsprop(w, g, s, t, lr, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g**2
    if centered:
        s["a"] = rho * s.get("a", 0.0) + (1 - rho) * g
        increment = lr * g / np.sqrt(s["v"] - s["a"] ** 2 + epsilon)
    else:
        increment = lr * g / np.sqrt(s["v"] + epsilon)
    if momentum > 0:
        s["m"] = momentum * s.get("m", 0.0) + increment
        return w - s["m"]
    return w - increment


def keras_adam(w, g, s, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - beta_1)
    s["v"] = s.get("v", 0.0) + (g**2 - s.get("v", 0.0)) * (1 - beta_2)
    v = s["v"]
    if amsgrad:
        v = s["v_hat"] = np.maximum(s.get("v_hat", 0.0), s["v"])
    return w - s["m"] * alpha / (np.sqrt(v) + epsilon)


def keras_adagrad(w, g, s, t, lr, initial_accumulator_value=0.1, epsilon=1e-7):
    s["a"] = s.get("a", initial_accumulator_value) + g**2
    return w - lr * g / np.sqrt(s["a"] + epsilon)


def keras_adadelta(w, g, s, t, lr, rho=0.95, epsilon=1e-7):
    s["a"] = rho * s.get("a", 0.0) + (1 - rho) * g**2
    delta = -np.sqrt(s.get("d", 0.0) + epsilon) * g / np.sqrt(s["a"] + epsilon)
    s["d"] = rho * s.get("d", 0.0) + (1 - rho) * delta**2
    return w + lr * delta


def keras_adamax(w, g, s, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - beta_1)
    s["u"] = np.maximum(beta_2 * s.get("u", 0.0), np.abs(g))
    return w - lr * s["m"] / ((1 - beta_1**t) * (s["u"] + epsilon))


def keras_nadam(w, g, s, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, product=None):
    """``product`` is Keras's ``_u_product`` after this step's update: u_1 * ... * u_t."""
    u_t = beta_1 * (1 - 0.5 * 0.96**t)
    u_next = beta_1 * (1 - 0.5 * 0.96 ** (t + 1))
    s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - beta_1)
    s["v"] = s.get("v", 0.0) + (g**2 - s.get("v", 0.0)) * (1 - beta_2)
    m_hat = u_next * s["m"] / (1 - product * u_next) + (1 - u_t) * g / (1 - product)
    v_hat = s["v"] / (1 - beta_2**t)
    return w - m_hat * lr / (np.sqrt(v_hat) + epsilon)


def gradient_sequence(steps):
    """Fixed float32 gradients for every step: both sides see the same ones (no feedback through
    the weights), with magnitudes from 1 down to 1e-7, where epsilon's place shows."""
    rng = np.random.default_rng(0)
    shapes = [p.shape for p in make_model().parameters()]
    scales = [10.0 ** -rng.integers(0, 8, size=shape) for shape in shapes]
    return [
        [(rng.normal(size=shape) * s).astype(np.float32) for shape, s in zip(shapes, scales)]
        for _ in range(steps)
    ]


def reference_run(rule, grads_per_step, lr, weight_decay=None, **hyper):
    """Keras 3's apply(): weight decay, then update_step on each variable; float64."""
    weights = [p.detach().double().numpy().copy() for p in make_model().parameters()]
    states = [{} for _ in weights]
    product = 1.0
    for t, grads in enumerate(grads_per_step, start=1):
        if rule is keras_nadam:  # Nadam._backend_update_step: once per step, before the updates
            product *= hyper.get("beta_1", 0.9) * (1 - 0.5 * 0.96**t)
            hyper["product"] = product
        for i, (w, g) in enumerate(zip(weights, grads)):
            if weight_decay is not None:
                w = w - w * weight_decay * lr
            weights[i] = rule(w, g.astype(np.float64), states[i], t, lr, **hyper)
    return weights


def torchfit_run(optimizer, grads_per_step):
    params = list(make_model().parameters())
    optimizer.build(params)
    for grads in grads_per_step:
        for param, grad in zip(params, grads):
            param.grad = torch.from_numpy(grad)
        optimizer.step()
    return [p.detach().double().numpy() for p in params]


CASES = [
    ("SGD", keras_sgd, dict(learning_rate=0.1), {}),
    ("SGD", keras_sgd, dict(learning_rate=0.1, momentum=0.9), dict(momentum=0.9)),
    ("SGD", keras_sgd, dict(learning_rate=0.1, momentum=0.8, nesterov=True, weight_decay=0.1),
     dict(momentum=0.8, nesterov=True)),
    ("RMSprop", keras_rmsprop, dict(learning_rate=0.01), {}),
    ("RMSprop", keras_rmsprop, dict(learning_rate=0.01, momentum=0.9), dict(momentum=0.9)),
    ("RMSprop", keras_rmsprop, dict(learning_rate=0.01, rho=0.8, centered=True, epsilon=1e-4),
     dict(rho=0.8, centered=True, epsilon=1e-4)),
    ("RMSprop", keras_rmsprop, dict(learning_rate=0.01, centered=True, momentum=0.5,
                                    weight_decay=0.2), dict(centered=True, momentum=0.5)),
    ("Adam", keras_adam, dict(learning_rate=0.01), {}),
    ("Adam", keras_adam, dict(learning_rate=0.01, beta_1=0.8, beta_2=0.99, amsgrad=True,
                              weight_decay=0.1), dict(beta_1=0.8, beta_2=0.99, amsgrad=True)),
    ("AdamW", keras_adam, dict(learning_rate=0.01), {}),
    ("Adagrad", keras_adagrad, dict(learning_rate=0.05), {}),
    ("Adagrad", keras_adagrad, dict(learning_rate=0.05, initial_accumulator_value=0.5,
                                    weight_decay=0.1), dict(initial_accumulator_value=0.5)),
    ("Adadelta", keras_adadelta, dict(learning_rate=1.0), {}),
    ("Adadelta", keras_adadelta, dict(learning_rate=1.0, rho=0.9, epsilon=1e-6, weight_decay=0.01),
     dict(rho=0.9, epsilon=1e-6)),
    ("Adamax", keras_adamax, dict(learning_rate=0.01), {}),
    ("Adamax", keras_adamax, dict(learning_rate=0.01, beta_1=0.8, weight_decay=0.1),
     dict(beta_1=0.8)),
    ("Nadam", keras_nadam, dict(learning_rate=0.01), {}),
    ("Nadam", keras_nadam, dict(learning_rate=0.01, beta_1=0.8, weight_decay=0.1),
     dict(beta_1=0.8)),
]  # fmt: skip


@pytest.mark.parametrize(
    "name, rule, arguments, hyper", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_30_steps_follow_keras_update_step(name, rule, arguments, hyper):
    weight_decay = arguments.get("weight_decay", 0.004 if name == "AdamW" else None)
    grads = gradient_sequence(30)
    expected = reference_run(rule, grads, arguments["learning_rate"], weight_decay, **hyper)
    got = torchfit_run(getattr(optimizers, name)(**arguments), grads)
    initial = [p.detach().double().numpy() for p in make_model().parameters()]
    assert max(np.abs(e - i).max() for e, i in zip(expected, initial)) > 1e-2  # it trained
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
