"""Tests for torchfit/metrics/reduction.py: Mean, Sum and MeanMetricWrapper."""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics
from metric_data import N, RNG, batches, reg_pred, reg_true, stream, weights


def test_mean_and_sum_weighted_and_unweighted():
    values = RNG.normal(size=N).astype(np.float32)
    mean, total = metrics.Mean(), metrics.Sum()
    for (v,) in batches(values):
        mean.update_state(v)
        total.update_state(v)
    np.testing.assert_allclose(mean.result().numpy(), values.mean(), rtol=1e-5)
    np.testing.assert_allclose(total.result().numpy(), values.sum(), rtol=1e-5)
    mean.reset_state()
    for v, w in batches(values, weights[:, None]):
        mean.update_state(v, sample_weight=w)
    np.testing.assert_allclose(
        mean.result().numpy(), (values * weights).sum() / weights.sum(), rtol=1e-5
    )


def test_mean_accepts_python_numbers_and_starts_at_zero():
    mean = metrics.Mean(name="loss")
    assert mean.name == "loss" and mean.result().item() == 0.0
    mean.update_state(2.0)
    mean.update_state(4.0, sample_weight=3.0)
    assert mean.result().item() == pytest.approx(14.0 / 4.0)


def test_mean_metric_wrapper_names_after_function_and_passes_kwargs():
    def within(y_true, y_pred, tolerance):
        return ((y_true - y_pred).abs() < tolerance).float()

    metric = metrics.MeanMetricWrapper(within, tolerance=0.5)
    assert metric.name == "within"
    result = stream(metric, reg_true[:, 0], reg_pred[:, 0])
    np.testing.assert_allclose(result, np.mean(np.abs(reg_true[:, 0] - reg_pred[:, 0]) < 0.5))


def test_bad_sample_weight_shape_is_a_clear_error():
    with pytest.raises(
        ValueError, match=r"sample_weight cannot be broadcast.*shape \(3,\).*\(4,\)"
    ):
        metrics.Mean().update_state(torch.ones(4), sample_weight=torch.ones(3))


def test_weighted_mean_reduces_values_to_the_weights_rank_as_keras():
    # tf-keras MeanTest.test_mean_with_sample_weight, numbers kept from the Keras test.
    m = metrics.Mean(dtype=torch.float64)
    m.update_state(100, sample_weight=0.5)
    assert m.result().item() == 50 / 0.5
    m.update_state([1, 5], sample_weight=[1, 0.2])
    assert m.result().item() == pytest.approx(52 / 1.7, abs=1e-2)
    m.update_state([1, 2], sample_weight=0.5)
    assert m.result().item() == pytest.approx(53.5 / 2.7, abs=1e-2)
    m.update_state([1, 5], sample_weight=[[1], [0.2]])
    assert m.result().item() == pytest.approx(55.5 / 3.9, abs=1e-2)
    m.update_state([[1], [5]], sample_weight=[1, 0.2])
    assert m.result().item() == pytest.approx(57.5 / 5.1, abs=1e-2)
    assert m.total.item() == pytest.approx(57.5, abs=1e-2)
    assert m.count.item() == pytest.approx(5.1, abs=1e-2)
    # values reduced to the dimensions of the weights
    m.update_state([[[1.0, 2.0], [3.0, 2.0], [0.5, 4.0]]], sample_weight=[0.5])
    assert np.round(m.result().item(), 2) == 10.45
    assert np.round(m.total.item(), 2) == 58.54
    assert np.round(m.count.item(), 2) == 5.6


def test_weighted_mean_of_rank_3_values_matches_a_numpy_per_sample_mean():
    values = RNG.normal(size=(6, 3, 2)).astype(np.float32)
    w = weights[:6].astype(np.float32)
    m = metrics.Mean()
    m.update_state(torch.from_numpy(values), sample_weight=torch.from_numpy(w))
    per_sample = values.mean(axis=(1, 2))
    np.testing.assert_allclose(m.result().numpy(), (per_sample * w).sum() / w.sum(), rtol=1e-5)
    np.testing.assert_allclose(m.count.numpy(), w.sum(), rtol=1e-6)


def test_sum_over_batch_size_divides_by_the_number_of_values():
    # tf.keras 2's SumOverBatchSize docstring: [1, 3, 5, 7] weighted [1, 1, 0, 0] -> 4 / 4.
    m = metrics.SumOverBatchSize()
    m.update_state(torch.tensor([1.0, 3.0, 5.0, 7.0]), sample_weight=torch.tensor([1, 1, 0, 0]))
    assert m.result().item() == 1.0
    values = RNG.normal(size=(N, 3)).astype(np.float32)
    m = metrics.SumOverBatchSize()
    for v, w in batches(values, weights):
        m.update_state(v, sample_weight=w)
    np.testing.assert_allclose(m.result(), (values * weights[:, None]).sum() / values.size,
                               rtol=1e-5)  # fmt: skip


def test_sum_over_batch_size_metric_wrapper_and_configs():
    m = metrics.SumOverBatchSizeMetricWrapper(metrics.mean_absolute_error)
    assert m.name == "mean_absolute_error"
    for y, p, w in batches(reg_true, reg_pred, weights):
        m.update_state(y, p, sample_weight=w)
    per_sample = np.abs(reg_true - reg_pred).mean(-1)
    np.testing.assert_allclose(m.result(), (per_sample * weights).sum() / N, rtol=1e-5)
    wrapper = metrics.MeanMetricWrapper(metrics.binary_accuracy, name="b", threshold=0.2)
    config = wrapper.get_config()
    assert config == {"name": "b", "dtype": "float32", "fn": metrics.binary_accuracy,
                      "threshold": 0.2}  # fmt: skip
    rebuilt = metrics.MeanMetricWrapper.from_config(config)
    assert rebuilt.get_config() == config
    assert metrics.SumOverBatchSize.from_config(metrics.SumOverBatchSize().get_config()).name == (
        "sum_over_batch_size")


def test_metric_function_returning_none_or_a_dict_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"can only be a single Tensor\. Received: None"):
        metrics.MeanMetricWrapper(lambda t, p: None).update_state(torch.ones(2), torch.ones(2))
    with pytest.raises(RuntimeError, match="To return a dict of values, implement a custom"):
        metrics.MeanMetricWrapper(lambda t, p: {"a": t}).update_state(torch.ones(2), torch.ones(2))
