"""Tests for torchfit/metrics/mean_tensor.py: the element-wise running mean."""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics


def test_element_wise_weighted_mean_matches_numpy():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(4, 5, 3)).astype(np.float32)
    weight = rng.uniform(0.1, 2.0, size=(4, 5)).astype(np.float32)
    m = metrics.MeanTensor(shape=(5, 3))
    for v, w in zip(values, weight):
        m.update_state(torch.as_tensor(v), sample_weight=torch.as_tensor(w))
    w = weight[..., None]
    np.testing.assert_allclose(m.result(), (values * w).sum(0) / w.sum(0).repeat(3, -1), rtol=1e-5)


def test_shape_is_fixed_and_errors_name_it():
    m = metrics.MeanTensor()
    with pytest.raises(ValueError, match="does not have any value yet"):
        m.result()
    m.update_state(torch.ones(2))
    with pytest.raises(ValueError, match=r"Expected shape \(set during the first call\): \(2,\)"):
        m.update_state(torch.ones(3))


def test_merge_state_sums_the_totals():
    first, second = metrics.MeanTensor(), metrics.MeanTensor()
    first.update_state(torch.tensor([1.0, 2.0]))
    second.update_state(torch.tensor([3.0, 6.0]))
    first.merge_state(second)
    np.testing.assert_allclose(first.result(), [2.0, 4.0])
