"""tf-keras's tf_keras/metrics/base_metric_test.py, ported: Sum, Mean, MeanTensor, custom metrics.

Expected numbers are tf-keras's own. Not ported (not portable): the graph/placeholder cases
(test_sum_graph_with_placeholder, test_mean_graph_with_placeholder), tf.function and variable
creator cases (test_init_scope_during_add_weight, test_function_wrapped_reset_state,
test_build_in_tf_function), TF variable names (the name part of test_multiple_instances) and
Keras layer tracking (test_metric_not_tracked_as_sublayer_in_layer / _in_model).
"""

import copy

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from torchfit import metrics

# -- KerasSumTest ---------------------------------------------------------------------------


def test_sum():
    m = metrics.Sum(name="my_sum")
    assert m.name == "my_sum" and m.dtype == torch.float32 and len(m.variables) == 1
    assert m.total.item() == 0
    assert m(100).item() == 100 and m.total.item() == 100
    m.update_state(torch.tensor([1, 5]))
    assert m.result().item() == pytest.approx(106) and m.total.item() == 106
    m.reset_state()
    assert m.total.item() == 0


def test_sum_with_sample_weight():
    m = metrics.Sum(dtype=torch.float64)
    assert m.dtype == torch.float64
    assert m(100, sample_weight=0.5).item() == 50 and m.total.item() == 50
    assert m([1, 5], sample_weight=[1, 0.2]).item() == pytest.approx(52.0, abs=1e-4)
    assert m([1, 2], sample_weight=0.5).item() == pytest.approx(53.5, abs=0.1)
    assert m([1, 5], sample_weight=[[1], [0.2]]).item() == pytest.approx(55.5, abs=0.1)
    assert m([[1], [5]], sample_weight=[1, 0.2]).item() == pytest.approx(57.5, abs=1e-2)
    result = m([[[1.0, 2.0], [3.0, 2.0], [0.5, 4.0]]], sample_weight=[0.5])
    assert np.round(result.item(), 2) == pytest.approx(63.75, abs=1e-2)
    assert m.total.item() == pytest.approx(63.75, abs=1e-2)


def test_sum_save_restore():
    m = metrics.Sum()
    m(100.0)
    m(200.0)
    saved = m.state_dict()
    m(1000.0)
    m.load_state_dict(saved)
    m(300.0)
    assert m.result().item() == 600.0
    restored = metrics.Sum()
    restored.load_state_dict(saved)
    restored(300.0)
    assert restored.result().item() == 600.0


# -- MeanTest -------------------------------------------------------------------------------


def test_mean():
    m = metrics.Mean(name="my_mean")
    assert m.name == "my_mean" and m.dtype == torch.float32 and len(m.variables) == 2
    assert (m.total.item(), m.count.item()) == (0, 0)
    assert m(100).item() == 100 and (m.total.item(), m.count.item()) == (100, 1)
    m.update_state([torch.tensor(1), torch.tensor(5)])
    assert m.result().item() == pytest.approx(106 / 3, abs=1e-2)
    assert (m.total.item(), m.count.item()) == (106, 3)
    m.reset_state()
    assert (m.total.item(), m.count.item()) == (0, 0)
    m2 = metrics.Mean.from_config(m.get_config())
    assert m2.name == "my_mean" and m2.dtype == torch.float32 and len(m2.variables) == 2


def test_mean_with_sample_weight():
    m = metrics.Mean(dtype=torch.float64)
    assert m.dtype == torch.float64
    assert m(100, sample_weight=0.5).item() == 50 / 0.5
    assert (m.total.item(), m.count.item()) == (50, 0.5)
    assert m([1, 5], sample_weight=[1, 0.2]).item() == pytest.approx(52 / 1.7, abs=1e-2)
    assert m.total.item() == pytest.approx(52, abs=1e-2)
    assert m.count.item() == pytest.approx(1.7, abs=1e-2)
    assert m([1, 2], sample_weight=0.5).item() == pytest.approx(53.5 / 2.7, abs=1e-2)
    assert m.count.item() == pytest.approx(2.7, abs=1e-2)
    assert m([1, 5], sample_weight=[[1], [0.2]]).item() == pytest.approx(55.5 / 3.9, abs=1e-2)
    assert m.count.item() == pytest.approx(3.9, abs=1e-2)
    assert m([[1], [5]], sample_weight=[1, 0.2]).item() == pytest.approx(57.5 / 5.1, abs=1e-2)
    assert m.count.item() == pytest.approx(5.1, abs=1e-2)
    result = m([[[1.0, 2.0], [3.0, 2.0], [0.5, 4.0]]], sample_weight=[0.5])
    assert np.round(result.item(), decimals=2) == 10.45
    assert np.round(m.total.item(), decimals=2) == 58.54
    assert np.round(m.count.item(), decimals=2) == 5.6


def test_mean_save_restore():
    m = metrics.Mean()
    m(100.0)
    m(200.0)
    saved = m.state_dict()
    m(1000.0)
    m.load_state_dict(saved)
    m(300.0)
    assert m.result().item() == 200.0
    restored = metrics.Mean()
    restored.load_state_dict(saved)
    restored(300.0)
    assert restored.result().item() == 200.0 and restored.count.item() == 3


def test_mean_multiple_instances():
    m, m2 = metrics.Mean(), metrics.Mean()
    assert m.name == "mean" and m2.name == "mean"
    assert m(100).item() == 100 and (m2.total.item(), m2.count.item()) == (0, 0)
    assert m2([63, 10]).item() == 36.5 and (m2.total.item(), m2.count.item()) == (73, 2)
    assert m.result().item() == 100 and (m.total.item(), m.count.item()) == (100, 1)


def test_deepcopy_of_metrics():
    m = metrics.Mean(name="my_mean")
    m.reset_state()
    m.update_state(100)
    copied = copy.deepcopy(m)
    copied.update_state(200)
    assert m.result().item() == 100 and copied.result().item() == 150
    m.reset_state()
    assert m.result().item() == 0 and copied.result().item() == 150


# -- MeanTensorTest -------------------------------------------------------------------------


def test_mean_tensor_config():
    m = metrics.MeanTensor(name="mean_by_element")
    assert m.name == "mean_by_element" and m.dtype == torch.float32 and m.variables == []
    with pytest.raises(ValueError, match="does not have any value yet"):
        m.result()
    m([[3], [5], [3]])
    assert list(m._shape) == [3, 1]
    m2 = metrics.MeanTensor.from_config(m.get_config())
    assert m2.name == "mean_by_element" and m2.dtype == torch.float32 and m2.variables == []


def test_mean_tensor_unweighted():
    m = metrics.MeanTensor(dtype=torch.float64)
    np.testing.assert_allclose(m([100, 40]), [100, 40])
    np.testing.assert_allclose(m.total, [100, 40])
    np.testing.assert_allclose(m.count, [1, 1])
    m.update_state([torch.tensor(1), torch.tensor(5)])
    np.testing.assert_allclose(m.result(), [50.5, 22.5])
    np.testing.assert_allclose(m.total, [101, 45])
    np.testing.assert_allclose(m.count, [2, 2])
    m.reset_state()
    np.testing.assert_allclose(m.total, [0, 0])
    np.testing.assert_allclose(m.count, [0, 0])


def test_mean_tensor_weighted():
    m = metrics.MeanTensor(dtype=torch.float64)
    assert m.dtype == torch.float64
    np.testing.assert_allclose(m([100, 30], sample_weight=0.5), [100, 30])
    np.testing.assert_allclose(m.total, [50, 15])
    np.testing.assert_allclose(m.count, [0.5, 0.5])
    np.testing.assert_allclose(m([1, 5], sample_weight=[1, 0.2]), [51 / 1.5, 16 / 0.7], rtol=1e-2)
    np.testing.assert_allclose(m.total, [51, 16])
    np.testing.assert_allclose(m.count, [1.5, 0.7])
    np.testing.assert_allclose(m([1, 2], sample_weight=0.5), [51.5 / 2, 17 / 1.2])
    np.testing.assert_allclose(m.total, [51.5, 17])
    np.testing.assert_allclose(m.count, [2, 1.2])
    np.testing.assert_allclose(m([1, 5], sample_weight=[[1], [0.2]]), [52.5 / 3, 18 / 1.4])
    np.testing.assert_allclose(m.total, [52.5, 18])
    np.testing.assert_allclose(m.count, [3, 1.4])
    m = metrics.MeanTensor(dtype=torch.float64)
    np.testing.assert_allclose(m([[1], [5]], sample_weight=[1, 0.2]), [[1], [5]])
    np.testing.assert_allclose(m.total, [[1], [1]])
    np.testing.assert_allclose(m.count, [[1], [0.2]])


def test_mean_tensor_invalid_value_shape():
    m = metrics.MeanTensor(dtype=torch.float64)
    m([1])
    with pytest.raises(ValueError, match="MeanTensor input values must always have the same shape"):
        m([1, 5])


class _ModelWithMetric(torchfit.Model):
    def __init__(self):
        super().__init__()
        self.dense1 = nn.Linear(4, 3)
        self.dense2 = nn.Linear(3, 1)
        for layer in (self.dense1, self.dense2):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.mean_tensor = metrics.MeanTensor()

    def forward(self, x):
        hidden = torch.relu(self.dense1(x))
        self.mean_tensor(self.dense1.weight.T)  # Keras's kernel is (4, 3)
        return torch.sigmoid(self.dense2(hidden))


def test_mean_tensor_in_keras_model():
    # Deliberate difference: tf-keras tracks a metric stored on the model and resets it at the
    # start of evaluate (total 4 after the second call). A torchfit Metric is a plain object,
    # not a submodule: evaluate resets the compiled metrics only, so this one keeps counting
    # (2 + 4 = 6) until its owner calls reset_state().
    model = _ModelWithMetric()
    model.compile(loss="mae", optimizer="rmsprop", run_eagerly=True)
    x, y = np.ones((100, 4), np.float32), np.zeros((100, 1), np.float32)
    model.evaluate(x, y, batch_size=50, verbose=0)
    np.testing.assert_allclose(model.mean_tensor.result().cpu(), np.ones((4, 3)))
    np.testing.assert_allclose(model.mean_tensor.total.cpu(), np.full((4, 3), 2))
    np.testing.assert_allclose(model.mean_tensor.count.cpu(), np.full((4, 3), 2))
    model.evaluate(x, y, batch_size=25, verbose=0)
    np.testing.assert_allclose(model.mean_tensor.result().cpu(), np.ones((4, 3)))
    np.testing.assert_allclose(model.mean_tensor.total.cpu(), np.full((4, 3), 6))
    np.testing.assert_allclose(model.mean_tensor.count.cpu(), np.full((4, 3), 6))


# -- CustomMetricsTest ----------------------------------------------------------------------


class BinaryTruePositives(metrics.Metric):
    def __init__(self, name="binary_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_weight(name="tp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = (y_true.bool() & y_pred.bool()).to(self.dtype)
        if sample_weight is not None:
            values = values * sample_weight.to(self.dtype).expand_as(values)
        self.true_positives += values.sum()

    def result(self):
        return self.true_positives


class BinaryTruePositivesViaControlFlow(metrics.Metric):
    def __init__(self, name="binary_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_weight(name="tp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = y_true.bool(), y_pred.bool()
        for i in range(len(y_true)):
            for j in range(len(y_true[i])):
                if y_true[i][j] and y_pred[i][j]:
                    self.true_positives += 1 if sample_weight is None else sample_weight[i][0]

    def result(self):
        return self.true_positives


Y_TRUE = torch.tensor([[0, 0.9, 0, 1, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 0], [0, 0, 0, 0, 1.5]])
Y_PRED = torch.tensor([[0, 0, 1, 5, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0], [1, 10, 1, 1, 1.0]])
SAMPLE_WEIGHT = torch.tensor([[1.0], [1.5], [2.0], [2.5]])


def test_custom_metric_config():
    btp = BinaryTruePositives(name="btp", dtype=torch.int32)
    assert btp.name == "btp" and btp.dtype == torch.int32
    btp2 = BinaryTruePositives.from_config(btp.get_config())
    assert btp2.name == "btp" and btp2.dtype == torch.int32


def test_custom_metric_unweighted():
    btp = BinaryTruePositives()
    btp.update_state(Y_TRUE, Y_PRED)
    assert btp.result().item() == 7


def test_custom_metric_weighted():
    assert BinaryTruePositives()(Y_TRUE, Y_PRED, sample_weight=SAMPLE_WEIGHT).item() == 12


def test_custom_metric_autograph():
    # tf-keras runs the Python control flow under tf.function; here it simply runs.
    metric = BinaryTruePositivesViaControlFlow()
    metric(Y_TRUE, Y_PRED, SAMPLE_WEIGHT)
    assert metric.result().item() == 12


def test_metric_wrappers_autograph():
    def metric_fn(y_true, y_pred):
        x = torch.tensor(0.0)
        for i in range(len(y_true)):
            for j in range(len(y_true[i])):
                if y_true[i][j] == y_pred[i][j] and y_true[i][j] > 0:
                    x += 1.0
        return x

    y_true = torch.tensor([[0, 0, 0, 1, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 0, 1]])
    y_pred = torch.tensor([[0, 0, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0], [1, 1, 1, 1, 1]])
    mean_metric = metrics.MeanMetricWrapper(metric_fn)
    sum_metric = metrics.SumOverBatchSizeMetricWrapper(metric_fn)
    np.testing.assert_allclose(mean_metric(y_true, y_pred), 10, rtol=1e-2)
    np.testing.assert_allclose(sum_metric(y_true, y_pred), 10, rtol=1e-2)


def test_invalid_custom_metric_class_error_msg():
    class BadMetric(metrics.Metric):
        def update_state(self, y_true, y_pred, sample_weight=None):
            return

        def result(self):
            return

    model = torchfit.Model(nn.Linear(2, 3), device="cpu")
    with pytest.raises(RuntimeError, match="can only be a single"):
        model.compile("sgd", "mse", metrics=[BadMetric()])
        model.fit(np.ones((10, 2), np.float32), np.ones((10, 3), np.float32), verbose=0)


def test_invalid_custom_metric_fn_error_msg():
    def bad_metric(y_true, y_pred, sample_weight=None):
        return None

    def dict_metric(y_true, y_pred, sample_weight=None):
        return {"value": 0.0}

    model = torchfit.Model(nn.Linear(2, 3), device="cpu")
    x, y = np.ones((10, 2), np.float32), np.ones((10, 3), np.float32)
    with pytest.raises(RuntimeError, match="The output of a metric function can only be"):
        model.compile("sgd", "mse", metrics=[bad_metric])
        model.fit(x, y, verbose=0)
    with pytest.raises(RuntimeError, match="To return a dict of values, implement"):
        model.compile("sgd", "mse", metrics=[dict_metric])
        model.fit(x, y, verbose=0)
