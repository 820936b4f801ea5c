"""A training run for tests/trainer/test_signals.py that gets a real SIGTERM or SIGINT.

    PYTHONPATH=tests python tests/trainer/signal_script.py OUT_DIR
        [--signal term|int --at STEP] [--external STEP] [--no-handlers]

``--at STEP``: the model's forward sends the signal to its own process in the middle of global
step STEP (before the backward pass and the optimizer step). ``--external STEP``: after STEP the
script prints READY and slows down, for the test to send the signal from outside.
``--no-handlers``: the negative control, fit installs no handler (as off the main thread).
It writes OUT_DIR/report.json (steps finished, whether on_train_end ran, where a
KeyboardInterrupt was raised) and, when training completes, OUT_DIR/weights.pt.
"""

import argparse
import json
import os
import signal
import sys
import time
import traceback

import torch
from torch import nn

import torchfit
from helpers import blobs

SIGNALS = {"term": signal.SIGTERM, "int": signal.SIGINT}


class Net(nn.Module):
    def __init__(self, signum, at):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.5), nn.ReLU(), nn.Linear(16, 3))
        self.signum, self.at, self.calls = signum, at, 0

    def forward(self, x):
        if self.training:
            if self.calls == self.at:
                os.kill(os.getpid(), self.signum)  # mid-step: nothing applied yet
            self.calls += 1
        return self.layers(x)


class Report(torchfit.callbacks.Callback):
    def __init__(self, path, external):
        super().__init__()
        self.path, self.external = path, external
        self.data = {"steps": 0, "train_end": False, "interrupted_in": None}

    def write(self):
        with open(self.path, "w") as f:
            json.dump(self.data, f)

    def on_train_batch_end(self, batch, logs=None):
        self.data["steps"] += 1
        self.write()
        if self.external is not None and self.data["steps"] > self.external:
            if self.data["steps"] == self.external + 1:
                print("READY", flush=True)
            time.sleep(0.05)

    def on_train_end(self, logs=None):
        self.data["train_end"] = True
        self.write()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--signal", choices=sorted(SIGNALS), default="term")
    parser.add_argument("--at", type=int, default=-1)
    parser.add_argument("--external", type=int)
    parser.add_argument("--no-handlers", action="store_true")
    args = parser.parse_args()
    if args.no_handlers:
        torchfit.trainer.signals._on_main_thread = lambda: False
    torch.set_num_threads(1)
    torchfit.utils.set_random_seed(0)
    x, y = blobs()
    model = torchfit.Model(Net(SIGNALS[args.signal], args.at), device="cpu")
    model.compile(optimizer=torchfit.optimizers.Adam(1e-2),
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True))
    report = Report(os.path.join(args.out_dir, "report.json"), args.external)
    backup = torchfit.callbacks.BackupAndRestore(os.path.join(args.out_dir, "backup"))
    try:
        model.fit(x, y, batch_size=8, epochs=3, callbacks=[report, backup], verbose=0)
    except KeyboardInterrupt:
        report.data["interrupted_in"] = traceback.extract_tb(sys.exc_info()[2])[-1].filename
        report.write()
        return
    torch.save(model.module.layers.state_dict(), os.path.join(args.out_dir, "weights.pt"))


if __name__ == "__main__":
    main()
