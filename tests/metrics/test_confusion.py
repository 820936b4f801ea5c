"""Tests for torchfit/metrics/confusion.py: confusion counts, Precision, Recall, AUC."""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics
from metric_data import (
    C,
    auc_pred,
    auc_true,
    auc_weight,
    binary_pred,
    binary_true,
    labels,
    logits,
    np_confusion,
    one_hot,
    probs,
    safe_div,
    stream,
    weights,
)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_confusion_counts_with_several_thresholds(weighted):
    thresholds = [0.8, 0.3, 0.5]  # unsorted on purpose: results follow this order
    w = weights[:, None] if weighted else None
    for cls, key in [
        (metrics.TruePositives, "tp"),
        (metrics.FalsePositives, "fp"),
        (metrics.TrueNegatives, "tn"),
        (metrics.FalseNegatives, "fn"),
    ]:
        result = stream(cls(thresholds=thresholds), binary_true, binary_pred, w)
        expected = [np_confusion(binary_true, binary_pred, t, w)[key] for t in thresholds]
        np.testing.assert_allclose(result, expected, rtol=1e-5)
        single = stream(cls(), binary_true, binary_pred, w)
        assert single.shape == ()
        np.testing.assert_allclose(
            single, np_confusion(binary_true, binary_pred, 0.5, w)[key], rtol=1e-5
        )


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_precision_recall_thresholds_and_class_id(weighted):
    w = weights if weighted else None
    w_col = None if w is None else w[:, None]
    for thresholds in (None, 0.3, [0.2, 0.6]):
        ts = [0.5] if thresholds is None else np.atleast_1d(thresholds)
        counts = [np_confusion(binary_true, binary_pred, t, w_col) for t in ts]
        precision = [safe_div(c["tp"], c["tp"] + c["fp"]) for c in counts]
        recall = [safe_div(c["tp"], c["tp"] + c["fn"]) for c in counts]
        np.testing.assert_allclose(
            stream(metrics.Precision(thresholds=thresholds), binary_true, binary_pred, w),
            np.squeeze(precision),
            rtol=1e-5,
        )
        np.testing.assert_allclose(
            stream(metrics.Recall(thresholds=thresholds), binary_true, binary_pred, w),
            np.squeeze(recall),
            rtol=1e-5,
        )
    # class_id scores one column of one-hot labels / class scores.
    counts = np_confusion(one_hot[:, 2], probs[:, 2], 0.2, w)
    expected = safe_div(counts["tp"], counts["tp"] + counts["fp"])
    np.testing.assert_allclose(
        stream(metrics.Precision(thresholds=0.2, class_id=2), one_hot, probs, w),
        expected,
        rtol=1e-5,
    )
    counts = np_confusion(one_hot[:, 2], probs[:, 2], 0.2, w)
    expected = safe_div(counts["tp"], counts["tp"] + counts["fn"])
    result = stream(metrics.Recall(thresholds=0.2, class_id=2), one_hot, probs, w)
    np.testing.assert_allclose(result, expected, rtol=1e-5)


def test_precision_recall_top_k():
    top2 = np.zeros_like(probs, dtype=bool)
    np.put_along_axis(top2, np.argsort(-probs, axis=1)[:, :2], True, axis=1)
    hits = (top2 & one_hot.astype(bool)).sum()
    np.testing.assert_allclose(
        stream(metrics.Precision(top_k=2), one_hot, probs), hits / top2.sum(), rtol=1e-6
    )
    np.testing.assert_allclose(
        stream(metrics.Recall(top_k=2), one_hot, probs), hits / one_hot.sum(), rtol=1e-6
    )


def test_precision_doc_example_and_keras_attributes():
    m = metrics.Precision()
    m.update_state([0, 1, 1, 1], [1.0, 0.0, 1.0, 1.0])
    assert m.result().item() == pytest.approx(2 / 3)
    assert m.true_positives.item() == 2.0 and m.false_positives.item() == 1.0


def test_confusion_metrics_reject_sparse_labels_and_bad_thresholds():
    with pytest.raises(ValueError, match=r"same shape.*\(48,\).*\(48, 5\).*class_id"):
        metrics.Precision().update_state(torch.as_tensor(labels), torch.as_tensor(probs))
    with pytest.raises(
        ValueError, match=r"Threshold values must be in \[0, 1\]. Received: \[1.5\]"
    ):
        metrics.Recall(thresholds=1.5)


def exact_roc_auc(y, p, w=None):
    """Weighted Mann-Whitney statistic: the exact area under the ROC curve (ties count half)."""
    w = np.ones_like(p) if w is None else w
    pos, neg = y == 1, y == 0
    wins = (p[pos][:, None] > p[neg][None, :]) + 0.5 * (p[pos][:, None] == p[neg][None, :])
    return (w[pos][:, None] * w[neg][None, :] * wins).sum() / (w[pos].sum() * w[neg].sum())


def average_precision(y, p):
    order = np.argsort(-p, kind="stable")
    y = y[order]
    precision_at = np.cumsum(y) / np.arange(1, len(y) + 1)
    return (precision_at * y).sum() / y.sum()


def keras_auc_reference(y, p, w=None, num_thresholds=200, curve="ROC", summation="interpolation"):
    """Keras' AUC written out with NumPy loops: confusion counts at thresholds, then the sums."""
    eps = 1e-7
    thresholds = (
        [-eps] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1 + eps]
    )
    c = [np_confusion(y, p, t, w) for t in thresholds]
    tp, fp, tn, fn = (np.array([ci[k] for ci in c]) for k in ("tp", "fp", "tn", "fn"))
    div = np.vectorize(safe_div)
    if curve == "PR" and summation == "interpolation":
        total = 0.0
        for i in range(num_thresholds - 1):
            dtp, p0, p1 = tp[i] - tp[i + 1], tp[i] + fp[i], tp[i + 1] + fp[i + 1]
            slope = safe_div(dtp, max(p0 - p1, 0))
            intercept = tp[i + 1] - slope * p1
            ratio = safe_div(p0, p1) if p0 > 0 and p1 > 0 else 1.0
            total += safe_div(slope * (dtp + intercept * np.log(ratio)), tp[i + 1] + fn[i + 1])
        return total
    if curve == "ROC":
        x, ys = div(fp, fp + tn), div(tp, tp + fn)
    elif curve == "PR":
        x, ys = div(tp, tp + fn), div(tp, tp + fp)
    else:  # PRGAIN, Flach & Kull's gains with Keras's fixes where TP = 0 or a gain < 0
        scaling = div(tp + fn, tn + fp)
        x = np.where(tp == 0, 0.0, np.maximum(1 - scaling * div(fn, tp), 0.0))
        ys = np.where(tp == 0, 1.0, 1 - scaling * div(fp, tp))
    heights = {
        "interpolation": (ys[:-1] + ys[1:]) / 2,
        "minoring": np.minimum(ys[:-1], ys[1:]),
        "majoring": np.maximum(ys[:-1], ys[1:]),
    }[summation]
    return ((x[:-1] - x[1:]) * heights).sum()


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_roc_auc_approximates_the_exact_area(weighted):
    w = auc_weight if weighted else None
    result = stream(metrics.AUC(), auc_true, auc_pred, w)
    assert result == pytest.approx(exact_roc_auc(auc_true, auc_pred, w), abs=5e-3)
    assert result == pytest.approx(keras_auc_reference(auc_true, auc_pred, w), abs=1e-5)


@pytest.mark.parametrize(
    "curve, summation",
    [
        ("ROC", "minoring"),
        ("ROC", "majoring"),
        ("PR", "interpolation"),
        ("PR", "minoring"),
        ("PR", "majoring"),
        ("PRGAIN", "interpolation"),
        ("PR_GAIN", "minoring"),
        ("prgain", "majoring"),
    ],
)
def test_auc_curves_and_summation_methods_follow_keras(curve, summation):
    metric = metrics.AUC(num_thresholds=50, curve=curve, summation_method=summation)
    result = stream(metric, auc_true, auc_pred, auc_weight)
    expected = keras_auc_reference(
        auc_true, auc_pred, auc_weight, 50, curve.upper().replace("_", ""), summation
    )
    assert result == pytest.approx(expected, abs=1e-5)


def test_pr_auc_is_close_to_average_precision():
    result = stream(metrics.AUC(curve="PR"), auc_true, auc_pred)
    assert result == pytest.approx(average_precision(auc_true, auc_pred), abs=0.03)


def test_auc_multi_label_from_logits_and_doc_example():
    y, s = one_hot, logits
    multi = stream(metrics.AUC(multi_label=True, from_logits=True), y, s)
    per_label = [keras_auc_reference(y[:, j], 1 / (1 + np.exp(-s[:, j]))) for j in range(C)]
    assert multi == pytest.approx(np.mean(per_label), abs=1e-5)
    pooled = stream(metrics.AUC(from_logits=True), y, s)
    assert pooled == pytest.approx(
        keras_auc_reference(y.ravel(), 1 / (1 + np.exp(-s.ravel()))), abs=1e-5
    )
    m = metrics.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0.0, 0.5, 0.3, 0.9])
    assert m.result().item() == pytest.approx(0.75)


@pytest.mark.parametrize(
    "metric, expected",
    [
        (metrics.TruePositives(thresholds=(0.2, 0.7), name="tp"),
         {"name": "tp", "dtype": "float32", "thresholds": [0.2, 0.7]}),
        (metrics.FalseNegatives(), {"name": "false_negatives", "dtype": "float32",
                                    "thresholds": None}),
        (metrics.Precision(thresholds=0.3, class_id=2, dtype="float64"),
         {"name": "precision", "dtype": "float64", "thresholds": 0.3, "top_k": None,
          "class_id": 2}),
        (metrics.Recall(top_k=3), {"name": "recall", "dtype": "float32", "thresholds": None,
                                   "top_k": 3, "class_id": None}),
        (metrics.AUC(curve="PR_GAIN", thresholds=[0.6, 0.2], name="gain"),
         {"name": "gain", "dtype": "float32", "num_thresholds": 4, "curve": "PRGAIN",
          "summation_method": "interpolation", "multi_label": False, "num_labels": None,
          "label_weights": None, "from_logits": False, "thresholds": [0.2, 0.6]}),
        (metrics.AUC(multi_label=True, label_weights=[1.0, 0.5], from_logits=True),
         {"name": "auc", "dtype": "float32", "num_thresholds": 200, "curve": "ROC",
          "summation_method": "interpolation", "multi_label": True, "num_labels": None,
          "label_weights": [1.0, 0.5], "from_logits": True}),
    ],
    ids=["TruePositives", "FalseNegatives", "Precision", "Recall", "AUC_thresholds",
         "AUC_multi_label"],
)
def test_config_round_trip_with_keras_keys(metric, expected):
    config = metric.get_config()
    assert config == expected
    rebuilt = type(metric).from_config(config)
    assert rebuilt.get_config() == config and rebuilt.thresholds == metric.thresholds


def test_pr_gain_on_keras_example_counts():
    # tf-keras's AUCTest numbers: tp = [5, 3, 0], fp = [5, 1, 0], fn = [0, 2, 5], tn = [0, 4, 4]
    # recall_gain = [1, 1/3, 0], precision_gain = [0, 2/3, 1].
    m = metrics.AUC(num_thresholds=3, curve="PRGAIN")
    m.update_state(torch.tensor([0, 0, 0, 1, 0, 1, 0, 1, 1, 1]),
                   torch.tensor([0.1, 0.2, 0.3, 0.3, 0.4, 0.4, 0.6, 0.6, 0.8, 0.9]))
    expected = (1 - 1 / 3) * (0 + 2 / 3) / 2 + (1 / 3 - 0) * (2 / 3 + 1) / 2
    assert m.result().item() == pytest.approx(expected, abs=1e-6)


def test_accumulator_is_the_count_per_given_threshold():
    m = metrics.FalsePositives(thresholds=[0.8, 0.3])
    m.update_state(torch.tensor([0, 0, 1]), torch.tensor([0.5, 0.9, 0.9]))
    assert m.accumulator.tolist() == [1.0, 2.0]
    assert metrics.TruePositives().accumulator.shape == (1,)


def test_auc_argument_errors_use_keras_wording():
    with pytest.raises(ValueError, match=r'Invalid AUC curve value: "ROCK". Expected values'):
        metrics.AUC(curve="ROCK")
    with pytest.raises(ValueError, match=r'Invalid AUC summation method value: "mean"'):
        metrics.AUC(summation_method="mean")
    with pytest.raises(ValueError, match=r"`num_thresholds` must be an integer > 1. "
                                         r"Received: num_thresholds=1"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match=r"`num_labels` is needed only when `multi_label` is "
                                         r"True. Received: num_labels=3"):
        metrics.AUC(num_labels=3)


def test_class_id_needs_class_scores():
    with pytest.raises(ValueError, match=r"class_id is provided, y_pred must be a 2D array.*"
                                         r"\(4,\), class_id=1"):
        metrics.Recall(class_id=1).update_state(torch.ones(4), torch.ones(4))


def test_variables_are_kerass_counts_in_kerass_order():
    # Keras: Precision [tp, fp], Recall [tp, fn], AUC [tp, fp, tn, fn]; counts per threshold, in
    # the order the thresholds were given.
    y_true = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0])
    y_pred = torch.tensor([0.9, 0.8, 0.3, 0.1, 0.6])
    thresholds = [0.7, 0.2]
    above = [y_pred > th for th in thresholds]
    tp = torch.tensor([float((a & (y_true == 1)).sum()) for a in above])
    fp = torch.tensor([float((a & (y_true == 0)).sum()) for a in above])
    fn = torch.tensor([float((~a & (y_true == 1)).sum()) for a in above])
    expected = {"Precision": [tp, fp], "Recall": [tp, fn]}
    for name, counts in expected.items():
        metric = getattr(metrics, name)(thresholds=thresholds)
        metric.update_state(y_true, y_pred)
        assert len(metric.variables) == len(counts)
        for value, reference in zip(metric.variables, counts):
            torch.testing.assert_close(value, reference)
    auc = metrics.AUC(num_thresholds=3)  # thresholds [0 - eps, 0.5, 1 + eps]
    auc.update_state(y_true, y_pred)
    names = ["true_positives", "false_positives", "true_negatives", "false_negatives"]
    for value, name in zip(auc.variables, names, strict=True):
        torch.testing.assert_close(value, getattr(auc, name))
    count = metrics.TruePositives(thresholds=thresholds)
    count.update_state(y_true, y_pred)
    torch.testing.assert_close(count.variables[0], tp)
