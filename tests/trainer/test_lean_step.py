"""Tests for torchfit/trainer/lean_step.py: the fewer-layer evaluate and predict steps give the
full steps' values bit for bit, and every model that changes the step keeps the full one."""

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from torchfit.trainer import lean_step

RNG = np.random.default_rng(0)
X = RNG.normal(size=(70, 6)).astype("float32")
LABELS = RNG.integers(0, 4, size=70)
TARGETS = RNG.normal(size=(70, 4)).astype("float32")


CONFIGS = {  # name -> (compile's arguments, fresh for each model; the targets)
    "sparse_ce_logits_accuracy": (lambda: dict(
        loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy", "sparse_top_k_categorical_accuracy"]), LABELS),
    "sparse_ce_by_name": (lambda: dict(loss="sparse_categorical_crossentropy",
                                       metrics=["acc"]), LABELS),
    "mse_weighted_loss_metrics": (lambda: dict(
        loss="mse", loss_weights=0.25,
        metrics=["mae", torchfit.metrics.RootMeanSquaredError()]), TARGETS),
    "sum_reduction": (lambda: dict(loss=torchfit.losses.MeanSquaredError(reduction="sum"),
                                   metrics=["mse"]), TARGETS),
    "torch_loss_module": (lambda: dict(loss=nn.CrossEntropyLoss(label_smoothing=0.1),
                                       metrics=["accuracy"]), LABELS),
    "keras_order_function": (lambda: dict(
        loss=lambda y_true, y_pred: ((y_true - y_pred) ** 4).mean(),
        metrics=[torchfit.metrics.CosineSimilarity()]), TARGETS),
    "no_metrics": (lambda: dict(loss="mae"), TARGETS),
}


def _classifier(config):
    torch.manual_seed(0)
    model = torchfit.Model(nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 4)))
    model.compile(optimizer="sgd", **CONFIGS[config][0]())
    return model


def _full_step_only(monkeypatch):
    monkeypatch.setattr(lean_step, "lean_test_step", lambda model: None)
    monkeypatch.setattr(lean_step, "lean_predict_step", lambda model: None)


def _count_calls(monkeypatch, cls, name):
    calls = []
    original = getattr(cls, name)

    def counted(self, data):
        calls.append(1)
        return original(self, data)

    monkeypatch.setattr(cls, name, counted)
    return calls


@pytest.mark.parametrize("config", list(CONFIGS))
def test_evaluate_and_predict_give_the_full_steps_values_bit_for_bit(config, monkeypatch):
    y = CONFIGS[config][1]
    lean_model = _classifier(config)
    lean_model.fit(X, y, batch_size=16, epochs=1, verbose=0)
    lean_logs = lean_model.evaluate(X, y, batch_size=16, verbose=0, return_dict=True)
    lean_outputs = lean_model.predict(X, batch_size=16, verbose=0)
    with monkeypatch.context() as patch:
        _full_step_only(patch)
        full_model = _classifier(config)
        full_model.fit(X, y, batch_size=16, epochs=1, verbose=0)
        full_logs = full_model.evaluate(X, y, batch_size=16, verbose=0, return_dict=True)
        full_outputs = full_model.predict(X, batch_size=16, verbose=0)
    assert lean_logs == full_logs
    np.testing.assert_array_equal(lean_outputs, full_outputs)
    calls = _count_calls(monkeypatch, torchfit.Model, "test_step")
    assert lean_model.evaluate(X, y, batch_size=16, verbose=0, return_dict=True) == lean_logs
    assert len(calls) == 1  # the first of the 5 batches; the other 4 took the lean step


def test_validation_inside_fit_takes_the_lean_step_with_the_same_history(monkeypatch):
    def history():
        model, y = _classifier("sparse_ce_logits_accuracy"), LABELS
        return model.fit(X, y, batch_size=16, epochs=2, verbose=0,
                         validation_data=(X[:40], y[:40])).history

    lean = history()
    with monkeypatch.context() as patch:
        _full_step_only(patch)
        full = history()
    assert lean == full and len(lean["val_loss"]) == 2


class ComputeLoss(torchfit.Model):
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        return super().compute_loss(x, y, y_pred, sample_weight) * 3


class ComputeMetrics(torchfit.Model):
    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        logs = super().compute_metrics(x, y, y_pred, sample_weight)
        self.seen = getattr(self, "seen", 0) + 1
        return logs


class OwnTestStep(torchfit.Model):
    def test_step(self, data):
        self.seen = getattr(self, "seen", 0) + 1
        return super().test_step(data)


def _model_that(change):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 4))
    cls = {"compute_loss": ComputeLoss, "compute_metrics": ComputeMetrics,
           "test_step": OwnTestStep}.get(change, torchfit.Model)
    model = cls(net)
    kwargs = dict(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if change == "bf16":
        kwargs["precision"] = "bf16-mixed"
    model.compile(**kwargs)
    if change == "forward_hook":
        model.register_forward_hook(lambda module, args, output: output * 2)
    if change == "forward_pre_hook":
        model.register_forward_pre_hook(lambda module, args: (args[0] + 1,))
    return model


@pytest.mark.parametrize("change", ["compute_loss", "compute_metrics", "test_step", "bf16",
                                    "forward_hook", "forward_pre_hook"])
def test_a_model_that_changes_the_step_takes_the_full_step_on_every_batch(change, monkeypatch):
    model = _model_that(change)
    model.evaluate(X, LABELS, batch_size=16, verbose=0)  # builds everything
    assert lean_step.lean_test_step(model) is None
    with monkeypatch.context() as patch:
        _full_step_only(patch)
        full = model.evaluate(X, LABELS, batch_size=16, verbose=0, return_dict=True)
    assert model.evaluate(X, LABELS, batch_size=16, verbose=0, return_dict=True) == full


def test_a_layer_that_adds_a_loss_keeps_the_full_step():
    class Penalised(torchfit.Layer):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(6, 4)

        def forward(self, x):
            out = self.dense(x)
            self.add_loss(out.pow(2).mean())
            return out

    model = torchfit.Model(Penalised())
    model.compile(optimizer="sgd",
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True))
    logs = model.evaluate(X, LABELS, batch_size=16, verbose=0, return_dict=True)
    assert lean_step.lean_test_step(model) is None
    with torch.no_grad():
        expected = []
        for i in range(0, len(X), 16):
            out = model.module.dense(torch.from_numpy(X[i:i + 16]))
            expected.append(float(nn.functional.cross_entropy(
                out, torch.from_numpy(LABELS[i:i + 16])) + out.pow(2).mean()) * len(out))
    assert logs["loss"] == pytest.approx(sum(expected) / len(X), rel=1e-5)


def test_multi_output_models_keep_the_full_step():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(6, 4), nn.Linear(6, 1)

        def forward(self, x):
            return self.a(x), self.b(x)

    model = torchfit.Model(TwoHeads())
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"])
    model.evaluate(X, (LABELS, TARGETS[:, :1]), batch_size=16, verbose=0)
    assert lean_step.lean_test_step(model) is None
    assert lean_step.lean_predict_step(model) is not None  # predicting changes nothing there


@pytest.mark.filterwarnings("ignore:`evaluate\\(\\)` received a value for `sample_weight`")
def test_batches_of_another_form_take_the_full_step_and_count_right(monkeypatch):
    model = _classifier("sparse_ce_logits_accuracy")
    weights = np.linspace(0.1, 2.0, len(X)).astype("float32")
    weighted = model.evaluate(X, LABELS, sample_weight=weights, batch_size=16, verbose=0,
                              return_dict=True)
    with monkeypatch.context() as patch:
        _full_step_only(patch)
        expected = model.evaluate(X, LABELS, sample_weight=weights, batch_size=16, verbose=0,
                                  return_dict=True)
    assert weighted == expected
    with torch.no_grad():
        model.eval()
        losses = nn.functional.cross_entropy(model.module(torch.from_numpy(X)),
                                             torch.from_numpy(LABELS), reduction="none")
    batch_means = [float((losses[i:i + 16] * torch.from_numpy(weights[i:i + 16])).mean())
                   for i in range(0, len(X), 16)]
    sizes = [len(X[i:i + 16]) for i in range(0, len(X), 16)]
    assert weighted["loss"] == pytest.approx(np.dot(batch_means, sizes) / len(X), rel=1e-5)


def test_callbacks_with_batch_hooks_see_every_batch_through_the_full_step(monkeypatch):
    class Seen(torchfit.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches = 0

        def on_test_batch_end(self, batch, logs=None):
            self.batches += 1

    model = _classifier("sparse_ce_logits_accuracy")
    calls = _count_calls(monkeypatch, torchfit.Model, "test_step")
    seen = Seen()
    model.evaluate(X, LABELS, batch_size=16, verbose=0, callbacks=[seen])
    assert seen.batches == len(calls) == 5


def test_predict_with_dict_inputs_or_an_overridden_predict_step_keeps_the_full_step():
    class Named(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(6, 2)

        def forward(self, features):
            return self.dense(features)

    model = torchfit.Model(Named())
    model.compile(optimizer="sgd", loss="mse")
    by_name = model.predict({"features": X}, batch_size=16, verbose=0)
    with torch.no_grad():
        expected = model.module(torch.from_numpy(X)).numpy()
    np.testing.assert_array_equal(by_name, expected)

    class Doubled(torchfit.Model):
        def predict_step(self, data):
            return super().predict_step(data) * 2

    doubled = Doubled(nn.Linear(6, 2))
    doubled.compile(optimizer="sgd", loss="mse")
    outputs = doubled.predict(X, batch_size=16, verbose=0)
    assert lean_step.lean_predict_step(doubled) is None
    with torch.no_grad():
        np.testing.assert_array_equal(outputs, doubled.module(torch.from_numpy(X)).numpy() * 2)


class OwnForward(torchfit.Model):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(6, 4)

    def forward(self, x):
        return self.dense(x).tanh() * 3


@pytest.mark.parametrize("kind", ["subclass_forward", "inner_module_hook"])
def test_a_subclass_forward_and_hooks_on_the_wrapped_module_run_in_the_lean_step(kind,
                                                                                 monkeypatch):
    def build():
        torch.manual_seed(0)
        if kind == "subclass_forward":
            model = OwnForward()
        else:
            model = torchfit.Model(nn.Linear(6, 4))
            model.module.register_forward_hook(lambda module, args, output: output + 1.0)
        model.compile(optimizer="sgd", metrics=["accuracy"],
                      loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    model = build()
    logs = model.evaluate(X, LABELS, batch_size=16, verbose=0, return_dict=True)
    assert lean_step.lean_test_step(model) is not None
    outputs = model.predict(X, batch_size=16, verbose=0)
    assert lean_step.lean_predict_step(model) is not None
    with monkeypatch.context() as patch:
        _full_step_only(patch)
        full = build()
        assert full.evaluate(X, LABELS, batch_size=16, verbose=0, return_dict=True) == logs
        np.testing.assert_array_equal(full.predict(X, batch_size=16, verbose=0), outputs)
    with torch.no_grad():
        expected = model(torch.from_numpy(X)).numpy()
    np.testing.assert_array_equal(outputs, expected)  # the hook or the own forward ran
