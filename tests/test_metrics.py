"""torchfit.metrics against independent NumPy formulas on tiny random data."""

import subprocess
import sys

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics

RNG = np.random.default_rng(0)
N, C = 48, 5


def batches(*arrays):
    """Split aligned arrays into three uneven batches of tensors."""
    cuts = [0, 7, 30, len(arrays[0])]
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        yield [torch.as_tensor(a[lo:hi]) for a in arrays]


def stream(metric, y_true, y_pred, weight=None):
    """Feed the data in three uneven batches and return result() as NumPy."""
    arrays = (y_true, y_pred) if weight is None else (y_true, y_pred, weight)
    for batch in batches(*arrays):
        metric.update_state(*batch)
    result = metric.result()
    assert isinstance(result, torch.Tensor)
    return result.numpy()


def weighted_mean(values, weight=None):
    if weight is None:
        return values.mean()
    weight = np.broadcast_to(
        weight.reshape(weight.shape[0], *[1] * (values.ndim - 1)), values.shape
    )
    return (values * weight).sum() / weight.sum()


# -- data -----------------------------------------------------------------------------------

probs = RNG.dirichlet(np.ones(C), size=N).astype(np.float32)
labels = RNG.integers(0, C, size=N)
one_hot = np.eye(C, dtype=np.float32)[labels]
weights = RNG.uniform(0.0, 2.0, size=N).astype(np.float32)
binary_true = RNG.integers(0, 2, size=(N, 1)).astype(np.float32)
binary_pred = RNG.uniform(size=(N, 1)).astype(np.float32)
reg_true = RNG.normal(size=(N, 3)).astype(np.float32)
reg_pred = (reg_true + RNG.normal(scale=0.5, size=(N, 3))).astype(np.float32)


def np_in_top_k(scores, targets, k):
    order = np.argsort(-scores, axis=-1)[:, :k]
    return (order == targets[:, None]).any(axis=1).astype(np.float64)


ACCURACY_CASES = [
    (metrics.SparseCategoricalAccuracy(), labels, probs, (labels == probs.argmax(1)).astype(float)),
    (
        metrics.SparseCategoricalAccuracy(),
        labels[:, None],
        probs,
        (labels == probs.argmax(1)).astype(float),
    ),
    (metrics.CategoricalAccuracy(), one_hot, probs, (labels == probs.argmax(1)).astype(float)),
    (
        metrics.BinaryAccuracy(),
        binary_true,
        binary_pred,
        (binary_true == (binary_pred > 0.5))[:, 0].astype(float),
    ),
    (
        metrics.BinaryAccuracy(threshold=0.7),
        binary_true[:, 0],
        binary_pred,
        (binary_true == (binary_pred > 0.7))[:, 0].astype(float),
    ),
    (metrics.TopKCategoricalAccuracy(k=2), one_hot, probs, np_in_top_k(probs, labels, 2)),
    (metrics.SparseTopKCategoricalAccuracy(k=3), labels, probs, np_in_top_k(probs, labels, 3)),
    (metrics.Accuracy(), labels, probs.argmax(1), (labels == probs.argmax(1)).astype(float)),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(
    "metric, y_true, y_pred, per_sample", ACCURACY_CASES, ids=lambda x: getattr(x, "name", "")
)
def test_accuracy_metrics_match_numpy(metric, y_true, y_pred, per_sample, weighted):
    metric.reset_state()
    w = weights if weighted else None
    np.testing.assert_allclose(
        stream(metric, y_true, y_pred, w), weighted_mean(per_sample, w), rtol=1e-6
    )


def test_accuracy_functions_return_per_sample_values():
    values = metrics.sparse_categorical_accuracy(
        torch.as_tensor(labels[:, None]), torch.as_tensor(probs)
    )
    assert values.shape == (N,) and values.dtype == torch.float32
    np.testing.assert_array_equal(values.numpy(), labels == probs.argmax(1))
    assert metrics.binary_accuracy(
        torch.as_tensor(binary_true), torch.as_tensor(binary_pred)
    ).shape == (N,)
    assert metrics.top_k_categorical_accuracy(
        torch.as_tensor(one_hot), torch.as_tensor(probs), k=1
    ).shape == (N,)


def test_top_k_counts_ties_as_hits_like_in_top_k():
    scores = torch.tensor([[0.2, 0.4, 0.4, 0.0]])
    assert metrics.sparse_top_k_categorical_accuracy(torch.tensor([2]), scores, k=1).item() == 1.0
    assert metrics.sparse_top_k_categorical_accuracy(torch.tensor([0]), scores, k=2).item() == 0.0


# -- regression -------------------------------------------------------------------------------


def np_mape(t, p):
    return 100 * np.mean(np.abs((t - p) / np.maximum(np.abs(t), 1e-7)), axis=-1)


def np_msle(t, p):
    return np.mean(
        (np.log(np.maximum(p, 1e-7) + 1) - np.log(np.maximum(t, 1e-7) + 1)) ** 2, axis=-1
    )


def np_cosine(t, p):
    return (t * p).sum(-1) / (np.linalg.norm(t, axis=-1) * np.linalg.norm(p, axis=-1))


REGRESSION_CASES = [
    (metrics.MeanSquaredError, np.mean((reg_pred - reg_true) ** 2, axis=-1)),
    (metrics.MeanAbsoluteError, np.mean(np.abs(reg_pred - reg_true), axis=-1)),
    (metrics.MeanAbsolutePercentageError, np_mape(reg_true, reg_pred)),
    (metrics.MeanSquaredLogarithmicError, np_msle(reg_true, reg_pred)),
    (metrics.LogCoshError, np.mean(np.log(np.cosh(reg_pred - reg_true)), axis=-1)),
    (metrics.CosineSimilarity, np_cosine(reg_true, reg_pred)),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(
    "cls, per_sample", REGRESSION_CASES, ids=lambda x: getattr(x, "__name__", "")
)
def test_regression_metrics_match_numpy(cls, per_sample, weighted):
    w = weights[:, None] if weighted else None  # (N, 1) weights work like (N,)
    np.testing.assert_allclose(
        stream(cls(), reg_true, reg_pred, w), weighted_mean(per_sample, w), rtol=1e-5
    )


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_root_mean_squared_error(weighted):
    w = weights if weighted else None
    expected = np.sqrt(weighted_mean((reg_pred - reg_true) ** 2, w))
    np.testing.assert_allclose(
        stream(metrics.RootMeanSquaredError(), reg_true, reg_pred, w), expected, rtol=1e-5
    )


def test_one_dimensional_regression_targets_are_per_sample():
    # (N,) targets against (N, 1) predictions: the (N, 1) axis is dropped, each element is a sample.
    expected = np.mean((reg_pred[:, 0] - reg_true[:, 0]) ** 2)
    result = stream(metrics.MeanSquaredError(), reg_true[:, 0], reg_pred[:, :1])
    np.testing.assert_allclose(result, expected, rtol=1e-5)


# -- crossentropy --------------------------------------------------------------------------


def np_bce(t, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -np.mean(t * np.log(p + 1e-7) + (1 - t) * np.log(1 - p + 1e-7), axis=-1)


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


logits = RNG.normal(size=(N, C)).astype(np.float32)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_crossentropy_metrics_match_numpy(weighted):
    w = weights if weighted else None
    scce = -np.log(np.clip(probs[np.arange(N), labels], 1e-7, 1 - 1e-7))
    cases = [
        (metrics.SparseCategoricalCrossentropy(), labels, probs, scce),
        (
            metrics.SparseCategoricalCrossentropy(from_logits=True),
            labels,
            logits,
            -np.log(np_softmax(logits)[np.arange(N), labels]),
        ),
        (metrics.CategoricalCrossentropy(), one_hot, probs, scce),
        (
            metrics.CategoricalCrossentropy(from_logits=True),
            one_hot,
            logits,
            -np.log(np_softmax(logits)[np.arange(N), labels]),
        ),
        (metrics.BinaryCrossentropy(), binary_true, binary_pred, np_bce(binary_true, binary_pred)),
        (
            metrics.BinaryCrossentropy(from_logits=True),
            binary_true,
            logits[:, :1],
            np_bce(binary_true, 1 / (1 + np.exp(-logits[:, :1]))),
        ),
    ]
    for metric, y_true, y_pred, per_sample in cases:
        np.testing.assert_allclose(
            stream(metric, y_true, y_pred, w), weighted_mean(per_sample, w), rtol=1e-4
        )


# -- Mean and Sum ------------------------------------------------------------------------------


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


# -- confusion metrics -------------------------------------------------------------------------


def np_confusion(y_true, y_pred, threshold, w=None):
    w = np.ones_like(y_pred, dtype=np.float64) if w is None else np.broadcast_to(w, y_pred.shape)
    pos, pred = y_true.astype(bool), y_pred > threshold
    return {
        "tp": (w * (pos & pred)).sum(),
        "fp": (w * (~pos & pred)).sum(),
        "tn": (w * (~pos & ~pred)).sum(),
        "fn": (w * (pos & ~pred)).sum(),
    }


def safe_div(a, b):
    return a / b if b else 0.0


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
        ValueError, match=r"Threshold values must be numbers in \[0, 1\]. Received: thresholds=1.5"
    ):
        metrics.Recall(thresholds=1.5)


# -- AUC -----------------------------------------------------------------------------------------

auc_true = RNG.integers(0, 2, size=64).astype(np.float32)
auc_pred = np.clip(auc_true * 0.3 + RNG.uniform(size=64) * 0.7, 0, 1).astype(np.float32)
auc_weight = RNG.uniform(0.1, 2.0, size=64).astype(np.float32)


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
    x, ys = (
        (div(fp, fp + tn), div(tp, tp + fn))
        if curve == "ROC"
        else (div(tp, tp + fn), div(tp, tp + fp))
    )
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
    ],
)
def test_auc_curves_and_summation_methods_follow_keras(curve, summation):
    metric = metrics.AUC(num_thresholds=50, curve=curve, summation_method=summation)
    result = stream(metric, auc_true, auc_pred, auc_weight)
    expected = keras_auc_reference(auc_true, auc_pred, auc_weight, 50, curve, summation)
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


# -- the Metric base class --------------------------------------------------------------------


class CatgoricalTruePositives(metrics.Metric):
    """The guide's custom metric, ported to torch."""

    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_weight(name="tp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = y_pred.argmax(dim=-1)
        values = (y_true.view(-1).int() == y_pred.int()).float()
        if sample_weight is not None:
            values = values * sample_weight.view(-1).float()
        self.true_positives += values.sum()

    def result(self):
        return self.true_positives

    def reset_states(self):
        self.true_positives.fill_(0.0)


def test_guide_custom_metric_accumulates_and_resets():
    metric = CatgoricalTruePositives()
    assert metric.name == "categorical_true_positives"
    for y, p, w in batches(labels, probs, weights):
        metric(y, p, sample_weight=w)
    expected = (weights * (labels == probs.argmax(1))).sum()
    np.testing.assert_allclose(metric.result().numpy(), expected, rtol=1e-5)
    metric.reset_state()  # the trainer's name reaches the guide's reset_states override
    assert metric.result().item() == 0.0 and metric.tp is metric.true_positives
    metric(torch.as_tensor(labels), torch.as_tensor(probs))
    metric.reset_states()
    assert metric.result().item() == 0.0


def test_reset_overrides_may_call_super_without_recursion():
    calls = []

    class ResetsState(metrics.Mean):
        def reset_state(self):
            calls.append("reset_state")
            super().reset_state()

    class ResetsStatesCallsOther(metrics.Mean):
        def reset_states(self):
            calls.append("reset_states")
            super().reset_state()

    for metric in (ResetsState(), ResetsStatesCallsOther()):
        metric.update_state([1.0, 2.0])
        metric.reset_states()
        metric.reset_state()
        assert metric.count.item() == 0.0 and metric.total.item() == 0.0
    # The cross-name super() call re-enters the override once (harmless: resets are idempotent).
    assert calls == ["reset_state", "reset_state", "reset_states", "reset_states", "reset_states"]


BUILTINS = sorted(set(metrics.ALL_METRICS.values()), key=lambda c: c.__name__)
SPARSE = (
    metrics.SparseCategoricalAccuracy,
    metrics.SparseTopKCategoricalAccuracy,
    metrics.SparseCategoricalCrossentropy,
)


@pytest.mark.parametrize("cls", BUILTINS, ids=lambda c: c.__name__)
def test_every_builtin_resets_and_returns_a_device_tensor(cls):
    metric = cls()
    y_true, y_pred = torch.as_tensor(one_hot), torch.as_tensor(probs)
    if cls in SPARSE:
        y_true = torch.as_tensor(labels)
    before = metric.result()
    metric.update_state(y_true, y_pred, sample_weight=torch.as_tensor(weights))
    after = metric.result()
    assert isinstance(after, torch.Tensor) and after.device == metric.device
    metric.reset_state()
    assert torch.equal(metric.result(), before)
    assert metric.higher_is_better in (True, False)


def test_default_names_are_keras_snake_case():
    assert metrics.SparseCategoricalAccuracy().name == "sparse_categorical_accuracy"
    assert metrics.SparseTopKCategoricalAccuracy().name == "sparse_top_k_categorical_accuracy"
    assert metrics.AUC().name == "auc"
    assert metrics.RootMeanSquaredError().name == "root_mean_squared_error"
    assert metrics.TruePositives().name == "true_positives"
    assert CatgoricalTruePositives(name=None).name == "catgorical_true_positives"
    assert (
        metrics.Mean().higher_is_better is None
        and metrics.MeanSquaredError().higher_is_better is False
    )


def test_to_moves_states_and_rebinds_aliases():
    metric = CatgoricalTruePositives()
    assert metric.to("meta") is metric
    assert metric.device == torch.device("meta")
    assert metric.tp.device.type == "meta" and metric.true_positives is metric.tp
    auc = metrics.AUC(label_weights=[1.0, 2.0]).to("meta")
    assert auc.histogram.device.type == "meta" and auc._sorted_thresholds.device.type == "meta"


def test_state_dict_round_trip_and_mismatch_error():
    metric = metrics.AUC(num_thresholds=20)
    stream(metric, auc_true, auc_pred)
    fresh = metrics.AUC(num_thresholds=20)
    fresh.load_state_dict(metric.state_dict())
    assert torch.equal(fresh.result(), metric.result())
    with pytest.raises(
        ValueError, match=r"keys differ. Received: \['tp'\]. Expected: \['count', 'total'\]"
    ):
        metrics.Mean().load_state_dict({"tp": torch.tensor(1.0)})
    lazy = metrics.AUC(multi_label=True)
    lazy.load_state_dict(stream_state(metrics.AUC(multi_label=True), one_hot, probs))
    assert lazy.histogram.shape == (201, C, 2)


def stream_state(metric, y_true, y_pred):
    stream(metric, y_true, y_pred)
    return metric.state_dict()


def test_add_weight_before_init_and_bad_initializer_are_clear_errors():
    class Forgot(metrics.Metric):
        def __init__(self):
            self.tp = self.add_weight("tp")

    with pytest.raises(RuntimeError, match=r"Call super\(\).__init__"):
        Forgot()
    with pytest.raises(ValueError, match="Expected 'zeros', 'ones' or a number"):
        metrics.Metric().add_weight("x", initializer="glorot_uniform")
    metric = metrics.Metric(dtype="float64")
    assert metric.add_weight("x", shape=(2,), initializer=3).dtype == torch.float64


def test_updates_never_record_autograd_history():
    y_pred = torch.as_tensor(probs).requires_grad_()
    y_true = torch.as_tensor(one_hot)
    for metric in (metrics.CategoricalAccuracy(), metrics.MeanSquaredError(), metrics.AUC()):
        metric.update_state(y_true, y_pred)
        assert not metric.result().requires_grad
    mean = metrics.Mean()
    mean.update_state(y_pred * 2)
    assert not mean.total.requires_grad
    custom = CatgoricalTruePositives()
    custom(torch.as_tensor(labels), y_pred * 1.0)  # __call__ runs under no_grad
    assert not custom.true_positives.requires_grad


def test_update_and_result_never_sync_with_the_host(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("host sync")

    for method in ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, method, forbidden)
    cases = [(cls(), labels if cls in SPARSE else one_hot, probs) for cls in BUILTINS]
    cases += [(metrics.AUC(multi_label=True, label_weights=[1, 2, 3, 4, 5]), one_hot, probs)]
    for metric, y_true, y_pred in cases:
        for y, p, w in batches(y_true, y_pred, weights):
            metric.update_state(y, p, sample_weight=w)
            metric.update_state(y, p)
            metric.result()


# -- get and resolve_accuracy -------------------------------------------------------------------


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


@pytest.mark.parametrize(
    "name, y_true, y_pred, loss, cls",
    [
        ("accuracy", (32,), (32, 10), None, metrics.SparseCategoricalAccuracy),
        (
            "acc",
            (32, 1),
            (32, 10),
            "sparse_categorical_crossentropy",
            metrics.SparseCategoricalAccuracy,
        ),
        ("accuracy", (32, 10), (32, 10), "categorical_crossentropy", metrics.CategoricalAccuracy),
        ("accuracy", (32, 1), (32, 1), None, metrics.BinaryAccuracy),
        ("accuracy", (32,), (32,), None, metrics.BinaryAccuracy),
        ("accuracy", (32, 3), (32, 3), "binary_crossentropy", metrics.BinaryAccuracy),
        ("crossentropy", (32,), (32, 10), None, metrics.SparseCategoricalCrossentropy),
        ("ce", (32, 10), (32, 10), None, metrics.CategoricalCrossentropy),
        ("ce", (32, 1), (32, 1), None, metrics.BinaryCrossentropy),
    ],
)
def test_resolve_accuracy_follows_keras_rules(name, y_true, y_pred, loss, cls):
    metric = metrics.resolve_accuracy(name, torch.zeros(y_true), torch.zeros(y_pred), loss=loss)
    assert type(metric) is cls and metric.name == name


def test_resolve_accuracy_with_logit_losses():
    binary = metrics.resolve_accuracy("accuracy", (8, 1), (8, 1), loss=torch.nn.BCEWithLogitsLoss())
    assert isinstance(binary, metrics.BinaryAccuracy) and binary.threshold == 0.0
    ce = metrics.resolve_accuracy("ce", (8,), (8, 4), loss=torch.nn.CrossEntropyLoss())
    assert isinstance(ce, metrics.SparseCategoricalCrossentropy) and ce.from_logits
    with pytest.raises(ValueError, match=r"Received: name='mae'"):
        metrics.resolve_accuracy("mae", (8,), (8,))


# -- torchmetrics ------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric")
def test_torchmetrics_wrapper():
    from torchmetrics.classification import MulticlassAccuracy

    wrapper = metrics.get(MulticlassAccuracy(num_classes=C, average="micro"))
    assert isinstance(wrapper, metrics.TorchMetricsWrapper)
    assert wrapper.name == "multiclass_accuracy" and wrapper.higher_is_better is True
    ours = metrics.SparseCategoricalAccuracy()
    np.testing.assert_allclose(
        stream(wrapper, labels, probs), stream(ours, labels, probs), rtol=1e-6
    )
    wrapper.reset_states()
    wrapper(torch.tensor([1]), torch.tensor([[0.1, 0.9, 0.0, 0.0, 0.0]]))
    assert wrapper.result().item() == 1.0
    assert wrapper.to("cpu") is wrapper and wrapper.device == torch.device("cpu")
    with pytest.raises(ValueError, match="does not take sample weights"):
        wrapper.update_state(torch.tensor([1]), torch.ones(1, C), sample_weight=torch.ones(1))
    copy = metrics.get(MulticlassAccuracy(num_classes=C, average="micro"))
    copy.load_state_dict(wrapper.state_dict())
    assert torch.equal(copy.result(), wrapper.result())
    named = metrics.TorchMetricsWrapper(MulticlassAccuracy(num_classes=C), name="acc")
    assert named.name == "acc"
    with pytest.raises(TypeError, match="expects a torchmetrics.Metric instance"):
        metrics.TorchMetricsWrapper(metrics.Mean())


def test_importing_metrics_does_not_import_torchmetrics():
    code = "import sys, torchfit.metrics; assert 'torchmetrics' not in sys.modules"
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=str(__import__("pathlib").Path(__file__).parents[1]),
    )
