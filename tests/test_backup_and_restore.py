"""BackupAndRestore: an interrupted fit resumes bit for bit (shuffling, dropout, Adam)."""

import os
import subprocess
import sys

import pytest
import torch

import torchfit
from helpers import blobs, compiled_model

SCRIPT = os.path.join(os.path.dirname(__file__), "resume_script.py")


def run(tmp_path, out, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")])}
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
