"""torchfit.optimizers.lion: Keras 3's lion_test.py, its expected numbers ported."""

import numpy as np
import pytest

from keras_port import clipped_gradient, golden_run, single_step, weight_decay_run
from torchfit.optimizers import Lion


@pytest.mark.parametrize("beta_1", [-0.1, 0.0, 1.1])
def test_invalid_beta_1(beta_1):
    with pytest.raises(
        ValueError,
        match=r"Argument `beta_1` must be in the \[0, 1\] range. Otherwise, the optimizer "
        rf"degenerates to SignSGD. Received: beta_1={beta_1}.",
    ):
        Lion(beta_1=beta_1)


def test_config():
    optimizer = Lion(learning_rate=0.5, beta_1=0.5, beta_2=0.67)
    config = optimizer.get_config()
    assert Lion.from_config(config).get_config() == config
    assert (config["learning_rate"], config["beta_1"], config["beta_2"]) == (0.5, 0.5, 0.67)


def test_single_step():
    got = single_step(Lion(learning_rate=0.5), [1.0, 6.0, 7.0, 2.0], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(got, [0.5, 1.5, 2.5, 3.5], rtol=1e-4, atol=1e-4)


def test_weight_decay():
    var1, var2, var3 = weight_decay_run(lambda: Lion(learning_rate=1.0, weight_decay=0.004))
    assert var1 == pytest.approx(1.9760959, abs=1e-6)
    assert var2 == pytest.approx(2.0, abs=1e-6)
    assert var3 == pytest.approx(2.0, abs=1e-6)


def test_correctness_with_golden():
    golden = np.tile([[0.999], [0.998], [0.997], [0.996], [0.995]], (1, 10))
    np.testing.assert_allclose(golden_run(Lion()), golden, rtol=5e-4, atol=5e-4)


def test_clip_norm():
    got = clipped_gradient(Lion(clipnorm=1))
    np.testing.assert_allclose(got, [2**0.5 / 2, 2**0.5 / 2], rtol=1e-6)


def test_clip_value():
    np.testing.assert_allclose(clipped_gradient(Lion(clipvalue=1)), [1.0, 1.0])


def test_ema_is_not_offered():
    # Keras's test_ema (use_ema=True): a deliberate difference, torchfit has no EMA option.
    with pytest.raises(TypeError, match="use_ema"):
        Lion(use_ema=True)
