"""Peak RSS growth of `fit` + `evaluate` on a float32 memmap, run in a fresh process by test_disk.

    python rss_script.py PATH ROWS COLUMNS AVAILABLE_BYTES

AVAILABLE_BYTES stands for the host memory `torchfit.data.disk` sees as available (so the test
decides whether the file is streamed or loaded). Prints one JSON line: the adapter's class and
the growth of the peak RSS (VmHWM, reset to the current RSS just before `fit`) in bytes.
"""

import json
import sys

import numpy as np
import torch

import torchfit
from torchfit.data import disk


def status(key):
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def main(path, rows, columns, available):
    x = np.memmap(path, dtype="float32", mode="r", shape=(rows, columns))
    y = np.zeros((rows, 1), np.float32)
    torch.manual_seed(0)
    model = torchfit.Sequential(torch.nn.Linear(columns, 1), device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    warm = np.array(x[:2048])  # the first step's allocations (optimizer state, thread pools)
    model.fit(warm, y[:2048], batch_size=1024, epochs=1, verbose=0)
    model.evaluate(warm, y[:2048], batch_size=1024, verbose=0)
    del warm
    disk.available_memory = lambda: available
    adapter = type(torchfit.data.get_adapter(x, y, batch_size=1024)).__name__
    with open("/proc/self/clear_refs", "w") as file:
        file.write("5")  # the peak RSS starts again from the current RSS
    before = status("VmRSS")
    model.fit(x, y, batch_size=1024, epochs=1, shuffle=True, verbose=0)
    model.evaluate(x, y, batch_size=1024, verbose=0)
    print(json.dumps({"adapter": adapter, "growth": status("VmHWM") - before}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
