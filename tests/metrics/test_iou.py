"""Tests for torchfit/metrics/iou.py: IoU, MeanIoU, BinaryIoU, OneHotIoU, OneHotMeanIoU."""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics
from metric_data import C, labels, one_hot, probs, stream, weights

RNG = np.random.default_rng(5)
PIXEL_TRUE = RNG.choice([0, 1, 2, 3, 4, 255, -1, 7], size=(48, 6))
PIXEL_PRED = RNG.integers(0, C, size=(48, 6))
PIXEL_WEIGHT = RNG.uniform(0, 2, size=(48, 6)).astype(np.float32)


def np_iou(y_true, y_pred, num_classes, target_ids, w=None, ignore_class=None):
    """Keras 3's formula with a NumPy confusion matrix (float64)."""
    shape = np.shape(y_true)
    if w is None:
        w = np.ones(shape)
    elif np.ndim(w) < len(shape):  # one weight per sample, over its pixels
        w = np.broadcast_to(np.reshape(w, (len(w),) + (1,) * (len(shape) - np.ndim(w))), shape)
    w = np.ravel(w)
    y_true, y_pred = np.ravel(y_true).astype(np.int64), np.ravel(y_pred).astype(np.int64)
    keep = (y_true >= 0) & (y_true < num_classes) & (y_pred >= 0) & (y_pred < num_classes)
    if ignore_class is not None:
        keep &= y_true != ignore_class
    cm = np.zeros((num_classes, num_classes))
    np.add.at(cm, (y_true[keep], y_pred[keep]), w[keep])
    tp = np.diag(cm)
    den = cm.sum(0) + cm.sum(1) - tp
    tp, den = tp[target_ids], den[target_ids]
    valid = den > 1e-9
    iou = np.where(valid, tp / (den + 1e-7), 0.0)
    return iou.sum() / (valid.sum() + 1e-7)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("ignore_class", [None, 255, 2])
def test_iou_and_mean_iou_match_numpy(weighted, ignore_class):
    w = PIXEL_WEIGHT if weighted else None
    iou = stream(metrics.IoU(C, [3, 1], ignore_class=ignore_class), PIXEL_TRUE, PIXEL_PRED, w)
    expected = np_iou(PIXEL_TRUE, PIXEL_PRED, C, [3, 1], PIXEL_WEIGHT if weighted else None,
                      ignore_class)
    assert iou == pytest.approx(expected, rel=1e-5)
    mean = stream(metrics.MeanIoU(C, ignore_class=ignore_class), PIXEL_TRUE, PIXEL_PRED, w)
    expected = np_iou(PIXEL_TRUE, PIXEL_PRED, C, list(range(C)), w, ignore_class)
    assert mean == pytest.approx(expected, rel=1e-5)


def test_per_sample_weights_broadcast_over_pixels():
    result = stream(metrics.MeanIoU(C), PIXEL_TRUE, PIXEL_PRED, weights)
    expected = np_iou(PIXEL_TRUE, PIXEL_PRED, C, list(range(C)), weights)
    assert result == pytest.approx(expected, rel=1e-5)


def test_one_hot_variants_argmax_labels_and_scores():
    pred_ids = probs.argmax(-1)
    expected = np_iou(labels, pred_ids, C, [0, 4], weights)
    assert stream(metrics.OneHotIoU(C, [0, 4]), one_hot, probs, weights) == pytest.approx(
        expected, rel=1e-5)
    expected = np_iou(labels, pred_ids, C, list(range(C)))
    assert stream(metrics.OneHotMeanIoU(C), one_hot, probs) == pytest.approx(expected, rel=1e-5)
    dense = metrics.IoU(C, [0, 4], sparse_y_true=False, sparse_y_pred=False)
    assert stream(dense, one_hot, probs, weights) == pytest.approx(
        np_iou(labels, pred_ids, C, [0, 4], weights), rel=1e-5)
    # Class ids as predictions with one-hot labels: sparse_y_pred=True.
    sparse_pred = metrics.OneHotMeanIoU(C, sparse_y_pred=True)
    assert stream(sparse_pred, one_hot, pred_ids) == pytest.approx(
        np_iou(labels, pred_ids, C, list(range(C))), rel=1e-5)


def test_binary_iou_thresholds_predictions_at_or_above():
    y_true = np.array([0, 1, 0, 1, 1, 0], dtype=np.float32)
    y_pred = np.array([0.1, 0.5, 0.5, 0.7, 0.2, 0.9], dtype=np.float32)
    for threshold, ids in ((0.5, [0, 1]), (0.3, [1]), (0.95, [0])):
        result = stream(metrics.BinaryIoU(ids, threshold=threshold), y_true, y_pred)
        expected = np_iou(y_true, (y_pred >= threshold).astype(int), 2, ids)
        assert result == pytest.approx(expected, rel=1e-5)


def test_state_merges_and_is_float32():
    make = lambda: metrics.MeanIoU(C, ignore_class=255)  # noqa: E731
    parts = [make() for _ in range(2)]
    parts[0].update_state(PIXEL_TRUE[:20], PIXEL_PRED[:20], sample_weight=PIXEL_WEIGHT[:20])
    parts[1].update_state(PIXEL_TRUE[20:], PIXEL_PRED[20:], sample_weight=PIXEL_WEIGHT[20:])
    parts[0].merge_state(parts[1])
    single = stream(make(), PIXEL_TRUE, PIXEL_PRED, PIXEL_WEIGHT)
    assert parts[0].result().item() == pytest.approx(float(single), rel=1e-6)
    assert dict(parts[0].state_aggregations) == {"total_cm": "sum"}
    assert parts[0].total_cm.dtype == torch.float32 and parts[0].total_cm.shape == (C, C)
    with pytest.raises(ValueError, match="their settings differ"):
        parts[0].merge_state(metrics.MeanIoU(C))


def test_target_ids_follow_the_device():
    metric = metrics.IoU(C, [1, 2]).to("meta")
    assert metric.total_cm.device.type == "meta" and metric._target_ids.device.type == "meta"


@pytest.mark.parametrize(
    "metric",
    [metrics.IoU(3, [2, 0], name="a", ignore_class=255, sparse_y_pred=False, axis=1),
     metrics.MeanIoU(4, ignore_class=0, sparse_y_true=False),
     metrics.BinaryIoU([1], threshold=0.25, name="b"),
     metrics.OneHotIoU(5, [4], sparse_y_pred=True),
     metrics.OneHotMeanIoU(2, dtype="float64")],
    ids=lambda m: type(m).__name__,
)
def test_config_round_trip_with_keras_keys(metric):
    config = metric.get_config()
    keys = {
        "IoU": {"name", "dtype", "num_classes", "target_class_ids", "ignore_class",
                "sparse_y_true", "sparse_y_pred", "axis"},
        "MeanIoU": {"name", "dtype", "num_classes", "ignore_class", "sparse_y_true",
                    "sparse_y_pred", "axis"},
        "BinaryIoU": {"target_class_ids", "threshold", "name", "dtype"},
        "OneHotIoU": {"name", "dtype", "num_classes", "target_class_ids", "ignore_class",
                      "sparse_y_pred", "axis"},
        "OneHotMeanIoU": {"name", "dtype", "num_classes", "ignore_class", "sparse_y_pred",
                          "axis"},
    }[type(metric).__name__]
    assert set(config) == keys
    rebuilt = type(metric).from_config(config)
    assert rebuilt.get_config() == config and rebuilt.dtype == metric.dtype


def test_invalid_arguments_and_inputs_are_refused():
    with pytest.raises(ValueError, match=r"Target class id 3 is out of range, which is \[0, 3\)"):
        metrics.IoU(3, [0, 3])
    with pytest.raises(ValueError, match=r"`num_classes` must be a positive integer. "
                                         r"Received: num_classes=0"):
        metrics.MeanIoU(0)
    with pytest.raises(ValueError, match="`target_class_ids` must be a non-empty list"):
        metrics.IoU(3, [])
    with pytest.raises(ValueError, match=r"one label per prediction.*\(4,\).*6 class ids"
                                         r".*sparse_y_true=False"):
        metrics.MeanIoU(3).update_state(torch.zeros(4), torch.zeros(6))
    with pytest.raises(ValueError, match=r"sample_weight cannot be broadcast.*\(3,\)"):
        metrics.MeanIoU(3).update_state(torch.zeros(4), torch.zeros(4), torch.ones(3))


def test_registered_under_keras_names():
    assert type(metrics.get("binary_io_u")) is metrics.BinaryIoU
    assert metrics.get("BinaryIoU").name == "binary_io_u"  # Keras's default name
    for name, cls in [("IoU", metrics.IoU), ("io_u", metrics.IoU), ("MeanIoU", metrics.MeanIoU),
                      ("mean_io_u", metrics.MeanIoU), ("OneHotIoU", metrics.OneHotIoU),
                      ("one_hot_mean_io_u", metrics.OneHotMeanIoU)]:
        assert metrics.ALL_METRICS[name] is cls
