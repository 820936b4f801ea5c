"""Tests for torchfit/trainer/compile_utils.py: CompiledLoss, CompiledMetrics, resolve_accuracy."""

import numpy as np
import pytest
import torch

import torchfit
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


def test_loss_tracker_update_is_one_device_op_and_counts_on_the_host():
    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.names = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.append(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    tracker, loss = LossTracker(), torch.tensor(0.5)
    with Ops() as ops:
        for batch_size in (64, 64, 17):
            tracker.update_state(loss, batch_size)
    assert ops.names == ["add_"] * 3  # the total, weighted by alpha; no count tensor
    assert tracker.count.item() == 145 and tracker.total.item() == pytest.approx(72.5)


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


# -- compute_loss overridden, no compiled loss (the VAE idiom) ----------------------------------


class _TinyVAE(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(6, 4)
        self.decoder = torch.nn.Linear(2, 6)

    def forward(self, x):
        h = self.encoder(x)
        mu, logvar = h[:, :2], h[:, 2:]
        return torch.sigmoid(self.decoder(mu + 0.5 * logvar.exp())), mu, logvar


def _vae_loss(x, recon, mu, logvar):
    bce = torch.nn.functional.binary_cross_entropy(recon, x, reduction="sum") / x.shape[0]
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / x.shape[0]
    return bce + kld


def test_an_overridden_compute_loss_trains_without_a_compiled_loss_and_is_logged():
    class VAE(torchfit.Model):
        def compute_loss(self, x, y, y_pred, sample_weight):
            return _vae_loss(x, *y_pred)

    x = np.random.default_rng(0).uniform(size=(20, 6)).astype("float32")
    torch.manual_seed(0)
    model = VAE(_TinyVAE(), device="cpu")
    model.compile(optimizer=torch.optim.Adam(model.parameters(), lr=1e-2))
    history = model.fit(x, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    evaluated = model.evaluate(x, batch_size=8, verbose=0)

    torch.manual_seed(0)
    net = _TinyVAE()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    data = torch.from_numpy(x)
    expected = []
    for _ in range(3):
        total = 0.0
        for start in range(0, len(data), 8):
            batch = data[start:start + 8]
            loss = _vae_loss(batch, *net(batch))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)  # the batch-size-weighted epoch mean
        expected.append(total / len(data))
    with torch.no_grad():
        expected_eval = sum(_vae_loss(data[s:s + 8], *net(data[s:s + 8])).item()
                            * len(data[s:s + 8]) for s in range(0, len(data), 8)) / len(data)
    np.testing.assert_allclose(history["loss"], expected, rtol=1e-6)
    np.testing.assert_allclose(evaluated, expected_eval, rtol=1e-6)
    for ours, theirs in zip(model.module.parameters(), net.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-7)


def test_the_logged_loss_is_what_an_overriding_compute_loss_returns():
    class Penalised(torchfit.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            return super().compute_loss(x, y, y_pred, sample_weight) + 10.0

    torch.manual_seed(0)
    model = Penalised(torch.nn.Linear(3, 1), device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    with torch.no_grad():
        mse = model.module(torch.from_numpy(x)).pow(2).mean().item()
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), mse + 10.0, rtol=1e-6)


def test_compiled_loss_without_config_has_no_loss_functions_before_it_is_called():
    assert CompiledLoss(None).loss_functions() == {}


def test_compiled_metrics_without_metrics_ignore_unmatched_targets():
    # A VAE's DataLoader yields labels for a model with three outputs and no compiled loss.
    compiled = CompiledMetrics()
    compiled.build(torch.zeros(4), (torch.zeros(4, 6), torch.zeros(4, 2), torch.zeros(4, 2)), {})
    assert compiled.metrics == []
    compiled.update_state(torch.zeros(4), (torch.zeros(4, 6),) * 3)



def test_one_metric_instance_for_two_outputs_gets_one_copy_each_named_per_output():
    instance = metrics.CategoricalAccuracy()
    compiled = CompiledMetrics(metrics=[instance], weighted_metrics=["categorical_accuracy"])
    y_pred = (torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([[0.3, 0.7], [0.6, 0.4]]))
    y_true = (torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([[0.0, 1.0], [0.0, 1.0]]))
    compiled.build(y_true, y_pred, {})
    assert [m.name for m in compiled.metrics] == [
        "output_1_categorical_accuracy", "output_1_weighted_categorical_accuracy",
        "output_2_categorical_accuracy", "output_2_weighted_categorical_accuracy"]
    assert compiled.metrics[0] is instance and compiled.metrics[2] is not instance
    compiled.update_state(y_true, y_pred, sample_weight=torch.tensor([1.0, 3.0]))
    expected = [np.mean([1, 0]), 1 / 4, np.mean([1, 0]), 1 / 4]
    np.testing.assert_allclose([m.result().item() for m in compiled.metrics], expected)
    # Building again (a second compile with the same instance) does not prefix twice.
    again = CompiledMetrics(metrics=[instance])
    again.build(y_true, y_pred, {})
    assert [m.name for m in again.metrics] == ["output_1_categorical_accuracy",
                                              "output_2_categorical_accuracy"]


def test_a_metrics_list_holding_a_list_is_one_entry_per_output():
    """tf.keras's broadcast rule (MetricsContainer._should_broadcast): `[m, [m2, m3]]` gives m
    to the first output and m2, m3 to the second; a flat list goes to every output."""
    y_pred = (torch.zeros(2, 1), torch.zeros(2, 1))
    compiled = CompiledMetrics(metrics=["mse", ["mae", "accuracy"]])
    compiled.build(y_pred, y_pred, {})
    assert [m.name for m in compiled.metrics] == ["output_1_mse", "output_2_mae",
                                                  "output_2_accuracy"]
    flat = CompiledMetrics(metrics=["mse", "mae"])
    flat.build(y_pred, y_pred, {})
    assert [m.name for m in flat.metrics] == ["output_1_mse", "output_1_mae", "output_2_mse",
                                              "output_2_mae"]
