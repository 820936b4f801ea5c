"""Keras metrics for torch: `Metric`, the built-ins, and `get(identifier)`.

Every metric keeps its state on the device and returns device tensors from `result()`; nothing
here reads a value back to the host. `get` turns what `compile(metrics=[...])` accepts into a
`Metric`: a registered string, a `Metric` instance or class, a torchmetrics metric, a `torch.nn`
loss module or a plain function `fn(y_true, y_pred)` returning per-sample values, or a dict from
`serialize` (Keras 3's format, which `deserialize` also reads from Keras itself).

The package: `metric.py` (the `Metric` protocol and declared state), `reduction.py` (Mean, Sum,
the function wrappers, tf.keras 2's SumOverBatchSize), `mean_tensor.py`, `accuracy.py`,
`probabilistic.py` (crossentropies, Poisson, KLDivergence), `hinge_metrics.py`, `regression.py`,
`r2_score.py`, `correlation.py` (Keras 3's Pearson and concordance), the confusion family
(`confusion.py`, `confusion_at.py`, `f_score.py`, `iou.py`) and `torchmetrics_wrapper.py`.
"""

import torch as _torch

from torchfit.losses import (  # the per-sample functions keras.metrics re-exports
    binary_focal_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    hinge,
    huber,
    kl_divergence,
    poisson,
    squared_hinge,
)
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
from torchfit.metrics.confusion_at import (
    PrecisionAtRecall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
)
from torchfit.metrics.f_score import F1Score, FBetaScore
from torchfit.metrics.iou import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from torchfit.metrics.correlation import (
    ConcordanceCorrelation,
    PearsonCorrelation,
    concordance_correlation,
    pearson_correlation,
)
from torchfit.metrics.hinge_metrics import CategoricalHinge, Hinge, SquaredHinge
from torchfit.metrics.mean_tensor import MeanTensor
from torchfit.metrics.metric import Metric
from torchfit.metrics.probabilistic import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    KLDivergence,
    Poisson,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
)
from torchfit.metrics.r2_score import R2Score
from torchfit.metrics.reduction import (
    Mean,
    MeanMetricWrapper,
    Sum,
    SumOverBatchSize,
    SumOverBatchSizeMetricWrapper,
)
from torchfit.metrics.regression import (
    CosineSimilarity,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanRelativeError,
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
from torchfit.utils.config import deserialize_object as _deserialize_object
from torchfit.utils.config import serialize_object as _serialize_object
from torchfit.utils.naming import to_snake_case as _to_snake_case
from torchfit.utils.validation import did_you_mean as _did_you_mean

# Aliases as in Keras; function names map to the class computing their running mean.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
logcosh = log_cosh
acc = ACC = accuracy
bce = BCE = binary_crossentropy

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
    "R2Score": R2Score,
    "PearsonCorrelation": PearsonCorrelation,
    "ConcordanceCorrelation": ConcordanceCorrelation,
    "Hinge": Hinge,
    "SquaredHinge": SquaredHinge,
    "CategoricalHinge": CategoricalHinge,
    "Poisson": Poisson,
    "KLDivergence": KLDivergence,
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
    "SensitivityAtSpecificity": SensitivityAtSpecificity,
    "SpecificityAtSensitivity": SpecificityAtSensitivity,
    "PrecisionAtRecall": PrecisionAtRecall,
    "RecallAtPrecision": RecallAtPrecision,
    "F1Score": F1Score,
    "FBetaScore": FBetaScore,
    "IoU": IoU,
    "BinaryIoU": BinaryIoU,
    "MeanIoU": MeanIoU,
    "OneHotIoU": OneHotIoU,
    "OneHotMeanIoU": OneHotMeanIoU,
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
    "r2_score": R2Score,
    "pearson_correlation": PearsonCorrelation,
    "concordance_correlation": ConcordanceCorrelation,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "poisson": Poisson,
    "kl_divergence": KLDivergence,
    "accuracy": Accuracy,
    "acc": Accuracy,
    "ACC": Accuracy,
    "bce": BinaryCrossentropy,
    "BCE": BinaryCrossentropy,
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
    "sensitivity_at_specificity": SensitivityAtSpecificity,
    "specificity_at_sensitivity": SpecificityAtSensitivity,
    "precision_at_recall": PrecisionAtRecall,
    "recall_at_precision": RecallAtPrecision,
    "f1_score": F1Score,
    "f_beta_score": FBetaScore,
    "fbeta_score": FBetaScore,
    "io_u": IoU,
    "binary_io_u": BinaryIoU,
    "mean_io_u": MeanIoU,
    "one_hot_io_u": OneHotIoU,
    "one_hot_mean_io_u": OneHotMeanIoU,
}

# Their meaning depends on the loss and the output shapes: `compile` resolves them with
# `torchfit.trainer.compile_utils.resolve_accuracy`.
SHAPE_DEPENDENT_NAMES = ("accuracy", "acc", "crossentropy", "ce")
# The snake_case names and aliases (class names are accepted too; listing them doubles the list).
_METRIC_NAMES = sorted(
    {n for n, c in ALL_METRICS.items() if n != c.__name__} | set(SHAPE_DEPENDENT_NAMES)
)

# What `deserialize` can rebuild: every class and function of this package by its name (also
# those `get` cannot build from a name alone, such as MeanRelativeError(normalizer)).
_SERIALIZABLE = {
    **{cls.__name__: cls for cls in ALL_METRICS.values()},
    "Metric": Metric,
    "Mean": Mean,
    "Sum": Sum,
    "MeanMetricWrapper": MeanMetricWrapper,
    "MeanTensor": MeanTensor,
    "MeanRelativeError": MeanRelativeError,
    "SumOverBatchSize": SumOverBatchSize,
    "SumOverBatchSizeMetricWrapper": SumOverBatchSizeMetricWrapper,
    **{fn.__name__: fn for fn in (
        accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
        top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, binary_crossentropy,
        categorical_crossentropy, sparse_categorical_crossentropy, mean_squared_error,
        mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error,
        cosine_similarity, log_cosh, hinge, squared_hinge, categorical_hinge, huber,
        kl_divergence, poisson, pearson_correlation, concordance_correlation,
        binary_focal_crossentropy, categorical_focal_crossentropy,
    )},  # fmt: skip
}


def serialize(metric):
    """Keras 3's dict for a metric (`{"module", "class_name", "config", "registered_name"}`).

    A function is written as Keras writes one (`{"class_name": "function", "config": name}`).

    Example:
        >>> config = torchfit.metrics.serialize(torchfit.metrics.BinaryAccuracy(threshold=0.7))
        >>> config["class_name"], config["config"]["threshold"]
        ('BinaryAccuracy', 0.7)
    """
    return _serialize_object(metric, "torchfit.metrics")


def deserialize(config, custom_objects=None):
    """Rebuild a metric (or metric function) from `serialize`'s dict, torchfit's or Keras 3's.

    Example:
        >>> config = {"module": "keras.metrics", "class_name": "R2Score",
        ...           "config": {"name": "r2", "dtype": "float32", "num_regressors": 0}}
        >>> torchfit.metrics.deserialize(config).name
        'r2'
    """
    return _deserialize_object(config, _SERIALIZABLE, "metric", custom_objects)


def get(identifier):
    """Return the `Metric` for `identifier`, or None for None.

    Accepts a registered string (`"sparse_categorical_accuracy"`, `"mae"`, `"AUC"`, ...), a
    `Metric` instance (returned as is) or subclass (instantiated), a torchmetrics metric
    (wrapped in `TorchMetricsWrapper`), a `torch.nn` loss module, or a function
    `fn(y_true, y_pred)` returning per-sample values (its running mean, named `fn.__name__`),
    or a dict from `serialize` (torchfit's or Keras 3's).

    `"accuracy"` / `"acc"` here are the exact-match `Accuracy`, as tf.keras 2's `get("acc")`
    (its `accuracy` function); Keras 3's `get("acc")` raises. Inside `compile` they are resolved
    from the loss and the output shapes instead.

    Example:
        >>> torchfit.metrics.get("mae").name
        'mae'
        >>> torchfit.metrics.get("AUC").name
        'auc'
        >>> type(torchfit.metrics.get("acc")).__name__
        'Accuracy'
        >>> config = {"class_name": "BinaryAccuracy", "config": {"threshold": 0.7}}
        >>> torchfit.metrics.get(config).threshold
        0.7
    """
    if identifier is None or isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        return _from_string(identifier)
    if isinstance(identifier, dict):  # a serialized metric, e.g. from serialize()
        return get(deserialize(identifier))
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
    if name in SHAPE_DEPENDENT_NAMES and name not in ALL_METRICS:
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
    "ACC",
    "ALL_METRICS",
    "AUC",
    "Accuracy",
    "BCE",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "BinaryIoU",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "ConcordanceCorrelation",
    "CosineSimilarity",
    "F1Score",
    "FBetaScore",
    "FalseNegatives",
    "FalsePositives",
    "Hinge",
    "IoU",
    "KLDivergence",
    "LogCoshError",
    "MAE",
    "MAPE",
    "MSE",
    "MSLE",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanIoU",
    "MeanMetricWrapper",
    "MeanRelativeError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "MeanTensor",
    "Metric",
    "OneHotIoU",
    "OneHotMeanIoU",
    "PearsonCorrelation",
    "Poisson",
    "Precision",
    "PrecisionAtRecall",
    "R2Score",
    "Recall",
    "RecallAtPrecision",
    "RootMeanSquaredError",
    "SHAPE_DEPENDENT_NAMES",
    "SensitivityAtSpecificity",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "SpecificityAtSensitivity",
    "SquaredHinge",
    "Sum",
    "SumOverBatchSize",
    "SumOverBatchSizeMetricWrapper",
    "TopKCategoricalAccuracy",
    "TorchMetricsWrapper",
    "TrueNegatives",
    "TruePositives",
    "acc",
    "accuracy",
    "bce",
    "binary_accuracy",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_accuracy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "concordance_correlation",
    "cosine_similarity",
    "deserialize",
    "get",
    "hinge",
    "huber",
    "kl_divergence",
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
    "pearson_correlation",
    "poisson",
    "serialize",
    "sparse_categorical_accuracy",
    "sparse_categorical_crossentropy",
    "sparse_top_k_categorical_accuracy",
    "squared_hinge",
    "top_k_categorical_accuracy",
]
