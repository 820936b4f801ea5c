"""The figures of docs/reliability.md, measured: torchfit's saving and resuming under faults.

    python scripts/reliability.py            # every measurement, about a minute on 2 cores
    python scripts/reliability.py --quick    # fewer trials (seconds), as tests/scripts runs it
    python scripts/reliability.py --json out.json

Measurements (each against plain ``torch.save`` / ``torch.load`` where that is the alternative):

``kill``
    SIGKILL during a write. A forked writer saves version A and version B of a 4 MB state dict
    to the same file in turn, and is SIGKILLed after a random delay; then the file must load and
    equal A or B exactly. Torn = anything else (unreadable, or other values). torchfit
    ``save_state_dict`` (``.pt`` and ``.h5``, atomic) against ``torch.save(state, path)``.
``flip``
    Single-bit flips. A saved file (a 64x32 weight and a bias: 9.5 KB, about 1.3 KB of it zip
    and pickle headers) with one random bit flipped is loaded: detected (torchfit's
    "Could not read ... damaged/truncated or corrupt" ValueError naming the file), identical
    (loads exactly as saved), different (loads other weights silently) or raw (any other
    exception). torchfit's checksummed ``.pt`` against ``torch.save`` + ``torch.load``; and
    torchfit's ``.h5``, which carries no checksum.
``resume``
    Exact resume. A forked ``fit`` (4 epochs of 8 steps, shuffled, with dropout, Adam) with
    ``BackupAndRestore(save_freq=3)`` SIGKILLs itself at the end of a random step; the parent
    resumes it with a fresh model built the same way. Exact = final weights bitwise equal to an
    uninterrupted run's. (Kills at random times during a backup write are the ``kill`` case.)
``load``
    Validation before copying. Files that do not fit the model (wrong shape in a later layer, an
    extra key, a missing key, float64 weights, ``.pt`` and ``.h5``) are loaded with
    ``Model.load_weights`` and with ``module.load_state_dict(torch.load(...))`` (``.h5`` read
    with torchfit for the latter). Each is "refused, untouched" (an error, weights as they
    were), "refused, changed" (an error after some tensors were copied) or "accepted". Also the
    peak memory of loading a 270 KB ``.h5`` whose header declares a 64 MB dataset.

Forked children start from this process, which has imported torch (one thread) already, so a
trial costs milliseconds rather than an interpreter start.
"""

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
import tracemalloc

import numpy as np
import torch
from torch import nn

import torchfit
from torchfit import saving


def _state(version, size=4):
    generator = torch.Generator().manual_seed(version)
    return {f"layer{i}.weight": torch.randn(256, 1024, generator=generator)
            for i in range(size)}


def _equal(loaded, expected):
    return (isinstance(loaded, dict) and list(loaded) == list(expected)
            and all(torch.equal(loaded[key], expected[key]) for key in expected))


def _fork(child):
    """Runs `child()` in a forked process that never returns into the caller; its pid."""
    pid = os.fork()
    if pid == 0:
        try:
            child()
        finally:
            os._exit(0)
    return pid


# ---------------------------------------------------------------------------------------------
# kill: SIGKILL during a write

_WRITERS = {
    "torchfit .pt": (".pt", saving.save_state_dict, saving.load_state_dict),
    "torchfit .h5": (".h5", saving.save_state_dict, saving.load_state_dict),
    "torch.save .pt": (".pt", lambda state, path: torch.save(state, path),
                       lambda path: torch.load(path, weights_only=True)),
}


def kill_trial(folder, writer, versions, rng):
    """One SIGKILL during a stream of saves: 'ok' or 'torn'."""
    suffix, save, load = _WRITERS[writer]
    path = os.path.join(folder, f"target{suffix}")
    save(versions[0], path)

    def write_forever():
        for i in range(10**6):
            save(versions[i % 2], path)

    pid = _fork(write_forever)
    time.sleep(rng.uniform(0.02, 0.12))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    try:
        loaded = load(path)
    except Exception:  # noqa: BLE001 - any failure to read is a torn file
        return "torn"
    return "ok" if any(_equal(loaded, version) for version in versions) else "torn"


def measure_kill(trials, seed=0):
    rng, versions = random.Random(seed), (_state(1), _state(2))
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for writer in _WRITERS:
            outcomes = [kill_trial(folder, writer, versions, rng) for _ in range(trials)]
            results[writer] = {"trials": trials, "torn": outcomes.count("torn")}
    return results


# ---------------------------------------------------------------------------------------------
# flip: single-bit flips


def _flip_outcome(path, load, expected):
    try:
        loaded = load(path)
    except ValueError as err:
        text = str(err)
        if type(err) is ValueError and f"from {path!r}: the file is " in text and (
                "damaged" in text or "corrupt" in text):
            return "detected"
        return "raw"
    except Exception:  # noqa: BLE001 - torch's RuntimeError, UnicodeDecodeError, ...
        return "raw"
    return "identical" if _equal(loaded, expected) else "different"


def measure_flip(trials, seed=0):
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(3)  # a small model's state: headers matter
    state = {"w": torch.randn(64, 32, generator=generator),
             "b": torch.randn(32, generator=generator)}
    contenders = {
        "torchfit .pt": (".pt", saving.save_state_dict, saving.load_state_dict),
        "torch.save .pt": (".pt", lambda s, p: torch.save(s, p),
                           lambda p: torch.load(p, weights_only=True)),
        "torchfit .h5": (".h5", saving.save_state_dict, saving.load_state_dict),
    }
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, (suffix, save, load) in contenders.items():
            source = os.path.join(folder, f"source{suffix}")
            save(state, source)
            with open(source, "rb") as f:
                data = f.read()
            counts = dict.fromkeys(("detected", "identical", "different", "raw"), 0)
            path = os.path.join(folder, f"flipped{suffix}")
            for _ in range(trials):
                damaged = bytearray(data)
                damaged[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
                with open(path, "wb") as f:
                    f.write(damaged)
                counts[_flip_outcome(path, load, state)] += 1
            results[name] = {"trials": trials, **counts}
    return results


# ---------------------------------------------------------------------------------------------
# resume: exact resume after SIGKILL

_EPOCHS, _SAMPLES, _BATCH = 4, 64, 8


def _resume_model():
    torch.manual_seed(0)
    model = torchfit.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1),
                                device="cpu")
    model.compile(optimizer=torchfit.optimizers.Adam(1e-2), loss="mse", metrics=["mae"])
    return model


def _resume_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(_SAMPLES, 8)).astype("float32")
    return x, x[:, :1] * 2 + 1


class _KillAt(torchfit.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step, self.seen = step, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def _fit(backup_dir, extra=()):
    model = _resume_model()
    x, y = _resume_data()
    backup = torchfit.callbacks.BackupAndRestore(backup_dir, save_freq=3)
    model.fit(x, y, batch_size=_BATCH, epochs=_EPOCHS, verbose=0,
              callbacks=[backup, *extra])
    return model


def resume_trial(folder, step, reference):
    backup_dir = os.path.join(folder, f"backup{step}")
    pid = _fork(lambda: _fit(backup_dir, [_KillAt(step)]))
    _, status = os.waitpid(pid, 0)
    if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
        return "not killed"
    resumed = _fit(backup_dir)
    state = resumed.module.state_dict()
    return "exact" if _equal(dict(state), reference) else "different"


def measure_resume(trials, seed=0):
    rng = random.Random(seed)
    steps_total = _EPOCHS * _SAMPLES // _BATCH
    with tempfile.TemporaryDirectory() as folder:
        reference = dict(_fit(os.path.join(folder, "reference")).module.state_dict())
        steps = [rng.randrange(1, steps_total) for _ in range(trials)]
        outcomes = [resume_trial(folder, step, reference) for step in steps]
    return {"BackupAndRestore": {"trials": trials, "exact": outcomes.count("exact"),
                                 "killed at steps": steps,
                                 "not killed": outcomes.count("not killed")}}


# ---------------------------------------------------------------------------------------------
# load: validation before copying, and the .h5 size bomb


def _two_layers(out=3, dtype=torch.float32):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, out)).to(dtype)


def _bad_files(folder):
    """(name, path) of files that do not fit `_two_layers()`; the first layer always fits."""
    cases = {
        "later layer's shape": _two_layers(out=5).state_dict(),
        "extra key": {**_two_layers().state_dict(), "extra.weight": torch.ones(2)},
        "missing key": {k: v for k, v in _two_layers().state_dict().items() if k != "2.bias"},
        "float64 weights": {k: (v.double() if k.startswith("2.") else v)
                            for k, v in _two_layers().state_dict().items()},
    }
    files = []
    for name, state in cases.items():
        for suffix in (".pt", ".h5"):
            state = {k: v * 0 + 7 for k, v in state.items()}  # unlike the target's weights
            path = os.path.join(folder, f"{name.replace(' ', '_')}{suffix}")
            saving.save_state_dict(state, path)
            files.append((f"{name} ({suffix})", path))
    return files


def _load_outcome(load):
    """'refused, untouched', 'refused, changed' (half-loaded) or 'accepted' (e.g. cast)."""
    module = _two_layers()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    try:
        load(module)
    except Exception:  # noqa: BLE001 - every case should raise; we record what it left behind
        untouched = _equal(dict(module.state_dict()), before)
        return "refused, untouched" if untouched else "refused, changed"
    return "accepted"


def _torch_load_into(path):
    def load(module):
        reader = saving.load_state_dict if path.endswith(".h5") else torch.load
        module.load_state_dict(reader(path))
    return load


def measure_load():
    results = {"torchfit load_weights": {}, "module.load_state_dict": {}}
    with tempfile.TemporaryDirectory() as folder:
        for name, path in _bad_files(folder):
            results["torchfit load_weights"][name] = _load_outcome(
                lambda m, p=path: torchfit.Model(m, device="cpu").load_weights(p))
            results["module.load_state_dict"][name] = _load_outcome(_torch_load_into(path))
        bomb = _h5_bomb_peak(folder)
    counts = {}
    for name, cases in results.items():
        counts[name] = {"cases": len(cases)}
        for outcome in ("refused, untouched", "refused, changed", "accepted"):
            counts[name][outcome] = sorted(k for k, v in cases.items() if v == outcome)
    return {**counts, "h5 declaring 64 MB": bomb}


def _h5_bomb_peak(folder):
    import h5py

    path = os.path.join(folder, "bomb.h5")
    with h5py.File(path, "w") as f:
        weight = f.create_dataset("weight", shape=(4096, 4096), dtype="float32",
                                  chunks=(256, 4096), compression="gzip", compression_opts=9)
        for row in range(0, 4096, 256):
            weight[row:row + 256] = 0
        f.create_dataset("padding", data=np.random.default_rng(0).integers(
            0, 255, 200_000, dtype=np.uint8))
    model = torchfit.Model(nn.Linear(4, 2), device="cpu")
    tracemalloc.start()
    try:
        model.load_weights(path)
    except ValueError:
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"file bytes": os.path.getsize(path), "declared bytes": 4096 * 4096 * 4,
            "peak bytes": peak}


# ---------------------------------------------------------------------------------------------


def run(quick=False):
    """Every measurement; `quick` cuts the trial counts (for tests)."""
    torch.set_num_threads(1)  # forked children must not inherit a thread pool
    kill, flip, resume = (3, 20, 2) if quick else (60, 400, 12)
    started = time.perf_counter()
    results = {
        "kill": measure_kill(kill),
        "flip": measure_flip(flip),
        "resume": measure_resume(resume),
        "load": measure_load(),
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials (seconds)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    results = run(args.quick)
    for section, value in results.items():
        print(f"{section}: {json.dumps(value)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
