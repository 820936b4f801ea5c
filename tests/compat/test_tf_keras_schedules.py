"""tf-keras's ``tf_keras/optimizers/schedules/learning_rate_schedule_test.py``, ported.

Every portable case keeps tf-keras's expected numbers and its ``serialize=[False, True]``
parameterisation (``_maybe_serialized`` goes through ``schedules.serialize`` / ``deserialize``).
Not portable: ``testVariables`` (a TF graph). The ``mode=["graph", "eager"]`` combination is
TF's. At the end, Keras 3's ``learning_rate_schedule_test.py`` cases that tf-keras lacks (the
config round trips with custom names, and the fit with a schedule).
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from torchfit import schedules


def _maybe_serialized(lr_decay, serialize_and_deserialize):
    if serialize_and_deserialize:
        return schedules.deserialize(schedules.serialize(lr_decay))
    return lr_decay


def assert_close(actual, expected, tol=1e-6):
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


serialize = pytest.mark.parametrize("serialize", [False, True], ids=["plain", "serialized"])


# LRDecayTestV2
@serialize
def test_continuous(serialize):
    decayed_lr = _maybe_serialized(schedules.ExponentialDecay(0.05, 10, 0.96), serialize)
    assert_close(decayed_lr(5), 0.05 * 0.96 ** (5.0 / 10.0))


@serialize
def test_staircase(serialize):
    decayed_lr = schedules.ExponentialDecay(0.1, 3, 0.96, staircase=True)
    decayed_lr = _maybe_serialized(decayed_lr, serialize)
    assert_close(decayed_lr(1), 0.1)
    assert_close(decayed_lr(2), 0.1)
    assert_close(decayed_lr(100), 0.1 * 0.96 ** (100 // 3))


@serialize
def test_piecewise_constant(serialize):
    decayed_lr = schedules.PiecewiseConstantDecay([100, 110, 120], [1.0, 0.1, 0.01, 0.001])
    decayed_lr = _maybe_serialized(decayed_lr, serialize)
    for step, expected in [(-999, 1.0), (100, 1.0), (105, 0.1), (110, 0.1), (120, 0.01),
                           (999, 0.001)]:
        assert_close(decayed_lr(step), expected)


@serialize
def test_piecewise_function(serialize):
    v = nn.Parameter(torch.tensor(1.0))
    learning_rate = schedules.PiecewiseConstantDecay([1.0], [1.0, 0.1])
    opt = torchfit.optimizers.SGD(learning_rate=learning_rate)
    loss = v * v
    (grad,) = torch.autograd.grad(loss, [v])
    opt.apply_gradients([(grad, v)])
    assert v.item() == -1.0


@serialize
def test_piecewise_constant_edge_cases(serialize):
    decayed_lr = schedules.PiecewiseConstantDecay([1, 2, 3], [0.4, 0.5, 0.6, 0.7])
    decayed_lr = _maybe_serialized(decayed_lr, serialize)
    for step, expected in [(0, 0.4), (1, 0.4), (2, 0.5), (3, 0.6), (4, 0.7)]:
        assert_close(decayed_lr(np.int64(step)), expected)


# LinearDecayTestV2 and SqrtDecayTestV2 (power 1 and 0.5), PolynomialDecayTestV2
power = pytest.mark.parametrize("power", [1.0, 0.5], ids=["linear", "sqrt"])


@serialize
@power
def test_polynomial_half_way(serialize, power):
    lr, end_lr = 0.05, 0.0
    decayed_lr = schedules.PolynomialDecay(lr, 10, end_lr, power=power)
    assert_close(_maybe_serialized(decayed_lr, serialize)(5), lr * 0.5**power)


@serialize
@power
def test_polynomial_end(serialize, power):
    decayed_lr = schedules.PolynomialDecay(0.05, 10, 0.001, power=power)
    assert_close(_maybe_serialized(decayed_lr, serialize)(10), 0.001)


@serialize
@power
def test_polynomial_half_way_with_end(serialize, power):
    lr, end_lr = 0.05, 0.001
    decayed_lr = schedules.PolynomialDecay(lr, 10, end_lr, power=power)
    expected = (lr - end_lr) * 0.5**power + end_lr  # linear: (lr + end_lr) * 0.5
    assert_close(_maybe_serialized(decayed_lr, serialize)(5), expected)


@serialize
@power
def test_polynomial_beyond_end(serialize, power):
    decayed_lr = schedules.PolynomialDecay(0.05, 10, 0.001, power=power)
    assert_close(_maybe_serialized(decayed_lr, serialize)(15), 0.001)


@serialize
@power
def test_polynomial_beyond_end_with_cycle(serialize, power):
    lr, end_lr = 0.05, 0.001
    decayed_lr = schedules.PolynomialDecay(lr, 10, end_lr, power=power, cycle=True)
    expected = (lr - end_lr) * 0.25**power + end_lr
    assert_close(_maybe_serialized(decayed_lr, serialize)(15), expected)


@serialize
def test_polynomial_begin_with_cycle(serialize):
    decayed_lr = _maybe_serialized(schedules.PolynomialDecay(0.001, 10, cycle=True), serialize)
    assert_close(decayed_lr(0), 0.001)


# InverseDecayTestV2
@serialize
def test_inverse_time_decay(serialize):
    initial_lr, k, decay_rate = 0.1, 10, 0.96
    decayed_lr = _maybe_serialized(schedules.InverseTimeDecay(initial_lr, k, decay_rate), serialize)
    for i in range(k + 1):
        assert_close(decayed_lr(i), initial_lr / (1 + i / k * decay_rate))


@serialize
def test_inverse_time_staircase(serialize):
    initial_lr, k, decay_rate = 0.1, 10, 0.96
    decayed_lr = schedules.InverseTimeDecay(initial_lr, k, decay_rate, staircase=True)
    decayed_lr = _maybe_serialized(decayed_lr, serialize)
    for i in range(k + 1):
        assert_close(decayed_lr(i), initial_lr / (1 + decay_rate * (i // k)))


# CosineDecayTestV2
def np_cosine_decay(step, decay_steps, alpha=0.0):
    step = min(step, decay_steps)
    completed_fraction = step / decay_steps
    decay = 0.5 * (1.0 + math.cos(math.pi * completed_fraction))
    return (1.0 - alpha) * decay + alpha


def linear_warmup(step, warmup_steps, initial_lr, target_lr):
    return step / warmup_steps * (target_lr - initial_lr)


@serialize
@pytest.mark.parametrize("initial_lr", [1.0, np.float64(1.0)], ids=["float", "float64"])
def test_cosine_decay(serialize, initial_lr):  # testDecay and testFloat64InitLearningRate
    for step in range(0, 1500, 250):
        decayed_lr = _maybe_serialized(schedules.CosineDecay(initial_lr, 1000), serialize)
        assert_close(decayed_lr(step), np_cosine_decay(step, 1000))


@serialize
def test_cosine_warmup(serialize):
    # decay_steps=0: a warmup only, which tf.keras 2 accepts (Keras 3 refuses decay_steps=0).
    for step in range(0, 1500, 250):
        lr = schedules.CosineDecay(0.0, 0, warmup_target=10.0, warmup_steps=1500)
        lr = _maybe_serialized(lr, serialize)
        np.testing.assert_allclose(lr(step), linear_warmup(step, 1500, 0.0, 10.0), rtol=1e-6)


@serialize
def test_cosine_alpha(serialize):
    for step in range(0, 1500, 250):
        decayed_lr = _maybe_serialized(schedules.CosineDecay(1.0, 1000, 0.1), serialize)
        assert_close(decayed_lr(step), np_cosine_decay(step, 1000, 0.1))


@serialize
def test_cosine_warmup_decay(serialize):
    warmup_steps, decay_steps, initial_lr, target_lr = 2000, 1000, 0.0, 10.0
    for step in range(0, 3000, 250):
        lr = schedules.CosineDecay(
            initial_lr, decay_steps, warmup_target=target_lr, warmup_steps=warmup_steps
        )
        lr = _maybe_serialized(lr, serialize)
        if step < warmup_steps + 1:
            expected = linear_warmup(step, warmup_steps, initial_lr, target_lr)
        else:
            expected = target_lr * np_cosine_decay(step - warmup_steps, decay_steps)
        np.testing.assert_allclose(lr(step), expected, rtol=1e-6, atol=1e-6)


# CosineDecayRestartsTestV2
def np_cosine_decay_restarts(step, decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0):
    fac = 1.0
    while step >= decay_steps:
        step -= decay_steps
        decay_steps *= t_mul
        fac *= m_mul
    completed_fraction = step / decay_steps
    decay = fac * 0.5 * (1.0 + math.cos(math.pi * completed_fraction))
    return (1.0 - alpha) * decay + alpha


@serialize
@pytest.mark.parametrize(
    "initial_lr, kwargs",
    [(1.0, {}), (np.float64(1.0), {}), (1.0, {"alpha": 0.1}), (1.0, {"m_mul": 0.9}),
     (1.0, {"t_mul": 1.0})],
    ids=["decay", "float64", "alpha", "m_mul", "t_mul"],
)
def test_cosine_decay_restarts(serialize, initial_lr, kwargs):
    for step in range(0, 1500, 250):
        decayed_lr = schedules.CosineDecayRestarts(initial_lr, 1000, **kwargs)
        decayed_lr = _maybe_serialized(decayed_lr, serialize)
        assert_close(decayed_lr(step), np_cosine_decay_restarts(step, 1000, **kwargs))


# Keras 3's learning_rate_schedule_test.py: test_config of each class (custom names).
@pytest.mark.parametrize(
    "schedule",
    [
        schedules.ExponentialDecay(initial_learning_rate=0.05, decay_steps=10, decay_rate=0.96,
                                   staircase=True, name="my_ed"),
        schedules.PiecewiseConstantDecay(boundaries=[10, 20], values=[1, 2, 3], name="my_pcd"),
        schedules.PolynomialDecay(initial_learning_rate=0.1, decay_steps=100,
                                  end_learning_rate=0.005, power=1.0, cycle=False, name="my_ld"),
        schedules.InverseTimeDecay(initial_learning_rate=0.05, decay_steps=10, decay_rate=0.96,
                                   staircase=True, name="my_itd"),
        schedules.CosineDecay(initial_learning_rate=0.05, decay_steps=10, alpha=0.1,
                              warmup_target=0.2, warmup_steps=2, name="my_cd"),
        schedules.CosineDecayRestarts(initial_learning_rate=0.05, first_decay_steps=10,
                                      alpha=0.1, t_mul=3.0, m_mul=4.0, name="my_cdr"),
    ],
    ids=lambda s: type(s).__name__,
)
def test_config(schedule):
    clone = type(schedule).from_config(schedule.get_config())
    assert clone.get_config() == schedule.get_config()
    revived = schedules.deserialize(schedules.serialize(schedule))
    assert revived.get_config() == schedule.get_config()
    assert [revived(s) for s in range(30)] == [schedule(s) for s in range(30)]


def test_fit_lr_correctness():
    # Keras 3's TestFitLRSchedulesFlow: Dense(2) with ones, Adam on ExponentialDecay, mse.
    layer = nn.Linear(2, 2)
    nn.init.ones_(layer.weight), nn.init.ones_(layer.bias)
    model = torchfit.Model(layer, device="cpu")
    optimizer = torchfit.optimizers.Adam(
        learning_rate=schedules.ExponentialDecay(
            initial_learning_rate=0.05, decay_steps=1, decay_rate=0.9
        )
    )
    model.compile(optimizer=optimizer, loss="mse")
    x = np.arange(32).reshape((16, 2)).astype("float32")
    history = model.fit(x, x, epochs=3, batch_size=4, shuffle=False, verbose=0)
    assert optimizer.iterations == 4 * 3
    np.testing.assert_allclose(
        history.history["loss"], [230.79457092285156, 128.30319213867188, 79.33648681640625],
        rtol=5e-5,
    )
