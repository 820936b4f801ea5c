"""Keras metrics for torch: `Metric`, the built-ins, and `get(identifier)`.

Every metric keeps its state on the device and returns device tensors from `result()`; nothing
here reads a value back to the host. `get` turns what `compile(metrics=[...])` accepts into a
`Metric`: a registered string, a `Metric` instance or class, a torchmetrics metric, a `torch.nn`
loss module or a plain function `fn(y_true, y_pred)` returning per-sample values.
"""

import torch as _torch

from torchfit.metrics.accuracy import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from torchfit.metrics.confusion import (
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    Recall,
    TrueNegatives,
    TruePositives,
)
from torchfit.metrics.metric import Metric
from torchfit.metrics.probabilistic import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
)
from torchfit.metrics.reduction import Mean, MeanMetricWrapper, Sum
from torchfit.metrics.regression import (
    CosineSimilarity,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    RootMeanSquaredError,
    cosine_similarity,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
)
from torchfit.metrics.torchmetrics_wrapper import TorchMetricsWrapper
from torchfit.metrics.torchmetrics_wrapper import is_torchmetrics_metric as _is_torchmetrics_metric
from torchfit.utils.naming import to_snake_case as _to_snake_case
from torchfit.utils.validation import did_you_mean as _did_you_mean

# Aliases as in Keras; function names map to the class computing their running mean.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
logcosh = log_cosh

# The strings `compile(metrics=...)` accepts. A class name gives the class's default name
# ("AUC" -> "auc", as tf.keras does); any other string becomes the metric's name ("mae" -> "mae").
ALL_METRICS = {
    "Accuracy": Accuracy,
    "BinaryAccuracy": BinaryAccuracy,
    "CategoricalAccuracy": CategoricalAccuracy,
    "SparseCategoricalAccuracy": SparseCategoricalAccuracy,
    "TopKCategoricalAccuracy": TopKCategoricalAccuracy,
    "SparseTopKCategoricalAccuracy": SparseTopKCategoricalAccuracy,
    "MeanSquaredError": MeanSquaredError,
    "MeanAbsoluteError": MeanAbsoluteError,
    "MeanAbsolutePercentageError": MeanAbsolutePercentageError,
    "MeanSquaredLogarithmicError": MeanSquaredLogarithmicError,
    "RootMeanSquaredError": RootMeanSquaredError,
    "CosineSimilarity": CosineSimilarity,
    "LogCoshError": LogCoshError,
    "BinaryCrossentropy": BinaryCrossentropy,
    "CategoricalCrossentropy": CategoricalCrossentropy,
    "SparseCategoricalCrossentropy": SparseCategoricalCrossentropy,
    "AUC": AUC,
    "Precision": Precision,
    "Recall": Recall,
    "TruePositives": TruePositives,
    "FalsePositives": FalsePositives,
    "TrueNegatives": TrueNegatives,
    "FalseNegatives": FalseNegatives,
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "MSLE": MeanSquaredLogarithmicError,
    "root_mean_squared_error": RootMeanSquaredError,
    "rmse": RootMeanSquaredError,
    "cosine_similarity": CosineSimilarity,
    "logcosh": LogCoshError,
    "log_cosh": LogCoshError,
    "log_cosh_error": LogCoshError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "auc": AUC,
    "precision": Precision,
    "recall": Recall,
    "true_positives": TruePositives,
    "false_positives": FalsePositives,
    "true_negatives": TrueNegatives,
    "false_negatives": FalseNegatives,
}

# Their meaning depends on the loss and the output shapes: `compile` resolves them with
# `torchfit.trainer.compile_utils.resolve_accuracy`.
SHAPE_DEPENDENT_NAMES = ("accuracy", "acc", "crossentropy", "ce")
# The snake_case names and aliases (class names are accepted too; listing them doubles the list).
_METRIC_NAMES = [n for n, c in ALL_METRICS.items() if n != c.__name__] + list(SHAPE_DEPENDENT_NAMES)


def get(identifier):
    """Return the `Metric` for `identifier`, or None for None.

    Accepts a registered string (`"sparse_categorical_accuracy"`, `"mae"`, `"AUC"`, ...), a
    `Metric` instance (returned as is) or subclass (instantiated), a torchmetrics metric
    (wrapped in `TorchMetricsWrapper`), a `torch.nn` loss module, or a function
    `fn(y_true, y_pred)` returning per-sample values (its running mean, named `fn.__name__`).

    Example:
        >>> torchfit.metrics.get("mae").name
        'mae'
        >>> torchfit.metrics.get("AUC").name
        'auc'
    """
    if identifier is None or isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        return _from_string(identifier)
    if isinstance(identifier, type):
        if issubclass(identifier, Metric):
            return identifier()
        raise TypeError(
            f"Could not interpret metric identifier: the class {identifier.__name__} is not a "
            "torchfit.metrics.Metric. Pass an instance (torchmetrics metrics need theirs, e.g. "
            "MulticlassAccuracy(num_classes=10)), a metric name or a function fn(y_true, y_pred)."
        )
    if _is_torchmetrics_metric(identifier):
        return TorchMetricsWrapper(identifier)
    if isinstance(identifier, _torch.nn.Module):  # torch order, as for losses
        return MeanMetricWrapper(
            _torch_loss, name=_to_snake_case(type(identifier).__name__), loss=identifier
        )
    if callable(identifier):
        name = getattr(identifier, "name", None) or getattr(identifier, "__name__", None)
        return MeanMetricWrapper(identifier, name=name or _to_snake_case(type(identifier).__name__))
    raise TypeError(
        f"Could not interpret metric identifier. Received: {identifier!r} of type "
        f"{type(identifier).__name__}. Expected a metric name such as "
        "'sparse_categorical_accuracy', "
        "a torchfit.metrics.Metric, a torchmetrics metric, or a function fn(y_true, y_pred)."
    )


def _from_string(name):
    if name in SHAPE_DEPENDENT_NAMES:
        raise ValueError(
            f"Metric {name!r} depends on the loss and the shapes of the model's outputs, so it is "
            "resolved when the model is compiled and first run; outside compile use "
            f"torchfit.trainer.compile_utils.resolve_accuracy({name!r}, y_true, y_pred, loss) or "
            "a specific name such as 'sparse_categorical_accuracy', 'categorical_accuracy' or "
            "'binary_accuracy'."
        )
    cls = ALL_METRICS.get(name)
    if cls is None:
        suggestion = _did_you_mean(name, [*ALL_METRICS, *SHAPE_DEPENDENT_NAMES])
        raise ValueError(
            f"Unknown metric: {name!r}.{suggestion}"
            f" Valid names: {', '.join(map(repr, sorted(_METRIC_NAMES)))}, or a metric class "
            "name such as 'SparseCategoricalAccuracy' or 'AUC'."
        )
    return cls() if name == cls.__name__ else cls(name=name)


def _torch_loss(y_true, y_pred, loss):
    # torch.nn losses take (input, target): the reverse of the Keras order. A batch mean is
    # repeated once per sample (a stride-0 view, no copy), so uneven batches average exactly.
    value = loss(y_pred, y_true)
    if value.ndim == 0 and y_pred.ndim > 0 and getattr(loss, "reduction", None) == "mean":
        value = value.expand(y_pred.shape[0])
    return value


__all__ = [
    "ALL_METRICS",
    "AUC",
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CosineSimilarity",
    "FalseNegatives",
    "FalsePositives",
    "LogCoshError",
    "MAE",
    "MAPE",
    "MSE",
    "MSLE",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Metric",
    "Precision",
    "Recall",
    "RootMeanSquaredError",
    "SHAPE_DEPENDENT_NAMES",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "Sum",
    "TopKCategoricalAccuracy",
    "TorchMetricsWrapper",
    "TrueNegatives",
    "TruePositives",
    "accuracy",
    "binary_accuracy",
    "binary_crossentropy",
    "categorical_accuracy",
    "categorical_crossentropy",
    "cosine_similarity",
    "get",
    "log_cosh",
    "logcosh",
    "mae",
    "mape",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "mse",
    "msle",
    "sparse_categorical_accuracy",
    "sparse_categorical_crossentropy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]
