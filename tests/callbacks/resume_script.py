"""A training run for tests/callbacks/test_backup_and_restore.py, interrupted on request.

    PYTHONPATH=tests python tests/callbacks/resume_script.py BACKUP_DIR OUT.pt
        [--kill sigkill|sigterm|raise --at EPOCH BATCH] [--save-freq epoch|N] [--no-rng-restore]

It imports ``helpers`` from tests/, which the test puts on ``PYTHONPATH``.
"""

import argparse
import os
import signal

import torch
from torch import nn

import torchfit
from helpers import blobs


class Interrupt(torchfit.callbacks.Callback):
    def __init__(self, how, epoch, batch):
        super().__init__()
        self.how, self.at = how, (epoch, batch)
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) != self.at:
            return
        if self.how == "raise":
            raise RuntimeError("interrupted on purpose")
        os.kill(os.getpid(), signal.SIGKILL if self.how == "sigkill" else signal.SIGTERM)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("backup_dir")
    parser.add_argument("out")
    parser.add_argument("--kill", choices=["sigkill", "sigterm", "raise"])
    parser.add_argument("--at", type=int, nargs=2, default=(2, 3))
    parser.add_argument("--save-freq", default="epoch")
    parser.add_argument("--no-rng-restore", action="store_true")
    args = parser.parse_args()
    if args.no_rng_restore:  # the negative control: everything restored but the random states
        torchfit.callbacks.backup_and_restore.set_rng_state = lambda state: None
    torch.set_num_threads(1)
    torchfit.utils.set_random_seed(0)
    x, y = blobs()
    model = torchfit.Model(nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.5), nn.ReLU(),
                                         nn.Linear(16, 3)), device="cpu")
    model.compile(optimizer=torchfit.optimizers.Adam(1e-2),
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True))
    save_freq = args.save_freq if args.save_freq == "epoch" else int(args.save_freq)
    callbacks = [torchfit.callbacks.BackupAndRestore(args.backup_dir, save_freq=save_freq)]
    if args.kill:
        callbacks.insert(0, Interrupt(args.kill, *args.at))
    model.fit(x, y, batch_size=8, epochs=4, shuffle=True, callbacks=callbacks, verbose=0)
    torch.save(model.module.state_dict(), args.out)


if __name__ == "__main__":
    main()
