"""Tests for torchfit/metrics/confusion_at.py: the "rate at a target rate" metrics."""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics
from metric_data import (
    auc_pred,
    auc_true,
    auc_weight,
    np_confusion,
    one_hot,
    probs,
    stream,
    weights,
)

# class -> (constrained rate, dependent rate), the rates as functions of the counts.
PAIRS = {
    metrics.SensitivityAtSpecificity: ("specificity", "sensitivity"),
    metrics.SpecificityAtSensitivity: ("sensitivity", "specificity"),
    metrics.PrecisionAtRecall: ("sensitivity", "precision"),
    metrics.RecallAtPrecision: ("precision", "sensitivity"),
}


def np_rate(counts, rate):
    num, den = {
        "sensitivity": ("tp", ("tp", "fn")),
        "specificity": ("tn", ("tn", "fp")),
        "precision": ("tp", ("tp", "fp")),
    }[rate]
    denominator = counts[den[0]] + counts[den[1]]
    return counts[num] / denominator if denominator else 0.0


def np_at(cls, target, y_true, y_pred, w=None, num_thresholds=200):
    """Keras's definition with NumPy: max dependent rate over thresholds reaching the target."""
    if num_thresholds == 1:
        thresholds = [0.5]
    else:
        thresholds = [0.0] + [(i + 1) / (num_thresholds - 1)
                              for i in range(num_thresholds - 2)] + [1.0]
    constrained, dependent = PAIRS[cls]
    best = 0.0
    for threshold in np.float32(thresholds):
        counts = np_confusion(y_true, y_pred, threshold, w)
        if np.float32(np_rate(counts, constrained)) >= np.float32(target):
            best = max(best, np_rate(counts, dependent))
    return best


@pytest.mark.parametrize("cls", PAIRS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("target", [0.3, 0.8])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_matches_the_numpy_definition(cls, target, weighted):
    w = auc_weight if weighted else None
    result = stream(cls(target), auc_true, auc_pred, w)
    assert result == pytest.approx(np_at(cls, target, auc_true, auc_pred, w), abs=1e-6)
    few = stream(cls(target, num_thresholds=7), auc_true, auc_pred, w)
    expected = np_at(cls, target, auc_true, auc_pred, w, num_thresholds=7)
    assert few == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("cls", PAIRS, ids=lambda c: c.__name__)
def test_class_id_and_a_single_threshold(cls):
    result = stream(cls(0.5, class_id=3), one_hot, probs, weights)
    expected = np_at(cls, 0.5, one_hot[:, 3], probs[:, 3], weights)
    assert result == pytest.approx(expected, abs=1e-6)
    single = stream(cls(0.5, num_thresholds=1), auc_true, auc_pred)
    assert single == pytest.approx(np_at(cls, 0.5, auc_true, auc_pred, num_thresholds=1))


def test_keras_doc_examples_with_weights():
    # The numbers of the Keras 3 docstrings.
    y_true, y_pred = torch.tensor([0, 0, 0, 1, 1]), torch.tensor([0, 0.3, 0.8, 0.3, 0.8])
    m = metrics.SensitivityAtSpecificity(0.5)
    m.update_state(y_true, y_pred, sample_weight=torch.tensor([1, 1, 2, 2, 1]))
    assert m.result().item() == pytest.approx(0.333333, abs=1e-6)
    m = metrics.PrecisionAtRecall(0.5)
    m.update_state(y_true, y_pred, sample_weight=torch.tensor([2, 2, 2, 1, 1]))
    assert m.result().item() == pytest.approx(0.33333333, abs=1e-6)
    m = metrics.RecallAtPrecision(0.8)
    m.update_state(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 0.5, 0.3, 0.9]),
                   sample_weight=torch.tensor([1, 0, 0, 1]))
    assert m.result().item() == 1.0


@pytest.mark.parametrize("cls", PAIRS, ids=lambda c: c.__name__)
def test_merged_shards_equal_one_metric_and_state_is_a_sum(cls):
    parts = [cls(0.6) for _ in range(3)]
    for part, lo, hi in zip(parts, (0, 10, 40), (10, 40, 64)):
        part.update_state(torch.as_tensor(auc_true[lo:hi]), torch.as_tensor(auc_pred[lo:hi]))
    parts[0].merge_state(parts[1:])
    single = stream(cls(0.6), auc_true, auc_pred)
    assert parts[0].result().item() == pytest.approx(float(single))
    assert dict(parts[0].state_aggregations) == {"histogram": "sum"}
    with pytest.raises(ValueError, match="their settings differ"):
        parts[0].merge_state(cls(0.7))


@pytest.mark.parametrize("cls", PAIRS, ids=lambda c: c.__name__)
def test_config_round_trip(cls):
    target = cls.__init__.__code__.co_varnames[1]  # "specificity", "recall", ...
    metric = cls(0.25, num_thresholds=30, class_id=1, name="x", dtype="float64")
    config = metric.get_config()
    assert config == {"name": "x", "dtype": "float64", "class_id": 1, "num_thresholds": 30,
                      target: 0.25}
    rebuilt = cls.from_config(config)
    assert rebuilt.get_config() == config and rebuilt.thresholds == metric.thresholds


@pytest.mark.parametrize("cls", PAIRS, ids=lambda c: c.__name__)
def test_invalid_arguments_are_refused(cls):
    name = cls.__init__.__code__.co_varnames[1]
    with pytest.raises(ValueError, match=rf"`{name}` must be in the range \[0, 1\]. "
                                         rf"Received: {name}=1.5"):
        cls(1.5)
    with pytest.raises(ValueError, match=r"`num_thresholds` must be an integer > 0. "
                                         r"Received: num_thresholds=0"):
        cls(0.5, num_thresholds=0)


def test_registered_under_keras_names():
    for cls in PAIRS:
        assert metrics.ALL_METRICS[cls.__name__] is cls
        assert metrics.ALL_METRICS[cls(0.5).name] is cls  # the snake_case name
