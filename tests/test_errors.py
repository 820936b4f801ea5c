"""Bad input: each a clear ValueError/TypeError before the first training step."""

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from helpers import compiled_model, make_model


def test_fit_and_evaluate_before_compile(blobs):
    x, y = blobs
    with pytest.raises(ValueError, match=r"must call `compile\(\)` before `fit\(\)`"):
        make_model().fit(x, y)
    with pytest.raises(RuntimeError, match=r"before `evaluate\(\)`"):
        make_model().evaluate(x, y)


@pytest.mark.parametrize("method", ["compile", "fit", "evaluate", "predict"])
def test_unknown_keywords_suggest_the_right_one(blobs, method):
    x, y = blobs
    model = compiled_model()
    call = {
        "compile": lambda: model.compile(loss="mse", loss_weight=[1.0]),
        "fit": lambda: model.fit(x, y, epoch=2),
        "evaluate": lambda: model.evaluate(x, y, batch_sizes=8),
        "predict": lambda: model.predict(x, step=1),
    }[method]
    suggestion = {"compile": "loss_weights", "fit": "epochs", "evaluate": "batch_size",
                  "predict": "steps"}[method]
    with pytest.raises(TypeError, match=rf"{method}\(\) got an unexpected keyword argument .* "
                                        rf"Did you mean '{suggestion}'\?"):
        call()


def test_unknown_identifiers_fail_at_compile_time():
    with pytest.raises(ValueError, match=r"Unknown loss: 'sparse_categorical_crossentropyy'\. "
                                         r"Did you mean 'sparse_categorical_crossentropy'"):
        make_model().compile(loss="sparse_categorical_crossentropyy")
    with pytest.raises(ValueError, match=r"Unknown metric: 'acuracy'.*Did you mean 'accuracy'"):
        make_model().compile(loss="mse", metrics=["acuracy"])
    with pytest.raises(ValueError, match=r"Unknown optimizer: 'rmsprob'.*Did you mean 'rmsprop'"):
        make_model().compile(optimizer="rmsprob", loss="mse")


def test_length_mismatch_names_both_lengths(blobs):
    x, y = blobs
    with pytest.raises(ValueError, match=r"\(x: 64, y: 63\)"):
        compiled_model().fit(x, y[:-1])
    with pytest.raises(ValueError, match=r"sample_weight: 10\)"):
        compiled_model().fit(x, y, sample_weight=np.ones(10))


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, r"`batch_size` must be a positive integer. Received: batch_size=0"),
    ({"batch_size": -3}, r"batch_size=-3"),
    ({"epochs": -1}, r"`epochs` must be an integer >= 0. Received: epochs=-1"),
    ({"validation_split": 1.0}, r"`validation_split` must be a float in \[0, 1\)"),
    ({"validation_split": -0.1}, r"validation_split=-0.1"),
    ({"validation_data": (np.zeros((2, 4)),)}, r"`validation_data` must be a tuple .* length 1"),
    ({"validation_data": np.zeros((2, 4))}, r"Received: ndarray"),
    ({"class_weight": {"a": 1.0}}, r"keys must be non-negative class indices"),
    ({"class_weight": {0: "x"}}, r"values must be numbers"),
    ({"verbose": 3}, r"`verbose` must be 0, 1, 2 or 'auto'"),
    ({"validation_freq": 0}, r"`validation_freq` must be a positive integer"),
])
def test_bad_fit_arguments(blobs, kwargs, message):
    x, y = blobs
    model = compiled_model()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises((ValueError, TypeError), match=message):
        model.fit(x, y, **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # nothing trained


def test_object_and_string_arrays_are_refused(blobs):
    x, y = blobs
    with pytest.raises(TypeError, match="must hold numbers, but received an array of dtype"):
        compiled_model().fit(x.astype(object), y)
    with pytest.raises(TypeError, match="dtype <U"):
        compiled_model().fit(x, y.astype(str))


def test_a_metric_object_cannot_serve_two_compiled_models(blobs):
    x, y = blobs
    shared = torchfit.metrics.SparseCategoricalAccuracy()
    first = compiled_model(metrics=[shared])
    first.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="already used by another compiled model"):
        compiled_model(metrics=[shared])
    first.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[shared])


def test_bad_precision_and_wrapping_non_modules():
    with pytest.raises(ValueError, match="`precision` must be one of"):
        make_model().compile(loss="mse", precision="fp8")
    with pytest.raises(TypeError, match="torchfit.Model wraps a torch.nn.Module"):
        torchfit.Model(lambda x: x)
    with pytest.raises(ValueError, match="Invalid device"):
        torchfit.Model(nn.Linear(1, 1), device="gpu-please")
