"""Tests for torchfit/losses/sequence.py: CTC with Keras 3's layout and test number."""

import math

import numpy as np
import pytest
import torch

from torchfit import losses


def test_keras_3_number():
    # Keras 3's CTCTest.test_correctness.
    logits = (torch.arange(24, dtype=torch.float32).reshape(2, 4, 3) - 12) / 100
    y_true = torch.tensor([[1, 2, 1, 0], [1, 2, 0, 2]])
    np.testing.assert_allclose(losses.CTC()(y_true, logits).item(), 2.448645, rtol=1e-5)


def test_hand_computed_paths():
    # Two uniform steps over {blank, 1}: the label "1" is read by paths 11, 01 and 10 of 4.
    loss = losses.ctc(torch.tensor([[1, 0]]), torch.zeros(1, 2, 2))
    np.testing.assert_allclose(loss.numpy(), [-math.log(3 / 4)], rtol=1e-6)


def test_label_length_counts_the_non_zero_labels_as_keras():
    logits = torch.randn(3, 6, 5, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([[1, 2, 0, 0], [3, 3, 4, 0], [2, 0, 0, 0]])
    expected = torch.nn.functional.ctc_loss(
        torch.log_softmax(logits, -1).transpose(0, 1), labels, torch.full((3,), 6),
        torch.tensor([2, 3, 1]), blank=0, reduction="none")
    torch.testing.assert_close(losses.ctc(labels, logits), expected)
    torch.testing.assert_close(losses.CTC(reduction="sum")(labels, logits), expected.sum())


def test_layout_errors():
    with pytest.raises(ValueError, match=r"`y_true` are expected to be a tensor of shape "
                                         r"`\(batch_size, max_length\)`.*y_true\.shape=\(2,\)"):
        losses.ctc(torch.tensor([1, 2]), torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"`y_pred` are expected .*y_pred\.shape=\(2, 3\)"):
        losses.ctc(torch.tensor([[1], [2]]), torch.zeros(2, 3))


def test_config_round_trip():
    loss = losses.CTC(name="myctc", reduction="sum")
    assert losses.CTC.from_config(loss.get_config()).get_config() == loss.get_config()
