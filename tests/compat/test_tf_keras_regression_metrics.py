"""tf-keras's tf_keras/metrics/regression_metrics_test.py, ported (tf-keras's expected numbers).

Every case is portable except the symbolic-input part of R2ScoreTest.test_errors
(`Input(shape=(None,))` has no torch counterpart; the rest of that case is ported).
"""

import math

import numpy as np
import pytest
import torch

from torchfit import metrics

Y_TRUE = torch.tensor(((0, 1, 0, 1, 0), (0, 0, 1, 1, 1), (1, 1, 1, 1, 0), (0, 0, 0, 0, 1)))
Y_PRED = torch.tensor(((0, 0, 1, 1, 0), (1, 1, 1, 1, 1), (0, 1, 0, 1, 0), (1, 1, 1, 1, 1)))
WEIGHT = torch.tensor((1.0, 1.5, 2.0, 2.5))


def _close(result, expected, atol=1e-5):
    np.testing.assert_allclose(np.asarray(result), expected, atol=atol)


@pytest.mark.parametrize(("cls", "name", "kwargs"), [
    (metrics.CosineSimilarity, "my_cos", {"axis": 2}),
    (metrics.MeanAbsoluteError, "my_mae", {}),
    (metrics.MeanAbsolutePercentageError, "my_mape", {}),
    (metrics.MeanSquaredError, "my_mse", {}),
    (metrics.MeanSquaredLogarithmicError, "my_msle", {}),
    (metrics.RootMeanSquaredError, "rmse", {}),
    (metrics.LogCoshError, "logcosh", {}),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)  # fmt: skip
def test_config(cls, name, kwargs):
    obj = cls(name=name, dtype=torch.int32, **kwargs)
    assert obj.name == name and obj.dtype == torch.int32
    obj2 = cls.from_config(obj.get_config())
    assert obj2.name == name and obj2.dtype == torch.int32


# -- CosineSimilarityTest -------------------------------------------------------------------

COS_TRUE = np.asarray([[1, 9, 2], [-5, -2, 6]], dtype=np.float32)
COS_PRED = np.asarray([[4, 8, 12], [8, 1, 3]], dtype=np.float32)


def _expected_cosine(axis=1):
    def l2_norm(x):
        return x / np.sqrt(np.maximum(np.sum(np.square(x), axis=axis, keepdims=True), 1e-12))

    return np.sum(l2_norm(COS_TRUE) * l2_norm(COS_PRED), axis=(axis,))


def test_cosine_unweighted():
    loss = metrics.CosineSimilarity()(torch.tensor(COS_TRUE), torch.tensor(COS_PRED))
    assert loss.item() == pytest.approx(np.mean(_expected_cosine()), abs=1e-3)


def test_cosine_weighted():
    weight = np.asarray([1.2, 3.4])
    loss = metrics.CosineSimilarity()(torch.tensor(COS_TRUE), torch.tensor(COS_PRED),
                                      sample_weight=torch.tensor(weight))  # fmt: skip
    expected = np.sum(_expected_cosine() * weight) / np.sum(weight)
    assert loss.item() == pytest.approx(expected, abs=1e-3)


def test_cosine_axis():
    loss = metrics.CosineSimilarity(axis=1)(torch.tensor(COS_TRUE), torch.tensor(COS_PRED))
    assert loss.item() == pytest.approx(np.mean(_expected_cosine(axis=1)), abs=1e-3)


# -- MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredError, MSLE -----------------


@pytest.mark.parametrize(("cls", "unweighted", "weighted"), [
    (metrics.MeanAbsoluteError, 0.5, 0.54285),
    (metrics.MeanAbsolutePercentageError, 35e7, 40e7),
    (metrics.MeanSquaredError, 0.5, 0.54285),
    (metrics.MeanSquaredLogarithmicError, 0.24022, 0.26082),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)  # fmt: skip
@pytest.mark.parametrize("is_weighted", [False, True], ids=["unweighted", "weighted"])
def test_elementwise_errors(cls, unweighted, weighted, is_weighted):
    obj = cls()
    if is_weighted:
        _close(obj(Y_TRUE, Y_PRED, sample_weight=WEIGHT), weighted, atol=1e-5 * max(1, weighted))
    else:
        obj.update_state(Y_TRUE, Y_PRED)
        _close(obj.result(), unweighted, atol=1e-5 * max(1, unweighted))


# -- RootMeanSquaredErrorTest ---------------------------------------------------------------


def test_rmse_unweighted():
    obj = metrics.RootMeanSquaredError()
    obj.update_state(torch.tensor((2, 4, 6)), torch.tensor((1, 3, 2)))
    _close(obj.result(), math.sqrt(6), atol=1e-3)


def test_rmse_weighted():
    result = metrics.RootMeanSquaredError()(torch.tensor((2, 4, 6, 8)), torch.tensor((1, 3, 2, 3)),
                                            sample_weight=torch.tensor((0, 1, 0, 1)))
    _close(result, math.sqrt(13), atol=1e-3)


# -- LogCoshErrorTest -----------------------------------------------------------------------

L_PRED = np.asarray([1, 9, 2, -5, -2, 6]).reshape((2, 3))
L_TRUE = np.asarray([4, 8, 12, 8, 1, 3]).reshape((2, 3))
L_EXPECTED = np.log((np.exp(L_PRED - L_TRUE) + np.exp(L_TRUE - L_PRED)) / 2)


def test_logcosh_unweighted():
    obj = metrics.LogCoshError()
    obj.update_state(torch.tensor(L_TRUE), torch.tensor(L_PRED, dtype=torch.float32))
    _close(obj.result(), np.sum(L_EXPECTED) / 6, atol=1e-3)


def test_logcosh_weighted():
    result = metrics.LogCoshError()(torch.tensor(L_TRUE), torch.tensor(L_PRED, dtype=torch.float32),
                                    sample_weight=torch.tensor([[1.2], [3.4]]))
    weight = np.asarray([1.2, 1.2, 1.2, 3.4, 3.4, 3.4]).reshape((2, 3))
    _close(result, np.sum(L_EXPECTED * weight) / np.sum(weight), atol=1e-3)


# -- MeanRelativeErrorTest ------------------------------------------------------------------


def test_mean_relative_error_config():
    normalizer = torch.tensor([1, 3], dtype=torch.float32)
    obj = metrics.MeanRelativeError(normalizer=normalizer, name="mre")
    assert obj.name == "mre"
    np.testing.assert_allclose(obj.normalizer, [1, 3], atol=1e-1)
    obj2 = metrics.MeanRelativeError.from_config(obj.get_config())
    assert obj2.name == "mre"
    np.testing.assert_allclose(obj2.normalizer, [1, 3], atol=1e-1)


def test_mean_relative_error_unweighted():
    np_pred = np.asarray([2, 4, 6, 8], dtype=np.float32)
    np_true = np.asarray([1, 3, 2, 3], dtype=np.float32)
    expected = np.mean(np.abs(np_pred - np_true) / np_true)
    y_true = torch.tensor(np_true).reshape(1, 4)
    metric = metrics.MeanRelativeError(normalizer=y_true)
    result = metric(y_true, torch.tensor(np_pred).reshape(1, 4))
    _close(result, expected, atol=1e-3)


def test_mean_relative_error_weighted():
    np_pred = np.asarray([2, 4, 6, 8], dtype=np.float32)
    np_true = np.asarray([1, 3, 2, 3], dtype=np.float32)
    weight = np.asarray([0.2, 0.3, 0.5, 0], dtype=np.float32)
    expected = np.sum(np.abs(np_pred - np_true) / np_true * weight)
    obj = metrics.MeanRelativeError(normalizer=torch.tensor(np_true))
    result = obj(torch.tensor(np_true), torch.tensor(np_pred), sample_weight=torch.tensor(weight))
    _close(result, expected, atol=1e-3)


def test_mean_relative_error_zero_normalizer():
    y_true = torch.tensor([1, 3])
    obj = metrics.MeanRelativeError(normalizer=torch.zeros_like(y_true))
    assert obj(y_true, torch.tensor([2.0, 4.0])).item() == 0


# -- R2ScoreTest ----------------------------------------------------------------------------


def _r2(y_true, y_pred, sample_weights, class_aggregation, num_regressors):
    r2 = metrics.R2Score(class_aggregation, num_regressors)
    weight = None if sample_weights is None else torch.tensor(sample_weights)
    r2.update_state(torch.tensor(y_true), torch.tensor(y_pred), weight)
    return r2.result().numpy()


def test_r2_config():
    obj = metrics.R2Score(class_aggregation=None, num_regressors=2)
    assert obj.class_aggregation is None and obj.num_regressors == 2
    assert obj.dtype == torch.float32
    obj2 = metrics.R2Score.from_config(obj.get_config())
    assert obj2.class_aggregation is None and obj2.num_regressors == 2
    assert obj2.dtype == torch.float32


@pytest.mark.parametrize(("class_aggregation", "num_regressors", "result"), [
    (None, 0, [0.37, -1.295, 0.565]),
    ("uniform_average", 0, -0.12),
    ("variance_weighted_average", 0, -0.12),
])  # fmt: skip
def test_r2_sklearn_comparison(class_aggregation, num_regressors, result):
    y_true = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    y_pred = [[0.4, 0.5, 0.6], [0.1, 0.2, 0.3], [0.5, 0.8, 0.2]]
    _close(_r2(y_true, y_pred, None, class_aggregation, num_regressors), result, atol=1e-6)


@pytest.mark.parametrize(("class_aggregation", "num_regressors", "result"), [
    (None, 0, [0.17305559, -8.836666, -0.521]),
    (None, 1, [0.054920673, -10.241904, -0.7382858]),
    (None, 2, [-0.10259259, -12.115555, -1.0280001]),
    ("uniform_average", 0, -3.0615367889404297),
    ("uniform_average", 1, -3.641756534576416),
    ("uniform_average", 2, -4.415382385253906),
    ("variance_weighted_average", 0, -1.3710224628448486),
    ("variance_weighted_average", 1, -1.7097399234771729),
    ("variance_weighted_average", 2, -2.161363363265991),
])  # fmt: skip
def test_r2_tfa_comparison(class_aggregation, num_regressors, result):
    y_true = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    y_pred = [[0.4, 0.9, 1.6], [0.1, 1.2, 0.6], [1.5, 0.8, 0.6]]
    _close(_r2(y_true, y_pred, [0.8, 0.1, 0.4], class_aggregation, num_regressors), result,
           atol=1e-6)


def test_r2_errors():
    with pytest.raises(ValueError, match="Invalid value for argument `class_aggregation`"):
        metrics.R2Score(class_aggregation="wrong")
    with pytest.raises(ValueError, match="Invalid value for argument `num_regressors`"):
        metrics.R2Score(num_regressors=-1)
    with pytest.raises(ValueError, match="expects 2D inputs with shape"):
        metrics.R2Score().update_state(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 1.0]))
