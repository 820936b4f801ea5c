"""torchfit.optimizers.ftrl: Keras 3's ftrl_test.py, its expected numbers ported."""

import numpy as np
import pytest
import torch

from keras_port import clipped_gradient, golden_run, single_step
from torchfit.optimizers import Ftrl, build

ARGS = dict(
    learning_rate=0.05, learning_rate_power=-0.2, initial_accumulator_value=0.4,
    l1_regularization_strength=0.05, l2_regularization_strength=0.15,
    l2_shrinkage_regularization_strength=0.01, beta=0.3,
)  # fmt: skip


def test_config():
    config = Ftrl(**ARGS).get_config()
    assert Ftrl.from_config(config).get_config() == config
    assert {key: config[key] for key in ARGS} == ARGS


def test_single_step():
    got = single_step(Ftrl(learning_rate=0.5), [1.0, 6.0, 7.0, 2.0], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(got, [0.2218, 1.3954, 2.3651, 2.8814], rtol=1e-4, atol=1e-4)


def test_correctness_with_golden():
    golden = np.array([
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [-0.0034, -0.0077, -0.0118, -0.0157, -0.0194, -0.023, -0.0263, -0.0294, -0.0325, -0.0354],
        [-0.0078, -0.0162, -0.0242, -0.0317, -0.0387, -0.0454, -0.0516, -0.0575, -0.0631, -0.0685],
        [-0.0121, -0.0246, -0.0363, -0.0472, -0.0573, -0.0668, -0.0757, -0.0842, -0.0922, -0.0999],
        [-0.0164, -0.0328, -0.0481, -0.0623, -0.0753, -0.0875, -0.099, -0.1098, -0.1201, -0.1299],
    ])  # fmt: skip
    np.testing.assert_allclose(golden_run(Ftrl(**ARGS)), golden, rtol=5e-4, atol=5e-4)


def test_clip_norm():
    got = clipped_gradient(Ftrl(clipnorm=1))
    np.testing.assert_allclose(got, [2**0.5 / 2, 2**0.5 / 2], rtol=1e-6)


def test_clip_value():
    np.testing.assert_allclose(clipped_gradient(Ftrl(clipvalue=1)), [1.0, 1.0])


@pytest.mark.parametrize(
    "name, value",
    [
        ("initial_accumulator_value", -0.1),
        ("l1_regularization_strength", -0.1),
        ("l2_regularization_strength", -0.1),
        ("l2_shrinkage_regularization_strength", -0.1),
    ],
)
def test_invalid_non_negative_arguments(name, value):
    with pytest.raises(
        ValueError, match=rf"^`{name}` needs to be positive or zero. Received: {name}={value}.$"
    ):
        Ftrl(**{name: value})


def test_invalid_learning_rate_power():
    with pytest.raises(
        ValueError,
        match=r"^`learning_rate_power` needs to be negative or zero. Received: "
        r"learning_rate_power=0.1.$",
    ):
        Ftrl(learning_rate_power=0.1)


def test_a_zero_learning_rate_moves_nothing():
    """FTRL divides by the rate; at 0 (a warm-up's first step, or torch's state initialisation
    that steps with lr=0) the step is skipped instead of failing with ZeroDivisionError."""
    param = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = build(Ftrl(learning_rate=0.0), [param])
    param.grad = torch.tensor([0.5, 0.5])
    optimizer.step()
    assert torch.equal(param.detach(), torch.tensor([1.0, -2.0]))
