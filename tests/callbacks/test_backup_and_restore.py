"""BackupAndRestore: an interrupted fit resumes bit for bit (shuffling, dropout, Adam)."""

import os
import subprocess
import sys
from types import MappingProxyType

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
    ("sigterm", "5", -15),
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
