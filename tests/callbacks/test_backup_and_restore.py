"""BackupAndRestore: an interrupted fit resumes bit for bit (shuffling, dropout, Adam)."""

import os
import subprocess
import sys
import warnings
from types import MappingProxyType

import numpy as np
import pytest
import torch

import torchfit
from callback_helpers import _equal, _lr, _read_csv, _roundtrip, _weights
from helpers import blobs, compiled_model
from torchfit.callbacks import (
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TensorBoard,
)

SCRIPT = os.path.join(os.path.dirname(__file__), "resume_script.py")
# The script does `from helpers import blobs`: helpers.py lives in tests/, one folder up.
TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(tmp_path, out, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [TESTS, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, SCRIPT, str(tmp_path / "backup"), str(tmp_path / out),
                           *args], capture_output=True, text=True, env=env, timeout=120)


def weights(path):
    return torch.load(path, weights_only=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference")
    proc = run(tmp, "uninterrupted.pt")
    assert proc.returncode == 0, proc.stderr
    return weights(tmp / "uninterrupted.pt")


@pytest.mark.parametrize("kill, save_freq, code", [
    ("sigkill", "epoch", -9),
    ("sigterm", "5", 143),  # fit backs up at the step boundary, exits 143 (trainer.signals)
    ("raise", "3", 1),
])
def test_resume_after_an_interruption_is_bit_exact(tmp_path, reference, kill, save_freq, code):
    proc = run(tmp_path, "first.pt", "--kill", kill, "--save-freq", save_freq)
    assert proc.returncode == code, proc.stderr
    assert os.path.exists(tmp_path / "backup" / "backup.pt")  # kept when training fails
    assert not os.path.exists(tmp_path / "first.pt")
    proc = run(tmp_path, "resumed.pt", "--save-freq", save_freq)
    assert proc.returncode == 0, proc.stderr
    resumed = weights(tmp_path / "resumed.pt")
    for name in reference:
        assert torch.equal(resumed[name], reference[name]), name
    assert not os.path.exists(tmp_path / "backup" / "backup.pt")  # deleted when it completes


def test_negative_control_without_random_states_differs(tmp_path, reference):
    proc = run(tmp_path, "first.pt", "--kill", "sigkill")
    assert proc.returncode == -9
    proc = run(tmp_path, "resumed.pt", "--no-rng-restore")
    assert proc.returncode == 0, proc.stderr
    resumed = weights(tmp_path / "resumed.pt")
    assert any(not torch.equal(resumed[name], reference[name]) for name in reference)


def test_a_backup_for_another_model_is_refused(tmp_path):
    x, y = blobs()
    backup = torchfit.callbacks.BackupAndRestore(tmp_path, delete_checkpoint=False)
    compiled_model().fit(x, y, epochs=1, callbacks=[backup], verbose=0)
    other = torchfit.Model(torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(),
                                               torch.nn.Linear(5, 3)), device="cpu")
    other.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"does not match this model: '0.weight' has shape "
                                         r"\(8, 4\) in the backup and \(5, 4\) in the model.*"
                                         r"the backup's optimizer is SGD, the model's is Adam"):
        other.fit(x, y, epochs=1, callbacks=[torchfit.callbacks.BackupAndRestore(tmp_path)],
                  verbose=0)


def test_bad_save_freq():
    with pytest.raises(ValueError, match="`save_freq` must be 'epoch' or a positive number"):
        torchfit.callbacks.BackupAndRestore("/tmp/x", save_freq=0)


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


# ----------------------------------------------------------- resuming on a new setup (13.3)
class Interrupt(torchfit.callbacks.Callback):
    """Raises before batch `batch` of epoch `epoch` (a crash mid-epoch)."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("interrupted")


class CountBatches(torchfit.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.per_epoch, self.epoch = {}, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.per_epoch[self.epoch] = self.per_epoch.get(self.epoch, 0) + 1


def interrupted(folder, x, y, at=(1, 3)):
    """4 epochs of 4 batches of 16, backed up every 2 batches, crashed before batch 3 of epoch 1:
    the backup holds epoch 0 and the first 2 batches of epoch 1. Returns a copy of the backup."""
    with pytest.raises(RuntimeError, match="interrupted"):
        compiled_model().fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0, callbacks=[
            Interrupt(*at), torchfit.callbacks.BackupAndRestore(folder, save_freq=2)])
    return torchfit.saving.load_checkpoint(os.path.join(folder, "backup.pt"))


def from_backup(backup, x, y, batch_size, epochs, initial_epoch):
    """The reference: the backed-up state, then the remaining epochs on the new setup."""
    model = compiled_model()
    model.module.load_state_dict(backup["model"])
    model.optimizer.load_state_dict(backup["optimizer"])
    model.fit(x, y, batch_size=batch_size, epochs=epochs, initial_epoch=initial_epoch,
              shuffle=False, verbose=0)
    return model


def more_data(x, y):
    return (np.concatenate([x, x[:32] + np.float32(0.1)]), np.concatenate([y, y[:32]]))


@pytest.mark.parametrize("change, batch_size, message, steps", [
    ("more data", 16, r"the training data has 96 samples \(64 in the backed-up run\)", 6),
    ("less data", 16, r"the training data has 24 samples \(64 in the backed-up run\)", 2),
    ("batch size", 8, r"batch_size=8 \(16 in the backed-up run\)", 8),
])
def test_a_resume_on_a_new_setup_warns_and_runs_the_remaining_epochs_on_it(
        tmp_path, blobs, change, batch_size, message, steps):
    x, y = blobs
    backup = interrupted(tmp_path / "backup", x, y)
    if change == "more data":
        x, y = more_data(x, y)
    elif change == "less data":
        x, y = x[:24], y[:24]
    model, counts = compiled_model(), CountBatches()
    with pytest.warns(UserWarning, match=message + r".*resumes at epoch 1 from its first batch"
                                          r".*will not equal an uninterrupted run"):
        history = model.fit(x, y, batch_size=batch_size, epochs=4, shuffle=False, verbose=0,
                            callbacks=[counts, torchfit.callbacks.BackupAndRestore(
                                tmp_path / "backup", save_freq=2)])
    assert history is model.history and history.epoch == [1, 2, 3]
    assert counts.per_epoch == {1: steps, 2: steps, 3: steps}  # epoch 1 whole, on the new data
    expected = from_backup(backup, x, y, batch_size, epochs=4, initial_epoch=1)
    assert _equal(_weights(model), _weights(expected))
    assert not os.path.exists(tmp_path / "backup" / "backup.pt")  # training completed


def test_a_resume_asked_for_fewer_epochs_than_the_backup_holds_is_refused(tmp_path, blobs):
    x, y = blobs
    interrupted(tmp_path / "backup", x, y)
    model = compiled_model()
    before = _weights(model)
    with pytest.raises(ValueError, match=r"holds 1 epoch and 2 batches of epoch 1, more than "
                                         r"this fit asks for \(epochs=1\)\. Pass epochs=2 or more"
                                         r".*or delete the folder"):
        model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0,
                  callbacks=[torchfit.callbacks.BackupAndRestore(tmp_path / "backup")])
    assert _equal(_weights(model), before)  # nothing restored
    assert os.path.exists(tmp_path / "backup" / "backup.pt")  # the backup is kept


def test_a_resume_asked_for_more_epochs_continues_exactly(tmp_path, blobs):
    x, y = blobs
    interrupted(tmp_path / "backup", x, y)
    model = compiled_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same data and batches: nothing to warn about
        history = model.fit(x, y, batch_size=16, epochs=6, shuffle=False, verbose=0,
                            callbacks=[torchfit.callbacks.BackupAndRestore(tmp_path / "backup",
                                                                           save_freq=2)])
    assert history.epoch == [1, 2, 3, 4, 5]
    reference = compiled_model()
    reference.fit(x, y, batch_size=16, epochs=6, shuffle=False, verbose=0)
    assert _equal(_weights(model), _weights(reference))


def test_a_resume_with_nothing_left_warns_and_returns_an_empty_history(tmp_path, blobs):
    x, y = blobs
    folder = tmp_path / "backup"
    with pytest.raises(RuntimeError, match="interrupted"):  # killed after the last backup
        compiled_model().fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[
            LambdaCallback(on_train_end=lambda logs: (_ for _ in ()).throw(
                RuntimeError("interrupted"))),
            torchfit.callbacks.BackupAndRestore(folder, delete_checkpoint=False)])
    backup = torchfit.saving.load_checkpoint(folder / "backup.pt")
    model = compiled_model(seed=1)
    with pytest.warns(UserWarning, match=r"holds all 2 epochs: nothing is left to train"):
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0,
                            callbacks=[torchfit.callbacks.BackupAndRestore(folder)])
    assert history is model.history and (history.history, history.epoch) == ({}, [])
    assert _equal(_weights(model), backup["model"])  # the backed-up weights
    assert not os.path.exists(folder / "backup.pt")  # training is complete: deleted, as said


def test_a_backup_of_another_dtype_is_refused_before_anything_is_restored(tmp_path, blobs):
    x, y = blobs
    source = compiled_model(seed=1)
    source.module.double()
    source.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    source.fit(x, y, epochs=1, verbose=0, callbacks=[
        torchfit.callbacks.BackupAndRestore(tmp_path, delete_checkpoint=False)])
    model = compiled_model()
    before = _weights(model)
    with pytest.raises(ValueError, match=r"does not match this model: '0.weight' has float64 "
                                         r"\(8, 4\) in the file, float32 \(8, 4\) in the model"):
        model.fit(x, y, epochs=2, verbose=0,
                  callbacks=[torchfit.callbacks.BackupAndRestore(tmp_path)])
    assert _equal(_weights(model), before)


def test_an_epoch_end_backup_resumed_on_less_data_warns_too(tmp_path, blobs):
    x, y = blobs
    folder = tmp_path / "backup"
    with pytest.raises(RuntimeError, match="interrupted"):
        compiled_model().fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=[
            Interrupt(1, 0), torchfit.callbacks.BackupAndRestore(folder)])
    backup = torchfit.saving.load_checkpoint(folder / "backup.pt")
    model = compiled_model()
    with pytest.warns(UserWarning, match=r"40 samples \(64 in the backed-up run\)\. Training "
                                         r"resumes at epoch 1 at its start"):
        history = model.fit(x[:40], y[:40], batch_size=16, epochs=3, shuffle=False, verbose=0,
                            callbacks=[torchfit.callbacks.BackupAndRestore(folder)])
    assert history.epoch == [1, 2]
    expected = from_backup(backup, x[:40], y[:40], 16, epochs=3, initial_epoch=1)
    assert _equal(_weights(model), _weights(expected))


# ------------------------------------------------- running metric states mid-epoch (13.4)
def test_a_mid_epoch_resume_restores_the_running_metrics_so_epoch_logs_are_exact(
        tmp_path, blobs):
    x, y = blobs
    reference = compiled_model()
    expected = reference.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0).history
    interrupted(tmp_path / "backup", x, y)  # backed up after 2 of epoch 1's 4 batches
    model = compiled_model()
    reduce_lr = ReduceLROnPlateau(monitor="loss", patience=100, min_delta=0)  # watches only
    history = model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0, callbacks=[
        reduce_lr, torchfit.callbacks.BackupAndRestore(tmp_path / "backup", save_freq=2)])
    assert history.epoch == [1, 2, 3]
    # The resumed epoch 1 covers all 4 of its batches, as the uninterrupted run's does.
    assert history.history == {key: values[1:] for key, values in expected.items()}
    assert reduce_lr.best == min(expected["loss"][1:])  # it saw the uninterrupted losses


def test_an_old_mid_epoch_backup_without_metric_states_still_loads(tmp_path, blobs):
    x, y = blobs
    expected = compiled_model().fit(x, y, batch_size=16, epochs=4, shuffle=False,
                                    verbose=0).history
    backup = interrupted(tmp_path / "backup", x, y)
    del backup["training"]["metrics"]  # a backup written before the metric states were saved
    torchfit.saving.save_checkpoint(tmp_path / "backup" / "backup.pt", backup["model"],
                                    backup["optimizer"], backup["training"])
    model = compiled_model()
    history = model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0, callbacks=[
        torchfit.callbacks.BackupAndRestore(tmp_path / "backup", save_freq=2)])
    # The old behaviour (the negative control): the weights are exact, epoch 1's running
    # metrics cover only the 2 batches after the resume.
    assert history.history["loss"][1:] == expected["loss"][2:]
    assert history.history["loss"][0] != expected["loss"][1]
    assert _equal(_weights(model), _weights(compiled_model_fitted(x, y)))


def compiled_model_fitted(x, y):
    model = compiled_model()
    model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
    return model
