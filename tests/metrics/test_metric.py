"""Tests for torchfit/metrics/metric.py: the Metric protocol, state and devices."""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics
from metric_data import (
    C,
    N,
    auc_pred,
    auc_true,
    batches,
    binary_pred,
    binary_true,
    labels,
    np_confusion,
    one_hot,
    probs,
    safe_div,
    stream,
    weights,
)


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

# Constructor arguments for the built-ins that need some (the others are built with `cls()`).
# The F-scores' "micro" average has a scalar state, declared at construction.
REQUIRED_ARGS = {
    "SensitivityAtSpecificity": {"specificity": 0.5},
    "SpecificityAtSensitivity": {"sensitivity": 0.5},
    "PrecisionAtRecall": {"recall": 0.5},
    "RecallAtPrecision": {"precision": 0.5},
    "IoU": {"num_classes": C, "target_class_ids": [0, 2]},
    "MeanIoU": {"num_classes": C},
    "OneHotIoU": {"num_classes": C, "target_class_ids": [1]},
    "OneHotMeanIoU": {"num_classes": C},
    "F1Score": {"average": "micro"},
    "FBetaScore": {"average": "micro"},
}


def build(cls):
    return cls(**REQUIRED_ARGS.get(cls.__name__, {}))


SPARSE = (
    metrics.SparseCategoricalAccuracy,
    metrics.SparseTopKCategoricalAccuracy,
    metrics.SparseCategoricalCrossentropy,
)


@pytest.mark.parametrize("cls", BUILTINS, ids=lambda c: c.__name__)
def test_every_builtin_resets_and_returns_a_device_tensor(cls):
    metric = build(cls)
    y_true, y_pred = torch.as_tensor(one_hot), torch.as_tensor(probs)
    if cls in SPARSE:
        y_true = torch.as_tensor(labels)
    before = metric.result()
    metric.update_state(y_true, y_pred, sample_weight=torch.as_tensor(weights))
    after = metric.result()
    assert isinstance(after, torch.Tensor) and after.device == metric.device
    metric.reset_state()
    reset = metric.result()  # R2Score's lazily-shaped state keeps its shape; 0/0 stays nan
    assert torch.allclose(reset, before.expand_as(reset), equal_nan=True)
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
    cases = [(build(cls), labels if cls in SPARSE else one_hot, probs) for cls in BUILTINS]
    cases += [(metrics.AUC(multi_label=True, label_weights=[1, 2, 3, 4, 5]), one_hot, probs)]
    for metric, y_true, y_pred in cases:
        for y, p, w in batches(y_true, y_pred, weights):
            metric.update_state(y, p, sample_weight=w)
            metric.update_state(y, p)
            metric.result()


# -- declared aggregations and merge_state ---------------------------------------------------


class PeakAndScores(metrics.Metric):
    """A per-column running max and min ("max"/"min") and every score seen ("concat")."""

    def __init__(self, name="peak_and_scores", columns=3):
        super().__init__(name=name)
        self.peak = self.add_weight("peak", (columns,), float("-inf"), aggregation="max")
        self.low = self.add_weight("low", (columns,), float("inf"), aggregation="min")
        self.scores = self.add_weight("scores", shape=(0, columns), aggregation="concat")

    def update_state(self, values):
        values = self._as_tensor(values)
        torch.maximum(self.peak, values.amax(0), out=self.peak)
        torch.minimum(self.low, values.amin(0), out=self.low)
        self.scores = torch.cat([self.scores, values])

    def result(self):
        return self.scores.median(0).values


class MeanOfEstimates(metrics.Metric):
    """Keeps one estimate per copy; merged copies average their estimates ("mean")."""

    def __init__(self, name="estimate"):
        super().__init__(name=name)
        self.estimate = self.add_weight("estimate", aggregation="mean")

    def update_state(self, value):
        self.estimate.fill_(value)

    def result(self):
        return self.estimate.clone()


def split_stream(make, *arrays, weight=None):
    """One metric per uneven batch, merged into the first: returns (merged, single)."""
    arrays = arrays if weight is None else (*arrays, weight)
    parts = []
    for batch in batches(*arrays):
        part = make()
        part.update_state(*batch)
        parts.append(part)
    single = make()
    for batch in batches(*arrays):
        single.update_state(*batch)
    parts[0].merge_state(parts[1:])
    return parts[0], single


def test_builtins_declare_every_state_a_sum():
    for cls in BUILTINS:
        aggregations = build(cls).state_aggregations
        assert aggregations and set(aggregations.values()) == {"sum"}, cls.__name__
    assert dict(metrics.Mean().state_aggregations) == {"total": "sum", "count": "sum"}
    spec = metrics.Precision(thresholds=[0.2, 0.6]).state_specs["histogram"]
    assert spec.shape == (3, 2) and spec.dtype == torch.float32 and spec.aggregation == "sum"
    with pytest.raises(TypeError):
        metrics.Mean().state_aggregations["total"] = "max"  # read-only


def test_merged_means_equal_one_mean_over_all_batches():
    values = np.arange(N, dtype=np.float32) ** 1.5
    merged, single = split_stream(metrics.Mean, values)
    np.testing.assert_allclose(merged.result().numpy(), values.mean(), rtol=1e-6)
    merged, single = split_stream(metrics.Mean, values, weight=weights)
    expected = (values * weights).sum() / weights.sum()
    np.testing.assert_allclose(merged.result().numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(merged.result().numpy(), single.result().numpy(), rtol=1e-6)


def test_merged_aucs_equal_one_auc_over_all_batches():
    merged, single = split_stream(lambda: metrics.AUC(num_thresholds=50), auc_true, auc_pred)
    assert torch.equal(merged.histogram, single.histogram)
    assert merged.result().item() == pytest.approx(single.result().item(), abs=1e-7)
    merged, single = split_stream(lambda: metrics.AUC(multi_label=True), one_hot, probs)
    assert merged.result().item() == pytest.approx(single.result().item(), abs=1e-7)
    unbuilt = metrics.AUC(multi_label=True)  # saw no data: merging builds it from the others
    unbuilt.merge_state([merged, metrics.AUC(multi_label=True)])
    assert torch.equal(unbuilt.histogram, merged.histogram)


def test_merged_precision_equals_numpy():
    def make():
        return metrics.Precision(thresholds=[0.3, 0.6])

    merged, _ = split_stream(make, binary_true, binary_pred, weight=weights[:, None])
    counts = [np_confusion(binary_true, binary_pred, t, weights[:, None]) for t in (0.3, 0.6)]
    expected = [safe_div(c["tp"], c["tp"] + c["fp"]) for c in counts]
    np.testing.assert_allclose(merged.result().numpy(), expected, rtol=1e-5)


def test_merge_max_min_and_concat_states():
    values = probs[:, :3]
    merged, single = split_stream(PeakAndScores, values)
    np.testing.assert_array_equal(merged.peak.numpy(), values.max(0))
    np.testing.assert_array_equal(merged.low.numpy(), values.min(0))
    np.testing.assert_array_equal(merged.scores.numpy(), values)  # batches in merge order
    np.testing.assert_array_equal(merged.result().numpy(), single.result().numpy())
    merged.merge_state(PeakAndScores())  # an empty copy changes nothing
    np.testing.assert_array_equal(merged.scores.numpy(), values)
    copy = PeakAndScores()
    copy.load_state_dict(merged.state_dict())  # a concat state loads with its saved length
    np.testing.assert_array_equal(copy.scores.numpy(), values)
    copy.reset_state()
    assert copy.scores.shape == (0, 3) and torch.isinf(copy.peak).all()


def test_merge_mean_state_averages_the_copies():
    copies = [MeanOfEstimates() for _ in range(3)]
    for copy, value in zip(copies, (1.0, 2.0, 6.0)):
        copy.update_state(value)
    copies[0].merge_state(copies[1:])
    assert copies[0].result().item() == pytest.approx(3.0)
    assert copies[1].result().item() == 2.0  # the others are left as they were


def test_bad_aggregation_and_concat_shape_are_clear_errors():
    with pytest.raises(ValueError, match=r"Received: aggregation='avg'\. Expected one of: "
                                         r"'sum', 'mean', 'max', 'min', 'concat'"):
        metrics.Metric().add_weight("x", aggregation="avg")
    with pytest.raises(ValueError, match=r"shape=\(0, \*row_shape\).*Received: shape=\(3,\)"):
        metrics.Metric().add_weight("x", shape=(3,), aggregation="concat")


def test_merging_incompatible_metrics_names_both():
    mean, total = metrics.Mean(name="m"), metrics.Sum(name="s")
    with pytest.raises(ValueError, match=r"merge metric 's' \(Sum\) into metric 'm' \(Mean\)"):
        mean.merge_state([total])
    with pytest.raises(ValueError, match=r"'auc_1' \(AUC\) into metric 'auc' \(AUC\).*shaped"):
        metrics.AUC(num_thresholds=10).merge_state(metrics.AUC(num_thresholds=20, name="auc_1"))
    with pytest.raises(ValueError, match=r"'precision' \(Precision\).*settings differ"):
        metrics.Precision(thresholds=0.5).merge_state([metrics.Precision(thresholds=0.7)])
    with pytest.raises(ValueError, match=r"'binary_accuracy'.*settings differ"):
        metrics.BinaryAccuracy().merge_state([metrics.BinaryAccuracy(threshold=0.2)])
    with pytest.raises(TypeError, match=r"merge_state expects torchfit metrics\. Received: 3"):
        mean.merge_state([3])
    assert mean.result().item() == 0.0  # nothing was merged


def test_get_config_uses_keras_keys_and_from_config_rebuilds():
    # Keras 3: keras.metrics.Mean(name="m").get_config() == {"name": "m", "dtype": "float32"}.
    metric = metrics.Mean(name="m", dtype=torch.float64)
    assert metric.get_config() == {"name": "m", "dtype": "float64"}
    rebuilt = metrics.Mean.from_config(metric.get_config())
    assert type(rebuilt) is metrics.Mean and rebuilt.name == "m"
    assert rebuilt.dtype == torch.float64


def test_variables_are_the_declared_states_in_order():
    metric = metrics.Mean()
    metric.update_state(torch.tensor([1.0, 3.0]))
    total, count = metric.variables
    assert total is metric.total and count is metric.count
    assert (total.item(), count.item()) == (4.0, 2.0)


# -- HostCount: counts gathered on the host, folded in when read ------------------------------


class _CountingOps(torch.utils._python_dispatch.TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func.overloadpacket.__name__))
        return func(*args, **(kwargs or {}))


def test_an_unweighted_mean_update_is_one_reduction_and_one_add():
    mean = metrics.Mean()
    values = torch.arange(6.0)
    with _CountingOps() as counting:
        mean.update_state(values)
    assert counting.ops == ["sum", "add_"]
    with _CountingOps() as counting:
        count = mean.count  # the read folds the pending count in: one more add
    assert counting.ops == ["add_"] and count.item() == 6.0


@pytest.mark.parametrize("read", ["result", "count", "variables", "state_dict", "merge"])
def test_pending_counts_are_in_every_view_of_the_state(read):
    sizes = [7, 1, 64, 3]
    mean = metrics.Mean()
    for size in sizes:
        mean.update_state(torch.ones(size) * size)
    expected_total = float(sum(size * size for size in sizes))
    if read == "result":
        assert mean.result().item() == pytest.approx(expected_total / sum(sizes))
    elif read == "count":
        assert mean.count.item() == sum(sizes)
    elif read == "variables":
        assert [v.item() for v in mean.variables] == [expected_total, sum(sizes)]
    elif read == "state_dict":
        state = mean.state_dict()
        assert state["count"].item() == sum(sizes)
        fresh = metrics.Mean()
        fresh.load_state_dict(state)
        fresh.update_state(torch.tensor([1.0]))
        assert fresh.count.item() == sum(sizes) + 1
    else:
        other = metrics.Mean()
        other.update_state(torch.zeros(5))
        other.merge_state([mean])
        assert other.count.item() == sum(sizes) + 5
        assert mean.count.item() == sum(sizes)  # the merged metric is left as it was


def test_reset_copy_and_move_keep_the_pending_count_exact():
    import copy
    import pickle

    mean = metrics.Mean()
    mean.update_state(torch.ones(4))
    for clone in (copy.deepcopy(mean), pickle.loads(pickle.dumps(mean))):
        clone.update_state(torch.ones(2))
        assert clone.count.item() == 6
    assert mean.to("cpu").count.item() == 4
    mean.update_state(torch.ones(3))
    mean.reset_state()
    assert mean.count.item() == 0
    mean.update_state(torch.ones(2))
    assert mean.result().item() == 1.0 and mean.count.item() == 2


def test_a_subclass_may_still_add_to_the_count_tensor_itself():
    class CountsTwice(metrics.Mean):
        def update_state(self, values, sample_weight=None):
            super().update_state(values)
            self.count += values.numel()  # the tensor, after the pending count is folded in

    metric = CountsTwice()
    for size in (3, 5):
        metric.update_state(torch.ones(size))
    assert metric.count.item() == 16
    assert metric.result().item() == pytest.approx(8 / 16)


def test_a_metric_pickled_before_host_counts_still_updates():
    mean = metrics.Mean()
    mean.update_state(torch.ones(2))
    assert mean.count.item() == 2  # folded in: the tensor holds it, as an older torchfit's did
    state = dict(vars(mean))
    del state["_pending_count"]  # what an older torchfit pickled
    old = metrics.Mean.__new__(metrics.Mean)
    old.__dict__.update(state)
    old.update_state(torch.ones(3))
    assert old.count.item() == 5


def test_host_count_counts_a_stream_as_a_float_state_would():
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 200, size=300)
    mean = metrics.Mean()
    reference = torch.zeros(())
    for size in sizes:
        mean.update_state(torch.ones(int(size)))
        reference += float(size)  # the per-step float32 add of a count tensor
    assert mean.count.item() == reference.item() == float(sizes.sum())
