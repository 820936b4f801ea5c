"""torchfit.optimizers.lamb: Keras 3's lamb_test.py, its expected numbers ported."""

import numpy as np
import pytest

from keras_port import clipped_gradient, golden_run, single_step, weight_decay_run
from torchfit.optimizers import Lamb


def test_config():
    optimizer = Lamb(learning_rate=0.5, beta_1=0.5, beta_2=0.67, epsilon=1e-5)
    config = optimizer.get_config()
    assert Lamb.from_config(config).get_config() == config
    assert (config["beta_1"], config["beta_2"], config["epsilon"]) == (0.5, 0.67, 1e-5)


def test_single_step():
    got = single_step(Lamb(learning_rate=0.5), [1.0, 6.0, 7.0, 2.0], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(got, [-0.3693, 0.6306, 1.6306, 2.6306], rtol=1e-4, atol=1e-4)


def test_weight_decay():
    var1, var2, var3 = weight_decay_run(lambda: Lamb(learning_rate=1.0, weight_decay=0.004))
    assert var1 == pytest.approx(1.9760959, abs=1e-6)
    assert var2 == pytest.approx(2.0, abs=1e-6)
    assert var3 == pytest.approx(2.0, abs=1e-6)


def test_correctness_with_golden():
    golden = np.tile([[0.999], [0.9982], [0.9974], [0.9965], [0.9955]], (1, 10))
    np.testing.assert_allclose(golden_run(Lamb()), golden, rtol=5e-4, atol=5e-4)


def test_clip_norm():
    got = clipped_gradient(Lamb(clipnorm=1))
    np.testing.assert_allclose(got, [2**0.5 / 2, 2**0.5 / 2], rtol=1e-6)


def test_clip_value():
    np.testing.assert_allclose(clipped_gradient(Lamb(clipvalue=1)), [1.0, 1.0])
