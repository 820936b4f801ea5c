"""Tests for torchfit/trainer/compile_utils.py: CompiledLoss, CompiledMetrics, resolve_accuracy."""

import pytest
import torch

import torchfit.metrics as metrics
from torchfit import losses
from torchfit.trainer.compile_utils import (
    CompiledLoss,
    CompiledMetrics,
    LossTracker,
    output_names_of,
    resolve_accuracy,
)

# -- resolve_accuracy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, y_true, y_pred, loss, cls",
    [
        ("accuracy", (32,), (32, 10), None, metrics.SparseCategoricalAccuracy),
        (
            "acc",
            (32, 1),
            (32, 10),
            "sparse_categorical_crossentropy",
            metrics.SparseCategoricalAccuracy,
        ),
        ("accuracy", (32, 10), (32, 10), "categorical_crossentropy", metrics.CategoricalAccuracy),
        ("accuracy", (32, 1), (32, 1), None, metrics.BinaryAccuracy),
        ("accuracy", (32,), (32,), None, metrics.BinaryAccuracy),
        ("accuracy", (32, 3), (32, 3), "binary_crossentropy", metrics.BinaryAccuracy),
        ("crossentropy", (32,), (32, 10), None, metrics.SparseCategoricalCrossentropy),
        ("ce", (32, 10), (32, 10), None, metrics.CategoricalCrossentropy),
        ("ce", (32, 1), (32, 1), None, metrics.BinaryCrossentropy),
    ],
)
def test_resolve_accuracy_follows_keras_rules(name, y_true, y_pred, loss, cls):
    metric = resolve_accuracy(name, torch.zeros(y_true), torch.zeros(y_pred), loss=loss)
    assert type(metric) is cls and metric.name == name


def test_resolve_accuracy_with_logit_losses():
    binary = resolve_accuracy("accuracy", (8, 1), (8, 1), loss=torch.nn.BCEWithLogitsLoss())
    assert isinstance(binary, metrics.BinaryAccuracy) and binary.threshold == 0.0
    ce = resolve_accuracy("ce", (8,), (8, 4), loss=torch.nn.CrossEntropyLoss())
    assert isinstance(ce, metrics.SparseCategoricalCrossentropy) and ce.from_logits
    with pytest.raises(ValueError, match=r"Received: name='mae'"):
        resolve_accuracy("mae", (8,), (8,))


def test_resolve_accuracy_reads_from_logits_of_a_loss_object():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    metric = resolve_accuracy("crossentropy", (4,), (4, 3), loss=loss)
    assert isinstance(metric, metrics.SparseCategoricalCrossentropy) and metric.from_logits
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0], [1.0, 1.0, 4.0], [0.5, 0.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 2])
    metric.update_state(labels, logits)
    expected = torch.nn.functional.cross_entropy(logits, labels)
    assert metric.result().item() == pytest.approx(expected.item(), rel=1e-6)
    binary = resolve_accuracy("accuracy", (4, 1), (4, 1), loss=losses.BinaryCrossentropy())
    assert binary.threshold == 0.5


# -- LossTracker and CompiledLoss --------------------------------------------------------------


def test_loss_tracker_weights_batches_by_size_and_declares_its_state():
    tracker = LossTracker()
    tracker.update_state(torch.tensor(2.0), 3)
    tracker.update_state(torch.tensor(6.0), 1)
    assert tracker.result().item() == pytest.approx(3.0)  # (2 * 3 + 6) / 4
    assert dict(tracker.state_aggregations) == {"total": "sum", "count": "sum"}
    other = LossTracker()
    other.update_state(torch.tensor(1.0), 4)
    tracker.merge_state([other])
    assert tracker.result().item() == pytest.approx(16.0 / 8.0)
    tracker.reset_state()
    assert tracker.result().item() == 0.0


def test_compiled_loss_single_output_with_weight():
    compiled = CompiledLoss("mse", loss_weights=0.5)
    y_true, y_pred = torch.zeros(4, 2), torch.ones(4, 2)
    assert compiled(y_true, y_pred).item() == pytest.approx(0.5)
    assert compiled.output_names == [None] and [m.name for m in compiled.metrics] == ["loss"]
    assert isinstance(compiled.loss_functions()[None], losses.MeanSquaredError)
    # add_loss terms join the total.
    total = compiled(y_true, y_pred, regularization_losses=[torch.tensor(2.0)])
    assert total.item() == pytest.approx(2.5)


def test_compiled_loss_multi_output_names_weights_and_trackers():
    compiled = CompiledLoss({"a": "mse", "b": "mae"}, loss_weights={"a": 2.0, "b": 1.0})
    y_pred = {"a": torch.ones(4, 1), "b": torch.full((4, 1), 3.0)}
    y_true = {"a": torch.zeros(4, 1), "b": torch.zeros(4, 1)}
    total = compiled(y_true, y_pred)
    assert total.item() == pytest.approx(2.0 * 1.0 + 3.0)
    logged = {m.name: m.result().item() for m in compiled.metrics}
    assert logged == pytest.approx({"loss": 5.0, "a_loss": 1.0, "b_loss": 3.0})
    assert output_names_of((torch.zeros(1), torch.zeros(1))) == ["output_1", "output_2"]
    with pytest.raises(ValueError, match=r"Unknown output name\(s\) \['c'\] in `loss_weights`"):
        CompiledLoss("mse", loss_weights={"c": 1.0})(y_true, y_pred)


# -- CompiledMetrics ---------------------------------------------------------------------------


def test_compiled_metrics_resolve_accuracy_and_name_per_output():
    compiled = CompiledMetrics(metrics={"cls": ["accuracy"], "reg": ["mae"]})
    y_pred = {"cls": torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]),
              "reg": torch.tensor([[1.0], [2.0], [3.0]])}
    y_true = {"cls": torch.tensor([0, 0, 0]), "reg": torch.tensor([[1.0], [1.0], [1.0]])}
    loss_functions = {"cls": losses.get("sparse_categorical_crossentropy"),
                      "reg": losses.get("mse")}
    compiled.build(y_true, y_pred, loss_functions)
    by_name = {m.name: m for m in compiled.metrics}
    assert isinstance(by_name["cls_accuracy"], metrics.SparseCategoricalAccuracy)
    compiled.update_state(y_true, y_pred)
    assert by_name["cls_accuracy"].result().item() == pytest.approx(2 / 3)
    assert by_name["reg_mae"].result().item() == pytest.approx(1.0)


def test_compiled_weighted_metrics_use_sample_weights_and_get_unique_names():
    compiled = CompiledMetrics(metrics=["mae"], weighted_metrics=["mae"])
    y_true, y_pred = torch.zeros(4), torch.tensor([1.0, 2.0, 3.0, 6.0])
    compiled.build(y_true, y_pred, {None: losses.get("mse")})
    compiled.update_state(y_true, y_pred, sample_weight=torch.tensor([1.0, 0.0, 0.0, 1.0]))
    results = {m.name: m.result().item() for m in compiled.metrics}
    assert results == pytest.approx({"mae": 3.0, "weighted_mae": (1.0 + 6.0) / 2})
