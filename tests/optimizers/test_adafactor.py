"""torchfit.optimizers.adafactor: Keras 3's adafactor_test.py, its expected numbers ported."""

import numpy as np
import pytest
import torch

from keras_port import clipped_gradient, golden_run, single_step, weight_decay_run
from torchfit.optimizers import Adafactor

ARGS = dict(
    learning_rate=0.5, beta_2_decay=-0.65, epsilon_1=1e-15, epsilon_2=1e-4, clip_threshold=0.9,
    relative_step=False,
)  # fmt: skip


def test_config():
    config = Adafactor(**ARGS).get_config()
    assert Adafactor.from_config(config).get_config() == config
    assert {key: config[key] for key in ARGS} == ARGS


def test_single_step_1d():
    got = single_step(Adafactor(learning_rate=0.5), [1.0, 6.0, 7.0, 2.0], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(got, [-0.3693, 0.6307, 1.6307, 2.6307], rtol=1e-4, atol=1e-4)


def test_single_step_2d():
    optimizer = Adafactor(learning_rate=0.5)
    got = single_step(optimizer, [[1.0, 6.0], [7.0, 2.0]], [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(got, [[0.7007, -0.0081], [1.2492, 3.4407]], rtol=1e-4, atol=1e-4)


def test_weight_decay():
    var1, var2, var3 = weight_decay_run(lambda: Adafactor(learning_rate=1.0, weight_decay=0.004))
    assert var1 == pytest.approx(1.9760959, abs=1e-6)
    assert var2 == pytest.approx(2.0, abs=1e-6)
    assert var3 == pytest.approx(2.0, abs=1e-6)


def test_correctness_with_golden():
    golden = np.array([
        [0.55, 0.55, 0.55, 0.55, 0.55, 0.55, 0.55, 0.55, 0.55, 0.55],
        [0.3031, 0.3026, 0.3025, 0.3024, 0.3024, 0.3024, 0.3024, 0.3024, 0.3024, 0.3024],
        [0.1671, 0.1665, 0.1663, 0.1663, 0.1663, 0.1663, 0.1663, 0.1663, 0.1663, 0.1663],
        [0.0923, 0.0916, 0.0915, 0.0914, 0.0914, 0.0914, 0.0914, 0.0914, 0.0914, 0.0914],
        [0.0554, 0.0548, 0.0546, 0.0546, 0.0546, 0.0546, 0.0546, 0.0545, 0.0545, 0.0545],
    ])  # fmt: skip
    np.testing.assert_allclose(golden_run(Adafactor(**ARGS)), golden, rtol=5e-4, atol=5e-4)


def test_clip_norm():
    got = clipped_gradient(Adafactor(clipnorm=1))
    np.testing.assert_allclose(got, [2**0.5 / 2, 2**0.5 / 2], rtol=1e-6)


def test_clip_value():
    np.testing.assert_allclose(clipped_gradient(Adafactor(clipvalue=1)), [1.0, 1.0])


def test_factored_state_keeps_only_row_and_column_moments():
    weight, bias = torch.nn.Parameter(torch.ones(5, 3)), torch.nn.Parameter(torch.ones(3))
    optimizer = Adafactor()
    optimizer.apply_gradients([(torch.ones(5, 3), weight), (torch.ones(3), bias)])
    assert {k: tuple(v.shape) for k, v in optimizer.state[weight].items()} == {
        "row": (5,), "column": (3,)
    }
    assert {k: tuple(v.shape) for k, v in optimizer.state[bias].items()} == {"velocity": (3,)}
