"""Tests for torchfit/metrics/__init__.py: the registry and get()."""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics
from metric_data import batches, labels, one_hot, probs, reg_pred, reg_true, stream, weights


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
    with pytest.raises(ValueError, match=r"'crossentropy' depends on the loss.*resolve_accuracy"):
        metrics.get("crossentropy")
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


MY_CLASSES = [
    metrics.Accuracy, metrics.BinaryAccuracy, metrics.CategoricalAccuracy,
    metrics.SparseCategoricalAccuracy, metrics.TopKCategoricalAccuracy,
    metrics.SparseTopKCategoricalAccuracy, metrics.BinaryCrossentropy,
    metrics.CategoricalCrossentropy, metrics.SparseCategoricalCrossentropy, metrics.Poisson,
    metrics.KLDivergence, metrics.Hinge, metrics.SquaredHinge, metrics.CategoricalHinge,
    metrics.MeanSquaredError, metrics.MeanAbsoluteError, metrics.MeanAbsolutePercentageError,
    metrics.MeanSquaredLogarithmicError, metrics.RootMeanSquaredError, metrics.CosineSimilarity,
    metrics.LogCoshError, metrics.PearsonCorrelation, metrics.ConcordanceCorrelation,
    metrics.R2Score, metrics.Mean, metrics.Sum, metrics.MeanTensor, metrics.SumOverBatchSize,
]  # fmt: skip


@pytest.mark.parametrize("cls", MY_CLASSES, ids=lambda c: c.__name__)
def test_every_class_round_trips_through_config_and_serialize(cls):
    metric = cls(name="custom", dtype="float64")
    config = metric.get_config()
    assert config["name"] == "custom" and config["dtype"] == "float64"
    assert type(metric).from_config(config).get_config() == config
    serialized = metrics.serialize(metric)
    assert serialized == {"module": "torchfit.metrics", "class_name": cls.__name__,
                          "config": config, "registered_name": None}  # fmt: skip
    rebuilt = metrics.deserialize(serialized)
    assert type(rebuilt) is cls and rebuilt.get_config() == config


def test_deserialize_reads_keras_dicts_and_get_accepts_them():
    # What Keras 3.15 writes for keras.metrics.serialize(keras.metrics.BinaryAccuracy(0.7)...).
    keras_config = {"module": "keras.metrics", "class_name": "BinaryAccuracy",
                    "config": {"name": "bin", "dtype": "float32", "threshold": 0.7},
                    "registered_name": None}  # fmt: skip
    metric = metrics.get(keras_config)
    assert isinstance(metric, metrics.BinaryAccuracy) and metric.threshold == 0.7
    assert metric.name == "bin"
    function = {"module": "builtins", "class_name": "function", "config": "hinge",
                "registered_name": "function"}  # fmt: skip
    assert metrics.deserialize(function) is metrics.hinge
    assert metrics.serialize(metrics.hinge) == function
    wrapped = metrics.get(function)
    assert isinstance(wrapped, metrics.MeanMetricWrapper) and wrapped.name == "hinge"
    mre = metrics.deserialize({"class_name": "MeanRelativeError",
                               "config": {"name": "mre", "normalizer": [1.0, 2.0]}})
    assert mre.name == "mre" and mre.normalizer.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match=r"Unknown metric: 'Bogus'"):
        metrics.deserialize({"class_name": "Bogus", "config": {}})


def test_get_acc_is_tf_keras_2_exact_accuracy_outside_compile():
    # tf.keras 2: metrics.get("acc") is the function `accuracy` (Keras 3 raises ValueError).
    for name in ("acc", "ACC", "accuracy"):
        metric = metrics.get(name)
        assert isinstance(metric, metrics.Accuracy) and metric.name == name
    metric = metrics.get("acc")
    metric.update_state(torch.tensor([[1], [2], [3]]), torch.tensor([[1], [2], [0]]))
    np.testing.assert_allclose(metric.result(), 2 / 3, rtol=1e-6)
    assert isinstance(metrics.get("bce"), metrics.BinaryCrossentropy)


@pytest.mark.parametrize(("name", "cls"), [
    ("r2_score", metrics.R2Score), ("hinge", metrics.Hinge), ("poisson", metrics.Poisson),
    ("kl_divergence", metrics.KLDivergence), ("pearson_correlation", metrics.PearsonCorrelation),
    ("CategoricalHinge", metrics.CategoricalHinge), ("log_cosh_error", metrics.LogCoshError),
])  # fmt: skip
def test_keras_3_snake_case_names_resolve(name, cls):
    assert type(metrics.get(name)) is cls


_VALUE_METRICS = (metrics.Mean, metrics.Sum, metrics.SumOverBatchSize)
_SPARSE = (metrics.SparseCategoricalAccuracy, metrics.SparseTopKCategoricalAccuracy,
           metrics.SparseCategoricalCrossentropy)  # fmt: skip


@pytest.mark.parametrize("cls", [c for c in MY_CLASSES if c is not metrics.MeanTensor],
                         ids=lambda c: c.__name__)  # fmt: skip
def test_merged_copies_equal_one_metric_over_all_batches(cls):
    # Every state is declared with an aggregation, so merge_state rebuilds the single metric.
    if cls in _VALUE_METRICS:
        arrays = (reg_true,)
    elif cls in _SPARSE:
        arrays = (labels, probs)
    else:
        arrays = (one_hot, probs)
    parts, single = [], cls()
    for *batch, weight in batches(*arrays, weights):
        part = cls()
        part.update_state(*batch, sample_weight=weight)
        single.update_state(*batch, sample_weight=weight)
        parts.append(part)
    assert set(single.state_aggregations.values()) == {"sum"}
    parts[0].merge_state(parts[1:])
    np.testing.assert_allclose(parts[0].result(), single.result(), rtol=1e-5, atol=1e-7)
