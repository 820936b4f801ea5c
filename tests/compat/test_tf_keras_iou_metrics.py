"""tf.keras 2's own tests for the IoU metrics, ported to torchfit.

Ported from tf_keras/metrics/iou_metrics_test.py, every case, with Keras's expected numbers.
The fractional sample weights of these tests count as they are: torchfit's confusion matrix is
float32 (tf.keras 2's; Keras 3 defaults it to int).
"""

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics


def call(metric, y_true, y_pred, sample_weight=None):
    weight = None if sample_weight is None else torch.as_tensor(sample_weight, dtype=torch.float32)
    result = metric(torch.as_tensor(y_true), torch.as_tensor(y_pred), sample_weight=weight)
    return result.numpy()


def check(result, expected):
    np.testing.assert_allclose(result, expected, atol=1e-3)


# -- IoU ------------------------------------------------------------------------------------------


def test_iou_config():
    obj = metrics.IoU(num_classes=2, target_class_ids=[1, 0], name="iou_class_1_0")
    obj2 = metrics.IoU.from_config(obj.get_config())
    for o in (obj, obj2):
        assert o.name == "iou_class_1_0" and o.num_classes == 2 and o.target_class_ids == [1, 0]


def test_iou_unweighted():
    obj = metrics.IoU(num_classes=2, target_class_ids=[0, 1])
    check(call(obj, [0, 0, 1, 1], [0, 1, 0, 1]), (1 / (2 + 2 - 1) + 1 / (2 + 2 - 1)) / 2)


def test_iou_weighted():
    obj = metrics.IoU(num_classes=2, target_class_ids=[1, 0])
    result = call(obj, [0, 0, 1, 1], np.float32([0, 1, 0, 1]), [0.2, 0.3, 0.4, 0.1])
    check(result, (0.1 / (0.4 + 0.5 - 0.1) + 0.2 / (0.6 + 0.5 - 0.2)) / 2)


def test_iou_multi_dim_input():
    obj = metrics.IoU(num_classes=2, target_class_ids=[0, 1])
    result = call(obj, [[0, 0], [1, 1]], np.float32([[0, 1], [0, 1]]), [[0.2, 0.3], [0.4, 0.1]])
    check(result, (0.2 / (0.6 + 0.5 - 0.2) + 0.1 / (0.4 + 0.5 - 0.1)) / 2)


def test_iou_zero_valid_entries():
    check(metrics.IoU(num_classes=2, target_class_ids=[0, 1]).result().numpy(), 0)


def test_iou_zero_and_non_zero_entries():
    obj = metrics.IoU(num_classes=2, target_class_ids=[0, 1])
    check(call(obj, [1], np.float32([1])), (1 / (1 + 1 - 1)) / 1)


# -- BinaryIoU ------------------------------------------------------------------------------------


def test_binary_iou_config():
    obj = metrics.BinaryIoU(target_class_ids=[1, 0], threshold=0.1, name="iou_class_1_0")
    obj2 = metrics.BinaryIoU.from_config(obj.get_config())
    for o in (obj, obj2):
        assert o.name == "iou_class_1_0" and o.threshold == pytest.approx(0.1)
        assert o.target_class_ids == [1, 0]


def test_binary_iou_different_thresholds_weighted():
    y_true, y_pred = [0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7]
    obj = metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
    check(call(obj, y_true, y_pred, [0.2, 0.3, 0.4, 0.1]),
          (0.2 / (0.6 + 0.5 - 0.2) + 0.1 / (0.4 + 0.5 - 0.1)) / 2)
    obj = metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.5)
    check(call(obj, y_true, y_pred, [0.1, 0.2, 0.4, 0.3]),
          (0.5 / (0.5 + 0.7 - 0.5) + 0.3 / (0.5 + 0.3 - 0.3)) / 2)


def test_binary_iou_different_thresholds_unweighted():
    y_true, y_pred = [0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7]
    obj = metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
    check(call(obj, y_true, y_pred), (1 / (2 + 2 - 1) + 1 / (2 + 2 - 1)) / 2)
    obj = metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.5)
    check(call(obj, y_true, y_pred), (2 / (2 + 3 - 2) + 1 / (2 + 1 - 1)) / 2)


def test_binary_iou_multi_dim_input():
    obj = metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.4)
    result = call(obj, np.float32([[0, 1], [0, 1]]), np.float32([[0.1, 0.7], [0.9, 0.3]]),
                  [[0.2, 0.3], [0.4, 0.1]])
    check(result, (0.2 / (0.6 + 0.3 - 0.2) + 0.3 / (0.4 + 0.7 - 0.3)) / 2)


def test_binary_iou_zero_valid_entries():
    check(metrics.BinaryIoU(target_class_ids=[0, 1]).result().numpy(), 0)


def test_binary_iou_zero_and_non_zero_entries():
    obj = metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.5)
    check(call(obj, [1], np.float32([0.6])), 1 / (1 + 1 - 1))


# -- MeanIoU --------------------------------------------------------------------------------------


def test_mean_iou_config():
    m_obj = metrics.MeanIoU(num_classes=2, name="mean_iou")
    m_obj2 = metrics.MeanIoU.from_config(m_obj.get_config())
    for o in (m_obj, m_obj2):
        assert o.name == "mean_iou" and o.num_classes == 2


def test_mean_iou_unweighted():
    check(call(metrics.MeanIoU(num_classes=2), [0, 0, 1, 1], [0, 1, 0, 1]),
          (1 / (2 + 2 - 1) + 1 / (2 + 2 - 1)) / 2)


@pytest.mark.parametrize("ignored", [255, -1], ids=["ignore_class_255", "ignore_class_1"])
def test_mean_iou_unweighted_ignore_class(ignored):
    m_obj = metrics.MeanIoU(num_classes=3, ignore_class=ignored)
    result = call(m_obj, [0, 1, 2, ignored], [0, 1, 1, 1])
    check(result, (1 / (1 + 1 - 1) + 1 / (2 + 1 - 1) + 0 / (0 + 1 - 0)) / 3)


def test_mean_iou_weighted():
    result = call(metrics.MeanIoU(num_classes=2), [0, 0, 1, 1], np.float32([0, 1, 0, 1]),
                  [0.2, 0.3, 0.4, 0.1])
    check(result, (0.2 / (0.6 + 0.5 - 0.2) + 0.1 / (0.4 + 0.5 - 0.1)) / 2)


def test_mean_iou_weighted_ignore_class_1():
    m_obj = metrics.MeanIoU(num_classes=2, ignore_class=-1)
    result = call(m_obj, [0, 0, 1, -1], np.float32([0, 1, 0, 1]), [0.2, 0.3, 0.4, 0.1])
    check(result, (0.2 / (0.6 + 0.5 - 0.2) + 0.0 / (0.3 + 0.4 - 0.0)) / 2)


def test_mean_iou_multi_dim_input():
    result = call(metrics.MeanIoU(num_classes=2), [[0, 0], [1, 1]],
                  np.float32([[0, 1], [0, 1]]), [[0.2, 0.3], [0.4, 0.1]])
    check(result, (0.2 / (0.6 + 0.5 - 0.2) + 0.1 / (0.4 + 0.5 - 0.1)) / 2)


def test_mean_iou_zero_valid_entries():
    check(metrics.MeanIoU(num_classes=2).result().numpy(), 0)


def test_mean_iou_zero_and_non_zero_entries():
    check(call(metrics.MeanIoU(num_classes=2), [1], np.float32([1])), (0 + 1 / (1 + 1 - 1)) / 1)


# -- OneHotIoU and OneHotMeanIoU ------------------------------------------------------------------

ONE_HOT_TRUE = [[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]]  # ids [2, 0, 1, 0]
ONE_HOT_PRED = [[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1], [0.1, 0.4, 0.5]]  # [2, 2, 0, 2]


def test_one_hot_iou_unweighted():
    obj = metrics.OneHotIoU(num_classes=3, target_class_ids=[0, 2])
    check(call(obj, ONE_HOT_TRUE, ONE_HOT_PRED), (0 / (1 + 2 - 0) + 1 / (3 + 1 - 1)) / 2)


def test_one_hot_iou_weighted():
    obj = metrics.OneHotIoU(num_classes=3, target_class_ids=[0, 2])
    result = call(obj, ONE_HOT_TRUE, ONE_HOT_PRED, [0.1, 0.2, 0.3, 0.4])
    check(result, (0 / (0.3 + 0.6 - 0) + 0.1 / (0.7 + 0.1 - 0.1)) / 2)


def test_one_hot_mean_iou_unweighted():
    check(call(metrics.OneHotMeanIoU(num_classes=3), ONE_HOT_TRUE, ONE_HOT_PRED),
          (0 + 0 + 1 / (3 + 1 - 1)) / 3)


def test_one_hot_mean_iou_weighted():
    y_true = [*ONE_HOT_TRUE, [1, 0, 0]]  # ids [2, 0, 1, 0, 0]
    y_pred = [*ONE_HOT_PRED, [0.6, 0.2, 0.2]]  # ids [2, 2, 0, 2, 0]
    result = call(metrics.OneHotMeanIoU(num_classes=3), y_true, y_pred,
                  [0.1, 0.2, 0.3, 0.3, 0.1])
    check(result, (0.1 / (0.4 + 0.6 - 0.1) + 0 + 0.1 / (0.6 + 0.1 - 0.1)) / 3)
