"""tf-keras's tf_keras/metrics/probabilistic_metrics_test.py, ported (tf-keras's numbers).

Every case is portable. Deliberate differences (kept as tests of torchfit's behaviour):
BinaryCrossentropy of saturated probabilities follows Keras 3's formula (no 1e-7 inside the
logs, see torchfit.losses.binary_crossentropy): tf-keras's 3.833 / 3.285 are Keras 3's
3.9856 / 3.4162 here.
"""

import json

import numpy as np
import torch

from torchfit import metrics


def _close(result, expected, atol=1e-3):
    np.testing.assert_allclose(np.asarray(result), expected, atol=atol)


def _check_config(cls, name, **kwargs):
    obj = cls(name=name, dtype=torch.int32, **kwargs)
    assert obj.name == name and obj.dtype == torch.int32
    old_config = obj.get_config()
    obj2 = cls.from_config(old_config)
    assert obj2.name == name and obj2.dtype == torch.int32
    assert obj2.get_config() == old_config
    return old_config


# -- PoissonTest ----------------------------------------------------------------------------

P_PRED = np.asarray([1, 9, 2, 5, 2, 6]).reshape((2, 3))
P_TRUE = np.asarray([4, 8, 12, 8, 1, 3]).reshape((2, 3))
P_EXPECTED = P_PRED - np.multiply(P_TRUE, np.log(P_PRED))


def test_poisson_config():
    _check_config(metrics.Poisson, "poisson")


def test_poisson_unweighted():
    obj = metrics.Poisson()
    obj.update_state(torch.tensor(P_TRUE), torch.tensor(P_PRED, dtype=torch.float32))
    _close(obj.result(), np.sum(P_EXPECTED) / 6)


def test_poisson_weighted():
    result = metrics.Poisson()(torch.tensor(P_TRUE), torch.tensor(P_PRED, dtype=torch.float32),
                               sample_weight=torch.tensor([[1.2], [3.4]]))  # fmt: skip
    weight = np.asarray([1.2, 1.2, 1.2, 3.4, 3.4, 3.4]).reshape((2, 3))
    _close(result, np.sum(P_EXPECTED * weight) / np.sum(weight))


# -- KLDivergenceTest -----------------------------------------------------------------------

K_PRED = np.asarray([0.4, 0.9, 0.12, 0.36, 0.3, 0.4]).reshape((2, 3))
K_TRUE = np.asarray([0.5, 0.8, 0.12, 0.7, 0.43, 0.8]).reshape((2, 3))
K_EXPECTED = np.multiply(K_TRUE, np.log(K_TRUE / K_PRED))


def test_kl_divergence_config():
    _check_config(metrics.KLDivergence, "kld")


def test_kl_divergence_unweighted():
    obj = metrics.KLDivergence()
    obj.update_state(torch.tensor(K_TRUE), torch.tensor(K_PRED, dtype=torch.float32))
    _close(obj.result(), np.sum(K_EXPECTED) / 2)


def test_kl_divergence_weighted():
    result = metrics.KLDivergence()(torch.tensor(K_TRUE), torch.tensor(K_PRED, dtype=torch.float32),
                                    sample_weight=torch.tensor([[1.2], [3.4]]))  # fmt: skip
    weight = np.asarray([1.2, 1.2, 1.2, 3.4, 3.4, 3.4]).reshape((2, 3))
    _close(result, np.sum(K_EXPECTED * weight) / (1.2 + 3.4))


# -- BinaryCrossentropyTest -----------------------------------------------------------------

B_TRUE = torch.tensor(np.asarray([1, 0, 1, 0]).reshape([2, 2]))
B_PRED = torch.tensor(np.asarray([1, 1, 1, 0], dtype=np.float32).reshape([2, 2]))
# Keras 3's formula in float32: probabilities clipped to [1e-7, 1 - 1e-7], no 1e-7 in the logs.
_EPS = np.float32(1e-7)
_SATURATED = -np.log(np.float32(1) - (np.float32(1) - _EPS))  # the wrong, saturated entry
_SAMPLE_1 = (-np.log(np.float32(1) - _EPS) + _SATURATED) / 2  # [1, 0] against [1, 1]


def test_binary_crossentropy_config():
    config = _check_config(metrics.BinaryCrossentropy, "bce", label_smoothing=0.2)
    np.testing.assert_allclose(config["label_smoothing"], 0.2, rtol=1e-3)


def test_binary_crossentropy_unweighted():
    # Deliberate difference: tf-keras 3.833; Keras 3 (and torchfit) 3.9856.
    result = metrics.BinaryCrossentropy()(B_TRUE, B_PRED)
    _close(result, (_SAMPLE_1 + 0.0) / 2)
    _close(result, 3.9856)


def test_binary_crossentropy_unweighted_with_logits():
    y_true = torch.tensor([[1, 0, 1], [0, 1, 1]])
    y_pred = torch.tensor([[100.0, -100.0, 100.0], [100.0, 100.0, -100.0]])
    _close(metrics.BinaryCrossentropy(from_logits=True)(y_true, y_pred), 33.333)


def test_binary_crossentropy_weighted():
    # Deliberate difference: tf-keras 3.285; Keras 3 (and torchfit) 3.4162.
    result = metrics.BinaryCrossentropy()(B_TRUE, B_PRED, sample_weight=torch.tensor([1.5, 2.0]))
    _close(result, 1.5 * _SAMPLE_1 / 3.5)


def test_binary_crossentropy_weighted_from_logits():
    y_true = torch.tensor([[1, 0, 1], [0, 1, 1]])
    y_pred = torch.tensor([[100.0, -100.0, 100.0], [100.0, 100.0, -100.0]])
    result = metrics.BinaryCrossentropy(from_logits=True)(y_true, y_pred,
                                                         sample_weight=torch.tensor([2.0, 2.5]))
    _close(result, 37.037)


def test_binary_crossentropy_label_smoothing():
    logits = torch.tensor((100.0, -100.0, -100.0))
    y_true = torch.tensor((1, 0, 1))
    obj = metrics.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)
    # A 1-D batch is one sample of three outputs in Keras; torchfit reads three samples of one
    # output: the same mean.
    _close(obj(y_true, logits), (100.0 + 50.0 * 0.1) / 3.0)


# -- CategoricalCrossentropyTest ------------------------------------------------------------

C_TRUE = torch.tensor(np.asarray([[0, 1, 0], [0, 0, 1]]))
C_PRED = torch.tensor(np.asarray([[0.05, 0.95, 0], [0.1, 0.8, 0.1]]))
C_LOGITS = torch.tensor(np.asarray([[1, 9, 0], [1, 8, 1]], dtype=np.float32))


def test_categorical_crossentropy_config():
    config = _check_config(metrics.CategoricalCrossentropy, "cce", label_smoothing=0.2)
    np.testing.assert_allclose(config["label_smoothing"], 0.2, rtol=1e-3)


def test_categorical_crossentropy_unweighted():
    _close(metrics.CategoricalCrossentropy()(C_TRUE, C_PRED), 1.176)


def test_categorical_crossentropy_unweighted_from_logits():
    _close(metrics.CategoricalCrossentropy(from_logits=True)(C_TRUE, C_LOGITS), 3.5011)


def test_categorical_crossentropy_weighted():
    metric = metrics.CategoricalCrossentropy()
    result = metric(C_TRUE, C_PRED, sample_weight=torch.tensor([1.5, 2.0]))
    _close(result, 1.338)


def test_categorical_crossentropy_weighted_from_logits():
    result = metrics.CategoricalCrossentropy(from_logits=True)(
        C_TRUE, C_LOGITS, sample_weight=torch.tensor([1.5, 2.0]))
    _close(result, 4.0012)


def test_categorical_crossentropy_label_smoothing():
    obj = metrics.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    _close(obj(C_TRUE, C_LOGITS), 3.667)


# -- SparseCategoricalCrossentropyTest ------------------------------------------------------

S_TRUE = torch.tensor(np.asarray([1, 2]))


def test_sparse_categorical_crossentropy_config():
    obj = metrics.SparseCategoricalCrossentropy(name="scce", dtype=torch.int32)
    assert obj.name == "scce" and obj.dtype == torch.int32
    old_config = obj.get_config()
    assert old_config == json.loads(json.dumps(old_config))
    obj2 = metrics.SparseCategoricalCrossentropy.from_config(old_config)
    assert obj2.name == "scce" and obj2.dtype == torch.int32
    assert obj2.get_config() == old_config


def test_sparse_categorical_crossentropy_unweighted():
    _close(metrics.SparseCategoricalCrossentropy()(S_TRUE, C_PRED), 1.176)


def test_sparse_categorical_crossentropy_unweighted_ignore_class():
    obj = metrics.SparseCategoricalCrossentropy(ignore_class=-1)
    _close(obj(torch.tensor(np.asarray([-1, 2])), C_PRED), 2.3026)


def test_sparse_categorical_crossentropy_unweighted_from_logits():
    _close(metrics.SparseCategoricalCrossentropy(from_logits=True)(S_TRUE, C_LOGITS), 3.5011)


def test_sparse_categorical_crossentropy_weighted():
    result = metrics.SparseCategoricalCrossentropy()(S_TRUE, C_PRED,
                                                     sample_weight=torch.tensor([1.5, 2.0]))
    _close(result, 1.338)


def test_sparse_categorical_crossentropy_weighted_ignore_class():
    obj = metrics.SparseCategoricalCrossentropy(ignore_class=-1)
    y_pred = torch.tensor(np.asarray([[0.05, 0.95, 0], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]]))
    result = obj(torch.tensor(np.asarray([1, 2, -1])), y_pred,
                 sample_weight=torch.tensor([1.5, 2.0, 1.5]))
    _close(result, 1.338)


def test_sparse_categorical_crossentropy_weighted_from_logits():
    result = metrics.SparseCategoricalCrossentropy(from_logits=True)(
        S_TRUE, C_LOGITS, sample_weight=torch.tensor([1.5, 2.0]))
    _close(result, 4.0012)


def test_sparse_categorical_crossentropy_axis():
    obj = metrics.SparseCategoricalCrossentropy(axis=0)
    y_pred = torch.tensor(np.asarray([[0.05, 0.1], [0.95, 0.8], [0, 0.1]]))
    _close(obj(S_TRUE, y_pred), 1.176)
