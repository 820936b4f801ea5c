"""tf-keras's tf_keras/metrics/hinge_metrics_test.py, ported (tf-keras's expected numbers).

Every case is portable (the graph/eager combinations run once, eagerly).
"""

import numpy as np
import pytest
import torch

from torchfit import metrics

Y_TRUE_01 = torch.tensor([[0, 1, 0, 1], [0, 0, 1, 1]])
Y_TRUE_PM = torch.tensor([[-1, 1, -1, 1], [-1, -1, 1, 1]])
Y_PRED = torch.tensor([[-0.3, 0.2, -0.1, 1.6], [-0.25, -1.0, 0.5, 0.6]])
CAT_TRUE = torch.tensor(((0, 1, 0, 1, 0), (0, 0, 1, 1, 1), (1, 1, 1, 1, 0), (0, 0, 0, 0, 1)))
CAT_PRED = torch.tensor(((0, 0, 1, 1, 0), (1, 1, 1, 1, 1), (0, 1, 0, 1, 0), (1, 1, 1, 1, 1)))


@pytest.mark.parametrize(("cls", "name"), [(metrics.Hinge, "hinge"),
                                           (metrics.SquaredHinge, "sq_hinge"),
                                           (metrics.CategoricalHinge, "cat_hinge")])  # fmt: skip
def test_config(cls, name):
    obj = cls(name=name, dtype=torch.int32)
    assert obj.name == name and obj.dtype == torch.int32
    obj2 = cls.from_config(obj.get_config())
    assert obj2.name == name and obj2.dtype == torch.int32


def test_hinge_unweighted():
    obj = metrics.Hinge()
    obj.update_state(Y_TRUE_01, Y_PRED)
    np.testing.assert_allclose(obj.result(), 0.506, atol=1e-3)


def test_hinge_weighted():
    result = metrics.Hinge()(Y_TRUE_PM, Y_PRED, sample_weight=torch.tensor([1.5, 2.0]))
    np.testing.assert_allclose(result, 0.493, atol=1e-3)


def test_squared_hinge_unweighted():
    obj = metrics.SquaredHinge()
    obj.update_state(Y_TRUE_01, Y_PRED)
    np.testing.assert_allclose(obj.result(), 0.364, atol=1e-3)


def test_squared_hinge_weighted():
    result = metrics.SquaredHinge()(Y_TRUE_PM, Y_PRED, sample_weight=torch.tensor([1.5, 2.0]))
    np.testing.assert_allclose(result, 0.347, atol=1e-3)


def test_categorical_hinge_unweighted():
    obj = metrics.CategoricalHinge()
    obj.update_state(CAT_TRUE, CAT_PRED)
    np.testing.assert_allclose(obj.result(), 0.5, atol=1e-5)


def test_categorical_hinge_weighted():
    result = metrics.CategoricalHinge()(CAT_TRUE, CAT_PRED,
                                        sample_weight=torch.tensor((1.0, 1.5, 2.0, 2.5)))
    np.testing.assert_allclose(result, 0.5, atol=1e-5)
