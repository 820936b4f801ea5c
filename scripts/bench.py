"""torchfit against hand-written PyTorch loops and peer trainers, interleaved in one process.

Workload A (the guide's MLP): 784-64-64-10 logits, cross-entropy from logits, RMSprop(1e-3),
accuracy metric, 50,000 training samples (the bundled MNIST sample tiled 10x), batch 64,
validation on the 10,000 official test images every epoch.

Workload B (a small CNN): Conv2d(1,32,3)-ReLU-MaxPool(2)-Conv2d(32,64,3)-ReLU-MaxPool(2)-Flatten-
Linear(1600,128)-ReLU-Linear(128,10) on (1, 28, 28) images, Adam(1e-3), accuracy, 10,000 training
samples (the sample tiled 2x), batch 128, validation on the 10,000 test images (batch 128).

Workload C: workload A with the training data fed through
``DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)``; its floor is the hand-written
DataLoader loop.

Workload DDP (``--workloads ddp``, not in the default set): workload A split over 2 CPU processes
with gloo, the batch per process being A's (64, so 128 global): torchfit's ``fit`` under torchrun
against a hand-written ``DistributedDataParallel`` loop, interleaved in one torchrun job that this
script launches (``scripts/bench_ddp.py``).

Workloads L and M (``--workloads L,M``, not in the default set; ``scripts/bench_models.py``):
pytorch/examples' word_language_model (an LSTM language model trained with truncated BPTT, the
hidden state carried across chunks) and the Keras guide's multi-input, multi-output ticket model
(title/body/tags -> priority/department, ``loss_weights``), each against its hand-written loop
and Lightning and Poutyne; their tables report the final validation loss.

Contenders, run round-robin so that machine noise hits all of them alike:
- ``minimal loop``: the floor of A and B. Tensors built once, ``randperm`` + index per batch, loss
  and accuracy summed on the device, one sync per epoch.
- ``DataLoader loop``: the same loop over ``DataLoader(TensorDataset(...))`` (A, and C's floor).
- ``torchfit verbose=0`` / ``verbose=1 (pipe)`` / ``verbose=1 (tty)``: ``model.fit`` silent, with
  the progress bar written to a pipe-like stream, and to a terminal-like stream (redrawn at 10 Hz).
- ``torchfit jit_compile=True`` (B): ``torch.compile`` (inductor) of the forward, with a cold
  inductor cache; it runs in the first ``--jit-rounds`` rounds only (compiling takes tens of
  seconds on a small CPU), and its first epoch (compile + one epoch) is reported separately.
- ``torchfit on the DataLoader`` (C): ``model.fit(loader)``, silent.
- Peers on A, when installed (``pip install -e ".[bench]"``): Keras 3 with ``KERAS_BACKEND=torch``,
  PyTorch Lightning, Poutyne; see ``scripts/bench_peers.py``. A peer that is not installed is
  skipped with one line.

Every figure is a median over the measured epochs of all runs, the first epoch of each run dropped;
ratios are to the floor measured in the same run. ``evaluate`` and ``predict`` on the 10,000 test
images (batch 128) are compared with raw no-grad loops. ``--memory`` also runs each contender once
in a fresh process (``bench.py --only KEY --memory``) and reports its peak RSS. Import times come
from ``python -X importtime``. Run ``python scripts/bench.py --help`` for the options.
"""

import argparse
import contextlib
import importlib.util
import io
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Callable, NamedTuple, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import bench_models  # scripts/ is on sys.path when this file is run as a script
import bench_peers
import bench_runs

# torchfit itself is imported lazily (inside the functions that use it), so that a fresh process
# measuring a peer's or a hand-written loop's memory does not load it.


# ---------------------------------------------------------------- workloads and data
def mlp():
    return nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                         nn.Linear(64, 10))


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))


class Workload(NamedTuple):
    make_model: Callable[[], nn.Module]
    torch_optimizer: Callable  # params -> torch.optim.Optimizer with Keras' defaults
    torchfit_optimizer: Callable  # () -> the same optimizer through torchfit.optimizers
    batch_size: int
    image: bool  # (N, 1, 28, 28) inputs instead of (N, 784)


def _rmsprop(params):
    return torch.optim.RMSprop(params, lr=1e-3, alpha=0.9, eps=1e-7)


def _adam(params):
    return torch.optim.Adam(params, lr=1e-3, eps=1e-7)


def _torchfit_optimizer(name):
    def build():
        import torchfit
        return getattr(torchfit.optimizers, name)(learning_rate=1e-3)
    return build


MLP = Workload(mlp, _rmsprop, _torchfit_optimizer("RMSprop"), batch_size=64, image=False)
CNN = Workload(cnn, _adam, _torchfit_optimizer("Adam"), batch_size=128, image=True)


def load(tiles, val_size, image):
    """The bundled 5k MNIST sample tiled ``tiles`` times, and the first ``val_size`` test images.

    Read from the package's data file directly, without importing torchfit. The file's training
    images are sorted by digit; every contender shuffles them each epoch, so that does not matter.
    """
    package = importlib.util.find_spec("torchfit").submodule_search_locations[0]
    with np.load(os.path.join(package, "datasets", "data", "mnist-5k.npz")) as f:
        x_train, y_train, x_test, y_test = (f[k] for k in ("x_train", "y_train", "x_test",
                                                           "y_test"))
    shape = (-1, 1, 28, 28) if image else (-1, 784)
    x_train = x_train.reshape(shape).astype("float32") / 255
    x_train = np.tile(x_train, (tiles,) + (1,) * (x_train.ndim - 1))
    y_train = np.tile(y_train.astype("int64"), tiles)
    x_test = x_test[:val_size].reshape(shape).astype("float32") / 255
    return x_train, y_train, x_test, y_test[:val_size].astype("int64")


class Run(NamedTuple):
    times: list  # seconds per epoch, first epoch included
    accuracy: float  # final validation accuracy
    note: Optional[str] = None


# ---------------------------------------------------------------- hand-written loops
def _raw_validate(model, x_val, y_val, batch_size):
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


def _index_batches(x, y, batch_size):
    """The minimal loop's batches: one ``randperm`` per epoch, then indexing."""
    perm = torch.randperm(len(x))
    for i in range(0, len(x), batch_size):
        idx = perm[i:i + batch_size]
        yield x[idx], y[idx]


def hand_loop(workload, data, epochs, loader=False):
    """The hand-written loop: the minimal one (the floor), or the usual one over a DataLoader."""
    x, y, x_val, y_val = (torch.from_numpy(a) for a in data)
    model = workload.make_model()
    opt = workload.torch_optimizer(model.parameters())
    batch_size, n = workload.batch_size, len(x)
    if loader:
        dataloader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
        batches = lambda: dataloader  # noqa: E731
    else:
        batches = lambda: _index_batches(x, y, batch_size)  # noqa: E731
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.long)
        for xb, yb in batches():
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(yb)
            correct += (logits.argmax(1) == yb).sum()
        val_loss, val_correct = _raw_validate(model, x_val, y_val, batch_size)
        # sync: one read of the epoch's sums, as any loop that reports them must do.
        results = torch.stack([loss_sum / n, correct / n, val_loss / len(x_val),
                               val_correct / len(x_val)]).tolist()
        times.append(time.perf_counter() - start)
    return Run(times, results[-1])


# ---------------------------------------------------------------- torchfit
class _FakeTerminal(io.StringIO):
    def isatty(self):
        return True


_epoch_timer = bench_models.epoch_timer  # also bench_ddp's


def compiled_torchfit(workload, jit_compile=False):
    import torchfit
    model = torchfit.Model(workload.make_model(), device="cpu")
    model.compile(optimizer=workload.torchfit_optimizer(),
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=jit_compile)
    return model


def torchfit_epochs(workload, data, epochs, verbose=0, stream=None, loader=False,
                    jit_compile=False):
    import torchfit
    x, y, x_val, y_val = data
    batch_size = workload.batch_size
    model = compiled_torchfit(workload, jit_compile)
    if loader:  # Workload C: the same data through a DataLoader, used as is.
        x = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                       batch_size=batch_size, shuffle=True)
        y = None
    timer = _epoch_timer()
    callbacks = [timer]
    if verbose:
        callbacks.append(torchfit.callbacks.ProgbarLogger(stream=stream))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always" if jit_compile else "default")
        history = model.fit(x, y, batch_size=None if loader else batch_size, epochs=epochs,
                            verbose=verbose, validation_data=(x_val, y_val),
                            validation_batch_size=batch_size, callbacks=callbacks)
    note = next((str(w.message) for w in caught if "jit_compile" in str(w.message)), None)
    for w in caught:  # pass the other warnings on
        if "jit_compile" not in str(w.message):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return Run(timer.times, history.history["val_accuracy"][-1], note)


# ---------------------------------------------------------------- peers (workload A)
def peer_epochs(key, data, epochs):
    try:
        times, accuracy = bench_peers.PEERS[key][2](data, epochs, mlp)
    except bench_peers.PeerMissing:
        raise
    except Exception as error:  # an optional peer that breaks (e.g. a version clash) is skipped
        raise bench_peers.PeerMissing(f"failed: {type(error).__name__}: {error}") from error
    return Run(times, accuracy)


# ---------------------------------------------------------------- contenders and tables
class Contender(NamedTuple):
    label: str
    run: Callable[[], Run]
    rounds: Optional[int] = None  # None: every round
    requires: Optional[str] = None  # module that must be importable, else skipped


# Per workload: the contender keys in its table, the first one being the floor.
TABLES = {
    "A": ["A:raw", "A:dataloader", "A:torchfit", "A:torchfit-pipe", "A:torchfit-tty",
          "A:keras", "A:lightning", "A:poutyne"],
    "B": ["B:raw", "B:torchfit", "B:torchfit-jit"],
    "C": ["A:dataloader", "C:torchfit"],
    **bench_models.TABLES,  # "L", "M"
}


def contenders(data_a, data_b, epochs, jit_rounds, loaded_lm=None):
    table = {
        "A:raw": Contender("minimal loop", lambda: hand_loop(MLP, data_a, epochs)),
        "A:dataloader": Contender("DataLoader loop",
                                  lambda: hand_loop(MLP, data_a, epochs, loader=True)),
        "A:torchfit": Contender("torchfit verbose=0", lambda: torchfit_epochs(MLP, data_a, epochs)),
        "A:torchfit-pipe": Contender("torchfit verbose=1 (pipe)", lambda: torchfit_epochs(
            MLP, data_a, epochs, 1, stream=open(os.devnull, "w"))),
        "A:torchfit-tty": Contender("torchfit verbose=1 (tty)", lambda: torchfit_epochs(
            MLP, data_a, epochs, 1, stream=_FakeTerminal())),
        "C:torchfit": Contender("torchfit on the DataLoader",
                                lambda: torchfit_epochs(MLP, data_a, epochs, loader=True)),
        "B:raw": Contender("minimal loop", lambda: hand_loop(CNN, data_b, epochs)),
        "B:torchfit": Contender("torchfit verbose=0", lambda: torchfit_epochs(CNN, data_b, epochs)),
        "B:torchfit-jit": Contender("torchfit jit_compile=True (steady state)", lambda:
                                    torchfit_epochs(CNN, data_b, epochs, jit_compile=True),
                                    rounds=jit_rounds),
    }
    for key, (label, module, _) in bench_peers.PEERS.items():
        table[f"A:{key}"] = Contender(label, lambda key=key: peer_epochs(key, data_a, epochs),
                                      requires=module)
    for key, (label, run, module) in bench_models.contenders(loaded_lm or {}, epochs).items():
        table[key] = Contender(label, lambda run=run: Run(*run()), requires=module)
    return table


SEED = 0


def seed_everything(seed=SEED):
    """Seeds Python's, NumPy's and torch's generators (Keras draws its seeds from Python's)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _torch_state():
    return (torch.get_num_threads(), torch.is_grad_enabled(), torch.get_default_dtype(),
            torch.are_deterministic_algorithms_enabled(), torch.get_float32_matmul_precision())


class Results(NamedTuple):  # per contender key
    steady: dict  # epoch times, first epoch of each run dropped
    first: dict  # first-epoch times, one per run
    accuracy: dict  # final validation accuracy of the last run
    notes: dict  # something to say about a run (jit fallback, torch state changed)
    skipped: dict  # why a contender did not run


def measure(selected, rounds):
    """Runs the contenders round-robin, the order rotated each round."""
    steady = {key: [] for key in selected}
    first = {key: [] for key in selected}
    accuracy, notes, skipped = {}, {}, {}
    for key, contender in selected.items():
        if contender.requires and not bench_peers.available(contender.requires):
            skipped[key] = "not installed"
    keys = [key for key in selected if key not in skipped]
    for round_index in range(rounds):
        # Rotate the order each round so that no contender always runs after the same one.
        shift = round_index % max(len(keys), 1)
        for key in keys[shift:] + keys[:shift]:
            contender = selected[key]
            if key in skipped or (contender.rounds is not None and round_index >= contender.rounds):
                continue
            state = _torch_state()
            seed_everything()  # the same initial weights and shuffles for every contender
            try:
                run = contender.run()
            except bench_peers.PeerMissing as error:
                skipped[key] = str(error)
                continue
            if _torch_state() != state:  # a framework changed torch's globals: undo, say so
                notes.setdefault(key, f"changed torch global state {state} -> {_torch_state()}; "
                                      "restored")
                torch.set_num_threads(state[0])
                torch.set_grad_enabled(state[1])
                torch.set_default_dtype(state[2])
                torch.use_deterministic_algorithms(state[3])
                torch.set_float32_matmul_precision(state[4])
            # The first epoch of each run warms caches and allocators (and compiles, with
            # jit_compile): keep steady state only, and the first epochs apart.
            steady[key].extend(run.times[1:] if len(run.times) > 1 else run.times)
            first[key].append(run.times[0])
            accuracy[key] = run.accuracy
            if run.note:
                notes[key] = run.note
        print(f"round {round_index + 1}/{rounds} done", file=sys.stderr)
    return Results(steady, first, accuracy, notes, skipped)


# ---------------------------------------------------------------- memory (fresh processes)
def peak_rss_mib():
    """Peak resident memory of this process, MiB.

    ``VmHWM`` from /proc on Linux: it belongs to the address space, which ``exec`` replaces,
    whereas ``ru_maxrss`` survives fork+exec and would report the (larger) parent's peak for a
    child started by ``measure_memory``. ``ru_maxrss`` elsewhere (KiB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024


def measure_memory(keys, args):
    """Peak RSS of a fresh process running one contender once: ``bench.py --only KEY --memory``."""
    peaks = {}
    for key in keys:
        command = [sys.executable, os.path.abspath(__file__), "--only", key, "--memory",
                   "--epochs", str(args.epochs), "--tiles", str(args.tiles),
                   "--b-tiles", str(args.b_tiles), "--val-size", str(args.val_size)]
        command += ["--threads", str(args.threads)] if args.threads else []
        command += ["--quick"] if args.quick else []  # L's and M's sizes
        proc = subprocess.run(command, capture_output=True, text=True)
        found = re.findall(r"^peak_rss_mib=([\d.]+)$", proc.stdout, re.MULTILINE)
        if proc.returncode or not found:
            print(f"memory run of {key} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        peaks[key] = float(found[-1])
        print(f"memory: {key} {peaks[key]:.0f} MiB", file=sys.stderr)
    return peaks


# ---------------------------------------------------------------- evaluate / predict
def inference_times(data, repeats, batch_size=128):
    _, _, x_val, y_val = data
    model = compiled_torchfit(MLP)
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


# ---------------------------------------------------------------- import time
IMPORTS = {  # label -> (module, extra environment)
    "torchfit": ("torchfit", {}),
    "keras (KERAS_BACKEND=torch)": ("keras", {"KERAS_BACKEND": "torch"}),
    "lightning": ("lightning", {}),
    "poutyne": ("poutyne", {}),
}


def import_time_ms(module, env=None, own_prefix=None):
    """``python -X importtime -c 'import MODULE'``: the module's cumulative ms, and the summed
    self times of the modules named ``own_prefix*`` (the framework's own code).

    Measured as a user's machine imports: with bytecode caching (``PYTHONDONTWRITEBYTECODE``,
    which some sandboxes set, is dropped, else every import recompiles the sources) and after
    one untimed import that writes the caches.
    """
    env = {key: value for key, value in {**os.environ, **(env or {})}.items()
           if key != "PYTHONDONTWRITEBYTECODE"}
    command = [sys.executable, "-X", "importtime", "-c", f"import {module}"]
    subprocess.run(command, capture_output=True, check=True, env=env)  # writes the caches
    proc = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
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
        if own_prefix and (name == own_prefix or name.startswith(own_prefix + ".")):
            own += self_us
        if name == module:
            total = cumulative_us
    return total / 1000, own / 1000


def import_times(repeats, peers=True):
    """Min over ``repeats`` fresh interpreters of each framework's import time (ms)."""
    out = {}
    for label, (module, env) in IMPORTS.items():
        if module != "torchfit" and not peers:
            continue
        if not bench_peers.available(module):
            out[label] = None
            continue
        runs = [import_time_ms(module, env, own_prefix=module) for _ in range(repeats)]
        out[label] = (min(r[0] for r in runs), min(r[1] for r in runs))
    return out


# ---------------------------------------------------------------- report
def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch threads, Python {platform.python_version()}")


def _median(times):
    return statistics.median(times) if times else None


def workload_lines(name, title, table, selected, results, peaks, accuracy_floor_key, quick,
                   metric="val accuracy"):
    steady, _, accuracy, notes, skipped = results
    floor_key = table[0]
    floor = _median(steady.get(floor_key, []))
    memory = bool(peaks)
    lines = [f"### Workload {name}: {title}", ""]
    header = ["contender", "median s/epoch", "ratio to floor"]
    header += ["peak MiB"] if memory else []
    header += [f"final {metric}"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    tail = []
    for key in table:
        if key not in selected:
            continue
        label = selected[key].label + (" (floor)" if key == floor_key else "")
        if key in skipped:
            tail.append(f"{selected[key].label}: skipped: {skipped[key]}")
            continue
        median = _median(steady[key])
        if median is None:
            continue
        row = [label, f"{median:.3f}", f"{median / floor:.3f}x" if floor else "n/a"]
        row += [f"{peaks[key]:.0f}" if key in peaks else "n/a"] if memory else []
        row += [f"{accuracy[key]:.4f}"]
        lines.append("| " + " | ".join(row) + " |")
        reference = accuracy.get(accuracy_floor_key)
        if reference is not None and abs(accuracy[key] - reference) > 0.02:
            tail.append(f"WARNING: {label} reached {metric} {accuracy[key]:.4f}, more than "
                        f"0.02 away from the minimal loop's {reference:.4f}"
                        + (" (with --quick's few samples and epochs, seeds alone can do that)."
                           if quick else "."))
        if key in notes:
            tail.append(f"Note on {selected[key].label}: {notes[key]}")
    return lines + ([""] + tail if tail else [])


def ratio(steady, key, floor_key):
    ours, floor = _median(steady.get(key, [])), _median(steady.get(floor_key, []))
    return ours / floor if ours and floor else None


def target_lines(steady, inference=None):
    """The CPU targets, PASS/FAIL from this run's medians (DDP's, inference's: when run)."""
    checks = [
        ("torchfit ≤ 1.05× the minimal loop on A",
         ratio(steady, "A:torchfit", "A:raw"), "≤", 1.05),
        ("torchfit ≤ 1.05× the minimal loop on B",
         ratio(steady, "B:torchfit", "B:raw"), "≤", 1.05),
        ("torchfit ≤ 0.85× the user's DataLoader loop on C",
         ratio(steady, "C:torchfit", "A:dataloader"), "≤", 0.85),
        ("torchfit ≥ 3× faster than Keras 3 on A",
         ratio(steady, "A:keras", "A:torchfit"), "≥", 3),
        ("torchfit ≥ 3× faster than Lightning on A",
         ratio(steady, "A:lightning", "A:torchfit"), "≥", 3),
    ]
    for name in bench_models.TABLES:  # when they ran
        if f"{name}:torchfit" in steady:
            checks.append((f"torchfit ≤ 1.05× the hand-written loop on {name}",
                           ratio(steady, f"{name}:torchfit", f"{name}:raw"), "≤", 1.05))
    if "ddp:torchfit" in steady:
        checks.append(("torchfit ≤ 1.05× the hand-written DDP loop",
                       ratio(steady, "ddp:torchfit", "ddp:raw"), "≤", 1.05))
    for verb in ("evaluate", "predict"):
        if inference:
            checks.append((f"torchfit {verb} ≤ 1.05× the raw no_grad loop",
                           ratio(inference, f"torchfit {verb}", f"raw {verb}"), "≤", 1.05))
    lines = ["CPU targets:", ""]
    for text, value, op, bound in checks:
        if value is None:
            lines.append(f"- {text}: not measured")
            continue
        ok = value <= bound if op == "≤" else value >= bound
        lines.append(f"- {text}: {value:.3f}× **{'PASS' if ok else 'FAIL'}**")
    return lines


def report(args, data_a, data_b, selected, results, peaks, inference, imports, ddp=None):
    steady, first = results.steady, results.first
    wanted = [w for w in "ABCLM" if w in args.workloads]
    lines = [f"Machine: {machine()}", "",
             f"{args.epochs} epochs per run x {args.rounds} rounds, round-robin, first epoch of "
             "each run dropped; medians over the remaining epochs; ratios to the floor of the "
             "same run.", ""]
    def size(data, index):
        return f"{len(data[index]):,}" if data is not None else "?"

    titles = {
        "A": f"the guide's MLP (784-64-64-10), {size(data_a, 0)} samples, batch 64, "
             f"RMSprop(1e-3), validation on {size(data_a, 2)} samples each epoch",
        "B": f"small CNN on (1, 28, 28) images, {size(data_b, 0)} samples, batch 128, "
             f"Adam(1e-3), validation on {size(data_b, 2)} samples each epoch",
        "C": "workload A fed through `DataLoader(TensorDataset, batch_size=64, shuffle=True)` "
             "(`fit(loader)`), floor: the hand-written DataLoader loop",
        **bench_models.titles(args.quick),
    }
    for name in wanted:
        lines += workload_lines(name, titles[name], TABLES[name], selected, results, peaks,
                                accuracy_floor_key=TABLES["A" if name == "C" else name][0],
                                quick=args.quick,
                                **({"metric": bench_models.METRIC} if name in "LM" else {}))
        if name == "B" and first.get("B:torchfit-jit"):
            jit_first = statistics.median(first["B:torchfit-jit"])
            jit_steady = _median(steady["B:torchfit-jit"])
            runs = len(first["B:torchfit-jit"])
            lines += ["", f"`jit_compile=True` ran {runs} time(s) of {args.epochs} epochs (not "
                          f"every round: compiling is slow), cold inductor cache: first epoch "
                          f"{jit_first:.2f} s (compile + one epoch), steady state "
                          f"{jit_steady:.3f} s/epoch, so compiling took about "
                          f"{jit_first - jit_steady:.1f} s."]
        lines.append("")
    if ddp is not None:
        import bench_ddp  # noqa: PLC0415 (it imports this file: only when the workload runs)

        lines += bench_ddp.report_lines(ddp, args.epochs, args.rounds) + [""]
        steady = {**steady, **{key: value["steady"] for key, value in ddp["results"].items()}}
    if peaks:
        lines += ["Peak MiB: peak RSS (`VmHWM`) of a fresh process that imports only what "
                  "the contender needs, loads the data and runs it once "
                  "(`bench.py --only KEY --memory`).", ""]
    if inference:
        lines += ["| inference (10,000 samples, batch 128) | median s | ratio to raw |",
                  "|---|---|---|"]
        for verb in ("evaluate", "predict"):
            raw = statistics.median(inference[f"raw {verb}"])
            ours = statistics.median(inference[f"torchfit {verb}"])
            lines.append(f"| raw {verb} | {raw:.4f} | 1.000x |")
            lines.append(f"| torchfit {verb} | {ours:.4f} | {ours / raw:.3f}x |")
        lines.append("")
    if imports:
        lines += ["| import (`python -X importtime`, min of "
                  f"{args.import_repeats}) | cumulative ms | the framework's own modules, ms |",
                  "|---|---|---|"]
        for label, value in imports.items():
            lines.append(f"| {label} | skipped: not installed | |" if value is None
                         else f"| {label} | {value[0]:.0f} | {value[1]:.1f} |")
        lines.append("")
    if not args.only:
        lines += target_lines(steady, inference)
    return "\n".join(lines)


# ---------------------------------------------------------------- main
@contextlib.contextmanager
def cold_inductor_cache(enabled):
    """jit_compile: a fresh inductor cache folder, so that the compile time measured is a cold
    one (inductor otherwise reuses compiled kernels from earlier runs). Left alone when the user
    set TORCHINDUCTOR_CACHE_DIR."""
    if not enabled or "TORCHINDUCTOR_CACHE_DIR" in os.environ:
        yield
        return
    folder = tempfile.mkdtemp(prefix="torchfit-bench-inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = folder
    try:
        yield
    finally:
        del os.environ["TORCHINDUCTOR_CACHE_DIR"]
        shutil.rmtree(folder, ignore_errors=True)


def parse_args():
    parser = argparse.ArgumentParser(
        description="torchfit vs hand-written loops and peer trainers (workloads A, B, C, L, M, "
                    "DDP).")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; --quick: 1)")
    parser.add_argument("--epochs", type=int, help="epochs per run (default 3; --quick: 2)")
    parser.add_argument("--tiles", type=int,
                        help="copies of the 5k sample for A and C (default 10 = 50k; --quick: 2)")
    parser.add_argument("--b-tiles", type=int,
                        help="copies of the 5k sample for B (default 2 = 10k; --quick: 1)")
    parser.add_argument("--val-size", type=int,
                        help="validation images, from the 10k test set "
                             "(default 10000; --quick: 2000)")
    parser.add_argument("--jit-rounds", type=int, default=1,
                        help="rounds that run B's jit_compile=True contender (default 1)")
    parser.add_argument("--import-repeats", type=int,
                        help="fresh interpreters per import time (default 3; --quick: 1)")
    parser.add_argument("--workloads", default="A,B,C",
                        help="which workloads: A, B, C, L, M, DDP (default A,B,C)")
    parser.add_argument("--ddp-procs", type=int, default=2,
                        help="processes of the DDP workload (default 2)")
    parser.add_argument("--threads", type=int,
                        help="torch.set_num_threads(N) first (default: torch's choice; 1 gives "
                             "steadier numbers on a busy machine)")
    parser.add_argument("--no-peers", action="store_true", help="skip Keras, Lightning, Poutyne")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 1 round, 2 epochs, small sizes")
    parser.add_argument("--memory", action="store_true",
                        help="also measure each contender's peak RSS in a fresh process")
    parser.add_argument("--only", metavar="KEY",
                        help="run one contender, once per round: "
                             + ", ".join(sorted({k for t in TABLES.values() for k in t})))
    parser.add_argument("--runs", type=int, default=1,
                        help="whole measurements back to back (default 1): the report is the "
                             "last run's, plus every run's ratios with their spread")
    parser.add_argument("--markdown", help="also write the report to this file")
    args = parser.parse_args()
    quick = args.quick
    defaults = {"rounds": (5, 1), "epochs": (3, 2), "tiles": (10, 2), "b_tiles": (2, 1),
                "val_size": (10000, 2000), "import_repeats": (3, 1)}
    for name, (full, small) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    args.workloads = {w.strip().upper() for w in args.workloads.split(",") if w.strip()}
    if not args.workloads <= set(TABLES) | {"DDP"}:
        parser.error(f"--workloads takes A, B, C, L, M and/or DDP; got "
                     f"{sorted(args.workloads)}")
    if args.only:
        known = {k for t in TABLES.values() for k in t}
        if args.only not in known:
            parser.error(f"--only {args.only!r}: expected one of {', '.join(sorted(known))}")
        args.workloads = {args.only[0]}
        args.rounds = 1 if args.memory else args.rounds
    return args


def one_run(args, data_a, selected):
    """One whole measurement: the DDP job, the interleaved contenders, evaluate/predict."""
    ddp = None
    if "DDP" in args.workloads and not args.only:
        import bench_ddp  # noqa: PLC0415 (it imports this file: only when the workload runs)

        ddp = bench_ddp.launch(args.rounds, args.epochs, args.tiles, args.val_size,
                               procs=args.ddp_procs)
    with cold_inductor_cache(enabled="B:torchfit-jit" in selected):
        results = measure(selected, args.rounds) if selected else Results({}, {}, {}, {}, {})
    inference = None
    if "A" in args.workloads and not args.only:
        inference = inference_times(data_a, repeats=2 if args.quick else 30)
    return results, inference, ddp


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    needs_a = args.workloads & {"A", "C"}
    data_a = load(args.tiles, args.val_size, image=False) if needs_a else None
    data_b = load(args.b_tiles, args.val_size, image=True) if "B" in args.workloads else None
    loaded_lm = bench_models.load(args.workloads, args.quick)
    every = contenders(data_a, data_b, args.epochs, args.jit_rounds, loaded_lm)
    keys = [args.only] if args.only else list(dict.fromkeys(
        key for w in "ABCLM" if w in args.workloads for key in TABLES[w]))
    if args.no_peers:
        keys = [key for key in keys if every[key].requires is None]
    selected = {key: every[key] for key in keys}

    spread = bench_runs.RunRatios()
    tables = {name: [key for key in TABLES[name] if key in selected]
              for name in "ABCLM" if name in args.workloads}
    for run in range(max(1, args.runs)):
        if args.runs > 1:
            print(f"run {run + 1}/{args.runs}", file=sys.stderr)
        results, inference, ddp = one_run(args, data_a, selected)
        if args.only and args.memory:  # the child of measure_memory: report and stop
            print(f"peak_rss_mib={peak_rss_mib():.1f}")
            return
        spread.add_run({name: keys for name, keys in tables.items() if len(keys) > 1},
                       results.steady, inference, ddp)
    peaks = {}
    if args.memory:
        peaks = measure_memory([key for key in keys if key not in results.skipped], args)
    imports = (import_times(args.import_repeats, peers=not args.no_peers)
               if selected and not args.only else None)
    text = report(args, data_a, data_b, selected, results, peaks, inference, imports, ddp)
    if args.runs > 1:
        text += (f"\n\n### Run-to-run spread: {args.runs} runs back to back (each ratio "
                 "within its own run)\n\n" + "\n".join(bench_runs.spread_lines(spread)))
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
