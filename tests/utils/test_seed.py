import random

import numpy as np
import pytest
import torch

from torchfit.utils import set_random_seed


def _draw():
    return random.random(), np.random.rand(3), torch.rand(3), torch.randn(2, 2)


def test_same_seed_same_values():
    set_random_seed(1337)
    first = _draw()
    set_random_seed(1337)
    second = _draw()
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    assert torch.equal(first[2], second[2]) and torch.equal(first[3], second[3])


def test_different_seed_different_values():
    set_random_seed(1)
    first = _draw()
    set_random_seed(2)
    second = _draw()
    assert first[0] != second[0]
    assert not torch.equal(first[2], second[2])


def test_seeds_module_initialisation():
    set_random_seed(7)
    a = torch.nn.Linear(4, 3).weight
    set_random_seed(7)
    b = torch.nn.Linear(4, 3).weight
    assert torch.equal(a, b)


def test_numpy_integer_seed_is_accepted():
    set_random_seed(np.int64(5))
    value = random.random()
    set_random_seed(5)
    assert random.random() == value


@pytest.mark.parametrize("seed", [1.5, "1", True, None])
def test_seed_must_be_an_int(seed):
    with pytest.raises(TypeError, match="`seed` must be an int"):
        set_random_seed(seed)


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_seed_range(seed):
    with pytest.raises(ValueError, match=r"\[0, 2\*\*32 - 1\]"):
        set_random_seed(seed)
