"""tf-keras's tf_keras/metrics/accuracy_metrics_test.py, ported (tf-keras's expected numbers).

Not ported (not portable): the ragged-tensor cases (test_*_ragged, test_*_threshold_ragged) and
the graph/placeholder case test_sparse_categorical_accuracy_mismatched_dims_dynamic.
"""

import numpy as np
import pytest
import torch

import torchfit
from torchfit import metrics


def _check_config(obj, name="my_acc"):
    assert obj.name == name and len(obj.variables) == 2 and obj.dtype == torch.float32


def test_accuracy():
    acc_obj = metrics.Accuracy(name="my_acc")
    _check_config(acc_obj)
    acc_obj.update_state([[1], [2], [3], [4]], [[1], [2], [3], [4]])
    assert acc_obj.result().item() == 1
    _check_config(metrics.Accuracy.from_config(acc_obj.get_config()))
    result = acc_obj([[2], [1]], [[2], [0]], sample_weight=[[0.5], [0.2]])
    assert result.item() == pytest.approx(0.96, abs=1e-2)  # 4.5/4.7


def test_binary_accuracy():
    acc_obj = metrics.BinaryAccuracy(name="my_acc")
    _check_config(acc_obj)
    acc_obj.update_state([[1], [0]], [[1], [0]])
    assert acc_obj.result().item() == 1
    acc_obj.update_state([[1], [1]], [[[1]], [[0]]])  # y_pred squeeze
    assert acc_obj.result().item() == pytest.approx(0.75, abs=1e-2)
    assert acc_obj([[[1]], [[1]]], [[1], [0]]).item() == pytest.approx(0.67, abs=1e-2)
    assert acc_obj([[1], [1]], [[1], [0]], [[0.5], [0.2]]).item() == pytest.approx(0.67, abs=1e-2)


def test_binary_accuracy_threshold():
    acc_obj = metrics.BinaryAccuracy(threshold=0.7)
    result = acc_obj([[1], [1], [0], [0]], [[0.9], [0.6], [0.4], [0.8]])
    assert result.item() == pytest.approx(0.5, abs=1e-2)


def test_categorical_accuracy():
    acc_obj = metrics.CategoricalAccuracy(name="my_acc")
    _check_config(acc_obj)
    acc_obj.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.1, 0.8], [0.05, 0.95, 0]])
    assert acc_obj.result().item() == 1
    result = acc_obj([[0, 0, 1], [0, 1, 0]], [[0.1, 0.1, 0.8], [0.05, 0, 0.95]], [[0.5], [0.2]])
    assert result.item() == pytest.approx(0.93, abs=1e-2)  # 2.5/2.7


def test_sparse_categorical_accuracy():
    acc_obj = metrics.SparseCategoricalAccuracy(name="my_acc")
    _check_config(acc_obj)
    acc_obj.update_state([[2], [1]], [[0.1, 0.1, 0.8], [0.05, 0.95, 0]])
    assert acc_obj.result().item() == 1
    result = acc_obj([[2], [1]], [[0.1, 0.1, 0.8], [0.05, 0, 0.95]], [[0.5], [0.2]])
    assert result.item() == pytest.approx(0.93, abs=1e-2)


def test_sparse_categorical_accuracy_mismatched_dims():
    acc_obj = metrics.SparseCategoricalAccuracy(name="my_acc")
    _check_config(acc_obj)
    acc_obj.update_state([2, 1], [[0.1, 0.1, 0.8], [0.05, 0.95, 0]])
    assert acc_obj.result().item() == 1
    result = acc_obj([2, 1], [[0.1, 0.1, 0.8], [0.05, 0, 0.95]], [[0.5], [0.2]])
    assert result.item() == pytest.approx(0.93, abs=1e-2)


def test_get_acc():
    # Deliberate difference: tf-keras's get("acc") is the function `accuracy`; torchfit's get
    # always returns a Metric, here the running mean of that same function, named "acc".
    acc = metrics.get("acc")
    assert isinstance(acc, metrics.Accuracy) and acc.name == "acc"
    assert acc._fn is metrics.accuracy


def test_top_k_config():
    a_obj = metrics.TopKCategoricalAccuracy(name="topkca", dtype=torch.int32)
    assert a_obj.name == "topkca" and a_obj.dtype == torch.int32
    a_obj2 = metrics.TopKCategoricalAccuracy.from_config(a_obj.get_config())
    assert a_obj2.name == "topkca" and a_obj2.dtype == torch.int32


def test_top_k_correctness():
    y_true = torch.tensor([[0, 0, 1], [0, 1, 0]])
    y_pred = torch.tensor([[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert metrics.TopKCategoricalAccuracy()(y_true, y_pred).item() == 1
    assert metrics.TopKCategoricalAccuracy(k=1)(y_true, y_pred).item() == 0.5
    y_true = torch.tensor([[0, 0, 1, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0]])
    y_pred = torch.tensor([[0.5, 0.9, 0.1, 0.7, 0.6, 0.5, 0.4], [0.05, 0.95, 0, 0, 0, 0, 0]])
    assert metrics.TopKCategoricalAccuracy(k=6)(y_true, y_pred).item() == 0.5


def test_top_k_weighted():
    y_true = torch.tensor([[0, 1, 0], [1, 0, 0], [0, 0, 1]])
    y_pred = torch.tensor([[0, 0.9, 0.1], [0, 0.9, 0.1], [0, 0.9, 0.1]])
    result = metrics.TopKCategoricalAccuracy(k=2)(y_true, y_pred, sample_weight=(1.0, 0.0, 1.0))
    np.testing.assert_allclose(result, 1.0, atol=1e-5)


def test_sparse_top_k_config():
    a_obj = metrics.SparseTopKCategoricalAccuracy(name="stopkca", dtype=torch.int32)
    assert a_obj.name == "stopkca" and a_obj.dtype == torch.int32
    a_obj2 = metrics.SparseTopKCategoricalAccuracy.from_config(a_obj.get_config())
    assert a_obj2.name == "stopkca" and a_obj2.dtype == torch.int32


def test_sparse_top_k_correctness():
    y_true = torch.tensor([2, 1])
    y_pred = torch.tensor([[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert metrics.SparseTopKCategoricalAccuracy()(y_true, y_pred).item() == 1
    assert metrics.SparseTopKCategoricalAccuracy(k=1)(y_true, y_pred).item() == 0.5
    y_pred = torch.tensor([[0.5, 0.9, 0.1, 0.7, 0.6, 0.5, 0.4], [0.05, 0.95, 0, 0, 0, 0, 0]])
    assert metrics.SparseTopKCategoricalAccuracy(k=6)(y_true, y_pred).item() == 0.5


def test_sparse_top_k_weighted():
    y_true = torch.tensor([1, 0, 2])
    y_pred = torch.tensor([[0, 0.9, 0.1], [0, 0.9, 0.1], [0, 0.9, 0.1]])
    metric = metrics.SparseTopKCategoricalAccuracy(k=2)
    result = metric(y_true, y_pred, sample_weight=(1.0, 0.0, 1.0))
    np.testing.assert_allclose(result, 1.0, atol=1e-5)


class _AccModel(torchfit.Model):
    def __init__(self):
        super().__init__()
        self.acc = metrics.SparseTopKCategoricalAccuracy(k=1)

    def forward(self, label, predict):
        return self.acc(label, predict).reshape(1)


def test_sparse_top_k_categorical_accuracy_mismatched_dims_dynamic():
    # tf-keras builds the metric inside a functional Layer and predicts one step.
    model = _AccModel()
    result = model.predict([np.array([[2], [1]]), np.array([[0.1, 0.1, 0.8], [0.05, 0, 0.95]])],
                           steps=1, verbose=0)  # fmt: skip
    np.testing.assert_allclose(result, 0.5)
