"""torchfit against hand-written PyTorch loops, measured interleaved in one process.

Workload A (the guide's MLP): 784-64-64-10 logits, cross-entropy from logits, RMSprop(1e-3),
accuracy metric, 50,000 training samples (the bundled MNIST sample tiled 10x), batch 64,
validation on the 10,000 official test images every epoch.

Workload C: the same, with the training data fed through
``DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)``; its floor is the hand-written
DataLoader loop.

Contenders, run round-robin so that machine noise hits all of them alike:
- ``raw``: the floor. Tensors built once, ``randperm`` + index per batch, loss and accuracy summed
  on the device, one sync per epoch.
- ``dataloader``: the typical hand-written loop over ``DataLoader(TensorDataset(...))``.
- ``torchfit v0`` / ``v1-pipe`` / ``v1-tty``: ``model.fit`` silent, with the progress bar
  written to a pipe-like stream, and to a terminal-like stream (the live bar redrawn at 10 Hz).
- ``torchfit on the DataLoader (C)``: ``model.fit(loader)``, silent.

Every figure is a median over all measured epochs; ratios are to ``raw`` in the same run.
``evaluate`` and ``predict`` on the 10,000 test images (batch 128) are compared with raw no-grad
loops. Run ``python scripts/bench.py --help`` for the options; ``--markdown FILE`` writes a table.
"""

import argparse
import io
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import torchfit


def mlp():
    return nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                         nn.Linear(64, 10))


def load(tiles):
    (x_train, y_train), (x_test, y_test) = torchfit.datasets.mnist.load_data(sample=True)
    x_train = np.tile(x_train.reshape(-1, 784).astype("float32") / 255, (tiles, 1))
    y_train = np.tile(y_train.astype("int64"), tiles)
    x_test = x_test.reshape(-1, 784).astype("float32") / 255
    return x_train, y_train, x_test, y_test.astype("int64")


# ---------------------------------------------------------------- hand-written loops
def _raw_validate(model, x_val, y_val, batch_size=64):
    model.eval()
    loss_sum = torch.zeros(())
    correct = torch.zeros((), dtype=torch.long)
    with torch.no_grad():
        for start in range(0, len(x_val), batch_size):
            xb, yb = x_val[start:start + batch_size], y_val[start:start + batch_size]
            logits = model(xb)
            loss_sum += F.cross_entropy(logits, yb) * len(xb)
            correct += (logits.argmax(1) == yb).sum()
    return loss_sum, correct


def raw_epochs(data, epochs, batch_size=64):
    x, y, x_val, y_val = (torch.from_numpy(a) for a in data)
    model = mlp()
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    times, n = [], len(x)
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        perm = torch.randperm(n)
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.long)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            xb, yb = x[idx], y[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.argmax(1) == yb).sum()
        val_loss, val_correct = _raw_validate(model, x_val, y_val)
        # sync: one read of the epoch's sums, as any loop that reports them must do.
        results = torch.stack([loss_sum / n, correct / n, val_loss / len(x_val),
                               val_correct / len(x_val)]).tolist()
        times.append(time.perf_counter() - start)
    return times, results[-1]


def dataloader_epochs(data, epochs, batch_size=64):
    x, y, x_val, y_val = (torch.from_numpy(a) for a in data)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    model = mlp()
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.long)
        for xb, yb in loader:
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(xb)
            correct += (logits.argmax(1) == yb).sum()
        val_loss, val_correct = _raw_validate(model, x_val, y_val)
        results = torch.stack([loss_sum / len(x), correct / len(x), val_loss / len(x_val),
                               val_correct / len(x_val)]).tolist()  # sync: once per epoch
        times.append(time.perf_counter() - start)
    return times, results[-1]


# ---------------------------------------------------------------- torchfit
class _EpochTimer(torchfit.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


class _FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def compiled_torchfit():
    model = torchfit.Model(mlp(), device="cpu")
    model.compile(optimizer=torchfit.optimizers.RMSprop(learning_rate=1e-3),
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def torchfit_epochs(data, epochs, verbose, stream=None, batch_size=64, loader=False):
    x, y, x_val, y_val = data
    model = compiled_torchfit()
    if loader:  # Workload C: the same data through a DataLoader, used as is.
        x = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                       batch_size=batch_size, shuffle=True)
        y = batch_size = None
    timer = _EpochTimer()
    callbacks = [timer]
    if verbose:
        callbacks.append(torchfit.callbacks.ProgbarLogger(stream=stream))
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                        validation_data=(x_val, y_val), validation_batch_size=64,
                        callbacks=callbacks)
    return timer.times, history.history["val_accuracy"][-1]


# ---------------------------------------------------------------- evaluate / predict
def inference_times(data, repeats, batch_size=128):
    _, _, x_val, y_val = data
    model = compiled_torchfit()
    model.fit(data[0][:5000], data[1][:5000], batch_size=64, epochs=1, verbose=0)
    xt, yt = torch.from_numpy(x_val), torch.from_numpy(y_val)
    module = model.module
    out = {"raw evaluate": [], "torchfit evaluate": [], "raw predict": [], "torchfit predict": []}
    for _ in range(repeats):
        start = time.perf_counter()
        loss_sum, correct = _raw_validate(module, xt, yt, batch_size)
        torch.stack([loss_sum, correct.float()]).tolist()  # sync: the results
        out["raw evaluate"].append(time.perf_counter() - start)

        start = time.perf_counter()
        model.evaluate(x_val, y_val, batch_size=batch_size, verbose=0)
        out["torchfit evaluate"].append(time.perf_counter() - start)

        start = time.perf_counter()
        module.eval()
        with torch.no_grad():
            torch.cat([module(xt[i:i + batch_size]) for i in range(0, len(xt), batch_size)]).numpy()
        out["raw predict"].append(time.perf_counter() - start)

        start = time.perf_counter()
        model.predict(x_val, batch_size=batch_size, verbose=0)
        out["torchfit predict"].append(time.perf_counter() - start)
    return out


def import_time_ms():
    """torchfit's own share of ``python -X importtime -c 'import torchfit'`` (self times)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import torchfit"],
                          capture_output=True, text=True, check=True)
    own = total = 0
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[0].startswith("import time:"):
            continue
        try:
            self_us, cumulative_us = int(parts[0].split(":")[1]), int(parts[1])
        except ValueError:
            continue
        name = parts[2].strip()
        if name.startswith("torchfit"):
            own += self_us
        if name == "torchfit":
            total = cumulative_us
    return own / 1000, total / 1000


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch threads, Python {platform.python_version()}")


def main():
    parser = argparse.ArgumentParser(description="torchfit vs hand-written loops (workload A).")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    parser.add_argument("--tiles", type=int, default=10, help="copies of the 5k sample (10 = 50k)")
    parser.add_argument("--markdown", help="also write the results table to this file")
    args = parser.parse_args()
    torch.manual_seed(0)
    data = load(args.tiles)
    contenders = {
        "raw loop (floor)": lambda: raw_epochs(data, args.epochs),
        "DataLoader loop": lambda: dataloader_epochs(data, args.epochs),
        "torchfit verbose=0": lambda: torchfit_epochs(data, args.epochs, 0),
        "torchfit verbose=1 (pipe)": lambda: torchfit_epochs(
            data, args.epochs, 1, stream=open(os.devnull, "w")),
        "torchfit verbose=1 (tty)": lambda: torchfit_epochs(
            data, args.epochs, 1, stream=_FakeTerminal()),
        "torchfit on the DataLoader (C)": lambda: torchfit_epochs(
            data, args.epochs, 0, loader=True),
    }
    epoch_times = {name: [] for name in contenders}
    accuracy = {}
    names = list(contenders)
    for round_index in range(args.rounds):
        # Rotate the order each round so that no contender always runs after the same one.
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            run = contenders[name]
            times, result = run()
            # The first epoch of each run warms caches and allocators: keep steady state only.
            epoch_times[name].extend(times[1:] if len(times) > 1 else times)
            accuracy[name] = result[-1] if isinstance(result, list) else result
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
    inference = inference_times(data, repeats=max(5, args.rounds * 2))
    own_ms, cumulative_ms = import_time_ms()

    floor = statistics.median(epoch_times["raw loop (floor)"])
    lines = [
        f"Machine: {machine()}",
        "",
        f"Workload A: {len(data[0])} samples, batch 64, {args.epochs} epochs x {args.rounds} "
        "rounds (first epoch of each run dropped), validation on 10,000 samples each epoch.",
        "",
        "| contender | median s/epoch | ratio to raw | final val accuracy |",
        "|---|---|---|---|",
    ]
    for name, times in epoch_times.items():
        median = statistics.median(times)
        lines.append(f"| {name} | {median:.3f} | {median / floor:.3f}x | {accuracy[name]:.4f} |")
    loader_floor = statistics.median(epoch_times["DataLoader loop"])
    loader_ours = statistics.median(epoch_times["torchfit on the DataLoader (C)"])
    lines += ["", f"Workload C (the same MLP fed through `DataLoader(TensorDataset, shuffle=True, "
                  f"batch_size=64)`): torchfit {loader_ours:.3f} s/epoch vs the hand-written "
                  f"DataLoader loop {loader_floor:.3f} s/epoch = "
                  f"**{loader_ours / loader_floor:.3f}x**."]
    lines += ["", "| inference (10,000 samples, batch 128) | median s | ratio to raw |",
              "|---|---|---|"]
    for verb in ("evaluate", "predict"):
        raw = statistics.median(inference[f"raw {verb}"])
        ours = statistics.median(inference[f"torchfit {verb}"])
        lines.append(f"| raw {verb} | {raw:.4f} | 1.000x |")
        lines.append(f"| torchfit {verb} | {ours:.4f} | {ours / raw:.3f}x |")
    lines += ["", f"`import torchfit`: torchfit's own modules {own_ms:.1f} ms "
                  f"(cumulative with torch and numpy: {cumulative_ms:.0f} ms)."]
    report = "\n".join(lines)
    print(report)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report + "\n")


if __name__ == "__main__":
    main()
