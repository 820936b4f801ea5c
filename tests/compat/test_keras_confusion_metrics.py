"""Differential tests: torchfit's confusion-matrix family against Keras 3's metrics.

Each case feeds the same float32 batches (three uneven ones, with and without sample weights) to
`torchfit.metrics.X(**kwargs)` and `keras.metrics.X(**kwargs)` through `update_state`, then
compares `result()` at float32 rounding. Covers the confusion counts, Precision, Recall, AUC,
the "X at Y" metrics, the IoU metrics and the F-scores, and their configs.
"""

import numpy as np
import pytest
import torch

import torchfit.metrics as tm

# Keras's torch backend converts NumPy inputs through a NumPy 1 style __array__.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

RNG = np.random.default_rng(11)
N, C, PIXELS = 40, 4, 3
CUTS = [0, 9, 23, N]


def _data():
    probs = RNG.dirichlet(np.ones(C), size=N).astype(np.float32)
    ids = RNG.integers(0, C, size=N)
    return {
        "binary": (
            RNG.integers(0, 2, size=(N, 1)).astype(np.float32),
            RNG.uniform(size=(N, 1)).astype(np.float32),
        ),
        "multi": (
            RNG.integers(0, 2, size=(N, C)).astype(np.float32),
            RNG.uniform(size=(N, C)).astype(np.float32),
        ),
        "logits": (
            RNG.integers(0, 2, size=(N, C)).astype(np.float32),
            RNG.normal(scale=2.0, size=(N, C)).astype(np.float32),
        ),
        "onehot": (np.eye(C, dtype=np.float32)[ids], probs),
        # Class ids per pixel, with labels outside [0, C) and the "void" class 255.
        "ids": (
            RNG.choice([0, 1, 2, 3, 255, -1], p=[0.2, 0.2, 0.2, 0.2, 0.1, 0.1], size=(N, PIXELS)),
            RNG.integers(0, C, size=(N, PIXELS)),
        ),
    }


DATA = _data()
WEIGHTS = RNG.uniform(0.0, 2.0, size=N).astype(np.float32)
PIXEL_WEIGHTS = RNG.uniform(0.0, 2.0, size=(N, PIXELS)).astype(np.float32)
# Keras's IoU broadcasts flattened weights over flattened labels: one weight per element.
ELEMENT_WEIGHTS = RNG.uniform(0.0, 2.0, size=(N, C)).astype(np.float32)

CASES = [
    ("TruePositives", {}, "binary"),
    ("FalsePositives", {"thresholds": [0.3, 0.7]}, "binary"),
    ("TrueNegatives", {"thresholds": 0.25}, "multi"),
    ("FalseNegatives", {"thresholds": [0.9, 0.1, 0.5]}, "multi"),
    ("Precision", {}, "binary"),
    ("Precision", {"thresholds": [0.2, 0.6]}, "multi"),
    ("Precision", {"top_k": 2}, "multi"),
    ("Precision", {"class_id": 1, "thresholds": 0.3}, "onehot"),
    ("Recall", {}, "binary"),
    ("Recall", {"top_k": 1, "class_id": 2}, "onehot"),
    ("Recall", {"thresholds": [0.1, 0.4, 0.8]}, "multi"),
    ("AUC", {}, "binary"),
    ("AUC", {"num_thresholds": 50, "summation_method": "minoring"}, "multi"),
    ("AUC", {"num_thresholds": 50, "summation_method": "majoring"}, "multi"),
    ("AUC", {"curve": "PR"}, "multi"),
    ("AUC", {"curve": "PR", "summation_method": "minoring"}, "binary"),
    ("AUC", {"curve": "PR", "summation_method": "majoring"}, "binary"),
    ("AUC", {"curve": "PRGAIN"}, "multi"),
    ("AUC", {"curve": "PRGAIN", "summation_method": "minoring"}, "multi"),
    ("AUC", {"curve": "PRGAIN", "summation_method": "majoring"}, "binary"),
    ("AUC", {"thresholds": [0.1, 0.35, 0.5, 0.9]}, "multi"),
    ("AUC", {"multi_label": True, "num_labels": C}, "multi"),
    ("AUC", {"multi_label": True, "curve": "PR"}, "multi"),
    ("AUC", {"multi_label": True, "label_weights": [1.0, 2.0, 0.5, 0.0]}, "multi"),
    ("AUC", {"label_weights": [1.0, 2.0, 0.5, 0.0]}, "multi"),
    ("AUC", {"from_logits": True}, "logits"),
    ("AUC", {"from_logits": True, "multi_label": True, "curve": "PR"}, "logits"),
    ("SensitivityAtSpecificity", {"specificity": 0.5}, "binary"),
    ("SensitivityAtSpecificity", {"specificity": 0.8, "num_thresholds": 30}, "multi"),
    ("SensitivityAtSpecificity", {"specificity": 0.3, "num_thresholds": 1}, "multi"),
    ("SpecificityAtSensitivity", {"sensitivity": 0.6}, "multi"),
    ("SpecificityAtSensitivity", {"sensitivity": 0.4, "class_id": 1}, "onehot"),
    ("PrecisionAtRecall", {"recall": 0.7}, "binary"),
    ("PrecisionAtRecall", {"recall": 0.4, "num_thresholds": 20}, "multi"),
    ("RecallAtPrecision", {"precision": 0.55}, "multi"),
    ("RecallAtPrecision", {"precision": 0.3, "class_id": 3}, "onehot"),
    ("RecallAtPrecision", {"precision": 1.0}, "binary"),
    ("IoU", {"num_classes": C, "target_class_ids": [0, 2]}, "ids"),
    ("IoU", {"num_classes": C, "target_class_ids": [3], "ignore_class": 255}, "ids"),
    ("IoU", {"num_classes": C, "target_class_ids": [1, 0], "sparse_y_true": False,
             "sparse_y_pred": False}, "onehot"),
    ("MeanIoU", {"num_classes": C}, "ids"),
    ("MeanIoU", {"num_classes": C, "ignore_class": 1}, "ids"),
    ("MeanIoU", {"num_classes": C, "sparse_y_pred": False}, "onehot_vs_ids"),
    ("BinaryIoU", {}, "binary"),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, "binary"),
    ("BinaryIoU", {"target_class_ids": [0], "threshold": 0.7}, "multi"),
    ("OneHotIoU", {"num_classes": C, "target_class_ids": [0, 3]}, "onehot"),
    ("OneHotMeanIoU", {"num_classes": C}, "onehot"),
    ("OneHotMeanIoU", {"num_classes": C, "ignore_class": 2}, "onehot"),
    ("FBetaScore", {}, "onehot"),
    ("FBetaScore", {"beta": 2.0, "threshold": 0.5}, "multi"),
    ("FBetaScore", {"average": "micro", "beta": 0.5, "threshold": 0.3}, "multi"),
    ("FBetaScore", {"average": "macro", "beta": 2.0}, "onehot"),
    ("FBetaScore", {"average": "weighted", "beta": 0.5, "threshold": 0.6}, "multi"),
    ("F1Score", {}, "onehot"),
    ("F1Score", {"average": "micro"}, "onehot"),
    ("F1Score", {"average": "macro", "threshold": 0.4}, "multi"),
    ("F1Score", {"average": "weighted", "threshold": 0.5}, "multi"),
]

IOU = ("IoU", "MeanIoU", "BinaryIoU", "OneHotIoU", "OneHotMeanIoU")


def _inputs(kind):
    if kind == "onehot_vs_ids":  # sparse labels, class scores as predictions
        return DATA["onehot"][0].argmax(-1), DATA["onehot"][1]
    return DATA[kind]


def _batches(y_true, y_pred, weight):
    for lo, hi in zip(CUTS[:-1], CUTS[1:]):
        yield y_true[lo:hi], y_pred[lo:hi], None if weight is None else weight[lo:hi]


def _run(metric, y_true, y_pred, weight, convert):
    for t, p, w in _batches(y_true, y_pred, weight):
        kwargs = {} if w is None else {"sample_weight": convert(w)}
        metric.update_state(convert(t), convert(p), **kwargs)
    return metric.result()


def _case_id(case):
    name, kwargs, kind = case
    return f"{name}-{kind}-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_matches_keras(keras, case, weighted):
    name, kwargs, kind = case
    y_true, y_pred = _inputs(kind)
    weight = None
    if weighted:
        weight = PIXEL_WEIGHTS if kind == "ids" else WEIGHTS
        if name in IOU and kind == "multi":
            weight = ELEMENT_WEIGHTS
    keras_kwargs = dict(kwargs)
    if name in IOU and weighted:
        # Keras 3's IoU matrix defaults to int and truncates fractional weights; torchfit's is
        # float32 (tf.keras 2's). Keras computes the same as torchfit once given float32.
        keras_kwargs["dtype"] = "float32"
    expected = _run(getattr(keras.metrics, name)(**keras_kwargs), y_true, y_pred, weight,
                    np.asarray)
    result = _run(getattr(tm, name)(**kwargs), y_true, y_pred, weight, torch.as_tensor)
    assert isinstance(result, torch.Tensor)
    np.testing.assert_allclose(
        result.numpy(), keras.ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-6
    )


def test_iou_with_integer_weights_matches_keras_default_int_matrix(keras):
    y_true, y_pred = DATA["ids"]
    weight = RNG.integers(0, 3, size=y_true.shape)  # integers: Keras warns about floats
    for name, kwargs in [("MeanIoU", {"num_classes": C}),
                         ("IoU", {"num_classes": C, "target_class_ids": [1, 2]})]:
        expected = _run(getattr(keras.metrics, name)(**kwargs), y_true, y_pred, weight,
                        np.asarray)
        result = _run(getattr(tm, name)(**kwargs), y_true, y_pred, weight, torch.as_tensor)
        np.testing.assert_allclose(
            result.numpy(), keras.ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_config_matches_keras(keras, case):
    name, kwargs, _ = case
    ours = getattr(tm, name)(**kwargs).get_config()
    theirs = getattr(keras.metrics, name)(**kwargs).get_config()
    theirs.pop("dtype"), ours.pop("dtype")  # Keras 3's IoU matrix is int32 by default
    theirs.pop("name"), ours.pop("name")  # Keras numbers repeated names: "auc_3"
    if theirs.get("label_weights") is not None:
        theirs["label_weights"] = keras.ops.convert_to_numpy(theirs["label_weights"]).tolist()
    if "thresholds" in theirs and isinstance(theirs["thresholds"], (list, tuple)):
        theirs["thresholds"] = [float(t) for t in theirs["thresholds"]]
    assert ours == theirs
    # Keras's config builds the same torchfit metric.
    rebuilt = getattr(tm, name).from_config(getattr(keras.metrics, name)(**kwargs).get_config())
    assert rebuilt.get_config()["name"] and type(rebuilt) is getattr(tm, name)
