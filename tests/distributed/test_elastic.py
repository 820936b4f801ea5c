"""Elastic restarts (issue 12 item 6): a worker dies, torchrun restarts both, fit resumes exactly.

Each fixture launches ``elastic_script.py`` once with ``torchrun --nproc_per_node=2
--max-restarts=1`` (2 CPU processes, gloo, a timeout so that a hang fails). On the first attempt
rank 1 calls ``os._exit(1)`` after step 3 of epoch 2 (0-based); its peer fails in its next
collective (gloo: "Connection reset by peer"), torchrun stops it (SIGTERM) and starts both again,
and ``BackupAndRestore`` resumes from the last backup the ranks took together (after step 2 of
epoch 2, ``save_freq=3``). The attempt that finishes also trains the reference in the same
process group: a fresh model with the same seed, uninterrupted. Shuffled arrays and Adam, so
the data order and the optimizer state must both come back; on CPU the weights must be equal bit
for bit, and the resumed History (epochs 2 and 3) equal the reference's last two epochs.

The restarted rank 0 starts late in ``die`` mode, so the restart also shows that torchfit's
process group reads this attempt's keys from torchrun's store, not the dead group's
(``torchfit.distributed.runtime._attempt_store``); the last test, in one process, is the resume
of a 2-process mid-epoch backup by another number of processes.
"""

import json

import numpy as np
import pytest
import torch
from elastic_script import DIE_AT, EPOCHS, SAVE_FREQ
from launch import run_script
from torch import nn

import torchfit
from torchfit.saving import load_checkpoint, save_checkpoint

LAST_COMMON_BACKUP = [DIE_AT[0], SAVE_FREQ]  # (2, 3): taken after batch index 2 of epoch 2


def _launch(out, mode):
    result = run_script("elastic_script.py", out, mode, nproc=2, timeout=240,
                        extra=("--max-restarts=1",))
    reports = {path.stem: json.loads(path.read_text()) for path in out.glob("attempt*.json")}
    return result, reports


@pytest.fixture(scope="module")
def died(tmp_path_factory):
    out = tmp_path_factory.mktemp("elastic_die")
    return out, *_launch(out, "die")


@pytest.fixture(scope="module")
def died_with_sigterm(tmp_path_factory):
    out = tmp_path_factory.mktemp("elastic_die_sigterm")
    return out, *_launch(out, "die_sigterm")


def _check_resumed_exactly(out):
    for rank in (0, 1):
        result = np.load(out / f"rank{rank}.npz")
        assert int(result["attempt"]) == 1  # the restarted attempt finished the training
        weights = [key for key in result.files if key.startswith("weight:")]
        assert weights
        for key in weights:
            assert np.array_equal(result[key], result[key.replace("weight:", "reference:")]), key
        assert result["reference_epochs"].tolist() == list(range(EPOCHS))
        assert result["epochs"].tolist() == list(range(DIE_AT[0], EPOCHS))
        history, reference = json.loads(str(result["history"])), json.loads(
            str(result["reference"]))
        assert sorted(history) == sorted(reference) == ["accuracy", "loss"]
        for name, values in reference.items():
            assert history[name] == values[DIE_AT[0]:], name  # every batch of epoch 2 counted


@pytest.mark.slow
def test_worker_death_restarts_and_resumes_bit_for_bit(died):
    out, result, reports = died
    assert result.returncode == 0
    assert "attempt0_rank1" not in reports  # os._exit: no Python cleanup at all
    # The survivor's fit did not return: gloo's error in its next collective (or torchrun's
    # SIGTERM first, which kills it before it can write a report).
    assert reports.get("attempt0_rank0", {"ended": "killed"})["ended"] != "returned"
    for rank in (0, 1):
        assert reports[f"attempt1_rank{rank}"] == {"backup": LAST_COMMON_BACKUP,
                                                  "ended": "returned"}
    _check_resumed_exactly(out)


@pytest.mark.slow
def test_sigterm_on_the_survivor_writes_no_backup_of_its_own(died_with_sigterm):
    """SIGTERM reaching rank 0 right after the step its dead peer finished: one rank cannot
    back up every rank's running metrics, so it exits 143 without a backup and the restart
    resumes from the last common one."""
    out, result, reports = died_with_sigterm
    assert result.returncode == 0
    assert reports["attempt0_rank0"]["ended"] == "TrainingTerminated: 143"
    for rank in (0, 1):
        assert reports[f"attempt1_rank{rank}"]["backup"] == LAST_COMMON_BACKUP
    _check_resumed_exactly(out)


def test_a_mid_epoch_backup_of_two_processes_resumed_by_one_warns(tmp_path):
    """Each rank's running metrics cannot be shared out over another number of processes: they
    restart from zero, and the resume says so."""
    class Interrupt(torchfit.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 4:
                raise RuntimeError("interrupted")

    torch.manual_seed(0)
    x, y = torch.randn(48, 3), torch.randint(0, 2, (48,))
    model = torchfit.Sequential(nn.Linear(3, 2), device="cpu")
    model.compile(optimizer="adam", loss=torchfit.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=["accuracy"])
    backup = torchfit.callbacks.BackupAndRestore(tmp_path, save_freq=3)
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[backup, Interrupt()])
    path = tmp_path / "backup.pt"
    checkpoint = load_checkpoint(path)
    assert checkpoint["training"]["step"] == 3 and isinstance(
        checkpoint["training"]["metrics"], dict)  # one process: its own states
    checkpoint["training"]["metrics"] = [checkpoint["training"]["metrics"]] * 2  # as torchrun's
    save_checkpoint(path, checkpoint["model"], checkpoint["optimizer"], checkpoint["training"])
    with pytest.warns(UserWarning, match=r"inside an epoch by 2 process\(es\), and 1 resume it"):
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0,
                            callbacks=[torchfit.callbacks.BackupAndRestore(tmp_path, save_freq=3)])
    assert history.epoch == [0, 1]  # epoch 0 resumed from batch 3, then epoch 1
