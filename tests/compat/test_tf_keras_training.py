"""Ported from tf-keras 2's ``tf_keras/engine/training_test.py``: compile, fit, evaluate, predict.

Each test names the tf-keras test it ports (``TestClass.test_name``) and keeps Keras's expected
values; tiny torch modules stand in for Keras layers (``nn.Linear`` for ``Dense``). Cases that
assert torchfit's documented behaviour where it deliberately differs say so in their docstring
("Deliberate difference") and are listed in docs/migrating-from-keras.md. Left out: TF graphs,
``tf.function``, XLA and ``steps_per_execution`` tuning, distribution strategies, masking,
``get_config`` of models, ``Layer.build`` / weight tracking / trainability, dtype policies.
"""

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from torchfit import metrics as metrics_module
from torchfit.optimizers import SGD, RMSprop

RNG = np.random.default_rng(1337)


def rand(*shape):
    return RNG.random(shape).astype("float32")


def dense(n_in, n_out, ones=False, bias=True):
    layer = nn.Linear(n_in, n_out, bias=bias)
    if ones:  # kernel_initializer="ones" (and Keras's zero bias)
        nn.init.ones_(layer.weight)
        if bias:
            nn.init.zeros_(layer.bias)
    return layer


def small_mlp(num_hidden, num_classes, input_dim):
    """tf-keras's ``test_utils.get_small_sequential_mlp``: relu hidden layer, softmax/sigmoid."""
    activation = nn.Sigmoid() if num_classes == 1 else nn.Softmax(dim=-1)
    return torchfit.Sequential(nn.Linear(input_dim, num_hidden), nn.ReLU(),
                               nn.Linear(num_hidden, num_classes), activation)


def get_test_data(samples, input_dim, num_classes):
    """tf-keras's ``test_utils.get_test_data``: class centroids plus noise, integer labels."""
    templates = 2 * num_classes * RNG.random((num_classes, input_dim))
    y = RNG.integers(0, num_classes, size=samples)
    x = (templates[y] + RNG.normal(size=(samples, input_dim))).astype("float32")
    return x, y


class TwoInTwoOut(nn.Module):
    """``Model([input_a, input_b], [dense(input_b), Dropout(dense(input_a))])`` of the tests: one
    shared ``Dense(4)``, outputs named after their layers."""

    def __init__(self, n_out=4):
        super().__init__()
        self.dense = nn.Linear(3, n_out)
        self.dropout = nn.Dropout(0.5)

    def forward(self, input_a, input_b):
        return {"dense": self.dense(input_b), "dropout": self.dropout(self.dense(input_a))}


def two_io_data():
    return [rand(10, 3), rand(10, 3)], [rand(10, 4), rand(10, 4)]


# ------------------------------------------------------------------ TrainingTest
def test_fit_training_arg():
    """TrainingTest.test_fit_training_arg: fit runs the module in training mode."""

    class ReturnTraining(nn.Module):
        def forward(self, inputs):
            return inputs + (100.0 if self.training else 0.0)

    model = torchfit.Sequential(ReturnTraining())
    model.compile("sgd", "mse")
    with pytest.warns(UserWarning, match="does not have any trainable weights"):
        history = model.fit(x=np.array([0.0], "float32"), y=np.array([0.0], "float32"),
                            verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], 10000)


def test_fit_on_empty():
    """TrainingTest.test_fit_on_empty (ValueError; torchfit's wording)."""
    model = torchfit.Sequential(nn.Linear(1, 1))
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="empty input arrays"):
        model.fit(x=np.array([], "float32"), y=np.array([], "float32"))


def test_fit_without_loss_at_compile():
    """TrainingTest.test_fit_without_loss_at_compile ("No loss found" -> "No loss to compute")."""
    model = torchfit.Sequential(nn.Linear(1, 1))
    model.compile("sgd")
    with pytest.raises(ValueError, match="No loss to compute"):
        model.fit(np.ones((10, 1), "float32"), np.ones((10, 1), "float32"), epochs=2, verbose=0)


class AddInputSum(torchfit.Layer):
    def forward(self, x):
        self.add_loss(x.sum())
        return x


def test_fit_without_loss_at_compile_but_with_add_loss():
    """TrainingTest.test_fit_without_loss_at_compile_but_with_add_loss."""
    model = torchfit.Sequential(nn.Linear(1, 1), AddInputSum())
    model.compile("sgd")
    history = model.fit(np.ones((10, 1), "float32"), np.ones((10, 1), "float32"), epochs=2,
                        verbose=0)
    assert len(history.history["loss"]) == 2


@pytest.mark.parametrize("run_eagerly", [True, False])
def test_run_eagerly_setting(run_eagerly):
    """TrainingTest.test_run_eagerly_setting (eager and graph modes: a no-op flag here)."""
    model = torchfit.Sequential(nn.Linear(1, 1))
    model.compile("sgd", "mse", run_eagerly=run_eagerly)
    assert model.run_eagerly == run_eagerly


def test_fit_on_arrays():
    """TrainingTest.test_fit_on_arrays: lists, dicts, loss lists/dicts, loss_weights, validation.

    Deliberate differences: the last step (fit on nested Python lists of floats, which
    tf.keras 2 turns into one array for a single-input model) is refused, as a list is always
    positional inputs; and the second model gets its own optimizer, as a torchfit optimizer's
    state belongs to the parameters it was built for.
    """
    model = torchfit.Model(TwoInTwoOut(), device="cpu")
    optimizer = RMSprop(learning_rate=0.001)
    model.compile(optimizer, "mse", metrics=[metrics_module.CategoricalAccuracy(), "mae"],
                  loss_weights=[1.0, 0.5])
    x, y = two_io_data()
    for verbose in (0, 1, 2):
        model.fit(x, y, epochs=1, batch_size=5, verbose=verbose)
    model.train_on_batch(x, y)
    for validation_data in ((x, y), [x, y]):
        for verbose in (0, 1, 2):
            model.fit(x, y, validation_data=validation_data, epochs=2, batch_size=5,
                      verbose=verbose)
    model.fit(x, y, epochs=2, batch_size=5, verbose=0, validation_split=0.2)
    x_dict = {"input_a": x[0], "input_b": x[1]}
    y_dict = {"dense": y[0], "dropout": y[1]}
    for verbose in (0, 1):
        model.fit(x_dict, y_dict, epochs=1, batch_size=5, verbose=verbose)
    model.fit(x_dict, y_dict, validation_data=(x_dict, y_dict), epochs=1, batch_size=5,
              verbose=0)
    model.train_on_batch(x_dict, y_dict)
    model.compile(optimizer, ["mae", "mse"],
                  metrics=[metrics_module.CategoricalAccuracy(), "mae"])
    model.fit(x, y, epochs=1, batch_size=5, verbose=0)
    model.compile(optimizer, {"dense": "mse", "dropout": "mae"},
                  metrics={"dense": "mse", "dropout": metrics_module.CategoricalAccuracy()},
                  loss_weights={"dense": 1.0, "dropout": 0.5})
    model.fit(x, y, epochs=1, batch_size=5, verbose=0)
    single = torchfit.Model(nn.Linear(3, 4), device="cpu")
    single.compile(RMSprop(learning_rate=0.001), loss="mse")
    single.fit([x[0]], y[0], epochs=1, verbose=0)  # a one-element list: the one input
    with pytest.raises(TypeError, match="Unsupported data type for `x`: list"):
        single.fit(x[0].tolist(), rand(10, 4).tolist(), epochs=2, batch_size=5, verbose=2)


def test_evaluate_predict_on_arrays():
    """TrainingTest.test_evaluate_predict_on_arrays: 7 results, 2 outputs."""
    model = torchfit.Model(TwoInTwoOut(), device="cpu")
    model.compile(RMSprop(learning_rate=0.001), "mse",
                  metrics=["mae", metrics_module.CategoricalAccuracy()], loss_weights=[1.0, 0.5])
    x, y = two_io_data()
    for verbose in (0, 1, 2):
        assert len(model.evaluate(x, y, batch_size=5, verbose=verbose)) == 7
    assert len(model.test_on_batch(x, y)) == 7
    x_dict = {"input_a": x[0], "input_b": x[1]}
    for verbose in (0, 1):
        model.evaluate(x_dict, {"dense": y[0], "dropout": y[1]}, batch_size=5, verbose=verbose)
    assert len(model.predict(x, batch_size=5)) == 2
    assert len(model.predict(x_dict)) == 2
    assert len(model.predict_on_batch(x_dict)) == 2


def test_logs_passed_to_callbacks():
    """TrainingTest.test_logs_passed_to_callbacks: batch and epoch log keys."""

    class TestCallback(torchfit.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch_end_logs = self.batch_end_logs = None
            self.epoch_end_call_count = self.batch_end_call_count = 0

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_end_logs = logs
            self.epoch_end_call_count += 1

        def on_batch_end(self, batch, logs=None):
            self.batch_end_logs = logs
            self.batch_end_call_count += 1

    model = small_mlp(num_hidden=10, num_classes=1, input_dim=5)
    model.compile(loss="binary_crossentropy", metrics=["acc"], weighted_metrics=["mae"],
                  optimizer=RMSprop(learning_rate=0.01))
    x_train, y_train = get_test_data(10, 5, 2)
    y_train = y_train.astype("float32")[:, None]
    callback = TestCallback()
    model.fit(x_train, y_train, batch_size=2, epochs=2, verbose=0, callbacks=[callback],
              validation_data=(x_train, y_train))
    assert callback.batch_end_call_count == 10
    assert callback.epoch_end_call_count == 2
    assert set(callback.batch_end_logs.keys()) == {"acc", "loss", "mae"}
    assert set(callback.epoch_end_logs.keys()) == {"acc", "loss", "mae", "val_acc", "val_loss",
                                                   "val_mae"}


def test_mismatched_output_shape_and_target_shape():
    """TrainingTest.test_mismatched_output_shape_and_target_shape: (N, 3, 5) outputs with
    sparse (N, 3) targets, from arrays and from a repeated dataset (a DataLoader here)."""
    model = torchfit.Sequential(nn.Linear(4, 2), nn.Linear(2, 5))
    model.compile(RMSprop(learning_rate=0.001), loss="sparse_categorical_crossentropy")
    x_train = rand(10, 3, 4)
    y_train = RNG.integers(0, 5, size=(10, 3)).astype("float32")
    model.fit(x_train, y_train, batch_size=5, epochs=1, verbose=0)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(np.tile(x_train, (10, 1, 1))),
                                             torch.from_numpy(np.tile(y_train, (10, 1))))
    loader = torch.utils.data.DataLoader(dataset, batch_size=10)
    model.fit(loader, epochs=1, steps_per_epoch=2, verbose=0)
    model.compile(RMSprop(learning_rate=0.001), loss="sparse_categorical_crossentropy",
                  run_eagerly=True)
    model.fit(x_train, y_train, batch_size=5, epochs=1, verbose=0)
    model.fit(loader, epochs=1, steps_per_epoch=2, verbose=0)


def test_logging(capsys):
    """TrainingTest.test_logging: the progress output names the epochs."""
    model = torchfit.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 1), nn.Sigmoid())
    model.compile(RMSprop(learning_rate=0.001), loss="binary_crossentropy")
    model.fit(np.ones((10, 10), "float32"), np.ones((10, 1), "float32"), epochs=10)
    assert "Epoch 5/10" in capsys.readouterr().out


def test_training_with_loss_instance():
    """TrainingTest.test_training_with_loss_instance: one loss object for two outputs."""
    model = torchfit.Model(TwoInTwoOut(), device="cpu")
    model.compile(RMSprop(learning_rate=0.001), loss=torchfit.losses.MeanSquaredError(),
                  metrics=[metrics_module.CategoricalAccuracy(), "mae"], loss_weights=[1.0, 0.5])
    x, y = two_io_data()
    model.fit(x, y, epochs=1, batch_size=5, verbose=0)


@pytest.mark.parametrize("loss, num_classes, targets", [
    ("sparse_categorical_crossentropy", 2, lambda y: y),
    ("categorical_crossentropy", 2, lambda y: np.eye(2, dtype="float32")[y[:, 0]]),
    ("binary_crossentropy", 1, lambda y: np.ones((100, 1), "float32")),
])
def test_training_on_crossentropy_losses(loss, num_classes, targets):
    """TrainingTest.test_training_on_{sparse_categorical_crossentropy_loss_with_softmax,
    categorical_crossentropy_loss_with_softmax, binary_crossentropy_loss}: the same weights give
    the same train_on_batch loss with run_eagerly=True and False (places=4)."""
    train_x = np.ones((100, 4), "float32")
    train_y = targets(RNG.integers(0, 1, size=(100, 1)))
    losses = []
    torch.manual_seed(0)
    reference = small_mlp(16, num_classes, input_dim=4)
    for run_eagerly in (True, False):
        model = small_mlp(16, num_classes, input_dim=4)
        model.load_state_dict(reference.state_dict())
        model.compile(loss=loss, optimizer=RMSprop(learning_rate=0.001), run_eagerly=run_eagerly)
        losses.append(model.train_on_batch(train_x, train_y))
    assert losses[0] == pytest.approx(losses[1], abs=1e-4)


@pytest.mark.parametrize("validation_freq, expected_runs", [
    (1, 4), (2, 2), (4, 1), ([1, 3, 4], 3), ([4, 2, 2], 2)])
def test_validation_freq(validation_freq, expected_runs):
    """TrainingTest.test_validation_freq (default, integer_two, integer_four, simple_list,
    duplicated_list)."""
    x, y = np.ones((10, 10), "float32"), np.ones((10, 1), "float32")
    model = torchfit.Sequential(nn.Linear(10, 2), nn.ReLU(), nn.Linear(2, 1))
    model.compile("sgd", "mse")

    class ValCounter(torchfit.callbacks.Callback):
        val_runs = 0

        def on_test_begin(self, logs=None):
            self.val_runs += 1

    counter = ValCounter()
    model.fit(x, y, epochs=4, validation_data=(x, y), validation_freq=validation_freq,
              callbacks=[counter], verbose=0)
    assert counter.val_runs == expected_runs


def test_error_when_model_is_not_compiled():
    """TrainingTest.test_error_when_model_is_not_compiled: a RuntimeError."""
    model = torchfit.Sequential(nn.Linear(1, 1))
    with pytest.raises(RuntimeError, match="must call `compile\\(\\)`"):
        model.fit(np.ones((1, 1), "float32"), np.ones((1, 1), "float32"))
    model = torchfit.Sequential(AddInputSum())
    with pytest.raises(RuntimeError, match="must call `compile\\(\\)`"):
        model.fit(rand(32, 1), epochs=2)


def test_outputs_are_floats():
    """TrainingTest.test_outputs_are_floats."""
    x, y = np.ones((10, 1), "float32"), np.ones((10, 1), "float32")
    model = torchfit.Sequential(nn.Linear(1, 1))
    model.compile("sgd", "mse", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, verbose=0)
    assert isinstance(history.history["loss"][0], float)
    assert isinstance(history.history["accuracy"][0], float)
    for results in (model.train_on_batch(x, y), model.evaluate(x, y, verbose=0),
                    model.test_on_batch(x, y)):
        loss, accuracy = results
        assert isinstance(loss, float) and isinstance(accuracy, float)


def test_int_output():
    """TrainingTest.test_int_output. Deliberate difference: tf.keras 2 logs an int64 metric
    result as an ``int``; torchfit logs floats, as Keras 3 does (History holds ``1.0``)."""

    class MyMetric(metrics_module.Metric):
        def update_state(self, y_true, y_pred, sample_weight=None):
            del y_true, y_pred, sample_weight

        def result(self):
            return torch.tensor(1, dtype=torch.int64)

    model = torchfit.Sequential(nn.Linear(1, 1))
    model.compile("sgd", "mse", metrics=[MyMetric()])
    history = model.fit(np.ones((10, 1), "float32"), np.ones((10, 1), "float32"), epochs=2,
                        verbose=0)
    assert history.history["my_metric"] == [1.0, 1.0]
    assert isinstance(history.history["my_metric"][0], float)


@pytest.mark.parametrize("x_kind", ["numpy_array", "dataset_array", "dataset_dict"])
def test_single_input_no_tuple_wrapping(x_kind):
    """TrainingTest.test_single_input_no_tuple_wrapping. Deliberate difference: both Kerases
    hand the steps ``x`` itself when there are no targets; torchfit's steps always get a tuple,
    ``(x,)`` here (``train_step``'s documented contract), whose element is the tensor or dict."""
    x = np.ones((10, 1), "float32")
    batch_size, expected = 3, torch.Tensor
    if x_kind != "numpy_array":
        batch_size = None
        items = x if x_kind == "dataset_array" else [{"my_input": row} for row in x]
        x = torch.utils.data.DataLoader(items, batch_size=3)
        expected = torch.Tensor if x_kind == "dataset_array" else dict
    seen = []

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(1, 1)

        def forward(self, my_input):
            return self.dense(my_input)

    class MyModel(torchfit.Model):
        def train_step(self, data):
            seen.append(data)
            return super().train_step(data)

        def test_step(self, data):
            seen.append(data)
            return super().test_step(data)

        def predict_step(self, data):
            seen.append(data)
            return super().predict_step(data)

    model = MyModel(Net(), device="cpu")
    model.add_loss(lambda out: out.sum(), on="")
    model.compile("sgd")
    model.fit(x, batch_size=batch_size, verbose=0)
    model.evaluate(x, batch_size=batch_size, verbose=0)
    model.predict(x, batch_size=batch_size, verbose=0)
    assert len(seen) == 12  # 4 batches of fit, evaluate and predict each
    assert all(isinstance(data, tuple) and len(data) == 1 and isinstance(data[0], expected)
               for data in seen)


@pytest.mark.parametrize("use_compiled_metrics, use_custom_metrics",
                         [(False, True), (True, False), (True, True)])
def test_evaluate_with_custom_test_step(use_compiled_metrics, use_custom_metrics):
    """TrainingTest.test_evaluate_with_custom_test_step (custom_metrics, compiled_metrics,
    both): the list follows metrics_names, then the other keys in sorted order."""

    class MyModel(torchfit.Model):
        def test_step(self, data):
            x, y = data
            pred = self(x)
            metrics = {}
            if use_compiled_metrics:
                self.compiled_metrics.update_state(y, pred)
                self.compiled_loss(y, pred)
                for metric in self.metrics:
                    metrics[metric.name] = metric.result()
            if use_custom_metrics:
                metrics.update({"mean": pred.mean(), "sum": pred.sum()})
            return metrics

    model = MyModel(nn.Linear(2, 3), device="cpu")
    metrics = ["mae", "mape"] if use_compiled_metrics else None
    model.compile("adam", "mse", metrics=metrics)
    x, y = rand(4, 2), rand(4, 3)
    results_list = model.evaluate(x, y, verbose=0)
    results_dict = model.evaluate(x, y, return_dict=True, verbose=0)
    assert len(results_list) == len(results_dict)
    expected = (["loss", "mae", "mape"] if use_compiled_metrics else []) + \
        (["mean", "sum"] if use_custom_metrics else [])
    assert results_list == [results_dict[name] for name in expected]


def test_custom_compute_metrics():
    """TrainingTest.test_custom_compute_metrics (without ``steps_per_execution``, which torchfit
    does not have)."""

    class CustomMetric(metrics_module.Mean):
        def update_state(self, x, y_true, y_pred, sample_weight=None):
            return super().update_state((x + (y_pred - y_true) ** 2).mean(dim=-1))

    class MyModel(torchfit.Model):
        def compute_metrics(self, x, y, y_pred, sample_weight=None):
            results = dict(super().compute_metrics(x, y, y_pred, sample_weight))
            self.custom_metric.update_state(x, y, y_pred, sample_weight)
            results["custom_metric_name"] = self.custom_metric.result()
            return results

    data = torch.utils.data.TensorDataset(torch.rand(10, 10), torch.rand(10, 10))
    model = MyModel(nn.Linear(10, 10), device="cpu")
    model.custom_metric = CustomMetric("my_metric")
    initial_result = float(model.custom_metric.result())
    model.compile(SGD(), loss="mse")

    def repeat():
        while True:
            yield from torch.utils.data.DataLoader(data, batch_size=1)

    model.fit(repeat(), epochs=2, steps_per_epoch=10, verbose=2)
    assert initial_result == 0.0
    assert float(model.custom_metric.result()) != initial_result


def test_custom_compute_loss():
    """TrainingTest.test_custom_compute_loss: an overridden compute_loss, metrics and
    reset_metrics; the logged ``loss`` is the override's Mean."""

    class MyModel(torchfit.Model):
        def __init__(self, module):
            super().__init__(module, device="cpu")
            self.loss_metric = metrics_module.Mean(name="loss")

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            loss = ((y_pred - y) ** 2).mean() + sum(self.losses)
            self.loss_metric.update_state(loss.detach())
            return loss

        def reset_metrics(self):
            self.loss_metric.reset_state()

        @property
        def metrics(self):
            return [self.loss_metric]

    model = MyModel(nn.Linear(10, 10))
    model.add_loss(lambda out: out.sum(), on="")
    model.compile(SGD(learning_rate=1e-4), loss="mse")
    data = torch.utils.data.TensorDataset(torch.rand(10, 10), torch.rand(10))
    loader = torch.utils.data.DataLoader(data, batch_size=1)
    history = model.fit(loader, epochs=2, steps_per_epoch=10, verbose=0)
    assert len(history.history["loss"]) == 2
    np.testing.assert_allclose(history.history["loss"][1], float(model.loss_metric.result()))


# ------------------------------------------------------------------ TestExceptionsAndWarnings
def test_fit_on_no_output():
    """TestExceptionsAndWarnings.test_fit_on_no_output ("Target data is missing")."""
    model = torchfit.Model(nn.Linear(3, 2), device="cpu")
    model.compile("rmsprop", "mse")
    with pytest.raises(ValueError, match="received no targets `y`"):
        model.fit(np.zeros((32, 3), "float32"), verbose=0)


class Concatenate(nn.Module):
    def __init__(self, n_out=2, n_in=3):
        super().__init__()
        self.c = nn.Linear(2 * n_in, n_out)

    def forward(self, a, b):
        return self.c(torch.cat([a, b], dim=-1))


def test_fit_on_wrong_output_type():
    """TestExceptionsAndWarnings.test_fit_on_wrong_output_type: targets inside the input dict."""
    model = torchfit.Model(Concatenate(), device="cpu")
    model.compile("rmsprop", "mse")
    x, y = np.zeros((32, 3), "float32"), np.zeros((32, 2), "float32")
    with pytest.raises(ValueError, match=r"Input dict keys \['c'\] do not match"):
        model.fit({"a": x, "b": x, "c": y}, verbose=0)


class DenseChain(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense_1 = nn.Linear(16, 8)
        self.dense_2 = nn.Sequential(nn.Linear(8, 3), nn.Softmax(dim=-1))

    def forward(self, input_a):
        out_1 = self.dense_1(input_a)
        return {"dense_1": out_1, "dense_2": self.dense_2(out_1)}


def test_compile_warning_for_loss_missing_output():
    """TestExceptionsAndWarnings.test_compile_warning_for_loss_missing_output: a loss for one
    output and metrics for both compile."""
    model = torchfit.Model(DenseChain(), device="cpu")
    model.compile(RMSprop(learning_rate=0.001), loss={"dense_2": "categorical_crossentropy"},
                  metrics={"dense_2": "categorical_accuracy",
                           "dense_1": metrics_module.CategoricalAccuracy()})
    assert model.compiled


def test_predict_error_with_empty_x():
    """TestExceptionsAndWarnings.test_predict_error_with_empty_x."""
    model = torchfit.Model(nn.Linear(2, 4), device="cpu")
    model.compile(loss="mse")
    with pytest.raises(ValueError, match="empty input arrays"):
        model.predict(np.array([], "float32"))


@pytest.mark.parametrize("steps_per_execution", [0, 10])
@pytest.mark.parametrize("static_batch", [False, True])
def test_predict_structured(steps_per_execution, static_batch):
    """TestExceptionsAndWarnings.test_predict_structured (dynamic, dynamic_multistep, static,
    static_multistep): predict keeps a dict output's structure. Deliberate difference for the
    multistep cases: torchfit has no ``steps_per_execution`` (compile refuses it)."""

    class DictOut(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(2, 2)

        def forward(self, x):
            return {"out": self.dense(x)}

    model = torchfit.Model(DictOut(), device="cpu")
    if steps_per_execution:
        with pytest.raises(TypeError, match="unexpected keyword argument 'steps_per_execution'"):
            model.compile(loss="mse", steps_per_execution=steps_per_execution)
    model.compile(loss="mse")
    xdata = rand(8, 2)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(xdata), torch.from_numpy(xdata))
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, drop_last=static_batch)
    result = model.predict(loader, steps=1, verbose=0)
    assert list(result) == ["out"] and result["out"].shape == (8, 2)


def test_on_batch_error_inconsistent_batch_size():
    """TestExceptionsAndWarnings.test_on_batch_error_inconsistent_batch_size."""
    model = torchfit.Model(Concatenate(n_out=4, n_in=5), device="cpu")
    model.compile(loss="mse")
    with pytest.raises(ValueError, match="Data cardinality is ambiguous"):
        model.train_on_batch([np.ones((10, 5), "float32")] * 2, np.ones((11, 4), "float32"))
    with pytest.raises(ValueError, match="Data cardinality is ambiguous"):
        model.test_on_batch([np.ones((10, 5), "float32")] * 2, np.ones((11, 4), "float32"))
    with pytest.raises(ValueError, match="Data cardinality is ambiguous"):
        model.predict_on_batch([np.ones((10, 5), "float32"), np.ones((11, 5), "float32")])


# ------------------------------------------------------------------ LossWeightingTest
def weighted_mlp(num_classes=5, input_dim=5, optimizer=None):
    model = small_mlp(num_hidden=10, num_classes=num_classes, input_dim=input_dim)
    model.compile(loss="categorical_crossentropy",
                  metrics=["acc", metrics_module.CategoricalAccuracy()],
                  weighted_metrics=["mae", metrics_module.CategoricalAccuracy()],
                  optimizer=optimizer or RMSprop(learning_rate=0.001))
    return model


def test_class_weights():
    """LossWeightingTest.test_class_weights (the test asserts no numbers: a TODO upstream)."""
    num_classes, batch_size, weighted_class = 5, 5, 3
    model = weighted_mlp()
    x_train, y_train = get_test_data(100, 5, num_classes)
    x_test, int_y_test = get_test_data(100, 5, num_classes)
    y_train = np.eye(num_classes, dtype="float32")[y_train]
    y_test = np.eye(num_classes, dtype="float32")[int_y_test]
    test_ids = np.where(int_y_test == weighted_class)[0]
    class_weight = {i: 1.0 for i in range(num_classes)}
    class_weight[weighted_class] = 0.5
    model.fit(x_train, y_train, batch_size=batch_size, epochs=3, verbose=0,
              class_weight=class_weight, validation_data=(x_train, y_train))
    model.fit(x_train, y_train, batch_size=batch_size, epochs=5, verbose=0,
              class_weight=class_weight)
    model.fit(x_train, y_train, batch_size=batch_size, epochs=5, verbose=0,
              class_weight=class_weight, validation_split=0.1)
    model.train_on_batch(x_train[:batch_size], y_train[:batch_size], class_weight=class_weight)
    assert len(model.evaluate(x_test, y_test, verbose=0)) == 5
    assert len(model.evaluate(x_test[test_ids], y_test[test_ids], verbose=0)) == 5


def test_segmentation_class_weights():
    """LossWeightingTest.test_segmentation_class_weights. Deliberate difference: tf.keras 2
    turns ``class_weight`` into per-pixel weights for (N, H, W, C) targets; torchfit, like
    Keras 3, gives one weight per sample and refuses such targets with a ValueError (pass a
    per-pixel ``sample_weight`` instead)."""
    model = torchfit.Sequential(nn.Conv2d(3, 5, 1))
    model.compile(loss="categorical_crossentropy",
                  metrics=["acc", metrics_module.CategoricalAccuracy()],
                  weighted_metrics=["mae", metrics_module.CategoricalAccuracy()], optimizer="adam")
    x = torch.rand(2, 3, 8, 8)
    y = torch.randint(0, 5, (2, 5, 8, 8)).float()
    class_weight = {i: i + 1 for i in range(5)}
    with pytest.raises(ValueError, match="`class_weight` needs targets of shape"):
        model.fit(x, y, class_weight=class_weight, steps_per_epoch=1, verbose=0)
    with pytest.raises(ValueError, match="`class_weight` needs targets of shape"):
        model.fit(x, y, class_weight=class_weight, sample_weight=np.array([1.0, 2.0]),
                  steps_per_epoch=1, verbose=0)


def test_temporal_sample_weights():
    """LossWeightingTest.test_temporal_sample_weights: (N, T) sample weights on (N, T, C)
    outputs. tf.keras 2 needs ``compile(sample_weight_mode="temporal")``; torchfit (like
    Keras 3) takes the weights' shape as it comes and has no such argument."""
    num_classes, batch_size, timesteps, weighted_class = 5, 5, 3, 3
    model = torchfit.Sequential(nn.Linear(5, num_classes), nn.Softmax(dim=-1))
    x_train, int_y_train = get_test_data(100, 5, num_classes)
    y_train = np.eye(num_classes, dtype="float32")[int_y_train]
    sample_weight = np.ones(100, "float32")
    sample_weight[int_y_train == weighted_class] = 10.0
    temporal_x = np.repeat(x_train[:, None], timesteps, axis=1)
    temporal_y = np.repeat(y_train[:, None], timesteps, axis=1)
    temporal_sample_weight = np.repeat(sample_weight[:, None], timesteps, axis=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'sample_weight_mode'"):
        model.compile("rmsprop", "categorical_crossentropy", sample_weight_mode="temporal")
    model.compile(RMSprop(learning_rate=0.001), loss="categorical_crossentropy",
                  metrics=["acc", metrics_module.CategoricalAccuracy()],
                  weighted_metrics=["mae", metrics_module.CategoricalAccuracy()])
    model.fit(temporal_x, temporal_y, batch_size=batch_size, epochs=3, verbose=0,
              sample_weight=temporal_sample_weight)
    model.fit(temporal_x, temporal_y, batch_size=batch_size, epochs=3, verbose=0,
              sample_weight=temporal_sample_weight, validation_split=0.1)
    model.train_on_batch(temporal_x[:batch_size], temporal_y[:batch_size],
                         sample_weight=temporal_sample_weight[:batch_size])
    model.test_on_batch(temporal_x[:batch_size], temporal_y[:batch_size],
                        sample_weight=temporal_sample_weight[:batch_size])
    assert len(model.evaluate(temporal_x, temporal_y, verbose=0)) == 5


def test_fit_with_incorrect_weights():
    """LossWeightingTest.test_fit_with_incorrect_weights."""

    class TwoOut(nn.Module):
        def __init__(self):
            super().__init__()
            self.output_1 = nn.Linear(3, 2)
            self.output_2 = nn.Dropout(0.5)

        def forward(self, input_a, input_b):
            return self.output_1(input_a), self.output_2(self.output_1(input_b))

    model = torchfit.Model(TwoOut(), device="cpu")
    model.compile(optimizer="adam", loss="mse")
    x, y = rand(10, 3), rand(10, 2)
    with pytest.raises(ValueError, match="Unknown output name"):
        model.fit([x, x], [y, y], epochs=1, sample_weight={"unknown": x}, verbose=0)
    with pytest.raises(ValueError, match="`class_weight` keys must be"):
        model.fit([x, x], [y, y], epochs=1, class_weight={"unknown": 1}, verbose=0)


def test_default_sample_weight():
    """LossWeightingTest.test_default_sample_weight: fit works without a sample_weight.
    Deliberate difference: ``sample_weight_mode`` (gone in Keras 3 too) is refused in each of
    the test's six forms; the fit without it, the case's point, runs."""
    model = torchfit.Sequential(nn.Linear(5, 5))
    x, y = rand(10, 3, 5), rand(10, 3, 5)
    for sample_weight_mode in ([None], ["temporal"], {"time_distributed": None},
                               {"time_distributed": "temporal"}, None, "temporal"):
        with pytest.raises(TypeError, match="sample_weight_mode"):
            model.compile("rmsprop", loss="mse", sample_weight_mode=sample_weight_mode)
        model.compile(RMSprop(learning_rate=0.001), loss="mse")
        model.fit(x, y, epochs=1, batch_size=10, verbose=0)


# ------------------------------------------------------------------ TestTrainingWithMetrics
def test_metrics_names():
    """TestTrainingWithMetrics.test_metrics_names: tf.keras 2's flat list, output by output.
    (Keras 3 returns ['loss', 'compile_metrics', ...] here; torchfit keeps tf.keras 2's.)"""
    model = torchfit.Model(TwoInTwoOut(), device="cpu")
    model.compile(RMSprop(learning_rate=0.001), loss="mae",
                  metrics=["mse", metrics_module.BinaryAccuracy()])
    x, y = two_io_data()
    model.fit(x, y, epochs=1, batch_size=5, verbose=0)
    assert model.metrics_names == ["loss", "dense_loss", "dropout_loss", "dense_mse",
                                   "dense_binary_accuracy", "dropout_mse",
                                   "dropout_binary_accuracy"]


def sigmoid_mlp():
    return torchfit.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1), nn.Sigmoid())


def test_metric_state_reset_between_fit_and_evaluate():
    """TestTrainingWithMetrics.test_metric_state_reset_between_fit_and_evaluate."""
    model = sigmoid_mlp()
    acc_obj = metrics_module.BinaryAccuracy()
    model.compile(loss="mae", metrics=[acc_obj], optimizer=RMSprop(learning_rate=0.001))
    model.fit(rand(100, 4), rand(100, 1), batch_size=5, epochs=2, verbose=0)
    assert float(acc_obj.count) == 100
    model.evaluate(rand(10, 4), rand(10, 1), batch_size=5, verbose=0)
    assert float(acc_obj.count) == 10


def test_metric_state_reset_between_test_on_batch_and_evaluate():
    """TestTrainingWithMetrics.test_metric_state_reset_between_test_on_batch_and_evaluate."""
    model = sigmoid_mlp()
    model.compile(loss="mae", metrics=[metrics_module.BinaryAccuracy()],
                  optimizer=RMSprop(learning_rate=0.001))
    x_test, y_test = rand(10, 4), rand(10, 1)
    loss, acc = model.test_on_batch(x_test[:2], y_test[:2])
    loss_eval, acc_eval = model.evaluate(x_test, y_test, verbose=0)
    loss_1, acc_1 = model.test_on_batch(x_test[:2], y_test[:2])
    loss_eval_1, acc_eval_1 = model.evaluate(x_test, y_test, verbose=0)
    assert (loss, acc, loss_eval, acc_eval) == (loss_1, acc_1, loss_eval_1, acc_eval_1)


class SharedThenTwo(nn.Module):
    """``Dense(3)`` shared by two inputs, then ``output_1`` / ``output_2`` (Dense(1) each)."""

    def __init__(self):
        super().__init__()
        self.x = dense(1, 3, ones=True)
        self.output_1 = dense(3, 1, ones=True)
        self.output_2 = dense(3, 1, ones=True)
        self.requires_grad_(False)  # trainable=False

    def forward(self, input_1, input_2):
        return self.output_1(self.x(input_1)), self.output_2(self.x(input_2))


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
def test_metrics_valid_compile_input_formats():
    """TestTrainingWithMetrics.test_metrics_valid_compile_input_formats: a list, a list of
    lists and a dict of metrics (and weighted metrics) on two outputs (trained once each)."""
    M = metrics_module
    configs = [
        [M.MeanSquaredError()],
        [M.MeanSquaredError(), [M.MeanSquaredError(), M.Accuracy()]],
        {"output_1": M.MeanSquaredError(), "output_2": [M.MeanSquaredError(), M.Accuracy()]},
    ]
    for metrics, weighted in zip(configs, [
            [M.MeanSquaredError()],
            [M.MeanSquaredError(), [M.MeanSquaredError(), M.Accuracy()]],
            {"output_1": M.MeanSquaredError(), "output_2": [M.MeanSquaredError(), M.Accuracy()]}]):
        model = torchfit.Model(SharedThenTwo(), device="cpu")
        model.compile(optimizer="rmsprop", loss="mse", metrics=metrics, weighted_metrics=weighted)
        x = np.ones((4, 1), "float32")
        model.fit([x, x], [x, x], verbose=0)


def test_add_metric_with_tensor_on_model():
    """TestTrainingWithMetrics.test_add_metric_with_tensor_on_model (``model.add_metric(
    reduce_sum(y))`` is a callable of the model's output here)."""
    model = torchfit.Model(dense(1, 1, ones=True), device="cpu")
    model.add_metric(lambda out: out.sum(), name="metric_1", aggregation="mean", on="")
    model.compile("sgd", loss="mse")
    inputs = targets = np.ones((10, 1), "float32")
    history = model.fit(inputs, targets, epochs=2, batch_size=5,
                        validation_data=(inputs, targets), verbose=0)
    assert history.history["metric_1"][-1] == 5
    assert history.history["val_metric_1"][-1] == 5
    assert model.evaluate(inputs, targets, batch_size=5, verbose=0)[-1] == 5
    model.predict(inputs, batch_size=5, verbose=0)
    model.train_on_batch(inputs, targets)
    model.test_on_batch(inputs, targets)


class AddsTwoMetrics(torchfit.Layer):
    """``add_metric(reduce_sum(x), "metric_2")`` and ``add_metric(Mean()(x), "metric_1")``."""

    def __init__(self):
        super().__init__()
        self.mean = metrics_module.Mean(name="metric_1")

    def forward(self, x):
        self.add_metric(x.sum(), name="metric_2", aggregation="mean")
        self.add_metric(self.mean(x), name="metric_1")
        return x


def test_add_metric_in_model_call():
    """TestTrainingWithMetrics.test_add_metric_in_model_call."""
    model = torchfit.Sequential(AddsTwoMetrics(), dense(1, 2, ones=True))
    model.compile(loss="mse", optimizer=RMSprop(0.01))
    x, y = np.ones((10, 1), "float32"), np.ones((10, 2), "float32")
    history = model.fit(x, y, epochs=2, batch_size=5, validation_data=(x, y), verbose=0)
    for key, expected in (("metric_1", 1), ("val_metric_1", 1), ("metric_2", 5),
                          ("val_metric_2", 5)):
        assert round(history.history[key][-1]) == expected
    assert [round(v) for v in model.evaluate(x, y, batch_size=5, verbose=0)[1:]] == [5, 1]
    model.predict(x, batch_size=5, verbose=0)
    model.train_on_batch(x, y)
    model.test_on_batch(x, y)


class AddsInputSum(torchfit.Layer):
    def __init__(self, name="metric_1"):
        super().__init__()
        self.metric_name = name

    def forward(self, inputs):
        self.add_metric(inputs.sum(), name=self.metric_name, aggregation="mean")
        return inputs + 1


def test_add_metric_in_layer_call():
    """TestTrainingWithMetrics.test_add_metric_in_layer_call."""
    model = torchfit.Sequential(AddsInputSum(), dense(1, 2, ones=True))
    model.compile(loss="mse", optimizer=RMSprop(0.01))
    x, y = np.ones((10, 1), "float32"), np.ones((10, 2), "float32")
    history = model.fit(x, y, epochs=2, batch_size=5, validation_data=(x, y), verbose=0)
    assert history.history["metric_1"][-1] == 5
    assert round(history.history["val_metric_1"][-1]) == 5


class WithAddMetric(torchfit.Layer):
    def __init__(self, name="metric_1"):
        super().__init__()
        self.dense = dense(1, 1, ones=True)
        self.metric_name = name

    def forward(self, inputs):
        outputs = self.dense(inputs)
        self.add_metric(outputs.sum(), name=self.metric_name, aggregation="mean")
        return outputs


class WithNestedAddMetric(torchfit.Layer):
    def __init__(self):
        super().__init__()
        self.layer = WithAddMetric()

    def forward(self, inputs):
        outputs = self.layer(inputs)
        self.add_metric(outputs.sum(), name="metric_2", aggregation="mean")
        return outputs


def test_model_metrics_list():
    """TestTrainingWithMetrics.test_model_metrics_list: compiled metrics, then the layers'
    (outer before inner), then the model's own."""
    model = torchfit.Model(WithNestedAddMetric(), device="cpu")
    model.add_metric(lambda out: out.sum(), name="metric_3", aggregation="mean", on="")
    model.compile("sgd", loss="mse", metrics=[metrics_module.Accuracy("metric_4")])
    model.fit(np.ones((10, 1), "float32"), np.ones((10, 1), "float32"), batch_size=10,
              verbose=0)
    assert [m.name for m in model.metrics] == ["loss", "metric_4", "metric_2", "metric_1",
                                               "metric_3"]


def test_model_metrics_list_in_call():
    """TestTrainingWithMetrics.test_model_metrics_list_in_call."""
    model = torchfit.Sequential(AddsInputSum(), dense(1, 2, ones=True))
    model.compile(loss="mse", optimizer=RMSprop(0.01), metrics=[metrics_module.Accuracy("acc")])
    x, y = np.ones((10, 1), "float32"), np.ones((10, 2), "float32")
    model.fit(x, y, epochs=2, batch_size=5, validation_data=(x, y), verbose=0)
    assert [m.name for m in model.metrics] == ["loss", "acc", "metric_1"]


class ThreeMetrics(torchfit.Layer):
    def __init__(self):
        super().__init__()
        self.mean1 = metrics_module.Mean(name="metric_1")
        self.mean2 = metrics_module.Mean(name="metric_2")

    def forward(self, x):
        self.add_metric(self.mean2(x), name="metric_2")
        self.add_metric(self.mean1(x), name="metric_1")
        self.add_metric(x.sum(), name="metric_3", aggregation="mean")
        return x


def test_multiple_add_metric_calls():
    """TestTrainingWithMetrics.test_multiple_add_metric_calls. Deliberate difference: before
    compile, tf.keras 2's ``model.metrics`` lists the Mean objects held as attributes
    (``['metric_1', 'metric_2']``); torchfit's lists compiled and added metrics only (``[]``)."""
    model = torchfit.Sequential(ThreeMetrics(), dense(1, 2, ones=True))
    assert model.metrics == []
    model.compile(loss="mse", optimizer=RMSprop(0.01))
    x, y = np.ones((10, 1), "float32"), np.ones((10, 2), "float32")
    history = model.fit(x, y, epochs=2, batch_size=5, validation_data=(x, y), verbose=0)
    for key, expected in (("metric_1", 1), ("metric_2", 1), ("metric_3", 5)):
        assert round(history.history[key][-1]) == expected
    results = model.evaluate(x, y, batch_size=5, verbose=0)
    np.testing.assert_allclose(sorted(results[1:4]), [1, 1, 5], atol=0.1)
    model.predict(x, batch_size=5, verbose=0)
    model.train_on_batch(x, y)
    model.test_on_batch(x, y)


def test_add_metric_without_name():
    """TestTrainingWithMetrics.test_add_metric_without_name: a name is required (Keras: a
    ValueError at fit; torchfit: at the add_metric call, ``name=None`` a ValueError)."""

    class NoName(torchfit.Layer):
        def forward(self, x):
            self.add_metric(x.sum(), name=None, aggregation="mean")
            return x

    model = torchfit.Sequential(NoName(), dense(1, 2, ones=True))
    model.compile(loss="mse", optimizer=RMSprop(0.01))
    x, y = np.ones((10, 1), "float32"), np.ones((10, 2), "float32")
    with pytest.raises(ValueError, match="needs a non-empty string `name`"):
        model.fit(x, y, epochs=2, batch_size=5, validation_data=(x, y), verbose=0)


def test_add_metric_correctness():
    """TestTrainingWithMetrics.test_add_metric_correctness: loss and three MAEs (a layer's, the
    model's, a compiled one) all read [1.0, 0.9, 0.8, 0.7, 0.6] over 5 epochs of SGD(0.1).

    Deliberate difference for ``mae_1``: Keras tracks (and resets every epoch) the metric object
    a layer holds; torchfit tracks compiled and added metrics only, so the layer's own
    ``MeanAbsoluteError`` keeps accumulating across epochs and its value is the running mean of
    Keras's sequence. Reset it in an overridden ``reset_metrics`` to get Keras's numbers.
    """

    class Bias(torchfit.Layer):
        def __init__(self):
            super().__init__()
            self.bias = nn.Parameter(torch.zeros(1))
            self.mae = metrics_module.MeanAbsoluteError(name="mae_1")

        def forward(self, inputs, targets):
            outputs = inputs + self.bias
            self.add_metric(self.mae(targets, outputs), name="mae_1")
            return outputs

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.bias = Bias()
            self.last = None

        def forward(self, inputs, targets):
            self.last = (targets, self.bias(inputs, targets))
            return self.last[1]

    net = Net()
    model = torchfit.Model(net, device="cpu")
    model.add_metric(lambda: torchfit.losses.mean_absolute_error(*net.last).mean(), name="mae_2",
                     aggregation="mean")
    model.compile(loss="mae", optimizer=SGD(0.1),
                  metrics=[metrics_module.MeanAbsoluteError(name="mae_3")])
    x = np.array([[0.0], [1.0], [2.0]], "float32")
    y = np.array([[0.5], [2.0], [3.5]], "float32")
    history = model.fit([x, y], y, batch_size=3, epochs=5, verbose=0)
    expected_val = [1.0, 0.9, 0.8, 0.7, 0.6]
    for key in ["loss", "mae_2", "mae_3"]:
        np.testing.assert_allclose(history.history[key], expected_val, rtol=1e-3)
    running_mean = np.cumsum(expected_val) / np.arange(1, 6)
    np.testing.assert_allclose(history.history["mae_1"], running_mean, rtol=1e-3)


def test_add_metric_order():
    """TestTrainingWithMetrics.test_add_metric_order."""

    class MyLayer(torchfit.Layer):
        def forward(self, inputs):
            self.add_metric(torch.ones(32) * 2.0, name="two", aggregation="mean")
            return inputs

    class MyModel(torchfit.Model):
        def __init__(self):
            super().__init__(device="cpu")
            self._sampler = MyLayer()
            self.add_metric(lambda: torch.ones(32) * 1.0, name="one", aggregation="mean")
            self.add_metric(lambda: torch.ones(32) * 3.0, name="three", aggregation="mean")

        def forward(self, inputs):
            return self._sampler(inputs)

    xdata = rand(32, 16)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(xdata), torch.from_numpy(xdata)),
        batch_size=32, drop_last=True)
    model = MyModel()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.warns(UserWarning, match="does not have any trainable weights"):
        history = model.fit(loader, epochs=3, verbose=0)
    assert history.history == {"loss": [0.0, 0.0, 0.0], "three": [3.0, 3.0, 3.0],
                               "two": [2.0, 2.0, 2.0], "one": [1.0, 1.0, 1.0]}


def test_add_metric_aggregation_mean():
    """TestTrainingWithMetrics.test_add_metric_aggregation_mean."""
    model = torchfit.Sequential(AddsInputSum(), dense(1, 2, ones=True))
    model.compile("rmsprop", "mse")
    model.fit(np.ones((10, 1), "float32"), np.ones((10, 2), "float32"), batch_size=5, verbose=0)


def test_add_metric_aggregation_none():
    """TestTrainingWithMetrics.test_add_metric_aggregation_none. Deliberate difference:
    tf.keras 2 takes ``aggregation=None`` for an already-aggregated value; torchfit's
    aggregations are ``"mean"`` and ``"sum"`` (Keras 3 has no ``add_metric`` at all)."""
    layer = torchfit.Layer()
    with pytest.raises(ValueError, match="`aggregation` must be one of 'mean', 'sum'"):
        layer.add_metric(torch.tensor(1.0), name="metric_1", aggregation=None)


def test_calling_evaluate_in_callback_during_fit():
    """TestTrainingWithMetrics.test_calling_evaluate_in_callback_during_fit."""
    model = torchfit.Model(dense(2, 2, ones=True, bias=False), device="cpu")
    ones, zeros = np.ones((10, 2), "float32"), np.zeros((10, 2), "float32")

    def batches(x):
        return torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(x)),
            batch_size=5)

    model.compile("sgd", "mse")

    class MyCallback(torchfit.callbacks.Callback):
        def on_epoch_end(self, *args, **kwargs):
            eval_result = self.model.evaluate(batches(zeros), verbose=0)
            assert abs(eval_result) <= 1e-7, eval_result

    history = model.fit(batches(ones), validation_data=batches(ones), callbacks=[MyCallback()],
                        verbose=0)
    assert abs(history.history["val_loss"][-1]) > 0.1
    assert abs(model.evaluate(batches(zeros), verbose=0)) < 1e-7


# ------------------------------------------------------------------ ScalarDataModelTest
def test_scalar_loss_reduction():
    """ScalarDataModelTest.test_scalar_loss_reduction: 1-D data, learning y = 2x + 0.5."""

    class MyModel(torchfit.Model):
        def __init__(self):
            super().__init__(device="cpu")
            self.w = nn.Parameter(torch.ones(()))
            self.b = nn.Parameter(torch.zeros(()))

        def forward(self, inputs):
            return inputs * self.w + self.b

    model = MyModel()
    model.compile(SGD(1e-2), loss="mse", metrics=["binary_accuracy"])
    x = np.array([3, 5, 5, 3, 5], dtype="float32")
    y = x * 2 + 0.5
    loss, acc = model.evaluate(x, y, verbose=0)
    loss2d, acc2d = model.evaluate(x[:, None], y[:, None], verbose=0)
    np.testing.assert_allclose([loss, acc], [loss2d, acc2d], atol=1e-6)
    model.fit(x, y, epochs=20, verbose=0)
    preds = model.predict(x, verbose=0)
    assert preds.shape == (5,)
    np.testing.assert_allclose(preds, y, atol=2e-1)


class DictMetric(metrics_module.Metric):
    """tf-keras's DictMetric: ``result()`` is ``{"my_mse": ..., "my_rmse": ...}``."""

    def __init__(self):
        super().__init__()
        self.sample_count = self.add_weight("sample_count")
        self.l2_sum = self.add_weight("l2_sum")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.l2_sum += ((y_true - y_pred) ** 2).sum()
        self.sample_count += y_true.shape[0]

    def result(self):
        mse = self.l2_sum / self.sample_count
        return {"my_mse": mse, "my_rmse": mse.sqrt()}


def test_model_with_metric_class_that_returns_dict():
    """TestTrainingWithMetrics.test_model_with_metric_class_that_returns_dict: the dict's keys
    become log keys, in every result form."""
    model = torchfit.Model(nn.Linear(2, 3), device="cpu")
    model.compile("sgd", "mse", metrics=["mae", DictMetric()])
    x, y = np.ones((10, 2), "float32"), np.ones((10, 3), "float32")
    keys = ["loss", "mae", "my_mse", "my_rmse"]
    assert list(model.fit(x, y, verbose=0).history.keys()) == keys
    assert len(model.evaluate(x, y, verbose=0)) == 4
    assert list(model.evaluate(x, y, return_dict=True, verbose=0).keys()) == keys
    assert len(model.train_on_batch(x, y)) == 4
    assert list(model.train_on_batch(x, y, return_dict=True).keys()) == keys
    assert len(model.test_on_batch(x, y)) == 4
    assert list(model.test_on_batch(x, y, return_dict=True).keys()) == keys


def test_add_metric_in_model_call_that_returns_dict():
    """TestTrainingWithMetrics.test_add_metric_in_model_call_that_returns_dict. Deliberate
    difference: ``add_metric`` takes one scalar value per name (Keras 3 has no ``add_metric``);
    a dict of values is refused. Log a dict-valued metric by compiling it (the test above)."""
    layer = torchfit.Layer()
    with pytest.raises((TypeError, ValueError)):
        layer.add_metric({"my_mse": torch.tensor(1.0)}, name="metric_1")


def test_duplicate_metric_name_in_add_metric():
    """TestTrainingWithMetrics.test_duplicate_metric_name_in_add_metric. Deliberate difference:
    Keras refuses two metric objects of one name held as attributes; torchfit does not track
    such attributes, and one ``add_metric`` name is one logged value."""

    class TwoMeans(torchfit.Layer):
        def __init__(self):
            super().__init__()
            self.mean = metrics_module.Mean(name="metric_1")
            self.mean2 = metrics_module.Mean(name="metric_1")

        def forward(self, x):
            self.add_metric(self.mean(x), name="metric_1")
            return x

    model = torchfit.Sequential(TwoMeans(), dense(1, 2, ones=True))
    model.compile(loss="mse", optimizer=RMSprop(0.01))
    x, y = np.ones((10, 1), "float32"), np.ones((10, 2), "float32")
    history = model.fit(x, y, epochs=2, batch_size=5, validation_data=(x, y), verbose=0)
    assert history.history["metric_1"] == [1.0, 1.0]


def test_multiple_add_metric_calls_layer():
    """TestTrainingWithMetrics.test_multiple_add_metric_calls_layer. Deliberate difference:
    a Keras layer lists the metric objects it holds (``layer.metrics``) and names an unnamed
    ``add_metric(Mean(name=...)(x))`` after the object; a torchfit Layer has no ``metrics``
    and ``add_metric`` takes the name explicitly."""
    layer = torchfit.Layer()
    assert not hasattr(layer, "metrics")
    with pytest.raises(TypeError, match="name"):
        layer.add_metric(metrics_module.Mean(name="m_1")(torch.ones(10, 10)))


@pytest.mark.parametrize("input_type", ["dataset", "generator", "sequence"])
def test_sequence_input_types(input_type):
    """TrainingTest.test_sequence_input_types (tuples; a DataLoader stands in for the dataset,
    a DataLoader over a map-style dataset of ready batches for the keras Sequence)."""
    ones = np.ones((4, 1), "float32")
    kwargs = {}
    if input_type == "dataset":
        data = torch.utils.data.TensorDataset(torch.ones(16, 1), torch.ones(16, 1))

        def xy():
            return torch.utils.data.DataLoader(data, batch_size=4)

        def x_only():
            return torch.utils.data.DataLoader(torch.ones(16, 1), batch_size=4)
    elif input_type == "generator":
        kwargs = {"steps": 4}

        def xy():
            return ((ones, ones) for _ in range(4))

        def x_only():
            return (ones for _ in range(4))
    else:
        def xy():
            return torch.utils.data.DataLoader([(ones, ones)] * 4, batch_size=None)

        def x_only():
            return torch.utils.data.DataLoader([ones] * 4, batch_size=None)

    model = torchfit.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1))
    model.compile(loss="mse", optimizer="sgd")
    model.fit(xy(), steps_per_epoch=kwargs.get("steps"), verbose=0)
    model.evaluate(xy(), verbose=0, **kwargs)
    assert model.predict(x_only(), verbose=0, **kwargs).shape == (16, 1)


def test_model_with_nested_compiled_model():
    """TestTrainingWithMetrics.test_model_with_nested_compiled_model: a compiled model inside
    another brings its layers' and its own added metrics."""

    class LayerWithAddMetric(torchfit.Layer):
        def __init__(self):
            super().__init__()
            self.dense = dense(1, 1, ones=True)

        def forward(self, inputs):
            outputs = self.dense(inputs)
            self.add_metric(outputs.sum(), name="mean", aggregation="mean")
            return outputs

    x, y = np.ones((10, 1), "float32"), np.ones((10, 1), "float32")
    inner_model = torchfit.Model(LayerWithAddMetric(), device="cpu")
    inner_model.add_metric(lambda out: out.sum(), name="mean1", aggregation="mean", on="")
    inner_model.compile("sgd", loss="mse", metrics=[metrics_module.Accuracy("acc")])
    inner_model.fit(x, y, batch_size=10, verbose=0)
    assert [m.name for m in inner_model.metrics] == ["loss", "acc", "mean", "mean1"]
    outer_model = torchfit.Model(inner_model, device="cpu")
    outer_model.add_metric(lambda out: out.sum(), name="mean2", aggregation="mean", on="")
    outer_model.compile("sgd", loss="mse", metrics=[metrics_module.Accuracy("acc2")])
    outer_model.fit(x, y, batch_size=10, verbose=0)
    assert [m.name for m in outer_model.metrics] == ["loss", "acc2", "mean", "mean1", "mean2"]


# ------------------------------------------------------------------ TrainingTest (continued)
class OnesWhenTraining(nn.Module):
    """``backend.in_train_phase(ones_like, zeros_like)``: ones in training, zeros otherwise."""

    def forward(self, inputs):
        return torch.ones_like(inputs) if self.training else torch.zeros_like(inputs)


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self._nested_layer = OnesWhenTraining()

    def forward(self, inputs):
        return self._nested_layer(inputs)


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
@pytest.mark.parametrize("module", [OnesWhenTraining, OnesWhenTraining, Nested], ids=[
    "learning_phase", "training_arg", "nested_training_arg"])
def test_fit_and_validate_training_mode(module):
    """TrainingTest.test_fit_and_validate_{learning_phase, training_arg, nested_training_arg}:
    training loss 0 (ones vs ones), validation loss 1 (zeros vs ones); torch's ``training``
    flag is both the learning phase and the ``training`` argument.

    Deliberate difference: Keras broadcasts the test's (40, 1) targets against the (40, 2)
    outputs; torchfit's losses refuse mismatched shapes, so the targets here are (40, 2)."""
    model = torchfit.Sequential(module())
    model.compile("sgd", loss="mae")
    with pytest.raises(ValueError, match=r"Shapes \(10, 1\) and \(10, 2\) are incompatible"):
        model.fit(np.ones((40, 2), "float32"), np.ones((40, 1), "float32"), batch_size=10,
                  verbose=0)
    inputs, targets = np.ones((40, 2), "float32"), np.ones((40, 2), "float32")

    def batches():
        dataset = torch.utils.data.TensorDataset(torch.from_numpy(inputs),
                                                 torch.from_numpy(targets))
        return torch.utils.data.DataLoader(dataset, batch_size=10)

    history = model.fit(batches(), epochs=2, verbose=0, validation_data=batches())
    np.testing.assert_allclose(history.history["loss"][0], 0.0)
    np.testing.assert_allclose(history.history["val_loss"][0], 1.0)


@pytest.mark.parametrize("weighted_metrics, data_kind, warns", [
    (None, "arrays", True), ([], "arrays", False), (None, "dataset", True)],
    ids=["warn_on_evaluate", "sample_weight_warning_disable", "warn_on_evaluate_with_dataset"])
def test_warn_on_evaluate(weighted_metrics, data_kind, warns, recwarn):
    """TrainingTest.test_warn_on_evaluate, test_sample_weight_warning_disable,
    test_warn_on_evaluate_with_tf_dataset (a DataLoader of ``(x, y, sample_weight)`` here)."""
    model = torchfit.Model(nn.Identity(), device="cpu")
    model.compile(loss="mse", metrics=["mse"], weighted_metrics=weighted_metrics)
    x, y, sample_weight = (torch.ones(100, 1), torch.ones(100, 1), torch.ones(100))
    if data_kind == "arrays":
        model.evaluate(x.numpy(), y.numpy(), sample_weight=sample_weight.numpy(), verbose=0)
    else:
        dataset = torch.utils.data.TensorDataset(x, y, sample_weight)
        model.evaluate(torch.utils.data.DataLoader(dataset, batch_size=10), verbose=0)
    messages = [str(w.message) for w in recwarn]
    assert any("`evaluate()` received a value for `sample_weight`" in m for m in messages) == warns


def test_target_dtype_matches_output():
    """TrainingTest.test_target_dtype_matches_output: a float64 model gets float64 targets and
    predicts float64."""

    def loss_fn(labels, preds):
        assert labels.dtype == preds.dtype == torch.float64
        return (labels - preds).mean(dim=-1)

    model = torchfit.Sequential(nn.Linear(1, 10), nn.Linear(10, 10)).double()
    model.compile("sgd", loss=loss_fn)
    inputs, targets = np.ones((10, 1), np.float64), np.ones((10, 1), np.float64)
    model.train_on_batch(inputs, targets)
    model.test_on_batch(inputs, targets)
    assert model.predict(inputs, verbose=0).dtype == np.float64


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_model_dtype(dtype):
    """TrainingTest.test_model_dtype: inputs reach a layer in the layer's dtype (a torch module's
    dtype is that of its weights; a one-weight layer stands in for Keras's ``dtype=``)."""

    class AssertTypeLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones((), dtype=dtype))

        def forward(self, inputs):
            assert inputs.dtype == dtype, inputs.dtype
            return inputs * self.scale + 1.0

    model = torchfit.Sequential(AssertTypeLayer())
    model.compile("sgd", "mse")
    x = y = np.ones((10, 10))
    model.fit(x, y, verbose=0)
    model.test_on_batch(x, y)
    model(torch.ones(10, 10, dtype=dtype))


def test_model_input_dtype():
    """TrainingTest.test_model_input_dtype: float64 data into a float32 model computes in
    float32."""
    seen = []

    class Record(nn.Module):
        def forward(self, x):
            seen.append(x.dtype)
            return x

    model = torchfit.Sequential(nn.Linear(10, 1), nn.ReLU(), nn.Linear(1, 10), Record())
    model.compile("sgd", "mse")
    x = y = torch.ones(10, 10, dtype=torch.float64)
    model.fit(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=2),
              verbose=0)
    assert set(seen) == {torch.float32}


def test_subclassed_model_with_training_arg():
    """TrainingTest.test_subclassed_model_with_training_arg: fit calls the model, and its
    layers, in training mode."""
    seen = {}

    class LayerWithTrainingArg(nn.Module):
        def forward(self, inputs):
            seen["l1"] = self.training
            return inputs

    class ModelWithTrainingArg(torchfit.Model):
        def __init__(self):
            super().__init__(device="cpu")
            self.l1 = LayerWithTrainingArg()
            self.w = nn.Parameter(torch.ones(()))

        def forward(self, inputs):
            seen["model"] = self.training
            return self.l1(inputs * self.w)

    model = ModelWithTrainingArg()
    model.compile(loss="mse", optimizer="sgd")
    model.fit(np.zeros((1, 2), "float32"), np.zeros((1, 2), "float32"), epochs=1, verbose=0)
    assert seen == {"model": True, "l1": True}
