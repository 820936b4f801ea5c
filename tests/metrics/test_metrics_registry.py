"""Tests for torchfit/metrics/__init__.py: the registry and get()."""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics
from metric_data import reg_pred, reg_true, stream


@pytest.mark.parametrize(
    "identifier, cls, name",
    [
        (
            "sparse_categorical_accuracy",
            metrics.SparseCategoricalAccuracy,
            "sparse_categorical_accuracy",
        ),
        ("categorical_accuracy", metrics.CategoricalAccuracy, "categorical_accuracy"),
        ("binary_accuracy", metrics.BinaryAccuracy, "binary_accuracy"),
        (
            "top_k_categorical_accuracy",
            metrics.TopKCategoricalAccuracy,
            "top_k_categorical_accuracy",
        ),
        ("mse", metrics.MeanSquaredError, "mse"),
        ("mean_squared_error", metrics.MeanSquaredError, "mean_squared_error"),
        ("mae", metrics.MeanAbsoluteError, "mae"),
        ("mape", metrics.MeanAbsolutePercentageError, "mape"),
        ("auc", metrics.AUC, "auc"),
        ("AUC", metrics.AUC, "auc"),
        (
            "SparseCategoricalAccuracy",
            metrics.SparseCategoricalAccuracy,
            "sparse_categorical_accuracy",
        ),
        ("precision", metrics.Precision, "precision"),
        ("recall", metrics.Recall, "recall"),
        ("root_mean_squared_error", metrics.RootMeanSquaredError, "root_mean_squared_error"),
    ],
)
def test_get_strings(identifier, cls, name):
    metric = metrics.get(identifier)
    assert type(metric) is cls and metric.name == name


def test_get_other_identifiers():
    assert metrics.get(None) is None
    instance = metrics.Recall()
    assert metrics.get(instance) is instance
    assert type(metrics.get(metrics.Recall)) is metrics.Recall

    def my_error(y_true, y_pred):
        return (y_true - y_pred).abs()

    wrapped = metrics.get(my_error)
    assert isinstance(wrapped, metrics.MeanMetricWrapper) and wrapped.name == "my_error"
    mse_loss = metrics.get(torch.nn.MSELoss())
    assert mse_loss.name == "mse_loss"
    expected = np.mean((reg_true - reg_pred) ** 2)
    np.testing.assert_allclose(stream(mse_loss, reg_true, reg_pred), expected, rtol=1e-5)


def test_get_errors_name_what_was_received():
    with pytest.raises(
        ValueError,
        match=r"Unknown metric: 'sparse_categorical_acuracy'\. "
        r"Did you mean 'sparse_categorical_accuracy'\? Valid names: .*'mae'",
    ):
        metrics.get("sparse_categorical_acuracy")
    with pytest.raises(ValueError, match=r"Unknown metric: 'xyz'\. Valid names"):
        metrics.get("xyz")
    with pytest.raises(ValueError, match=r"'accuracy' depends on the loss.*resolve_accuracy"):
        metrics.get("accuracy")
    with pytest.raises(TypeError, match=r"Received: 3 of type int\. Expected a metric name"):
        metrics.get(3)
    with pytest.raises(TypeError, match=r"the class dict is not a torchfit.metrics.Metric"):
        metrics.get(dict)


def test_any_module_metric_is_called_in_torch_order():
    class Asymmetric(torch.nn.Module):  # forward(input, target), as torch code writes losses
        def forward(self, input, target):
            return (input - 2 * target).mean()

    metric = metrics.get(Asymmetric())
    y_true, y_pred = torch.tensor([1.0, 1.0]), torch.tensor([5.0, 7.0])
    metric.update_state(y_true, y_pred)
    assert metric.name == "asymmetric"
    assert float(metric.result()) == pytest.approx(((5 - 2) + (7 - 2)) / 2)
