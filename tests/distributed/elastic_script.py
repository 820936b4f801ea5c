"""A training script for tests/distributed/test_elastic.py, run under ``torchrun --max-restarts=1``.

``python elastic_script.py OUT MODE``: trains a small classifier on shuffled arrays with Adam
and ``BackupAndRestore(OUT/backup, save_freq=SAVE_FREQ)`` for ``EPOCHS`` epochs, the same seed
on every attempt. On the first attempt (``TORCHELASTIC_RESTART_COUNT == "0"``), at ``DIE_AT``:

- ``die``: rank 1 calls ``os._exit(1)`` in ``on_train_batch_end``; torchrun restarts both.
- ``die_sigterm``: the same, and rank 0 sends itself SIGTERM in that very hook: the worst moment
  torchrun's own SIGTERM can reach it, right after a step whose collectives completed.

In ``die`` mode rank 0 of the restarted attempt starts ``LATE`` seconds after rank 1 (longer
than gloo's connection retries), which then reads torchrun's store first: the keys there must be
this attempt's, not those of the dead group (torchrun keeps one store for all attempts).

The attempt whose ``fit`` returns then trains the reference in the same process group: a fresh
model, the same seed and callbacks, uninterrupted. It writes ``OUT/rank<r>.npz``: both runs'
weights and History. Each attempt also writes ``OUT/attempt<a>_rank<r>.json``: where the backup
it found stood, and how its ``fit`` ended (returned, or the exception that left it).
"""

import json
import os
import signal
import sys
import time

import numpy as np
import torch
from torch import nn

import torchfit
from torchfit.saving import load_checkpoint
from worker import leave

EPOCHS = 4
BATCH_SIZE = 16  # global: 8 per process
SAMPLES = 96  # 6 steps per epoch
SAVE_FREQ = 3  # backups after batches 3 and 6 of each epoch: (epoch, 3) and (epoch + 1, 0)
DIE_AT = (2, 3)  # (epoch, batch), 0-based as the hooks receive them: after the (2, 3) backup
LATE = 6.0


class Failure(torchfit.callbacks.Callback):
    """Ends this worker the way the mode says, once, on the first attempt."""

    may_stop_training = False  # (no per-step agreement on stop_training)

    def __init__(self, mode):
        super().__init__()
        self.mode = mode
        self.epoch = None
        self.first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT") == "0"

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if not self.first_attempt or (self.epoch, batch) != DIE_AT:
            return
        rank = torchfit.distributed.rank()
        if rank == 1 and self.mode in ("die", "die_sigterm"):
            os._exit(1)
        if rank == 0 and self.mode == "die_sigterm":
            os.kill(os.getpid(), signal.SIGTERM)


def backup_position(path):
    """``[epoch, step]`` of the backup this attempt starts from, or None."""
    if not os.path.exists(path):
        return None
    training = load_checkpoint(path)["training"]
    return [training["epoch"], training["step"]]


def train(mode, backup_dir):
    """``(History, {name: weight})`` of one fit; ``mode`` None: the uninterrupted reference."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 6)).astype("float32")
    y = ((x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64") + (x[:, 2] > 1)) % 3
    model = torchfit.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3), device="cpu")
    model.compile(optimizer="adam",
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    callbacks = [torchfit.callbacks.BackupAndRestore(backup_dir, save_freq=SAVE_FREQ),
                 Failure(mode)]
    history = model.fit(x, y, batch_size=BATCH_SIZE, epochs=EPOCHS, shuffle=True, verbose=0,
                        callbacks=callbacks)
    return history, {k: v.numpy() for k, v in model.module.state_dict().items()}


def main(out, mode):
    attempt = int(os.environ["TORCHELASTIC_RESTART_COUNT"])
    rank = int(os.environ["RANK"])
    backup_dir = os.path.join(out, "backup")
    report = {"backup": backup_position(os.path.join(backup_dir, "backup.pt"))}
    report_path = os.path.join(out, f"attempt{attempt}_rank{rank}.json")
    if attempt and rank == 0 and mode == "die":
        time.sleep(LATE)
    try:
        history, weights = train(mode, backup_dir)
    except BaseException as error:
        report["ended"] = f"{type(error).__name__}: {str(error)[:300]}"
        with open(report_path, "w") as f:
            json.dump(report, f)
        raise
    report["ended"] = "returned"
    with open(report_path, "w") as f:
        json.dump(report, f)
    reference, reference_weights = train(None, os.path.join(out, "reference_backup"))
    np.savez(os.path.join(out, f"rank{rank}.npz"), history=json.dumps(history.history),
             epochs=np.array(history.epoch), reference=json.dumps(reference.history),
             reference_epochs=np.array(reference.epoch), attempt=attempt,
             **{f"weight:{k}": v for k, v in weights.items()},
             **{f"reference:{k}": v for k, v in reference_weights.items()})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
    leave()
