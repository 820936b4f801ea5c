"""tf-keras's ``tf_keras/callbacks_test.py``, ported: the monitoring and logging callbacks
(EarlyStopping, LearningRateScheduler, ReduceLROnPlateau, CSVLogger, TerminateOnNaN,
LambdaCallback). See ``test_tf_keras_callbacks.py`` for the conventions.
"""

import csv
import re
import threading

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from tf_keras_helpers import (
    BATCH_SIZE,
    INPUT_DIM,
    NUM_CLASSES,
    TEST_SAMPLES,
    TRAIN_SAMPLES,
    dense,
    get_test_data,
    small_mlp,
)
from torchfit import callbacks as cb


def _es_data():
    (x_train, y_train), (x_test, y_test) = get_test_data(
        TRAIN_SAMPLES, TEST_SAMPLES, (INPUT_DIM,), NUM_CLASSES, seed=123)
    return x_train, y_train, x_test, y_test


@pytest.mark.parametrize("mode, monitor", [("max", "val_acc"), ("min", "val_loss"),
                                           ("auto", "val_acc"), ("auto", "loss"),
                                           ("unknown", "unknown")])
def test_EarlyStopping(mode, monitor):
    x_train, y_train, x_test, y_test = _es_data()
    model = small_mlp()
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["acc"])
    fit = dict(batch_size=BATCH_SIZE, validation_data=(x_test, y_test), epochs=5, verbose=0)
    if mode == "unknown":
        # Deliberate: tf-keras warns and falls back to "auto"; torchfit refuses an unknown mode
        # when the callback is built (errors early, at the public boundary).
        with pytest.raises(ValueError, match=r"`mode` must be one of 'auto', 'min', 'max'"):
            cb.EarlyStopping(patience=0, monitor=monitor, mode=mode)
        return
    model.fit(x_train, y_train, callbacks=[cb.EarlyStopping(patience=0, monitor=monitor,
                                                            mode=mode)], **fit)


@pytest.mark.parametrize("patience", [0, 1, 2, 3])
def test_EarlyStopping_patience(patience):
    losses = [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5]
    stopper = cb.EarlyStopping(monitor="loss", patience=patience)
    stopper.set_model(dense())
    stopper.on_train_begin()
    for epoch, loss in enumerate(losses):
        stopper.on_epoch_end(epoch=epoch, logs={"loss": loss})
        if stopper.model.stop_training:
            break
    assert stopper.stopped_epoch == max(patience, 1) + 2


def _one_unit_model():
    """Dense(1, relu), Dense(1, sigmoid), sgd, binary crossentropy."""
    torch.manual_seed(1337)
    model = torchfit.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1), nn.Sigmoid(),
                                device="cpu")
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_EarlyStopping_reuse():
    rng = np.random.RandomState(1337)
    data = rng.random_sample((100, 1)).astype("float32")
    labels = np.where(data > 0.5, 1, 0).astype("float32")
    model = _one_unit_model()
    weights = {k: v.clone() for k, v in model.module.state_dict().items()}
    model.module.load_state_dict(weights)  # training can go for at least `patience` epochs
    stopper = cb.EarlyStopping(monitor="acc", patience=3)
    with pytest.warns(UserWarning, match="Early stopping conditioned on metric `acc`"):
        hist = model.fit(data, labels, callbacks=[stopper], verbose=0, epochs=20)
    assert len(hist.epoch) >= 3


def test_EarlyStopping_with_baseline():
    (data, labels), _ = get_test_data(100, 50, (1,), NUM_CLASSES)
    labels = labels[:, 1:]
    model = small_mlp(num_hidden=1, num_classes=1, input_dim=1)
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["acc"])
    stopper = cb.EarlyStopping(monitor="acc", baseline=0.6)
    hist = model.fit(data, labels, callbacks=[stopper], verbose=0, epochs=20)
    assert len(hist.epoch) == 2
    stopper = cb.EarlyStopping(monitor="acc", patience=3, baseline=0.6)
    hist = model.fit(data, labels, callbacks=[stopper], verbose=0, epochs=20)
    assert len(hist.epoch) >= 3


def _weight_to_epoch(model, epoch):
    with torch.no_grad():
        model.module[0].weight.fill_(epoch)


def _restore_run(early_stop, losses):
    model = dense()
    early_stop.set_model(model)
    epochs_trained = 0
    early_stop.on_train_begin()
    for epoch, loss in enumerate(losses):
        epochs_trained += 1
        _weight_to_epoch(model, epoch)
        early_stop.on_epoch_end(epoch, logs={"val_loss": loss})
        if model.stop_training:
            break
    early_stop.on_train_end()
    return epochs_trained, model.module[0].weight.item()


def test_EarlyStopping_final_weights_when_restoring_model_weights():
    early_stop = cb.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    # The best configuration is in epoch 2 (loss = 0.1000): restored although patience is 2.
    assert _restore_run(early_stop, [0.2, 0.15, 0.1, 0.11, 0.12])[1] == 2
    # No epoch improves on the baseline: 5 epochs, and the weights of epoch 2 (loss 0.7).
    early_stop = cb.EarlyStopping(monitor="val_loss", patience=5, baseline=0.5,
                                  restore_best_weights=True)
    assert _restore_run(early_stop, [0.9, 0.8, 0.7, 0.71, 0.72, 0.73]) == (5, 2)


def test_EarlyStopping_with_start_from_epoch():
    (data, labels), _ = get_test_data(TRAIN_SAMPLES, TEST_SAMPLES, (INPUT_DIM,), NUM_CLASSES)
    model = small_mlp()
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["acc"])
    stopper = cb.EarlyStopping(monitor="acc", patience=3, start_from_epoch=2)
    history = model.fit(data, labels, callbacks=[stopper], verbose=0, epochs=20)
    assert len(history.epoch) >= 3 + 2
    stopper = cb.EarlyStopping(monitor="acc", patience=0, start_from_epoch=2)
    history = model.fit(data, labels, callbacks=[stopper], verbose=0, epochs=20)
    assert len(history.epoch) >= 2  # the boundary condition patience = 0


def _lrs_model(optimizer="sgd", loss="categorical_crossentropy", metrics=("accuracy",)):
    model = small_mlp()
    model.compile(loss=loss, optimizer=optimizer, metrics=list(metrics))
    return model


def test_LearningRateScheduler(capsys):
    x_train, y_train, x_test, y_test = _es_data()
    fit = dict(batch_size=BATCH_SIZE, validation_data=(x_test, y_test))
    model = _lrs_model()
    model.fit(x_train, y_train, epochs=5, verbose=1,
              callbacks=[cb.LearningRateScheduler(lambda x: 1.0 / (1.0 + x), verbose=1)], **fit)
    assert "LearningRateScheduler setting learning rate to 1.0" in capsys.readouterr().out
    assert abs(model.optimizer.learning_rate - 0.2) < 1e-7
    model = _lrs_model()  # sgd's default learning rate 0.01, halved twice
    model.fit(x_train, y_train, epochs=2, verbose=0,
              callbacks=[cb.LearningRateScheduler(lambda x, lr: lr / 2)], **fit)
    assert abs(model.optimizer.learning_rate - 0.01 / 4) < 1e-7
    model = _lrs_model()
    cosine = torchfit.schedules.CosineDecay(0.01, 2)
    model.fit(x_train, y_train, epochs=2, verbose=0,
              callbacks=[cb.LearningRateScheduler(lambda epoch, _: cosine(epoch))], **fit)
    decayed_learning_rate = 0.01 * 0.5 * (1 + np.cos(np.pi * (1 / 2)))
    assert abs(model.optimizer.learning_rate - decayed_learning_rate) < 1e-7


@pytest.mark.parametrize("min_delta, expected_lr", [(0, 0.1), (10, 0.01)])
def test_ReduceLROnPlateau(min_delta, expected_lr):
    (x_train, y_train), (x_test, y_test) = get_test_data(
        TRAIN_SAMPLES, TEST_SAMPLES, (INPUT_DIM,), NUM_CLASSES)
    model = _lrs_model(optimizer=torchfit.optimizers.SGD(learning_rate=0.1), metrics=())
    # min_delta=10: reduces the learning rate after the first epoch (a high epsilon).
    reduce_lr = cb.ReduceLROnPlateau(monitor="val_loss", factor=0.1, min_delta=min_delta,
                                     patience=1, cooldown=5)
    model.fit(x_train, y_train, batch_size=BATCH_SIZE, validation_data=(x_test, y_test),
              callbacks=[reduce_lr], epochs=2, verbose=0 if min_delta == 0 else 2)
    np.testing.assert_allclose(model.optimizer.learning_rate, expected_lr, atol=1e-4)


def test_ReduceLROnPlateau_patience():
    model = dense()
    model.compile(torchfit.optimizers.SGD(learning_rate=1.0), "mse")
    reduce_on_plateau = cb.ReduceLROnPlateau(monitor="val_loss", patience=2)
    reduce_on_plateau.set_model(model)
    lrs = []
    for epoch, loss in enumerate([0.0860, 0.1096, 0.1040]):
        reduce_on_plateau.on_epoch_end(epoch, logs={"val_loss": loss})
        lrs.append(model.optimizer.learning_rate)
    assert lrs[:-1] == [1.0, 1.0]  # 1.0 except the last one
    assert lrs[-1] < 1.0


def test_ReduceLROnPlateau_backwards_compatibility():
    with pytest.warns(DeprecationWarning, match="`epsilon` argument is deprecated"):
        reduce_on_plateau = cb.ReduceLROnPlateau(epsilon=1e-13)
    assert not hasattr(reduce_on_plateau, "epsilon")
    assert reduce_on_plateau.min_delta == 1e-13


def test_CSVLogger(tmp_path):
    filepath, sep = str(tmp_path / "log.tsv"), "\t"
    x_train, y_train, x_test, y_test = _es_data()
    fit = dict(batch_size=BATCH_SIZE, validation_data=(x_test, y_test), verbose=0)

    def make_model():
        return _lrs_model(optimizer=torchfit.optimizers.SGD(learning_rate=0.1))

    # case 1, create new file with defined separator
    make_model().fit(x_train, y_train, callbacks=[cb.CSVLogger(filepath, separator=sep)],
                     epochs=1, **fit)
    with open(filepath) as csvfile:
        assert csv.Sniffer().sniff(csvfile.read()).delimiter == sep
    # case 2, append data to existing file, skip header
    model = make_model()
    cbks = [cb.CSVLogger(filepath, separator=sep, append=True)]
    model.fit(x_train, y_train, callbacks=cbks, epochs=1, **fit)
    # case 3, reuse of CSVLogger object
    model.fit(x_train, y_train, callbacks=cbks, epochs=2, **fit)
    with open(filepath) as csvfile:
        list_lines = csvfile.readlines()
    assert all(line.count(sep) == 4 for line in list_lines)
    assert len(list_lines) == 5
    assert len(re.findall("epoch", " ".join(list_lines))) == 1
    (tmp_path / "log.tsv").unlink()
    # case 4, validation loss registered when validation_freq > 1
    hist = make_model().fit(x_train, y_train, validation_freq=3, epochs=5,
                            callbacks=[cb.CSVLogger(filepath, separator=sep)],
                            **{**fit, "verbose": 0})
    with open(filepath) as csvfile:
        for idx, row in enumerate(csv.DictReader(csvfile, delimiter=sep), 1):
            assert "val_loss" in row
            if idx == 3:
                assert row["val_loss"] == str(hist.history["val_loss"][0])
            else:
                assert row["val_loss"] == "NA"


def test_stop_training_csv(tmp_path):
    # CSVLogger with TerminateOnNaN does not write an invalid CSV.
    fp = str(tmp_path / "test.csv")
    (x_train, y_train), (x_test, y_test) = get_test_data(
        TRAIN_SAMPLES, TEST_SAMPLES, (INPUT_DIM,), NUM_CLASSES)
    torch.manual_seed(1337)
    layers = [nn.Linear(INPUT_DIM, 2), nn.ReLU()]
    for _ in range(4):
        layers += [nn.Linear(2, 2), nn.ReLU()]
    model = torchfit.Sequential(*layers, nn.Linear(2, NUM_CLASSES), device="cpu")
    model.compile(loss="mean_squared_error", optimizer="rmsprop")

    def data_generator():
        i, tot, max_batch_index = 0, 0, len(x_train) // BATCH_SIZE
        while True:
            if tot > 3 * len(x_train):
                yield (np.full([BATCH_SIZE, INPUT_DIM], np.nan, "float32"),
                       np.full([BATCH_SIZE, NUM_CLASSES], np.nan, "float32"))
            else:
                yield (x_train[i * BATCH_SIZE:(i + 1) * BATCH_SIZE],
                       y_train[i * BATCH_SIZE:(i + 1) * BATCH_SIZE])
            i, tot = (i + 1) % max_batch_index, tot + 1

    history = model.fit(data_generator(), steps_per_epoch=len(x_train) // BATCH_SIZE,
                        validation_data=(x_test, y_test), epochs=20, verbose=0,
                        callbacks=[cb.TerminateOnNaN(), cb.CSVLogger(fp)])
    loss = history.history["loss"]
    assert len(loss) > 1
    assert loss[-1] == np.inf or np.isnan(loss[-1])
    with open(fp) as f:
        values = [x for x in csv.reader(f) if x]
    assert "nan" in values[-1], "The last epoch was not logged."


def test_TerminateOnNaN():
    (x_train, y_train), (x_test, y_test) = get_test_data(
        TRAIN_SAMPLES, TEST_SAMPLES, (INPUT_DIM,), NUM_CLASSES)
    layers = [nn.Linear(INPUT_DIM, 2), nn.ReLU()]
    for _ in range(4):
        layers += [nn.Linear(2, 2), nn.ReLU()]
    for layer in layers[::2]:
        nn.init.constant_(layer.weight, 1e5), nn.init.zeros_(layer.bias)
    model = torchfit.Sequential(*layers, nn.Linear(2, NUM_CLASSES), device="cpu")
    model.compile(loss="mean_squared_error", optimizer="rmsprop")
    history = model.fit(x_train, y_train, batch_size=BATCH_SIZE, validation_data=(x_test, y_test),
                        callbacks=[cb.TerminateOnNaN()], epochs=20, verbose=0)
    loss = history.history["loss"]
    assert len(loss) == 1
    assert np.isnan(loss[0]) or np.isinf(loss[0])


def test_LambdaCallback():
    x_train, y_train, x_test, y_test = _es_data()
    model = _lrs_model()
    # A thread that should run during training and be stopped once training has completed.
    e = threading.Event()
    t = threading.Thread(target=e.wait)
    t.start()
    cleanup_callback = cb.LambdaCallback(on_train_end=lambda logs: e.set())
    model.fit(x_train, y_train, batch_size=BATCH_SIZE, validation_data=(x_test, y_test),
              callbacks=[cleanup_callback], epochs=5, verbose=0)
    t.join(timeout=10)
    assert not t.is_alive()
