"""The built-in callbacks: Keras rules checked on scripted metric sequences, then through fit."""

import csv
import os
import subprocess
import sys
import types
import warnings
from types import MappingProxyType

import numpy as np
import pytest
import torch

import torchfit
from helpers import compiled_model
from torchfit import optimizers
from torchfit.callbacks import (
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TensorBoard,
    TerminateOnNaN,
)
from torchfit.callbacks.monitor import Monitor


def _drive(callback, model, values, monitor="val_loss", extra=None):
    """Feeds ``{monitor: v}`` epoch logs to ``callback`` like fit does; returns epochs run."""
    callback.set_model(model)
    callback.set_params({"epochs": len(values), "steps": 1, "verbose": 0})
    model.stop_training = False
    callback.on_train_begin()
    ran = 0
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch)
        logs = {"loss": 1.0, monitor: value, **(extra or {})}
        callback.on_epoch_end(epoch, MappingProxyType(logs))
        ran += 1
        if model.stop_training:
            break
    callback.on_train_end(MappingProxyType({}))
    return ran


def _roundtrip(state, tmp_path):
    """Saves a callback state like a weights_only checkpoint would, and loads it back."""
    path = tmp_path / "state.pt"
    torch.save(state, path)
    return torch.load(path, weights_only=True)


def _weights(model):
    return {k: v.detach().clone() for k, v in model.module.state_dict().items()}


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------ Monitor
def test_mode_must_be_auto_min_or_max():
    for cls in (EarlyStopping, ReduceLROnPlateau):
        with pytest.raises(ValueError, match=r"`mode` must be one of 'auto', 'min', 'max'. "
                                             r"Received: mode='maximum'"):
            cls(mode="maximum")
    with pytest.raises(ValueError, match="`mode` must be one of"):
        ModelCheckpoint("m.pt", mode="best")


def test_auto_mode_uses_the_metric_direction_then_the_keras_name_rule():
    assert Monitor("val_accuracy").higher_is_better
    assert Monitor("acc").higher_is_better
    assert Monitor("val_auc").higher_is_better
    assert not Monitor("val_loss").higher_is_better
    assert not Monitor("val_mean_squared_error").higher_is_better
    # A metric of the model decides through higher_is_better, whatever its name says.
    model = types.SimpleNamespace(metrics=[types.SimpleNamespace(name="score",
                                                                 higher_is_better=True)])
    monitor = Monitor("val_score")
    monitor.resolve(model)
    assert monitor.higher_is_better and monitor.initial_best() == -float("inf")
    assert Monitor("val_accuracy", mode="min").higher_is_better is False


def test_min_delta_follows_the_keras_sign_convention():
    down, up = Monitor("val_loss", min_delta=-0.1), Monitor("val_accuracy", min_delta=0.1)
    assert down.is_improvement(0.85, 1.0) and not down.is_improvement(0.95, 1.0)
    assert up.is_improvement(0.75, 0.6) and not up.is_improvement(0.65, 0.6)
    assert not down.is_improvement(float("nan"), 1.0)


def test_missing_monitor_warns_once_listing_the_available_keys():
    model = compiled_model()
    stop = EarlyStopping(monitor="val_accuracy", patience=0)
    with pytest.warns(UserWarning) as record:
        _drive(stop, model, [0.5, 0.4, 0.3], monitor="accuracy")
    messages = [str(w.message) for w in record]
    assert messages == ["Early stopping conditioned on metric `val_accuracy` which is not "
                        "available. Available metrics are: loss,accuracy"]
    assert not model.stop_training


# ------------------------------------------------------------------------------ EarlyStopping
def test_early_stopping_follows_the_guide_example(capsys):
    # The guide's run: min_delta=1e-2, patience=2 stops after epoch 6.
    stop = EarlyStopping(monitor="val_loss", min_delta=1e-2, patience=2, verbose=1)
    ran = _drive(stop, compiled_model(), [0.2237, 0.1784, 0.1583, 0.1404, 0.1332, 0.1341, 0.1])
    assert ran == 6 and stop.stopped_epoch == 5 and stop.best == 0.1404 and stop.wait == 2
    assert capsys.readouterr().out == "Epoch 00006: early stopping\n"


@pytest.mark.parametrize("kwargs, values, ran, best", [
    ({"patience": 0}, [1.0, 0.9, 0.95, 0.5], 3, 0.9),
    ({"patience": 1}, [1.0, 0.9, 0.95, 0.5], 3, 0.9),
    ({"patience": 2}, [1.0, 0.9, 0.95, 0.5], 4, 0.5),
    ({"patience": 2, "min_delta": 0.1}, [1.0, 0.95, 0.91, 0.85], 3, 1.0),
    ({"patience": 2, "min_delta": 0.1}, [1.0, 0.95, 0.89, 0.85], 4, 0.89),
    # auto mode: "acc" in the name -> max
    ({"patience": 2, "monitor": "val_accuracy"}, [0.5, 0.6, 0.55, 0.58, 0.9], 4, 0.6),
    # baseline: improvements that do not beat it do not reset the patience
    ({"patience": 2, "baseline": 0.5}, [0.9, 0.8, 0.85, 0.6], 3, 0.8),
    ({"patience": 2, "baseline": 0.5}, [0.4, 0.45, 0.46, 0.3], 3, 0.4),
    # warm-up epochs are not monitored
    ({"patience": 1, "start_from_epoch": 2}, [5.0, 6.0, 3.0, 3.0, 2.0], 4, 3.0),
])
def test_early_stopping_rules(kwargs, values, ran, best):
    monitor = kwargs.get("monitor", "val_loss")
    stop = EarlyStopping(**kwargs)
    assert _drive(stop, compiled_model(), values, monitor=monitor) == ran
    assert stop.best == best
    assert stop.stopped_epoch == (ran - 1 if ran < len(values) else 0)


def test_early_stopping_restores_an_exact_copy_of_the_best_weights(capsys):
    model = compiled_model()
    stop = EarlyStopping(patience=10, restore_best_weights=True, verbose=1)
    stop.set_model(model)
    stop.on_train_begin()
    snapshots = []
    for epoch, value in enumerate([0.9, 0.5, 0.7, 0.8]):
        with torch.no_grad():
            for param in model.parameters():
                param.add_(1.0)  # in place: a state_dict() that aliased them would follow
        snapshots.append(_weights(model))
        stop.on_epoch_end(epoch, {"val_loss": value})
    assert _equal(stop.best_weights, snapshots[1])  # a real copy, not the live tensors
    stop.on_train_end()  # restores although training did not stop early (Keras 3)
    assert _equal(_weights(model), snapshots[1])
    assert capsys.readouterr().out == "Restoring model weights from the end of the best epoch: 2.\n"


def test_early_stopping_restore_best_weights_in_fit(blobs):
    x, y = blobs
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=0.5))
    per_epoch = []
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: per_epoch.append(_weights(model)))
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    # Validation labels that disagree with training: val_loss is best early, then worsens.
    history = model.fit(x, y, batch_size=16, epochs=8, validation_data=(x, (y + 1) % 3),
                        callbacks=[record, stop], verbose=0)
    val_loss = history.history["val_loss"]
    best = int(np.argmin(val_loss))
    assert len(val_loss) < 8 and best < len(val_loss) - 1 and model.stop_training
    assert _equal(_weights(model), per_epoch[best])


def test_early_stopping_state_dict_roundtrip_and_resume(tmp_path):
    model = compiled_model()
    stop = EarlyStopping(patience=3, restore_best_weights=True)
    _drive(stop, model, [1.0, 0.5, 0.6])
    state = _roundtrip(stop.state_dict(), tmp_path)
    resumed = EarlyStopping(patience=3, restore_best_weights=True)
    resumed.load_state_dict(state)
    resumed.set_model(model)
    resumed.on_train_begin()  # a loaded state survives the next train begin
    assert (resumed.best, resumed.wait, resumed.best_epoch) == (0.5, 1, 1)
    assert _equal(resumed.best_weights, stop.best_weights)
    for epoch, value in ((3, 0.7), (4, 0.8)):
        resumed.on_epoch_end(epoch, {"val_loss": value})
    assert model.stop_training and resumed.stopped_epoch == 4


def test_early_stopping_argument_errors():
    with pytest.raises(ValueError, match=r"`patience` must be an integer >= 0. Received: "
                                         r"patience=-1"):
        EarlyStopping(patience=-1)
    with pytest.raises(TypeError, match="`monitor` must be the name of a log key"):
        EarlyStopping(monitor=None)


# ---------------------------------------------------------------------------- ModelCheckpoint
def _checkpoint_run(callback, model, logs_per_epoch):
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, logs in enumerate(logs_per_epoch):
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, MappingProxyType(logs))
    callback.on_train_end()


def test_model_checkpoint_save_best_only_lines_and_files(tmp_path, capsys):
    template = str(tmp_path / "mymodel_{epoch}.h5")
    checkpoint = ModelCheckpoint(template, save_best_only=True, monitor="val_loss", verbose=1)
    _checkpoint_run(checkpoint, compiled_model(), [
        {"loss": 0.36, "val_loss": 0.21655}, {"loss": 0.17, "val_loss": 0.3},
        {"loss": 0.12, "val_loss": 0.15663},
    ])
    first, third = tmp_path / "mymodel_1.h5", tmp_path / "mymodel_3.h5"
    assert capsys.readouterr().out == (
        f"\nEpoch 00001: val_loss improved from inf to 0.21655, saving model to {first}\n"
        "\nEpoch 00002: val_loss did not improve from 0.21655\n"
        f"\nEpoch 00003: val_loss improved from 0.21655 to 0.15663, saving model to {third}\n"
    )
    assert sorted(os.listdir(tmp_path)) == ["mymodel_1.h5", "mymodel_3.h5"]
    assert checkpoint.best == 0.15663


def test_model_checkpoint_templates_and_every_epoch_line(tmp_path, capsys):
    template = str(tmp_path / "weights.{epoch:02d}-{val_loss:.2f}.pt")
    checkpoint = ModelCheckpoint(template, verbose=1, save_weights_only=True)
    _checkpoint_run(checkpoint, compiled_model(), [{"val_loss": 0.21655}, {"val_loss": 0.3}])
    assert sorted(os.listdir(tmp_path)) == ["weights.01-0.22.pt", "weights.02-0.30.pt"]
    assert capsys.readouterr().out.splitlines()[1] == (
        f"Epoch 00001: saving model to {tmp_path / 'weights.01-0.22.pt'}")


@pytest.mark.parametrize("suffix", [".h5", ".pt"])
@pytest.mark.parametrize("weights_only", [True, False])
def test_model_checkpoint_files_load_with_load_weights(tmp_path, suffix, weights_only, blobs):
    x, y = blobs
    model = compiled_model()
    path = tmp_path / f"ckpt_{{epoch}}{suffix}"
    model.fit(x, y, epochs=2, callbacks=[ModelCheckpoint(path, save_weights_only=weights_only,
                                                         monitor="loss")], verbose=0)
    fresh = compiled_model(seed=1)
    fresh.load_weights(tmp_path / f"ckpt_2{suffix}")
    assert _equal(_weights(fresh), _weights(model))


def test_model_checkpoint_save_freq_counts_batches_across_epochs(tmp_path, blobs, monkeypatch):
    x, y = blobs
    from torchfit.callbacks import model_checkpoint

    reads = []
    real_to_floats = model_checkpoint.to_floats
    monkeypatch.setattr(model_checkpoint, "to_floats",
                        lambda logs: reads.append(1) or real_to_floats(logs))
    checkpoint = ModelCheckpoint(tmp_path / "ckpt_{epoch}_{batch}_{loss:.1f}.pt", save_freq=3,
                                 save_weights_only=True)
    assert ModelCheckpoint.lazy_batch_logs
    # 64 samples / 8 = 8 batches per epoch: saves after global batches 3, 6, 9, 12, 15.
    compiled_model().fit(x, y, batch_size=8, epochs=2, shuffle=False, callbacks=[checkpoint],
                         verbose=0)
    saved = sorted(tuple(int(p) for p in name.split("_")[1:3]) for name in os.listdir(tmp_path))
    assert saved == [(1, 3), (1, 6), (2, 1), (2, 4), (2, 7)]
    assert len(reads) == 5  # batch logs were read from the device only to save


def test_model_checkpoint_missing_template_key_lists_available_keys(tmp_path):
    checkpoint = ModelCheckpoint(tmp_path / "m_{val_los:.2f}.pt")
    with pytest.raises(ValueError, match=r"Failed to format this callback filepath: \".*m_\{"
                                         r"val_los:.2f\}.pt\". Reason: 'val_los' is not in logs; "
                                         r"available keys: loss, val_loss, epoch\."):
        _checkpoint_run(checkpoint, compiled_model(), [{"loss": 1.0, "val_loss": 0.5}])


@pytest.mark.parametrize("save_freq", [0, -2, "batch", 1.5, True])
def test_model_checkpoint_save_freq_must_be_epoch_or_positive(save_freq):
    with pytest.raises(ValueError, match=r"`save_freq` must be 'epoch' or a positive integer"):
        ModelCheckpoint("m.pt", save_freq=save_freq)


def test_model_checkpoint_path_errors():
    with pytest.raises(ValueError, match=r"cannot tell the file format.*Received suffix: '.keras'"):
        ModelCheckpoint("model_{epoch}.keras")
    with pytest.raises(ValueError, match="is not a valid template"):
        ModelCheckpoint("model_{epoch.pt")


def test_model_checkpoint_missing_monitor_skips_with_a_warning(tmp_path):
    checkpoint = ModelCheckpoint(tmp_path / "m.pt", save_best_only=True)
    with pytest.warns(UserWarning, match=r"Can save best model only with val_loss available, "
                                         r"skipping. Available metrics are: loss"):
        _checkpoint_run(checkpoint, compiled_model(), [{"loss": 1.0}, {"loss": 0.5}])
    assert os.listdir(tmp_path) == []


def test_model_checkpoint_state_dict_keeps_best_across_resume(tmp_path):
    # val_loss [3, 1, 2] then, after resuming, 2.5: the best (1) must not be overwritten.
    template = str(tmp_path / "best.pt")
    checkpoint = ModelCheckpoint(template, save_best_only=True, initial_value_threshold=10.0)
    model = compiled_model()
    _checkpoint_run(checkpoint, model, [{"val_loss": 3.0}, {"val_loss": 1.0}, {"val_loss": 2.0}])
    saved = torch.load(template, weights_only=True)
    resumed = ModelCheckpoint(template, save_best_only=True)
    resumed.load_state_dict(_roundtrip(checkpoint.state_dict(), tmp_path))
    assert resumed.best == 1.0
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    _checkpoint_run(resumed, model, [{"val_loss": 2.5}])
    assert _equal(torch.load(template, weights_only=True)["model"], saved["model"])


# -------------------------------------------------------------------------- ReduceLROnPlateau
def _lr(model):
    return model.optimizer.param_groups[0]["lr"]


def test_reduce_lr_on_plateau_exact_sequence_with_cooldown_and_min_lr():
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=1.0))
    reduce_lr = ReduceLROnPlateau(factor=0.5, patience=2, min_delta=0, cooldown=2, min_lr=0.2)
    reduce_lr.set_model(model)
    reduce_lr.on_train_begin()
    values = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6]
    lrs, waits = [], []
    for epoch, value in enumerate(values):
        logs = MappingProxyType({"val_loss": value})
        reduce_lr.on_epoch_end(epoch, logs)
        assert dict(logs) == {"val_loss": value}  # the logs are not written to
        lrs.append(_lr(model))
        waits.append(reduce_lr.wait)
    # Worked by hand from the tf.keras rules (cooldown counts down before the check).
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2]
    assert waits == [0, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 2]
    assert model.optimizer.learning_rate == 0.2 and reduce_lr.best == 0.5


def test_reduce_lr_on_plateau_line_and_max_mode(capsys):
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=0.001))
    reduce_lr = ReduceLROnPlateau(monitor="val_accuracy", patience=1, verbose=1)
    _drive(reduce_lr, model, [0.5, 0.6, 0.6], monitor="val_accuracy")
    assert _lr(model) == 0.001 * 0.1
    assert capsys.readouterr().out == (
        f"\nEpoch 00003: ReduceLROnPlateau reducing learning rate to {0.001 * 0.1}.\n")


def test_reduce_lr_on_plateau_sets_every_group_of_a_torch_optimizer(blobs):
    x, y = blobs
    model = compiled_model()
    first, second = list(model.module.children())[0], list(model.module.children())[2]
    model.compile(optimizer=torch.optim.SGD([{"params": first.parameters(), "lr": 0.1},
                                             {"params": second.parameters(), "lr": 0.01}]),
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True))
    # mode="max" on a falling loss: every epoch after the first is a plateau.
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[
        ReduceLROnPlateau(monitor="loss", mode="max", patience=0, factor=0.5)])
    assert [g["lr"] for g in model.optimizer.param_groups] == [0.1 * 0.25, 0.01 * 0.25]
    assert set(history.history) == {"loss"}  # no "lr" added to the logs


def test_reduce_lr_on_plateau_errors():
    with pytest.raises(ValueError, match=r"does not support a factor >= 1.0 .*factor=1.0"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'min_deltas'. Did you mean "
                                        "'min_delta'"):
        ReduceLROnPlateau(min_deltas=0.1)
    schedule = optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=schedule))
    reduce_lr = ReduceLROnPlateau()
    reduce_lr.set_model(model)
    with pytest.raises(TypeError, match="cannot set the learning rate .* is a schedule"):
        reduce_lr.on_train_begin()


def test_reduce_lr_on_plateau_state_dict_roundtrip(tmp_path):
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=1.0))
    reduce_lr = ReduceLROnPlateau(patience=3, cooldown=2)
    _drive(reduce_lr, model, [1.0, 2.0, 2.0])
    resumed = ReduceLROnPlateau(patience=3, cooldown=2)
    resumed.load_state_dict(_roundtrip(reduce_lr.state_dict(), tmp_path))
    resumed.set_model(model)
    resumed.on_train_begin()
    assert resumed.state_dict() == {"best": 1.0, "wait": 2, "cooldown_counter": 0}
    resumed.on_epoch_end(3, {"val_loss": 2.0})
    assert _lr(model) == pytest.approx(0.1) and resumed.cooldown_counter == 2


# ---------------------------------------------------------------------- LearningRateScheduler
def _lrs_during_fit(blobs, scheduler, epochs=3, lr=0.1):
    x, y = blobs
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=lr))
    if callable(scheduler) and not isinstance(scheduler, LearningRateScheduler):
        scheduler = scheduler(model)
    seen = []
    record = LambdaCallback(on_train_batch_begin=lambda batch, logs: batch == 0 and seen.append(
        _lr(model)))
    model.fit(x, y, epochs=epochs, callbacks=[scheduler, record], verbose=0)
    return seen


def test_learning_rate_scheduler_two_and_one_argument_functions(blobs):
    assert _lrs_during_fit(blobs, LearningRateScheduler(lambda epoch, lr: lr * 0.5)) == [
        0.05, 0.025, 0.0125]
    assert _lrs_during_fit(blobs, LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))) == [
        0.1, 0.05, 0.1 / 3]


def test_learning_rate_scheduler_with_torch_schedulers(blobs):
    step = lambda model: LearningRateScheduler(  # noqa: E731
        torch.optim.lr_scheduler.StepLR(model.optimizer, step_size=1, gamma=0.5))
    assert _lrs_during_fit(blobs, step) == pytest.approx([0.1, 0.05, 0.025])
    plateau = lambda model: LearningRateScheduler(  # noqa: E731
        torch.optim.lr_scheduler.ReduceLROnPlateau(model.optimizer, mode="max", patience=0),
        monitor="loss")
    # stepped on the falling loss in mode="max": epoch 2 is the first bad epoch
    assert _lrs_during_fit(blobs, plateau) == pytest.approx([0.1, 0.1, 0.01])


def test_learning_rate_scheduler_line_and_errors(blobs, capsys):
    x, y = blobs
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=0.01))
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[LearningRateScheduler(lambda epoch, lr: 0.001, verbose=1)])
    assert capsys.readouterr().out == (
        "\nEpoch 00001: LearningRateScheduler setting learning rate to 0.001.\n")
    with pytest.raises(ValueError, match="The output of the `schedule` function should be a "
                                         "float. Received: '0.1' of type str"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda e: "0.1")])
    other = torch.optim.SGD(compiled_model().parameters(), lr=0.1)
    with pytest.raises(ValueError, match="built on another optimizer than model.optimizer"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[
            LearningRateScheduler(torch.optim.lr_scheduler.StepLR(other, step_size=1))])
    with pytest.raises(TypeError, match="`schedule` must be a function"):
        LearningRateScheduler(0.1)


def test_learning_rate_scheduler_state_dict_roundtrip(tmp_path):
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=0.1))
    step = torch.optim.lr_scheduler.StepLR(model.optimizer, step_size=2, gamma=0.5)
    scheduler = LearningRateScheduler(step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "lr_scheduler.step() before optimizer"
        for _ in range(3):
            step.step()
    state = _roundtrip(scheduler.state_dict(), tmp_path)
    other = torch.optim.lr_scheduler.StepLR(model.optimizer, step_size=2, gamma=0.5)
    LearningRateScheduler(other).load_state_dict(state)
    assert other.last_epoch == 3
    assert LearningRateScheduler(lambda e: 0.1).state_dict() == {}


# -------------------------------------------------------------------------------- TensorBoard
def _events(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(path), size_guidance={"histograms": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


def test_tensorboard_writes_train_and_validation_scalars(tmp_path, blobs):
    x, y = blobs
    model = compiled_model()
    history = model.fit(x, y, batch_size=16, epochs=2, validation_data=(x[:16], y[:16]),
                        callbacks=[TensorBoard(log_dir=tmp_path)], verbose=0)
    train, validation = _events(tmp_path / "train"), _events(tmp_path / "validation")
    assert set(train.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy",
                                            "epoch_learning_rate"}
    assert set(validation.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy"}
    for accumulator, prefix in ((train, ""), (validation, "val_")):
        for name in ("loss", "accuracy"):
            events = accumulator.Scalars(f"epoch_{name}")
            assert [e.step for e in events] == [0, 1]
            assert [e.value for e in events] == pytest.approx(history.history[prefix + name],
                                                             rel=1e-6)
    assert [e.value for e in train.Scalars("epoch_learning_rate")] == pytest.approx([0.01] * 2)
    assert "tensorflow" not in sys.modules


def test_tensorboard_batch_scalars_histograms_and_graph(tmp_path, blobs):
    x, y = blobs
    callback = TensorBoard(log_dir=tmp_path, update_freq=2, histogram_freq=1, write_graph=True)
    compiled_model().fit(x, y, batch_size=16, epochs=2, callbacks=[callback], verbose=0)
    train = _events(tmp_path / "train")
    # 4 batches per epoch, written every 2nd: steps 2, 4, 6, 8.
    assert [e.step for e in train.Scalars("batch_loss")] == [2, 4, 6, 8]
    assert "batch_accuracy" in train.Tags()["scalars"]
    assert set(train.Tags()["histograms"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert [e.step for e in train.Histograms("0.weight")] == [0, 1]
    assert train.Tags()["graph"]
    assert not (tmp_path / "validation").exists()  # no validation data, no validation writer
    assert callback.state_dict() == {"global_step": 8}
    assert TensorBoard.lazy_batch_logs


def test_tensorboard_argument_errors():
    with pytest.raises(ValueError, match=r"`update_freq` must be 'epoch', 'batch' or a positive"):
        TensorBoard(update_freq="step")
    with pytest.raises(ValueError, match=r"`embeddings_freq` is not supported.*embeddings_freq=0"):
        TensorBoard(embeddings_freq=1)
    TensorBoard(log_dir="logs", histogram_freq=0, embeddings_freq=0, update_freq="epoch")


def test_importing_torchfit_does_not_import_tensorboard():
    code = ("import sys, torchfit; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorboard', 'tensorflow') "
            "or m.startswith('torch.utils.tensorboard')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------- CSVLogger
def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_csv_logger_rows_match_history_and_append_writes_one_header(tmp_path, blobs):
    x, y = blobs
    path = tmp_path / "training.log"
    model = compiled_model()
    history = model.fit(x, y, epochs=2, validation_data=(x[:16], y[:16]),
                        callbacks=[CSVLogger(path)], verbose=0)
    rows = _read_csv(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    for epoch, row in enumerate(rows[1:]):
        assert row[0] == str(epoch)
        values = dict(zip(rows[0][1:], map(float, row[1:])))
        assert values == {key: history.history[key][epoch] for key in values}
    model.fit(x, y, epochs=1, validation_data=(x[:16], y[:16]),
              callbacks=[CSVLogger(path, append=True)], verbose=0)
    rows = _read_csv(path)
    assert len(rows) == 4 and sum(row[0] == "epoch" for row in rows) == 1
    model.fit(x, y, epochs=1, callbacks=[CSVLogger(path, separator=";")], verbose=0)
    rows = _read_csv(path)  # overwritten; without validation the val_ columns read NA
    assert rows[0] == ["epoch;accuracy;loss;val_accuracy;val_loss"]
    assert rows[1][0].endswith(";NA;NA")


def test_csv_logger_state_dict_resumes_the_file(tmp_path, blobs):
    x, y = blobs
    path = tmp_path / "log.csv"
    model = compiled_model()
    logger = CSVLogger(path)
    model.fit(x, y, epochs=2, callbacks=[logger], verbose=0)
    state = _roundtrip(logger.state_dict(), tmp_path)
    model.fit(x, y, epochs=3, initial_epoch=2, callbacks=[CSVLogger(path, append=True)],
              verbose=0)  # a row written after the state was saved (lost on interruption)
    assert len(_read_csv(path)) == 4
    resumed = CSVLogger(path)
    resumed.load_state_dict(state)
    model.fit(x, y, epochs=4, initial_epoch=2, callbacks=[resumed], verbose=0)
    rows = _read_csv(path)
    assert [row[0] for row in rows] == ["epoch", "0", "1", "2", "3"]


# ----------------------------------------------------------------------------- TerminateOnNaN
def test_terminate_on_nan_stops_at_the_first_nan_batch(blobs, capsys):
    x, y = blobs
    x = x.copy()
    x[24:32] = np.nan  # batch 3 with batch_size=8 and no shuffling
    batches = []
    count = LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    history = compiled_model().fit(x, y, batch_size=8, epochs=3, shuffle=False,
                                   callbacks=[TerminateOnNaN(), count], verbose=0)
    assert capsys.readouterr().out == "Batch 3: Invalid loss, terminating training\n"
    assert batches == [0, 1, 2, 3] and len(history.history["loss"]) == 1
    assert TerminateOnNaN.lazy_batch_logs
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 3"):
        compiled_model().fit(x, y, batch_size=8, shuffle=False, verbose=0,
                             callbacks=[TerminateOnNaN(raise_error=True)])


# ----------------------------------------------------------------------------- LambdaCallback
def test_lambda_callback_calls_the_given_functions(blobs):
    x, y = blobs
    events = []
    callback = LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: events.append(("epoch_begin", epoch)),
        on_batch_end=lambda batch, logs: events.append(("batch_end", batch,
                                                        type(logs["loss"]).__name__)),
        on_epoch_end=lambda epoch, logs: events.append(("epoch_end", epoch, sorted(logs))),
        on_test_end=lambda logs: events.append(("test_end", sorted(logs))),
        on_train_end=lambda logs: events.append("train_end"),
    )
    compiled_model().fit(x, y, batch_size=32, epochs=1, validation_data=(x[:8], y[:8]),
                         callbacks=[callback], verbose=0)
    assert events == [
        "train_begin", ("epoch_begin", 0), ("batch_end", 0, "float"), ("batch_end", 1, "float"),
        ("test_end", ["accuracy", "loss"]),
        ("epoch_end", 0, ["accuracy", "loss", "val_accuracy", "val_loss"]), "train_end",
    ]
    assert "on_test_batch_end" in callback.unused_hooks
    assert "on_train_batch_end" not in callback.unused_hooks


def test_lambda_callback_argument_errors():
    with pytest.raises(TypeError, match="unexpected keyword argument 'on_epochend'. Did you mean "
                                        "'on_epoch_end'"):
        LambdaCallback(on_epochend=print)
    with pytest.raises(TypeError, match="`on_epoch_end` must be a function or None"):
        LambdaCallback(on_epoch_end="print")


# --------------------------------------------------------------------------------- all states
def test_every_state_dict_loads_with_weights_only(tmp_path):
    model = compiled_model()
    callbacks = [EarlyStopping(restore_best_weights=True), ModelCheckpoint(tmp_path / "m.pt"),
                 ReduceLROnPlateau(), TensorBoard(log_dir=tmp_path / "tb"),
                 CSVLogger(tmp_path / "log.csv")]
    for callback in callbacks:
        callback.set_model(model)
        callback.on_train_begin()
        callback.on_epoch_begin(0)
        callback.on_epoch_end(0, MappingProxyType({"loss": 1.0, "val_loss": 0.5}))
        callback.on_train_end()
    states = _roundtrip({type(c).__name__: c.state_dict() for c in callbacks}, tmp_path)
    for callback in callbacks:
        callback.load_state_dict(states[type(callback).__name__])
        assert str(callback.state_dict()) == str(states[type(callback).__name__])


def test_states_survive_an_interrupted_fit_resumed_by_backup_and_restore(tmp_path, blobs):
    x, y = blobs

    def run(folder, interrupt_at=None):
        callbacks = [
            CSVLogger(folder / "log.csv"),
            EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True),
            ReduceLROnPlateau(monitor="loss", mode="max", patience=1, factor=0.5),
            ModelCheckpoint(folder / "best.pt", save_best_only=True, monitor="val_accuracy"),
        ]
        if interrupt_at is not None:
            def interrupt(epoch, logs):
                if epoch == interrupt_at:
                    raise RuntimeError("interrupted")
            callbacks.append(LambdaCallback(on_epoch_begin=interrupt))
        callbacks.append(torchfit.callbacks.BackupAndRestore(folder / "backup"))
        model = compiled_model()
        model.fit(x, y, batch_size=16, epochs=5, validation_data=(x[:16], y[:16]),
                  callbacks=callbacks, verbose=0)
        return model, callbacks

    reference, expected = run(tmp_path / "reference")
    with pytest.raises(RuntimeError, match="interrupted"):
        run(tmp_path / "resumed", interrupt_at=3)
    assert len(_read_csv(tmp_path / "resumed" / "log.csv")) == 4  # header + epochs 0, 1, 2
    resumed, callbacks = run(tmp_path / "resumed")
    assert resumed.history.epoch == [3, 4]  # it did resume, after the last backed-up epoch
    assert (tmp_path / "resumed" / "log.csv").read_text() == (
        tmp_path / "reference" / "log.csv").read_text()
    for ours, theirs in zip(callbacks[1:4], expected[1:4]):
        ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
        ours_weights, theirs_weights = (s.pop("best_weights", {}) for s in (ours_state,
                                                                           theirs_state))
        assert ours_state == theirs_state and _equal(ours_weights, theirs_weights)
    assert _lr(resumed) == _lr(reference) and _equal(_weights(resumed), _weights(reference))
