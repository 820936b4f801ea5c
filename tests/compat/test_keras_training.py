"""Differential tests: the same tiny models trained by Keras 3 (torch backend) and by torchfit.

Keras's ``Dense`` and an ``nn.Linear`` start from the same weights (Keras's kernel, transposed);
both train with plain SGD (no momentum, where the update rules are the same formula), the same
loss, metrics, sample and class weights, unshuffled. History values, final weights, ``evaluate``
and ``predict`` agree to float32 rounding (a few SGD steps of float32 arithmetic in a different
order: rtol=1e-5, atol=1e-6). The log key *names* are the same; where torchfit keeps tf.keras 2's
conventions (the order of the keys, ``metrics_names``, flat metric lists on several outputs) the
tests assert the documented mapping (docs/migrating-from-keras.md, "Which Keras").
"""

import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import torchfit

# Keras 3's own variables warn about NumPy 2's `copy=` protocol; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
RTOL, ATOL = 1e-5, 1e-6
RNG = np.random.default_rng(7)


def rand(*shape):
    return RNG.random(shape).astype("float32")


def linear_like(keras_dense):
    """An ``nn.Linear`` holding the weights of a built Keras ``Dense``."""
    kernel, bias = keras_dense.get_weights()
    linear = nn.Linear(*kernel.shape)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(kernel.T))
        linear.bias.copy_(torch.from_numpy(bias))
    return linear


def assert_same_weights(keras_dense, linear):
    kernel, bias = keras_dense.get_weights()
    np.testing.assert_allclose(linear.weight.detach().numpy(), kernel.T, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(linear.bias.detach().numpy(), bias, rtol=RTOL, atol=ATOL)


def assert_same_logs(keras, keras_logs, torchfit_logs):
    """Same keys; same values. Keras 3 sorts its log keys (its tree utilities sort dict keys);
    torchfit keeps tf.keras 2's order, so the keys are compared as sets."""
    assert set(keras_logs) == set(torchfit_logs)
    for key, value in keras_logs.items():
        np.testing.assert_allclose(np.asarray(torchfit_logs[key], "float32"),
                                   np.asarray(keras.ops.convert_to_numpy(value), "float32"),
                                   rtol=RTOL, atol=ATOL, err_msg=key)


def single_output_pair(keras, n_in, n_out, activation=None, seed=0):
    keras.utils.set_random_seed(seed)
    layer = keras.layers.Dense(n_out, activation=activation)
    keras_model = keras.Sequential([keras.Input((n_in,)), layer])
    modules = [linear_like(layer)] + ([nn.Sigmoid()] if activation == "sigmoid" else [])
    return keras_model, layer, torchfit.Sequential(*modules, device="cpu"), modules[0]


def test_import_torchfit_does_not_import_keras():
    """The differential tests need Keras; torchfit itself never imports it."""
    code = "import sys, torchfit; print('keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_compat_extra_pins_keras_and_test_sh_installs_it():
    """CI runs these tests: scripts/test.sh installs the `compat` extra, which pins Keras 3 and
    nothing that brings TensorFlow or another torch."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = pathlib.Path(__file__).resolve().parents[2]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert extras["compat"] == ["keras==3.15.1"]
    assert 'setup_env.sh" "test,plot,compat,' in (root / "scripts" / "test.sh").read_text()


def test_regression_with_sample_weights_validation_and_weighted_metrics(keras):
    keras_model, layer, model, linear = single_output_pair(keras, 3, 2)
    x, y, sw = rand(16, 3), rand(16, 2), rand(16)
    val = (rand(8, 3), rand(8, 2), rand(8))
    kwargs = dict(sample_weight=sw, batch_size=4, epochs=3, shuffle=False, verbose=0,
                  validation_data=val)
    keras_model.compile(keras.optimizers.SGD(0.1), "mse", metrics=["mae", "mse"],
                        weighted_metrics=["mae"])
    model.compile(torchfit.optimizers.SGD(0.1), "mse", metrics=["mae", "mse"],
                  weighted_metrics=["mae"])
    keras_history = keras_model.fit(x, y, **kwargs).history
    history = model.fit(x, y, **kwargs).history
    assert_same_logs(keras, keras_history, history)
    assert list(keras_history) == sorted(history)  # Keras 3: sorted keys
    assert list(history) == ["loss", "mae", "mse", "weighted_mae", "val_loss", "val_mae",
                             "val_mse", "val_weighted_mae"]  # tf.keras 2's order
    assert_same_weights(layer, linear)
    evaluate = dict(sample_weight=val[2], verbose=0, return_dict=True)
    assert_same_logs(keras, keras_model.evaluate(val[0], val[1], **evaluate),
                     model.evaluate(val[0], val[1], **evaluate))
    np.testing.assert_allclose(model.predict(x, verbose=0), keras_model.predict(x, verbose=0),
                               rtol=RTOL, atol=ATOL)


def test_classification_with_class_weights(keras):
    keras_model, layer, model, linear = single_output_pair(keras, 4, 3)
    x, y = rand(20, 4), RNG.integers(0, 3, size=20)
    class_weight = {0: 1.0, 1: 2.0, 2: 0.5}
    kwargs = dict(class_weight=class_weight, batch_size=5, epochs=2, shuffle=False, verbose=0)
    keras_model.compile(keras.optimizers.SGD(0.5),
                        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        metrics=["accuracy"], weighted_metrics=["accuracy"])
    model.compile(torchfit.optimizers.SGD(0.5),
                  torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], weighted_metrics=["accuracy"])
    assert_same_logs(keras, keras_model.fit(x, y, **kwargs).history,
                     model.fit(x, y, **kwargs).history)
    assert_same_weights(layer, linear)
    assert_same_logs(keras, keras_model.evaluate(x, y, verbose=0, return_dict=True),
                     model.evaluate(x, y, verbose=0, return_dict=True))


def test_binary_probabilities_with_accuracy(keras):
    keras_model, layer, model, linear = single_output_pair(keras, 3, 1, activation="sigmoid")
    x, y = rand(16, 3), RNG.integers(0, 2, size=(16, 1)).astype("float32")
    kwargs = dict(batch_size=8, epochs=3, shuffle=False, verbose=0, validation_split=0.25)
    keras_model.compile(keras.optimizers.SGD(1.0), "binary_crossentropy", metrics=["accuracy"])
    model.compile(torchfit.optimizers.SGD(1.0), "binary_crossentropy", metrics=["accuracy"])
    assert_same_logs(keras, keras_model.fit(x, y, **kwargs).history,
                     model.fit(x, y, **kwargs).history)
    assert_same_weights(layer, linear)
    np.testing.assert_allclose(model.predict(x, verbose=0), keras_model.predict(x, verbose=0),
                               rtol=RTOL, atol=ATOL)


def test_initial_epoch_and_steps_per_epoch(keras):
    keras_model, layer, model, linear = single_output_pair(keras, 3, 1)
    x, y = rand(16, 3), rand(16, 1)
    kwargs = dict(batch_size=2, epochs=3, initial_epoch=1, steps_per_epoch=3, shuffle=False,
                  verbose=0)
    keras_model.compile(keras.optimizers.SGD(0.1), "mse")
    model.compile(torchfit.optimizers.SGD(0.1), "mse")
    keras_history = keras_model.fit(x, y, **kwargs)
    history = model.fit(x, y, **kwargs)
    assert history.epoch == keras_history.epoch == [1, 2]
    assert_same_logs(keras, keras_history.history, history.history)
    assert_same_weights(layer, linear)


class TwoOutputs(nn.Module):
    def __init__(self, out_a, out_b):
        super().__init__()
        self.out_a, self.out_b = out_a, out_b

    def forward(self, x):
        return {"out_a": self.out_a(x), "out_b": self.out_b(x)}


def two_output_pair(keras, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,), name="x")
    dense_a = keras.layers.Dense(2, name="out_a")
    dense_b = keras.layers.Dense(1, name="out_b")
    keras_model = keras.Model(inputs, {"out_a": dense_a(inputs), "out_b": dense_b(inputs)})
    net = TwoOutputs(linear_like(dense_a), linear_like(dense_b))
    return keras_model, (dense_a, dense_b), torchfit.Model(net, device="cpu"), net


def compile_two_outputs(keras, keras_model, model, learning_rate=0.1):
    config = dict(loss={"out_a": "mse", "out_b": "mae"}, loss_weights={"out_a": 1.0, "out_b": 0.5},
                  weighted_metrics={"out_a": ["mae"], "out_b": ["mse"]})
    keras_model.compile(keras.optimizers.SGD(learning_rate),
                        metrics={"out_a": ["mae", keras.metrics.MeanSquaredError()],
                                 "out_b": ["mse"]}, **config)
    model.compile(torchfit.optimizers.SGD(learning_rate),
                  metrics={"out_a": ["mae", torchfit.metrics.MeanSquaredError()],
                           "out_b": ["mse"]}, **config)


def test_multi_output_loss_weights_metrics_and_sample_weights(keras):
    keras_model, (dense_a, dense_b), model, net = two_output_pair(keras)
    compile_two_outputs(keras, keras_model, model)
    x = rand(12, 3)
    y = {"out_a": rand(12, 2), "out_b": rand(12, 1)}
    sw = {"out_a": rand(12), "out_b": rand(12)}
    kwargs = dict(sample_weight=sw, batch_size=4, epochs=2, shuffle=False, verbose=0,
                  validation_data=(x, y))
    keras_history = keras_model.fit(x, y, **kwargs).history
    history = model.fit(x, y, **kwargs).history
    assert_same_logs(keras, keras_history, history)
    assert_same_weights(dense_a, net.out_a)
    assert_same_weights(dense_b, net.out_b)
    # Results grouped per output in both: [loss, o1_loss, o2_loss, o1 metrics, o2 metrics].
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0),
                               keras_model.evaluate(x, y, verbose=0), rtol=RTOL, atol=ATOL)
    assert model.metrics_names == [
        "loss", "out_a_loss", "out_b_loss", "out_a_mae", "out_a_mean_squared_error",
        "out_a_weighted_mae", "out_b_mse", "out_b_weighted_mse"]
    predictions, keras_predictions = model.predict(x, verbose=0), keras_model.predict(x, verbose=0)
    for name in ("out_a", "out_b"):
        np.testing.assert_allclose(predictions[name], keras_predictions[name], rtol=RTOL,
                                   atol=ATOL)


def test_metrics_names_keeps_tf_keras_2s_flat_list(keras):
    """Version difference: Keras 3's ``metrics_names`` reads ['loss', 'compile_metrics', ...];
    torchfit's is tf.keras 2's flat list of every logged name, in ``evaluate``'s order."""
    keras_model, _, model, _ = two_output_pair(keras)
    compile_two_outputs(keras, keras_model, model)
    x, y = rand(4, 3), {"out_a": rand(4, 2), "out_b": rand(4, 1)}
    keras_model.fit(x, y, verbose=0)
    model.fit(x, y, verbose=0)
    assert keras_model.metrics_names == ["loss", "compile_metrics", "out_a_loss", "out_b_loss"]
    assert model.metrics_names == list(model.evaluate(x, y, verbose=0, return_dict=True))
    assert set(model.metrics_names) == set(keras_model.evaluate(x, y, verbose=0,
                                                                return_dict=True))


def test_on_batch_methods(keras):
    keras_model, _, model, _ = two_output_pair(keras)
    compile_two_outputs(keras, keras_model, model)
    x = rand(6, 3)
    y = {"out_a": rand(6, 2), "out_b": rand(6, 1)}
    sw = {"out_a": rand(6), "out_b": rand(6)}
    np.testing.assert_allclose(model.train_on_batch(x, y, sample_weight=sw),
                               keras_model.train_on_batch(x, y, sample_weight=sw),
                               rtol=RTOL, atol=ATOL)
    assert_same_logs(keras, keras_model.train_on_batch(x, y, return_dict=True),
                     model.train_on_batch(x, y, return_dict=True))
    assert_same_logs(keras, keras_model.test_on_batch(x, y, sample_weight=sw, return_dict=True),
                     model.test_on_batch(x, y, sample_weight=sw, return_dict=True))
    predictions = model.predict_on_batch(x)
    keras_predictions = keras_model.predict_on_batch(x)
    for name in ("out_a", "out_b"):
        np.testing.assert_allclose(predictions[name], keras.ops.convert_to_numpy(
            keras_predictions[name]), rtol=RTOL, atol=ATOL)


def test_a_flat_metrics_list_on_two_outputs_follows_tf_keras_2(keras):
    """Version difference: with one entry per output, Keras 3 pairs a flat ``metrics`` list
    with the outputs by position; torchfit, as tf.keras 2, gives every output every metric
    (a list of lists, or a dict, pairs them)."""
    keras_model, _, model, _ = two_output_pair(keras)
    keras_model.compile("sgd", "mse", metrics=["mae", "mse"])
    model.compile("sgd", "mse", metrics=["mae", "mse"])
    x, y = rand(4, 3), {"out_a": rand(4, 2), "out_b": rand(4, 1)}
    assert set(keras_model.fit(x, y, verbose=0).history) == {
        "loss", "out_a_loss", "out_b_loss", "out_a_mae", "out_b_mse"}
    assert list(model.fit(x, y, verbose=0).history) == [
        "loss", "out_a_loss", "out_b_loss", "out_a_mae", "out_a_mse", "out_b_mae", "out_b_mse"]


def test_accuracy_with_a_from_logits_binary_loss_thresholds_logits_at_zero(keras):
    """Deliberate difference: Keras (2 and 3) resolves "accuracy" next to
    ``BinaryCrossentropy(from_logits=True)`` to ``BinaryAccuracy(threshold=0.5)`` applied to the
    logits; torchfit thresholds logits at 0 (probability 0.5), which is what accuracy means."""
    keras_model, _, model, _ = single_output_pair(keras, 1, 1)
    x = np.array([[-1.0], [-0.2], [0.3], [2.0]], "float32")
    y = np.array([[0.0], [0.0], [1.0], [1.0]], "float32")
    keras_model.layers[0].set_weights([np.ones((1, 1), "float32"), np.zeros(1, "float32")])
    keras_model.compile("sgd", keras.losses.BinaryCrossentropy(from_logits=True),
                        metrics=["accuracy"])
    with torch.no_grad():
        model.module[0].weight.fill_(1.0)
        model.module[0].bias.zero_()
    model.compile("sgd", torchfit.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    keras_logs = keras_model.evaluate(x, y, verbose=0, return_dict=True)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], keras_logs["loss"], rtol=RTOL, atol=ATOL)
    assert keras_logs["accuracy"] == 0.75  # logits > 0.5: [0, 0, 0, 1]
    assert logs["accuracy"] == 1.0  # logits > 0: [0, 0, 1, 1]


def test_a_weighted_metric_is_prefixed_only_when_its_name_is_taken(keras):
    keras_model, _, model, _ = single_output_pair(keras, 3, 1)
    x, y, sw = rand(8, 3), rand(8, 1), rand(8)
    for metrics, weighted in ((["mae"], ["mse"]), (["mse"], ["mse"])):
        keras_model.compile("sgd", "mse", metrics=metrics, weighted_metrics=weighted)
        model.compile("sgd", "mse", metrics=metrics, weighted_metrics=weighted)
        keras_logs = keras_model.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
        assert_same_logs(keras, keras_logs,
                         model.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True))
