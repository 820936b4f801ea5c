"""Tests for torchfit/losses/classes.py: fused fast paths, logits, label formats, config."""

import warnings

import pytest
import torch
import torch.nn.functional as F

from torchfit import losses
from loss_references import (
    C,
    N,
    assert_close,
    binary_logits,
    binary_probs,
    one_hot_logits,
    one_hot_probs,
    ref_bce,
    ref_bce_logits,
    ref_cce,
    ref_cce_logits,
    ref_scce_logits,
    rng,
    sparse_logits,
)


def test_gradients_flow(case):
    cls, kwargs, _, _, y, p, _ = case
    p = p.clone().requires_grad_()
    cls(**kwargs)(y, p).backward()
    assert p.grad is not None and torch.isfinite(p.grad).all()


def test_logits_and_probabilities_agree():
    y, x = binary_logits()
    y, x = torch.tensor(y), torch.tensor(x)
    assert_close(losses.BinaryCrossentropy()(y, torch.sigmoid(x)),
                 losses.BinaryCrossentropy(from_logits=True)(y, x).item(), rtol=1e-5)
    labels, x = sparse_logits()
    labels, x = torch.tensor(labels), torch.tensor(x)
    assert_close(losses.SparseCategoricalCrossentropy()(labels, x.softmax(-1)),
                 F.cross_entropy(x, labels).item(), rtol=1e-5)
    assert_close(losses.SparseCategoricalCrossentropy(from_logits=True)(labels, x),
                 F.cross_entropy(x, labels).item())
    one_hot = F.one_hot(labels, C).double()
    assert_close(losses.CategoricalCrossentropy()(one_hot, x.softmax(-1)),
                 F.cross_entropy(x, labels).item(), rtol=1e-5)
    assert_close(losses.CategoricalCrossentropy(from_logits=True)(one_hot, x),
                 F.cross_entropy(x, labels).item())


def test_categorical_crossentropy_normalises_probabilities():
    y, p = one_hot_probs()
    scaled = torch.tensor(p * 3.0)
    assert_close(losses.CategoricalCrossentropy()(torch.tensor(y), scaled), ref_cce(y, p).mean())


@pytest.mark.parametrize("smoothing", [0.1, 0.4])
def test_label_smoothing(smoothing):
    y, p = binary_probs()
    bce = losses.BinaryCrossentropy(label_smoothing=smoothing)
    assert_close(bce(torch.tensor(y), torch.tensor(p)), ref_bce(y, p, smoothing).mean())
    y, x = binary_logits()
    bce = losses.BinaryCrossentropy(from_logits=True, label_smoothing=smoothing)
    assert_close(bce(torch.tensor(y), torch.tensor(x)), ref_bce_logits(y, x, smoothing).mean())
    assert_close(bce.call(torch.tensor(y), torch.tensor(x)), ref_bce_logits(y, x, smoothing))
    y, p = one_hot_probs()
    cce = losses.CategoricalCrossentropy(label_smoothing=smoothing)
    assert_close(cce(torch.tensor(y), torch.tensor(p)), ref_cce(y, p, smoothing).mean())
    y, x = one_hot_logits()
    cce = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)
    assert_close(cce(torch.tensor(y), torch.tensor(x)), ref_cce_logits(y, x, smoothing).mean())
    assert_close(cce.call(torch.tensor(y), torch.tensor(x)), ref_cce_logits(y, x, smoothing))


@pytest.mark.parametrize("dtype",
                         [torch.int8, torch.uint8, torch.int32, torch.int64, torch.float32])
@pytest.mark.parametrize("column", [False, True])
def test_sparse_labels_any_integer_dtype_and_column_shape(dtype, column):
    labels, x = sparse_logits()
    expected = ref_scce_logits(labels, x)
    target = torch.tensor(labels).to(dtype)
    if column:
        target = target[:, None]
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert_close(loss(target, torch.tensor(x)), expected.mean())
    assert_close(loss(target, torch.tensor(x), sample_weight=torch.full((N, 1), 2.0)),
                 2 * expected.mean())


def test_sparse_crossentropy_over_a_sequence():
    r = rng()
    labels, x = r.integers(0, C, (4, 6)), r.normal(size=(4, 6, C))
    expected = ref_scce_logits(labels.reshape(-1), x.reshape(-1, C)).reshape(4, 6)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert_close(loss.call(torch.tensor(labels), torch.tensor(x)), expected)
    assert_close(loss(torch.tensor(labels), torch.tensor(x)), expected.mean())
    # A (batch,) weight weights every timestep of its sample.
    w = r.uniform(0, 2, 4)
    assert_close(loss(torch.tensor(labels), torch.tensor(x), sample_weight=w),
                 (w[:, None] * expected).mean())


def test_categorical_crossentropy_class_axis():
    y, x = one_hot_logits()
    expected = ref_cce_logits(y, x)
    loss = losses.CategoricalCrossentropy(from_logits=True, axis=0)
    assert_close(loss.call(torch.tensor(y.T), torch.tensor(x.T)), expected)
    assert_close(loss(torch.tensor(y.T), torch.tensor(x.T)), expected.mean())


def test_bce_probabilities_under_autocast_use_the_explicit_formula():
    y, p = binary_probs()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        result = losses.BinaryCrossentropy()(torch.tensor(y), torch.tensor(p))
    assert_close(result, ref_bce(y, p).mean())


def test_get_config_round_trips():
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, reduction="sum",
                                          name="cce")
    config = loss.get_config()
    assert config == {"from_logits": True, "label_smoothing": 0.1, "axis": -1, "name": "cce",
                      "reduction": "sum"}
    clone = losses.CategoricalCrossentropy.from_config(config)
    assert clone.get_config() == config
    assert losses.Huber(delta=2.0).get_config()["delta"] == 2.0
    assert "CategoricalCrossentropy(from_logits=True" in repr(loss)


@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_crossentropy_warns_on_a_single_class_output(from_logits):
    # Keras 3's categorical_crossentropy warns when y_pred.shape[-1] == 1.
    loss = losses.CategoricalCrossentropy(from_logits=from_logits)
    y_true, y_pred = torch.ones(4, 1), torch.full((4, 1), 0.7)
    with pytest.warns(SyntaxWarning, match=r"In loss categorical_crossentropy, expected y_pred\."
                                           r"shape to be \(batch_size, num_classes\) with "
                                           r"num_classes > 1\. Received: y_pred\.shape=\(4, 1\)\."
                                           r".*binary_crossentropy"):
        value = loss(y_true, y_pred)
    assert abs(float(value)) < 1e-6  # one class: the loss says nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss(torch.eye(3)[[0, 1, 2, 0]], torch.full((4, 3), 1 / 3))


def test_sparse_ignore_class_keras_3_numbers():
    # Keras 3's SparseCategoricalCrossentropyTest.test_ignore_class.
    logits = torch.tensor([[[0.854, 0.698, 0.598], [0.088, 0.86, 0.018]]])
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1, reduction=None)
    for y_true in (torch.tensor([[-1, 2]]), torch.tensor([[[-1], [2]]])):
        assert_close(loss(y_true, logits), [[0.0, 1.480129]], rtol=1e-6)


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_ignore_class_is_left_out_of_the_mean(from_logits):
    labels, x = sparse_logits()
    x = torch.tensor(x) if from_logits else torch.softmax(torch.tensor(x), -1)
    labels = torch.tensor(labels)
    labels[::3] = 255
    kept = labels != 255
    full = losses.SparseCategoricalCrossentropy(from_logits=from_logits, reduction="none")
    expected = full(labels[kept], x[kept])
    loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=255)
    assert_close(loss(labels, x), expected.mean().item())
    weights = torch.linspace(0.5, 2.0, N, dtype=x.dtype)
    # Keras 3: masked entries weigh 0 and are not counted: sum(w * loss) / number kept.
    assert_close(loss(labels, x, sample_weight=weights),
                 (weights[kept] * expected).sum().item() / kept.sum().item())
    loss.reduction = "sum"
    assert_close(loss(labels, x, sample_weight=weights), (weights[kept] * expected).sum().item())
    loss.reduction = "mean_with_sample_weight"
    assert_close(loss(labels, x, sample_weight=weights),
                 (weights[kept] * expected).sum().item() / weights[kept].sum().item())
    per_sample = losses.sparse_categorical_crossentropy(labels, x, from_logits, ignore_class=255)
    assert_close(per_sample[kept], expected.numpy())
    assert (per_sample[~kept] == 0).all()


def test_sparse_ignore_class_everything_ignored_gives_0():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    assert loss(torch.tensor([-1, -1]), torch.randn(2, 3)).item() == 0.0


def test_sparse_config_has_ignore_class():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=3, axis=0,
                                                name="scce")
    config = loss.get_config()
    assert (config["from_logits"], config["ignore_class"], config["axis"]) == (True, 3, 0)
    assert losses.SparseCategoricalCrossentropy.from_config(config).get_config() == config
