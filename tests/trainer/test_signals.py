"""SIGTERM and SIGINT during fit: stop at a step boundary, back up, exit 143 (trainer.signals).

The SIGTERM runs are real subprocesses (tests/trainer/signal_script.py) that get a real signal,
each with a negative control (fit installing no handler) and a timeout, so a hang fails.
"""

import json
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

import torchfit
from helpers import blobs, make_model
from torchfit.callbacks import BackupAndRestore, Callback
from torchfit.saving import load_checkpoint
from torchfit.trainer import signals
from torchfit.trainer.signals import FitSignals, TrainingTerminated

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

SCRIPT = os.path.join(os.path.dirname(__file__), "signal_script.py")
TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])}
STEPS_PER_EPOCH = 8  # 64 samples, batch_size=8


def run(out_dir, *args):
    os.makedirs(out_dir, exist_ok=True)
    return subprocess.run([sys.executable, SCRIPT, str(out_dir), *args], capture_output=True,
                          text=True, env=ENV, timeout=120)


def report(out_dir):
    with open(os.path.join(out_dir, "report.json")) as f:
        return json.load(f)


def backup_of(out_dir):
    return load_checkpoint(os.path.join(out_dir, "backup", "backup.pt"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    proc = run(out)
    assert proc.returncode == 0, proc.stderr
    return torch.load(out / "weights.pt", weights_only=True)


def test_sigterm_mid_step_finishes_the_step_backs_up_exits_143_and_resumes_bit_exact(
        tmp_path, reference):
    at = STEPS_PER_EPOCH + 2  # in the middle of step 2 of epoch 1
    proc = run(tmp_path, "--signal", "term", "--at", str(at))
    assert proc.returncode == 143, proc.stderr
    assert report(tmp_path) == {"steps": at + 1, "train_end": False, "interrupted_in": None}
    checkpoint = backup_of(tmp_path)
    epoch, step = divmod(at + 1, STEPS_PER_EPOCH)
    assert (checkpoint["training"]["epoch"], checkpoint["training"]["step"]) == (epoch, step)
    assert checkpoint["optimizer"]["iterations"] == at + 1  # the interrupted step, applied once
    proc = run(tmp_path)  # the same script again resumes from that step boundary
    assert proc.returncode == 0, proc.stderr
    resumed = torch.load(tmp_path / "weights.pt", weights_only=True)
    for name in reference:
        assert torch.equal(resumed[name], reference[name]), name


def test_negative_control_without_handlers_sigterm_kills_mid_step_without_a_backup(tmp_path):
    proc = run(tmp_path, "--signal", "term", "--at", "5", "--no-handlers")
    assert proc.returncode == -signal.SIGTERM
    assert report(tmp_path)["steps"] == 5  # killed inside step 5
    assert not os.path.exists(tmp_path / "backup" / "backup.pt")


def test_sigterm_on_the_last_step_of_an_epoch_stops_at_the_epoch_boundary(tmp_path):
    proc = run(tmp_path, "--signal", "term", "--at", str(STEPS_PER_EPOCH - 1))
    assert proc.returncode == 143, proc.stderr
    training = backup_of(tmp_path)["training"]
    assert (training["epoch"], training["step"]) == (1, 0)


def test_an_external_sigterm_stops_the_run_with_143_and_a_backup(tmp_path):
    os.makedirs(tmp_path, exist_ok=True)
    child = subprocess.Popen([sys.executable, SCRIPT, str(tmp_path), "--external", "3"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert child.stdout.readline().strip() == "READY"
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 143, child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    steps = report(tmp_path)["steps"]
    training = backup_of(tmp_path)["training"]
    assert training["epoch"] * STEPS_PER_EPOCH + training["step"] == steps
    assert not report(tmp_path)["train_end"]


@pytest.mark.parametrize("handlers, steps, raised_in", [
    (True, 4, "signals.py"),  # after step 3 finished, at the boundary
    (False, 3, "signal_script.py"),  # the negative control: inside step 3's forward
])
def test_sigint_raises_keyboard_interrupt_at_the_step_boundary(tmp_path, handlers, steps,
                                                               raised_in):
    proc = run(tmp_path, "--signal", "int", "--at", "3", *([] if handlers else ["--no-handlers"]))
    assert proc.returncode == 0, proc.stderr
    result = report(tmp_path)
    assert result["steps"] == steps and not result["train_end"]
    assert os.path.basename(result["interrupted_in"]) == raised_in


# ---------------------------------------------------------------- in-process (SIGINT only)
class SendAt(Callback):
    """Sends SIGINT ``times`` times to this process at the start of batch ``at``."""

    def __init__(self, at=2, times=1):
        super().__init__()
        self.at, self.times = at, times
        self.ended, self.train_end, self.handlers = 0, False, set()

    def on_train_batch_begin(self, batch, logs=None):
        self.handlers.add(signal.getsignal(signal.SIGINT))
        self.handlers.add(signal.getsignal(signal.SIGTERM))
        if batch == self.at:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)

    def on_train_batch_end(self, batch, logs=None):
        self.ended += 1

    def on_train_end(self, logs=None):
        self.train_end = True


def fit(callbacks, **kwargs):
    x, y = blobs()
    model = make_model()
    model.compile(optimizer="sgd", loss=torchfit.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    return model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=callbacks, **kwargs)


def test_sigint_in_process_finishes_the_batch_and_restores_the_handlers():
    sender = SendAt(at=2)
    with pytest.raises(KeyboardInterrupt):
        fit([sender])
    assert sender.ended == 3 and not sender.train_end  # batch 2 ran to its end
    assert len(sender.handlers) == 1 and signal.default_int_handler not in sender.handlers
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_second_sigint_raises_at_once():
    sender = SendAt(at=2, times=2)
    with pytest.raises(KeyboardInterrupt):
        fit([sender])
    assert sender.ended == 2  # raised inside batch 2


def test_handlers_are_restored_when_fit_raises():
    class Fails(Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fit([Fails()])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_nothing_is_installed_off_the_main_thread():
    sender = SendAt(at=-1)
    results = []
    thread = threading.Thread(target=lambda: results.append(fit([sender])))
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive() and results[0].epoch == [0, 1]
    assert sender.ended == 2 * STEPS_PER_EPOCH
    assert sender.handlers == {signal.default_int_handler, signal.SIG_DFL}


def test_a_users_own_handler_is_left_alone():
    calls = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    try:
        sender = SendAt(at=2)
        history = fit([sender])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert calls == [signal.SIGINT] * 2 and sender.train_end  # batch 2 of both epochs
    assert history.epoch == [0, 1]


def test_a_sigint_during_the_last_on_train_end_is_delivered_when_fit_returns():
    class LateSignal(Callback):
        def on_train_end(self, logs=None):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        fit([LateSignal()])


def test_stop_backs_up_with_every_backup_and_restore_then_raises_exit_143(tmp_path):
    class Callbacks:
        def __init__(self, callbacks):
            self.callbacks = callbacks

    written = []

    class Recording(BackupAndRestore):
        def _backup(self, epoch, step):
            written.append((epoch, step))

    guard = FitSignals()
    guard.pending = signal.SIGTERM
    with pytest.raises(TrainingTerminated) as raised:
        guard.stop(Callbacks([Callback(), Recording(str(tmp_path))]), 2, 5)
    assert written == [(2, 5)] and raised.value.code == 128 + 15 and guard.pending is None
    assert signals.EXIT_CODE == 143 and issubclass(TrainingTerminated, SystemExit)
    assert np.isclose(signals.EXIT_CODE, 128 + signal.SIGTERM)
