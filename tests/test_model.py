import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torchfit
from helpers import compiled_model, make_model


def raw_sgd_training(x, y, batch_size, epochs, seed=0, sample_weight=None, lr=0.01):
    """The reference: a hand-written loop with Keras's weighted loss sum(w * l) / batch."""
    module = make_model(seed).module
    opt = torch.optim.SGD(module.parameters(), lr=lr)
    x, y = torch.from_numpy(x), torch.from_numpy(y).long()
    w = None if sample_weight is None else torch.as_tensor(sample_weight, dtype=torch.float32)
    epoch_losses = []
    for _ in range(epochs):
        total, seen = 0.0, 0
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            per_sample = F.cross_entropy(module(xb), yb, reduction="none")
            if w is not None:
                per_sample = per_sample * w[start:start + batch_size]
            loss = per_sample.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
            seen += len(xb)
        epoch_losses.append(total / seen)
    return module, epoch_losses


def test_fit_matches_a_hand_written_loop_exactly(blobs):
    x, y = blobs
    model = compiled_model(optimizer=torchfit.optimizers.SGD(learning_rate=0.01))
    history = model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    reference, losses = raw_sgd_training(x, y, batch_size=10, epochs=2)
    for ours, theirs in zip(model.module.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-5)


def test_sample_weight_and_class_weight_follow_keras(blobs):
    x, y = blobs
    weights = np.where(y == 2, 2.0, 1.0)
    model = compiled_model(optimizer=torchfit.optimizers.SGD(learning_rate=0.01))
    model.fit(x, y, sample_weight=weights, batch_size=16, epochs=1, shuffle=False, verbose=0)
    reference, _ = raw_sgd_training(x, y, 16, 1, sample_weight=weights)
    for ours, theirs in zip(model.module.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)

    by_class = compiled_model(optimizer=torchfit.optimizers.SGD(learning_rate=0.01))
    by_class.fit(x, y, class_weight={0: 1.0, 1: 1.0, 2: 2.0}, batch_size=16, epochs=1,
                 shuffle=False, verbose=0)
    for ours, theirs in zip(by_class.module.parameters(), model.module.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)

    plain = model.evaluate(x, y, verbose=0)[0]
    with pytest.warns(UserWarning, match="received a value for `sample_weight`"):  # tf.keras 2's
        doubled = model.evaluate(x, y, sample_weight=np.full(len(y), 2.0), verbose=0)[0]
    assert doubled == pytest.approx(2 * plain, rel=1e-5)


def test_history_keys_epochs_and_params(blobs):
    x, y = blobs
    model = compiled_model()
    history = model.fit(x, y, epochs=3, initial_epoch=1, validation_data=(x[:16], y[:16]),
                        verbose=0)
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert history.epoch == [1, 2]
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 2}
    assert model.history is history
    assert all(isinstance(v, float) for values in history.history.values() for v in values)


@pytest.mark.parametrize("metric, key", [
    ("accuracy", "accuracy"),
    ("acc", "acc"),
    ("sparse_categorical_accuracy", "sparse_categorical_accuracy"),
    (torchfit.metrics.SparseCategoricalAccuracy, "sparse_categorical_accuracy"),
])
def test_metric_log_keys_follow_tf_keras(blobs, metric, key):
    x, y = blobs
    metric = metric() if isinstance(metric, type) else metric
    model = compiled_model(metrics=[metric])
    history = model.fit(x, y, epochs=1, verbose=0, validation_split=0.25)
    assert list(history.history) == ["loss", key, "val_loss", f"val_{key}"]
    assert model.metrics_names == ["loss", key]


def test_accuracy_resolves_from_the_loss_and_shapes(blobs):
    x, y = blobs
    model = compiled_model()
    model.fit(x, y, epochs=3, verbose=0)
    accuracy = model.evaluate(x, y, verbose=0, return_dict=True)["accuracy"]
    predicted = model.predict(x, verbose=0).argmax(1)
    assert accuracy == pytest.approx(float((predicted == y).mean()))


def test_validation_split_uses_the_last_fraction_before_shuffling(blobs):
    x, y = blobs
    model = compiled_model()
    history = model.fit(x, y, epochs=1, validation_split=0.25, verbose=0)
    val_loss, val_acc = model.evaluate(x[-16:], y[-16:], verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(val_loss, rel=1e-6)
    assert history.history["val_accuracy"][0] == pytest.approx(val_acc)


def test_validation_freq(blobs):
    x, y = blobs
    history = compiled_model().fit(x, y, epochs=4, validation_data=(x, y), validation_freq=2,
                                   verbose=0)
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == 2
    history = compiled_model().fit(x, y, epochs=3, validation_data=(x, y),
                                   validation_freq=[1, 3], verbose=0)
    assert len(history.history["val_loss"]) == 2


def test_evaluate_return_forms(blobs):
    x, y = blobs
    no_metrics = compiled_model(metrics=())
    loss = no_metrics.evaluate(x, y, verbose=0)
    assert isinstance(loss, float)
    model = compiled_model(metrics=["accuracy", "sparse_top_k_categorical_accuracy"])
    results = model.evaluate(x, y, verbose=0)
    assert isinstance(results, list) and len(results) == 3
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(as_dict) == ["loss", "accuracy", "sparse_top_k_categorical_accuracy"]
    assert list(as_dict.values()) == results
    expected = F.cross_entropy(model.module(torch.from_numpy(x)), torch.from_numpy(y)).item()
    assert results[0] == pytest.approx(expected, rel=1e-5)


def test_predict_returns_numpy_equal_to_the_module(blobs):
    x, _ = blobs
    model = compiled_model()
    predictions = model.predict(x, batch_size=10, verbose=0)
    assert isinstance(predictions, np.ndarray) and predictions.shape == (64, 3)
    with torch.no_grad():
        expected = model.module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(predictions, expected, rtol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x[:5]), expected[:5], rtol=1e-6)
    # predict does not need compile.
    assert make_model().predict(torch.from_numpy(x), verbose=0).shape == (64, 3)


def test_on_batch_methods(blobs):
    x, y = blobs
    model = compiled_model(optimizer=torchfit.optimizers.SGD(learning_rate=0.1))
    before = model.test_on_batch(x, y)
    loss, acc = model.train_on_batch(x, y)
    assert loss == pytest.approx(before[0], rel=1e-6)  # the loss before the update
    after = model.test_on_batch(x, y, return_dict=True)
    assert after["loss"] < before[0]
    assert set(after) == {"loss", "accuracy"}


def test_compile_accepts_torch_objects(blobs):
    x, y = blobs
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.compile(optimizer=optimizer, loss=nn.CrossEntropyLoss(), metrics=["accuracy"])
    assert model.optimizer is optimizer
    history = model.fit(x, y, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]

    model = make_model()
    model.compile(optimizer=torch.optim.SGD, loss=lambda y_true, y_pred: F.cross_entropy(
        y_pred, y_true))
    assert isinstance(model.optimizer, torch.optim.SGD)
    model.fit(x, y, epochs=1, verbose=0)

    torchmetrics = pytest.importorskip("torchmetrics")
    model = make_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=[torchmetrics.classification.MulticlassAccuracy(num_classes=3,
                                                                          average="micro")])
    probabilities = nn.Sequential(model.module, nn.Softmax(-1))
    model.module = probabilities
    history = model.fit(x, y, epochs=2, verbose=0)
    assert "multiclass_accuracy" in history.history


def test_compiled_optimizer_is_a_real_torch_optimizer():
    model = make_model()
    model.compile(optimizer="rmsprop", loss="mse")
    assert isinstance(model.optimizer, torch.optim.RMSprop)
    assert model.optimizer.param_groups[0]["alpha"] == 0.9
    assert model.optimizer.param_groups[0]["eps"] == 1e-7


def test_subclassed_model_and_sequential(blobs):
    x, y = blobs

    class Net(torchfit.Model):
        def __init__(self):
            super().__init__(device="cpu")
            self.dense = nn.Linear(4, 3)

        def forward(self, inputs):
            return self.dense(inputs)

    net = Net()
    net.compile(optimizer=torchfit.optimizers.Adam(0.05),
                loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
    history = net.fit(x, y, epochs=10, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    assert net.module is None and len(net.trainable_weights) == 2

    seq = torchfit.Sequential(nn.Linear(4, 8), nn.ReLU(), device="cpu")
    seq.add(nn.Linear(8, 3))
    seq.compile(optimizer="adam", loss=torchfit.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    assert seq.predict(x, verbose=0).shape == (64, 3)
    assert [tuple(p.shape) for p in seq.trainable_weights] == [(8, 4), (8,), (3, 8), (3,)]


def test_weight_attributes_count_buffers_as_non_trainable():
    model = torchfit.Model(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)), device="cpu")
    model.module[0].bias.requires_grad_(False)
    assert len(model.trainable_weights) == 3  # linear weight, bn weight, bn bias
    assert len(model.non_trainable_weights) == 1 + 3  # frozen bias + running mean/var/count
    assert len(model.weights) == 7


def test_inputs_are_routed_by_structure():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 1)
            self.b = nn.Linear(3, 1)

        def forward(self, image, series):
            return self.a(image) + self.b(series)

    model = torchfit.Model(TwoInputs(), device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    image, series, y = np.ones((8, 2), "f4"), np.ones((8, 3), "f4"), np.zeros((8, 1), "f4")
    by_position = model.predict([image, series], verbose=0)
    by_name = model.predict({"series": series, "image": image}, verbose=0)
    np.testing.assert_allclose(by_position, by_name)
    model.fit({"image": image, "series": series}, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"\['imag'\] do not match .*\['image', 'series'\]"):
        torchfit.Model(TwoInputs(), device="cpu").predict({"imag": image, "series": series})


def test_save_and_load_weights_use_the_module_keys(tmp_path, blobs):
    x, y = blobs
    model = compiled_model()
    model.fit(x, y, epochs=1, verbose=0)
    for suffix in (".pt", ".h5"):
        path = tmp_path / f"weights{suffix}"
        model.save_weights(path)
        bare = make_model(seed=1).module
        bare.load_state_dict(torchfit.saving.load_state_dict(path))
        for ours, theirs in zip(model.module.state_dict().values(), bare.state_dict().values()):
            assert torch.equal(ours, theirs)
        other = make_model(seed=2)
        other.load_weights(path)
        np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    assert set(torchfit.saving.load_state_dict(tmp_path / "weights.pt")) == {
        "0.weight", "0.bias", "2.weight", "2.bias"}


def test_overriding_train_step_and_compute_loss_changes_fit(blobs):
    x, y = blobs
    calls = []

    class Custom(torchfit.Model):
        def train_step(self, data):
            calls.append(len(data[0]))
            return super().train_step(data)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            return super().compute_loss(x, y, y_pred, sample_weight) + 100.0

    torch.manual_seed(0)
    model = Custom(nn.Linear(4, 3), device="cpu")
    model.compile(optimizer="sgd", loss=torchfit.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert calls == [32, 32]
    # The logged loss is what the overriding compute_loss returns (issue 10 item 2, as Keras 3).
    assert history.history["loss"][0] > 100


def test_layer_add_loss_is_added_to_the_training_loss(blobs):
    x, y = blobs

    class ActivityRegularization(torchfit.Layer):
        def forward(self, inputs):
            self.add_loss(inputs.abs().sum() * 0.1)
            return inputs

    torch.manual_seed(0)
    model = torchfit.Model(nn.Sequential(nn.Linear(4, 3), ActivityRegularization()),
                           device="cpu")
    model.compile(optimizer="sgd", loss=torchfit.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    for _ in range(3):
        model(torch.from_numpy(x[:4]))
    assert len(model.losses) == 1  # cleared at each call
    plain = F.cross_entropy(model.module(torch.from_numpy(x)), torch.from_numpy(y)).item()
    total = model.evaluate(x, y, batch_size=64, verbose=0)
    assert total == pytest.approx(plain + model.losses[0].item(), rel=1e-5)
    with pytest.raises(ValueError, match=r"ActivityRegularization.add_loss expects a scalar"):
        model.module[1].add_loss(torch.ones(3))


def test_stop_training_is_honoured_after_a_batch(blobs):
    x, y = blobs

    class StopAfterTwo(torchfit.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches = 0

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1
            if self.batches == 2:
                self.model.stop_training = True

    stopper = StopAfterTwo()
    history = compiled_model().fit(x, y, batch_size=8, epochs=5, callbacks=[stopper], verbose=0)
    assert stopper.batches == 2 and history.epoch == [0]


def test_fit_reads_device_values_once_per_epoch(blobs, monkeypatch):
    """No host sync per step: count the Python-level reads of tensor values during fit."""
    x, y = blobs
    model = compiled_model()
    reads = []
    for name in ("item", "tolist", "__float__", "__bool__", "numpy"):
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _original=original, _name=name, **kwargs):
            reads.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, validation_data=(x, y))
    # 16 steps per epoch; one read for the training logs and one for validation, per epoch,
    # and one per fit: the first batch's sparse-label range check (tests/test_bad_input.py).
    assert len(reads) <= 5, reads


def test_loss_none_needs_an_added_loss(blobs):
    x, y = blobs
    model = make_model()
    model.compile(optimizer="sgd", loss=None)
    with pytest.raises(ValueError, match="No loss to compute"):
        model.fit(x, y, epochs=1, verbose=0)

    class Penalty(torchfit.Layer):
        def forward(self, inputs):
            self.add_loss(inputs.pow(2).mean())
            return inputs

    torch.manual_seed(0)
    model = torchfit.Model(nn.Sequential(nn.Linear(4, 3), Penalty()), device="cpu")
    model.compile(optimizer=torchfit.optimizers.SGD(0.5), loss=None)
    history = model.fit(x, epochs=3, verbose=0)  # no targets needed
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("suffix", [".pt", ".h5"])
def test_save_and_load_restore_weights_optimizer_and_history(tmp_path, blobs, suffix):
    x, y = blobs

    def build():
        return compiled_model(optimizer=torchfit.optimizers.RMSprop(learning_rate=1e-2))

    uninterrupted = build()
    uninterrupted.fit(x, y, epochs=2, shuffle=False, verbose=0)

    first = build()
    first.fit(x, y, epochs=1, shuffle=False, verbose=0)
    path = tmp_path / f"checkpoint{suffix}"
    first.save(path)
    training = torchfit.saving.load_checkpoint(path)["training"]
    assert training["epoch"] == 1 and training["step"] == 2  # 64 samples in batches of 32
    resumed = build()
    resumed.load(path)
    assert resumed.history.history["loss"] == first.history.history["loss"]
    resumed.fit(x, y, epochs=1, shuffle=False, verbose=0)  # RMSprop state carried over
    for ours, theirs in zip(resumed.module.parameters(), uninterrupted.module.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    # load_weights reads the weights part of a checkpoint as well.
    bare = make_model(seed=3)
    bare.load_weights(path)
    assert torch.equal(bare.module[0].weight, first.module[0].weight)


def test_hooks_on_the_model_still_run_when_the_call_skips_nn_modules_frames():
    # Model.__call__ calls forward directly only when nn.Module.__call__ would (no hooks).
    model = torchfit.Model(torch.nn.Linear(3, 2))
    seen = []
    handle = model.register_forward_hook(lambda module, args, output: seen.append("own"))
    model.predict(np.ones((4, 3), np.float32), verbose=0)
    handle.remove()
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda module, args, output: seen.append(type(module).__name__))
    try:
        model.predict(np.ones((4, 3), np.float32), verbose=0)
    finally:
        handle.remove()
    model.predict(np.ones((4, 3), np.float32), verbose=0)
    assert seen == ["own", "Linear", "Model"]
