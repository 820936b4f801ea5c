"""torchfit.optimizers.schedule_free: Keras 3's schedule_free_adamw_test.py, ported; and the
formula against a NumPy transcription of Keras's update_step."""

import numpy as np
import torch

import torchfit
from keras_port import clipped_gradient, single_step, weight_decay_run
from torchfit.optimizers import ScheduleFreeAdamW


def _reference(grads, y, steps, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0):
    """Keras 3's ScheduleFreeAdamW.update_step in float64 NumPy (x from the old momentum)."""
    y = np.array(y, np.float64)
    z, v = y.copy(), np.zeros_like(y)
    for t in range(1, steps + 1):
        lr_t = lr * min(t / warmup_steps, 1.0) if warmup_steps > 0 else lr
        z_old = z.copy()
        v = v + (grads**2 - v) * (1 - beta_2)
        correction = float(np.float32(1) - np.float32(beta_2) ** np.float32(t))  # Keras: float32
        z = z - lr_t * grads / (np.sqrt(v / correction) + epsilon)
        x = (1 - 1 / t) * (y - (1 - beta_1) * z_old) / beta_1 + (1 / t) * z
        y = (1 - beta_1) * z + beta_1 * x
    return y


def test_config():
    optimizer = ScheduleFreeAdamW(
        learning_rate=0.005, beta_1=0.95, beta_2=0.99, epsilon=1e-6, warmup_steps=100
    )
    config = optimizer.get_config()
    assert ScheduleFreeAdamW.from_config(config).get_config() == config
    assert config["warmup_steps"] == 100 and config["name"] == "schedule_free_adam_w"


def test_single_step():
    got = single_step(ScheduleFreeAdamW(learning_rate=0.5), [1.0, 6.0, 7.0, 2.0],
                      [1.0, 2.0, 3.0, 4.0])  # fmt: skip
    assert not np.allclose(got, [1.0, 2.0, 3.0, 4.0], rtol=1e-4, atol=1e-4)


def test_weight_decay():
    def make():
        return ScheduleFreeAdamW(learning_rate=1.0, weight_decay=0.004)

    _, var2, var3 = weight_decay_run(make)
    assert abs(var2 - 2.0) < 1e-6 and abs(var3 - 2.0) < 1e-6


def test_warmup():
    no_warmup = single_step(ScheduleFreeAdamW(learning_rate=0.5, warmup_steps=0), [1.0] * 3,
                            [1.0, 2.0, 3.0])  # fmt: skip
    warmup = single_step(ScheduleFreeAdamW(learning_rate=0.5, warmup_steps=10), [1.0] * 3,
                         [1.0, 2.0, 3.0])  # fmt: skip
    assert np.all(np.abs(warmup - [1.0, 2.0, 3.0]) < np.abs(no_warmup - [1.0, 2.0, 3.0]))


def test_multiple_steps():
    optimizer = ScheduleFreeAdamW(learning_rate=0.01)
    var = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))
    for _ in range(10):
        optimizer.apply_gradients([(torch.tensor([0.1, 0.1, 0.1]), var)])
    assert np.all(var.detach().numpy() < [1.0, 2.0, 3.0])


def test_with_model():
    model = torchfit.Sequential(torch.nn.Linear(5, 10))
    model.compile(optimizer=ScheduleFreeAdamW(learning_rate=0.01), loss="mse")
    x, y = np.ones((4, 5), np.float32), np.zeros((4, 10), np.float32)
    model.fit(x, y, epochs=2, verbose=0)
    assert model.evaluate(x, y, verbose=0) is not None


def test_clip_norm():
    got = clipped_gradient(ScheduleFreeAdamW(clipnorm=1))
    np.testing.assert_allclose(got, [2**0.5 / 2, 2**0.5 / 2], rtol=1e-6)


def test_clip_value():
    np.testing.assert_allclose(clipped_gradient(ScheduleFreeAdamW(clipvalue=1)), [1.0, 1.0])


def test_matches_the_numpy_transcription_of_keras_update_step():
    # In float64: the average x is recovered from y and z by a division by beta_1 at every step,
    # which amplifies float32 rounding. (Keras's bias correction is float32 in both.)
    grads = np.array([1.0, 6.0, -7.0, 0.02])
    for kwargs in (dict(lr=0.1), dict(lr=0.05, beta_1=0.8, warmup_steps=4)):
        optimizer = ScheduleFreeAdamW(
            learning_rate=kwargs["lr"], beta_1=kwargs.get("beta_1", 0.9),
            warmup_steps=kwargs.get("warmup_steps", 0),
        )  # fmt: skip
        var = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64))
        for _ in range(20):
            optimizer.apply_gradients([(torch.tensor(grads), var)])
        expected = _reference(grads, [1.0, 2.0, 3.0, 4.0], 20, **kwargs)
        np.testing.assert_allclose(var.detach().numpy(), expected, rtol=1e-6, atol=1e-7)
