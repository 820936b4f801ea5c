"""torchfit/data/utils.py: unpacking batches, tensor conversion, validation split, class weights."""

import numpy as np
import pytest
import torch

from torchfit import data
from torchfit.data import utils


def test_unpack_x_y_sample_weight_forms():
    x, y, w = torch.zeros(2), torch.ones(2), torch.full((2,), 3.0)
    assert utils.unpack_x_y_sample_weight((x,)) == (x, None, None)
    assert utils.unpack_x_y_sample_weight((x, y)) == (x, y, None)
    assert utils.unpack_x_y_sample_weight((x, y, w)) == (x, y, w)
    assert utils.unpack_x_y_sample_weight(x)[0] is x
    with pytest.raises(ValueError, match="length 4"):
        utils.unpack_x_y_sample_weight((x, y, w, w))


def test_to_tensor_dtypes_and_memory_sharing():
    array = np.arange(6, dtype=np.float64).reshape(3, 2)
    assert utils.to_tensor(array, "x").dtype == torch.float32
    f32 = np.zeros((3, 2), np.float32)
    assert utils.to_tensor(f32, "x").data_ptr() == f32.ctypes.data  # no copy
    assert utils.to_tensor(np.array([1, 2], np.uint8), "y", is_target=True).dtype == torch.int64
    with pytest.raises(TypeError, match="dtype object"):
        utils.to_tensor(np.array([{"a": 1}, None]), "x")
    with pytest.raises(TypeError, match="dtype <U"):
        utils.to_tensor(np.array(["cat", "dog"]), "y")
    with pytest.raises(ValueError, match="leading sample axis"):
        utils.to_tensor(np.float32(1.0), "x")


def test_train_validation_split_takes_the_last_fraction():
    x = torch.arange(10).reshape(10, 1)
    y = torch.arange(10)
    (xt, yt, wt), (xv, yv, wv) = utils.train_validation_split((x, y, None), 0.2)
    assert yt.tolist() == list(range(8)) and yv.tolist() == [8, 9]
    assert wt is None and wv is None
    with pytest.raises(ValueError, match="empty training or validation set"):
        utils.train_validation_split((x, y, None), 0.95)


def test_class_weight_validation_and_lookup():
    with pytest.raises(ValueError, match="non-negative class indices"):
        utils.check_class_weight({"cat": 1.0})
    with pytest.raises(ValueError, match="must be numbers"):
        utils.check_class_weight({0: "heavy"})
    with pytest.raises(TypeError, match="must be a dict"):
        utils.check_class_weight([1.0, 2.0])
    y = torch.tensor([0, 1, 2, 5])
    weights = utils.class_weight_to_sample_weight({0: 1.0, 1: 0.5, 5: 2.0}, y)
    assert weights.tolist() == [1.0, 0.5, 1.0, 2.0]  # class 2 unlisted -> 1.0
    onehot = torch.eye(3)[[2, 0]]
    assert utils.class_weight_to_sample_weight({2: 3.0}, onehot).tolist() == [3.0, 1.0]
    adapter = data.ArrayAdapter(np.zeros((4, 1), np.float32), y.numpy(),
                                sample_weight=np.full(4, 2.0), class_weight={5: 2.0})
    assert adapter.data[2].tolist() == [2.0, 2.0, 2.0, 4.0]  # multiplied together
