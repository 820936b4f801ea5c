"""tf-keras's tf_keras/metrics/metrics_functional_test.py, ported (tf-keras's expected values).

Every case is portable. torchfit's `binary_accuracy` keeps tf.keras 2's one value per sample
(Keras 3's is element-wise), which test_metrics pins.
"""

import numpy as np
import torch

from torchfit import metrics

RNG = np.random.default_rng(0)


def test_metrics():
    y_a = torch.tensor(RNG.random((6, 7)))
    y_b = torch.tensor(RNG.random((6, 7)))
    for metric in [metrics.binary_accuracy, metrics.categorical_accuracy]:
        assert tuple(metric(y_a, y_b).shape) == (6,)


def test_sparse_categorical_accuracy_int():
    metric = metrics.sparse_categorical_accuracy
    y_true = torch.tensor(RNG.integers(0, 7, (6,)))
    assert tuple(metric(y_true, torch.tensor(RNG.random((6, 7)))).shape) == (6,)
    y_pred = torch.tensor([[0.8, 0.2], [0.6, 0.4], [0.7, 0.3], [0.9, 0.1]])
    np.testing.assert_array_equal(metric(torch.tensor([1.0, 0.0, 0.0, 0.0]), y_pred),
                                  [0.0, 1.0, 1.0, 1.0])  # fmt: skip
    np.testing.assert_array_equal(metric(torch.tensor([[1.0], [0.0], [0.0], [0.0]]), y_pred),
                                  [0.0, 1.0, 1.0, 1.0])  # fmt: skip
    y_pred = torch.tensor(np.array([[[0.2, 0.3, 0.1], [0.1, 0.2, 0.7]],
                                    [[0.3, 0.2, 0.1], [0.7, 0.2, 0.1]]]))  # fmt: skip
    y_true = torch.tensor(np.array([[1, 0], [1, 0]]))
    np.testing.assert_array_equal(metric(y_true, y_pred), [[1.0, 0.0], [0.0, 1.0]])


def test_sparse_categorical_accuracy_float():
    y_true = torch.tensor(RNG.random((6,)))
    result = metrics.sparse_categorical_accuracy(y_true, torch.tensor(RNG.random((6, 7))))
    assert tuple(result.shape) == (6,)


def test_sparse_categorical_accuracy_eager():
    y_true = np.arange(6).reshape([6, 1])
    y_pred = np.arange(36).reshape([6, 6])
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy(y_true, y_pred),
                                  [0.0, 0.0, 0.0, 0.0, 0.0, 1.0])  # fmt: skip


def test_sparse_categorical_accuracy_float_eager():
    y_true = np.arange(6, dtype=np.float32).reshape([6, 1])
    y_pred = np.arange(36).reshape([6, 6])
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy(y_true, y_pred),
                                  [0.0, 0.0, 0.0, 0.0, 0.0, 1.0])  # fmt: skip


def _check_top_k(fn, y_true, y_pred):
    for k, expected in ((3, 1), (2, 0.5), (1, 0.0)):
        assert np.mean(fn(y_true, y_pred, k=k).numpy()) == expected


def test_sparse_top_k_categorical_accuracy():
    fn = metrics.sparse_top_k_categorical_accuracy
    y_pred = torch.tensor(np.array([[0.3, 0.2, 0.1], [0.1, 0.2, 0.7]]))
    _check_top_k(fn, torch.tensor(np.array([[1], [0]])), y_pred)
    _check_top_k(fn, torch.tensor(np.array([1, 0])), y_pred)
    y_pred = torch.tensor(np.array([
        [[0.3, 0.2, 0.1], [0.1, 0.2, 0.7], [0.1, 0.2, 0.7]],
        [[0.3, 0.2, 0.1], [0.1, 0.2, 0.7], [0.3, 0.2, 0.1]],
    ]))  # fmt: skip
    _check_top_k(fn, torch.tensor(np.array([[1, 0, 0], [1, 0, 1]])), y_pred)


def test_top_k_categorical_accuracy():
    y_pred = torch.tensor(np.array([[0.3, 0.2, 0.1], [0.1, 0.2, 0.7]]))
    y_true = torch.tensor(np.array([[0, 1, 0], [1, 0, 0]]))
    _check_top_k(metrics.top_k_categorical_accuracy, y_true, y_pred)
