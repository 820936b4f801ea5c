"""Differential tests: every metric class and function of ``keras.metrics`` in torchfit.metrics.

The same float32 inputs go to Keras 3 (torch backend) and to torchfit, in three uneven batches,
with and without sample weights; the results must agree to float32 rounding. The confusion
family (AUC, Precision, IoU, F-scores, ...) is compared in test_keras_confusion_metrics.py.
"""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics

RNG = np.random.default_rng(11)
N, C, D = 40, 6, 3  # C > 5: Keras's top-k needs k=5 <= C
CUTS = (0, 7, 23, N)

_labels = RNG.integers(0, C, size=N)
_logits = RNG.normal(size=(N, C)).astype(np.float32)
_probs = (np.exp(_logits) / np.exp(_logits).sum(-1, keepdims=True)).astype(np.float32)
_reg_true = RNG.normal(size=(N, D)).astype(np.float32)
DATA = {
    "one_hot": (np.eye(C, dtype=np.float32)[_labels], _probs),
    "sparse": (_labels.astype(np.float32), _probs),
    "sparse_logits": (_labels.astype(np.float32), _logits),
    "one_hot_logits": (np.eye(C, dtype=np.float32)[_labels], _logits),
    "binary": (RNG.integers(0, 2, size=(N, D)).astype(np.float32),
               RNG.uniform(size=(N, D)).astype(np.float32)),
    "binary_logits": (RNG.integers(0, 2, size=(N, D)).astype(np.float32),
                      RNG.normal(size=(N, D)).astype(np.float32)),
    "regression": (_reg_true, (_reg_true + RNG.normal(scale=0.5, size=(N, D))).astype(np.float32)),
    "positive": (RNG.uniform(0.1, 3.0, size=(N, D)).astype(np.float32),
                 RNG.uniform(0.1, 3.0, size=(N, D)).astype(np.float32)),
    "hinge": (RNG.integers(0, 2, size=(N, D)).astype(np.float32),
              RNG.normal(size=(N, D)).astype(np.float32)),
    "integers": (RNG.integers(0, 3, size=(N, 1)).astype(np.float32),
                 RNG.integers(0, 3, size=(N, 1)).astype(np.float32)),
}
WEIGHTS = RNG.uniform(0.0, 2.0, size=N).astype(np.float32)

# keras.metrics class name -> [(constructor kwargs, data)], each compared with and without weights.
CLASS_CASES = {
    "Accuracy": [({}, "integers")],
    "BinaryAccuracy": [({}, "binary"), ({"threshold": 0.3}, "binary")],
    "CategoricalAccuracy": [({}, "one_hot")],
    "SparseCategoricalAccuracy": [({}, "sparse")],
    "TopKCategoricalAccuracy": [({}, "one_hot"), ({"k": 2}, "one_hot")],
    "SparseTopKCategoricalAccuracy": [({}, "sparse"), ({"k": 2}, "sparse")],
    "BinaryCrossentropy": [({}, "binary"), ({"label_smoothing": 0.1}, "binary"),
                           ({"from_logits": True}, "binary_logits")],
    "CategoricalCrossentropy": [({}, "one_hot"), ({"label_smoothing": 0.2}, "one_hot"),
                                ({"from_logits": True}, "one_hot_logits")],
    "SparseCategoricalCrossentropy": [({}, "sparse"), ({"from_logits": True}, "sparse_logits"),
                                      ({"ignore_class": 2}, "sparse"),
                                      ({"ignore_class": 1, "from_logits": True}, "sparse_logits")],
    "KLDivergence": [({}, "one_hot")],
    "Poisson": [({}, "positive")],
    "Hinge": [({}, "hinge")],
    "SquaredHinge": [({}, "hinge")],
    "CategoricalHinge": [({}, "one_hot")],
    "MeanSquaredError": [({}, "regression")],
    "MeanAbsoluteError": [({}, "regression")],
    "MeanAbsolutePercentageError": [({}, "positive")],
    "MeanSquaredLogarithmicError": [({}, "positive")],
    "RootMeanSquaredError": [({}, "regression")],
    "CosineSimilarity": [({}, "regression"), ({"axis": 1}, "regression")],
    "LogCoshError": [({}, "regression")],
    "PearsonCorrelation": [({}, "regression")],
    "ConcordanceCorrelation": [({}, "regression")],
    "R2Score": [({}, "regression"), ({"class_aggregation": None}, "regression"),
                ({"class_aggregation": "variance_weighted_average"}, "regression"),
                ({"num_regressors": 2}, "regression")],
}
# keras.metrics function name -> (keyword arguments, data).
FUNCTION_CASES = {
    "binary_accuracy": ({}, "binary"),
    "categorical_accuracy": ({}, "one_hot"),
    "sparse_categorical_accuracy": ({}, "sparse"),
    "top_k_categorical_accuracy": ({"k": 2}, "one_hot"),
    "sparse_top_k_categorical_accuracy": ({"k": 2}, "sparse"),
    "binary_crossentropy": ({"label_smoothing": 0.1}, "binary"),
    "categorical_crossentropy": ({}, "one_hot"),
    "sparse_categorical_crossentropy": ({"from_logits": True}, "sparse_logits"),
    "binary_focal_crossentropy": ({"gamma": 2.0}, "binary"),
    "categorical_focal_crossentropy": ({}, "one_hot"),
    "hinge": ({}, "hinge"),
    "squared_hinge": ({}, "hinge"),
    "categorical_hinge": ({}, "one_hot"),
    "huber": ({"delta": 0.5}, "regression"),
    "kl_divergence": ({}, "one_hot"),
    "poisson": ({}, "positive"),
    "log_cosh": ({}, "regression"),
    "mean_absolute_error": ({}, "regression"),
    "mean_absolute_percentage_error": ({}, "positive"),
    "mean_squared_error": ({}, "regression"),
    "mean_squared_logarithmic_error": ({}, "positive"),
    "pearson_correlation": ({}, "regression"),
    "concordance_correlation": ({}, "regression"),
}
REDUCTIONS = ("Mean", "Sum", "MeanMetricWrapper")  # compared in test_reductions_match_keras
API = ("Metric", "get", "serialize", "deserialize")
CONFUSION = (
    "AUC", "Precision", "Recall", "TruePositives", "FalsePositives", "TrueNegatives",
    "FalseNegatives", "PrecisionAtRecall", "RecallAtPrecision", "SensitivityAtSpecificity",
    "SpecificityAtSensitivity", "F1Score", "FBetaScore", "IoU", "BinaryIoU", "MeanIoU",
    "OneHotIoU", "OneHotMeanIoU",
)  # fmt: skip

CLASS_PARAMS = [(name, kwargs, data) for name, cases in CLASS_CASES.items()
                for kwargs, data in cases]  # fmt: skip


def _public_names(keras):
    return {name for name in dir(keras.metrics) if not name.startswith("_")}


def _stream(metric, y_true, y_pred, weights, to_input):
    for lo, hi in zip(CUTS[:-1], CUTS[1:]):
        weight = None if weights is None else to_input(weights[lo:hi])
        metric.update_state(to_input(y_true[lo:hi]), to_input(y_pred[lo:hi]),
                            sample_weight=weight)  # fmt: skip
    return metric.result()


def test_every_keras_metric_name_is_compared_here(keras):
    covered = set(CLASS_CASES) | set(FUNCTION_CASES) | set(REDUCTIONS) | set(API) | set(CONFUSION)
    assert _public_names(keras) - covered == set()


def test_every_public_keras_metric_name_exists_in_torchfit(keras):
    missing = sorted(name for name in _public_names(keras) if not hasattr(metrics, name))
    assert missing == []


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(("name", "kwargs", "data"), CLASS_PARAMS,
                         ids=[f"{n}-{d}-{k}" for n, k, d in CLASS_PARAMS])  # fmt: skip
def test_metric_class_matches_keras(keras, name, kwargs, data, weighted):
    y_true, y_pred = DATA[data]
    weights = WEIGHTS if weighted else None
    keras_weights = weights
    if "ignore_class" in kwargs and not weighted:
        # Deliberate: torchfit leaves ignored labels out of the mean as tf.keras 2 does; Keras 3
        # does so only with sample weights. Unit weights show Keras 3 doing it.
        keras_weights = np.ones(N, np.float32)
    expected = _stream(getattr(keras.metrics, name)(**kwargs), y_true, y_pred, keras_weights,
                       lambda a: a)  # fmt: skip
    ours = getattr(metrics, name)(**kwargs)
    result = _stream(ours, y_true, y_pred, weights, torch.as_tensor)
    np.testing.assert_allclose(result.numpy(), keras.ops.convert_to_numpy(expected),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    assert ours.name == getattr(keras.metrics, name)(**kwargs).name


@pytest.mark.parametrize("name", sorted(FUNCTION_CASES))
def test_metric_function_matches_keras(keras, name):
    kwargs, data = FUNCTION_CASES[name]
    y_true, y_pred = DATA[data]
    expected = keras.ops.convert_to_numpy(getattr(keras.metrics, name)(y_true, y_pred, **kwargs))
    if name == "binary_accuracy":
        # Deliberate: torchfit's function is tf.keras 2's, one value per sample (the mean over
        # the last axis); Keras 3's is element-wise. The BinaryAccuracy classes agree.
        expected = expected.mean(-1)
    result = getattr(metrics, name)(torch.as_tensor(y_true), torch.as_tensor(y_pred), **kwargs)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_reductions_match_keras(keras, weighted):
    values = DATA["regression"][1]
    weights = WEIGHTS if weighted else None
    for name in ("Mean", "Sum"):
        ours, theirs = getattr(metrics, name)(), getattr(keras.metrics, name)()
        for lo, hi in zip(CUTS[:-1], CUTS[1:]):
            weight = None if weights is None else weights[lo:hi]
            theirs.update_state(values[lo:hi], sample_weight=weight)
            ours.update_state(torch.as_tensor(values[lo:hi]),
                              sample_weight=None if weight is None else torch.as_tensor(weight))
        np.testing.assert_allclose(ours.result().numpy(),
                                   keras.ops.convert_to_numpy(theirs.result()), rtol=1e-5)
    y_true, y_pred = DATA["regression"]
    expected = _stream(keras.metrics.MeanMetricWrapper(keras.metrics.mean_absolute_error),
                       y_true, y_pred, weights, lambda a: a)  # fmt: skip
    result = _stream(metrics.MeanMetricWrapper(metrics.mean_absolute_error), y_true, y_pred,
                     weights, torch.as_tensor)  # fmt: skip
    np.testing.assert_allclose(result.numpy(), keras.ops.convert_to_numpy(expected), rtol=1e-5)


@pytest.mark.parametrize(("name", "kwargs", "data"), CLASS_PARAMS,
                         ids=[f"{n}-{d}-{k}" for n, k, d in CLASS_PARAMS])  # fmt: skip
def test_get_config_equals_keras_and_keras_config_rebuilds(keras, name, kwargs, data):
    theirs = getattr(keras.metrics, name)(**kwargs)
    ours = getattr(metrics, name)(**kwargs)
    # Every key Keras writes, with its value (CosineSimilarity adds the `axis` Keras 3 omits).
    assert theirs.get_config().items() <= ours.get_config().items()
    rebuilt = metrics.deserialize(keras.metrics.serialize(theirs))
    assert type(rebuilt) is type(ours)
    assert theirs.get_config().items() <= rebuilt.get_config().items()
    again = type(ours).from_config(ours.get_config())
    assert again.get_config() == ours.get_config()
