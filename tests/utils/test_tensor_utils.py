"""Tests for torchfit/utils/tensor_utils.py: the numerics shared by losses and metrics."""

import numpy as np
import pytest
import torch

from torchfit.utils.tensor_utils import (
    EPSILON,
    align_sample_weight,
    cosine_similarity,
    div_no_nan,
    l2_normalize,
    match_rank,
    squeeze_to_same_rank,
)


def shapes(*tensors):
    return [tuple(t.shape) for t in tensors]


def test_epsilon_is_keras_backend_epsilon():
    assert EPSILON == 1e-7


def test_match_rank_adjusts_only_y_true():
    pred = torch.zeros(4, 1)
    assert match_rank(torch.zeros(4), pred).shape == (4, 1)  # expanded, y_pred kept
    assert match_rank(torch.zeros(4, 1), torch.zeros(4)).shape == (4,)
    assert match_rank(torch.zeros(4, 3), torch.zeros(4)).shape == (4, 3)  # not a trailing 1
    assert match_rank(torch.zeros(4), torch.zeros(4, 3)).shape == (4,)


def test_squeeze_to_same_rank_squeezes_whichever_has_the_extra_axis():
    assert shapes(*squeeze_to_same_rank(torch.zeros(4), torch.zeros(4, 1))) == [(4,), (4,)]
    assert shapes(*squeeze_to_same_rank(torch.zeros(4, 1), torch.zeros(4))) == [(4,), (4,)]
    assert shapes(*squeeze_to_same_rank(torch.zeros(4), torch.zeros(4, 3))) == [(4,), (4, 3)]
    assert shapes(*squeeze_to_same_rank(torch.zeros(4, 1), torch.zeros(4, 1))) == [(4, 1), (4, 1)]


@pytest.mark.parametrize("weight_shape, values_shape, expected", [
    ((4, 1), (4,), (4,)),
    ((4, 1, 1), (4,), (4,)),  # every extra trailing 1 goes
    ((4,), (4, 3, 2), (4, 1, 1)),
    ((), (4, 3), ()),  # a scalar broadcasts as is
    ((4, 3), (4, 3), (4, 3)),
    ((3,), (4,), (3,)),  # no fix possible: left for the caller's broadcast error
])
def test_align_sample_weight(weight_shape, values_shape, expected):
    aligned = align_sample_weight(torch.ones(weight_shape), torch.zeros(values_shape))
    assert aligned.shape == expected


def test_div_no_nan_is_zero_where_the_denominator_is_zero():
    result = div_no_nan(torch.tensor([1.0, 0.0, 3.0]), torch.tensor([4.0, 0.0, 0.0]))
    np.testing.assert_array_equal(result.numpy(), [0.25, 0.0, 0.0])


def test_l2_normalize_and_cosine_similarity_match_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    unit = x / np.linalg.norm(x, axis=-1, keepdims=True)
    np.testing.assert_allclose(l2_normalize(torch.tensor(x)).numpy(), unit, rtol=1e-12)
    np.testing.assert_allclose(l2_normalize(torch.tensor(x), axis=0).numpy(),
                               x / np.linalg.norm(x, axis=0, keepdims=True), rtol=1e-12)
    expected = (x * y).sum(-1) / (np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1))
    np.testing.assert_allclose(cosine_similarity(torch.tensor(x), torch.tensor(y)).numpy(),
                               expected, rtol=1e-12)
    # A zero vector has no direction: similarity 0, not NaN.
    assert cosine_similarity(torch.zeros(1, 3), torch.ones(1, 3)).item() == 0.0
