"""The first-batch loss checks (issue 13 item 8; the whole table is tests/test_bad_input.py)."""

import pytest
import torch

import torchfit
from torchfit.trainer.loss_checks import (
    check_class_weight_keys,
    check_labels,
    check_loss_weights,
    sparse_labels_spec,
)


def test_loss_weights_take_numbers_lists_and_dicts():
    for good in (None, 2, 0.5, [1.0, 0.2], {"a": 1, "b": None}, torch.tensor(2.0)):
        check_loss_weights(good)
    for bad in ("heavy", [1, "x"], {"a": [1]}, True):
        with pytest.raises(TypeError, match="loss_weights"):
            check_loss_weights(bad)


def test_sparse_specs_follow_the_loss():
    sparse = torchfit.losses.SparseCategoricalCrossentropy(ignore_class=-1, axis=1)
    labels = torch.tensor([0, 2])
    assert sparse_labels_spec(sparse, labels) == (1, -1)
    torch_ce = torchfit.losses.to_loss(torch.nn.CrossEntropyLoss(ignore_index=7))
    assert sparse_labels_spec(torch_ce, labels) == (1, 7)
    assert sparse_labels_spec(torch_ce, torch.rand(2, 3)) is None  # probabilities
    assert sparse_labels_spec(torchfit.losses.to_loss("mse"), labels) is None


def test_ignored_labels_are_not_out_of_range():
    loss = torchfit.losses.SparseCategoricalCrossentropy(ignore_class=255)
    check_labels(loss, torch.tensor([0, 255, 2]), torch.zeros(3, 3), "y")
    with pytest.raises(ValueError, match="label of 3 in `y`.*3 outputs"):
        check_labels(loss, torch.tensor([0, 3, 2]), torch.zeros(3, 3), "y")
    with pytest.raises(ValueError, match="fractional label of 1.5"):
        check_labels(loss, torch.tensor([0.0, 1.5]), torch.zeros(2, 3), "y")


def test_class_weight_keys_are_classes_of_the_output():
    check_class_weight_keys({0: 1.0, 1: 3.0}, torch.zeros(4, 1))  # one sigmoid: classes 0, 1
    with pytest.raises(ValueError, match=r"class_weight` has keys \[2\]"):
        check_class_weight_keys({0: 1.0, 2: 3.0}, torch.zeros(4, 1))
