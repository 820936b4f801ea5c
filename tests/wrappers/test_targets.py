"""targets: which label form each loss gets, and outputs turned into probabilities."""

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from torchfit.losses import to_loss
from torchfit.wrappers.targets import compiled_loss_of, encode, probabilities, target_kind


@pytest.mark.parametrize("loss, kind", [
    ("sparse_categorical_crossentropy", "sparse"),
    (torchfit.losses.SparseCategoricalCrossentropy(from_logits=True), "sparse"),
    (torchfit.losses.sparse_categorical_crossentropy, "sparse"),
    (nn.CrossEntropyLoss(), "sparse"),
    (nn.NLLLoss(), "sparse"),
    ("categorical_crossentropy", "one_hot"),
    ("mse", "one_hot"),
])
def test_target_kind_follows_the_loss(loss, kind):
    assert target_kind(to_loss(loss), n_outputs=3, n_classes=3) == kind


def test_one_unit_for_two_classes_is_binary_and_a_width_mismatch_is_refused():
    assert target_kind(to_loss(nn.BCEWithLogitsLoss()), 1, 2) == "binary"
    assert target_kind(to_loss("sparse_categorical_crossentropy"), 1, 2) == "binary"
    with pytest.raises(ValueError, match="4 output units, but the labels have 3 classes"):
        target_kind(to_loss("categorical_crossentropy"), 4, 3)


def test_encode():
    codes = np.array([2, 0, 1])
    assert encode("sparse", codes, 3).dtype == np.int64
    np.testing.assert_array_equal(encode("one_hot", codes, 3), np.eye(3)[codes])
    np.testing.assert_array_equal(encode("binary", np.array([1, 0]), 2), [[1.0], [0.0]])


def test_probabilities_by_output_form():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(5, 3)).astype(np.float32)
    t = torch.from_numpy(scores).double()
    np.testing.assert_allclose(probabilities(to_loss(nn.CrossEntropyLoss()), scores),
                               torch.softmax(t, 1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        probabilities(to_loss(torchfit.losses.CategoricalCrossentropy(from_logits=True)),
                      scores), torch.softmax(t, 1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(probabilities(to_loss(nn.NLLLoss()), scores), t.exp().numpy(),
                               rtol=1e-12)
    softmaxed = torch.softmax(t, 1).numpy()
    np.testing.assert_array_equal(probabilities(to_loss("categorical_crossentropy"), softmaxed),
                                  softmaxed)
    one = scores[:, :1]
    positive = torch.sigmoid(t[:, :1]).numpy()
    np.testing.assert_allclose(probabilities(to_loss(nn.BCEWithLogitsLoss()), one),
                               np.hstack([1 - positive, positive]), rtol=1e-12)


def test_compiled_loss_of():
    model = torchfit.Sequential(nn.Linear(2, 2), device="cpu")
    model.compile(optimizer="sgd", loss=["mse"])
    assert type(compiled_loss_of(model)).__name__ == "MeanSquaredError"
    model.compile(optimizer="sgd", loss={"a": "mse", "b": "mae"})
    with pytest.raises(ValueError, match="one output and one loss"):
        compiled_loss_of(model)
