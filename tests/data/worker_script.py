"""A fit on a DataLoader with two workers, one of which fails, for tests/data/test_workers.py.

    PYTHONPATH=tests python tests/data/worker_script.py OUT_DIR raise|kill [--unwrapped]

Sample 37 (batch 9, worker 1) raises a ValueError or SIGKILLs its worker. While the error is
still held (as a notebook or a retrying ``except`` holds it), the script counts the main
process's live child processes. ``--unwrapped`` is the negative control: the DataLoader is
iterated as torch alone does. It writes OUT_DIR/report.json and each worker's pid under OUT_DIR.
"""

import json
import multiprocessing
import os
import signal
import sys
import traceback

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import torchfit


class Failing(Dataset):
    def __init__(self, out_dir, how):
        self.out_dir, self.how = out_dir, how

    def __len__(self):
        return 64

    def __getitem__(self, index):
        open(os.path.join(self.out_dir, f"worker-{os.getpid()}"), "w").close()
        if index == 37:
            if self.how == "raise":
                raise ValueError("bad sample 37")
            os.kill(os.getpid(), signal.SIGKILL)
        return torch.ones(4), torch.tensor(index % 3)


def describe(error, children=True):
    return {
        "type": type(error).__name__,
        "message": str(error),
        "chained": error.__cause__ is not None or (
            error.__context__ is not None and not error.__suppress_context__),
        "frames": [frame.name for frame in traceback.extract_tb(error.__traceback__)],
        "children": len(multiprocessing.active_children()) if children else None,
    }


def main():
    out_dir, how = sys.argv[1], sys.argv[2]
    if "--unwrapped" in sys.argv:
        torchfit.data.adapters.loader_batches = iter
    model = torchfit.Model(nn.Linear(4, 3), device="cpu")
    model.compile(optimizer="sgd",
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True))
    loader = DataLoader(Failing(out_dir, how), batch_size=4, num_workers=2)
    report = {}
    try:
        model.fit(loader, epochs=1, verbose=0)
    except Exception as error:  # the error and its traceback are still alive here
        try:
            report = describe(error)
        except Exception as late:  # torch alone: its SIGCHLD handler can raise anywhere, here too
            report = {**describe(late, children=False), "late": True}
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main()
