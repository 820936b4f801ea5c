"""torchfit's ``fit`` against a hand-written PyTorch loop on one CUDA GPU (issue 15, item 5).

Run by ``bash scripts/gpu_check.sh`` (its benchmark step), or alone::

    python scripts/bench_gpu.py --markdown gpu_bench.md             # on a CUDA machine
    python scripts/bench_gpu.py --device cpu --smoke --markdown out.md  # the harness, in seconds

Workloads (the data is built once, device-resident, from a fixed seed; both loops index it with
a per-epoch ``randperm`` on the device; no partial last batch, so a CUDA graph is recorded once):

- ``mlp``: the guide's MLP, 784-64-64-10 logits, 64,000 samples of random MNIST-shaped data,
  batch 128 (500 steps per epoch): launch-bound on a GPU.
- ``resnet18``: a ResNet-18 (BasicBlock, [2, 2, 2, 2], 64-512 channels, the 3x3-stem CIFAR
  variant, BatchNorm) on random 3x32x32 images, 10 classes, batch 128, 7,680 samples (60 steps).

Contenders, in pairs (the same module, initial weights, optimizer ``torch.optim.Adam(1e-3)``,
loss ``nn.CrossEntropyLoss`` and data): the hand-written loop (``raw``: zero_grad, forward, loss,
backward, step, loss and correct predictions summed on the device, one sync per epoch) and
``torchfit`` (``compile(optimizer=that Adam, loss=nn.CrossEntropyLoss(), metrics=["accuracy"])``,
``fit(..., verbose=0)``), each at

- ``fp32``: eager;
- ``bf16``: ``torch.autocast(dtype=torch.bfloat16)`` around forward and loss in raw,
  ``compile(precision="bf16-mixed")`` in torchfit;
- ``compile``: ``torch.compile(module)`` in raw, ``compile(jit_compile=True)`` in torchfit;
- ``graphs`` (mlp only): ``torch.compile(module, mode="reduce-overhead")`` (CUDA graphs through
  cudagraph trees, ``torch.compiler.cudagraph_mark_step_begin()`` before each step) in raw,
  ``compile(jit_compile="reduce-overhead")`` in torchfit.

Each contender keeps its model across rounds (one ``torch.compile`` each); the rounds are
interleaved (every contender runs ``--epochs`` epochs per round, in alternating order), and the
first epoch of each round (compilation, CUDA-graph recording, ``fit``'s set-up) is dropped.
Steps/s is the median over the measured epochs of all rounds; the spread is the min-max of the
per-epoch steps/s; "ratio" is torchfit's median over raw's median in the same precision and
mode (goal >= 0.98x), "vs raw eager" over raw fp32 eager of the workload (goal for torchfit
with graphs on the MLP: > 1). ``torch.backends.cudnn.benchmark`` is on for both; TF32 stays at
torch's defaults. The markdown table is rewritten after each round, so a cut-short run keeps
what it measured. On a CPU the compiled contenders are skipped unless ``--compile-backend
eager`` replaces inductor (and its modes) by dynamo's eager backend, which only exercises the
harness.
"""

import argparse
import contextlib
import datetime
import platform
import statistics
import sys
import time
import warnings
from typing import Callable, NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import nn

import torchfit

SEED = 0


class BasicBlock(nn.Module):
    """ResNet's two 3x3 convolutions with BatchNorm and an identity (or 1x1-conv) shortcut."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 for 32x32 images: a 3x3 stem, four stages of two BasicBlocks (width to 8x)."""

    def __init__(self, num_classes=10, width=64):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        stages, cin = [], width
        for index, cout in enumerate((width, 2 * width, 4 * width, 8 * width)):
            stride = 1 if index == 0 else 2
            stages += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def mlp():
    return nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                         nn.Linear(64, 10))


class Workload(NamedTuple):
    name: str
    build: Callable[[], nn.Module]
    sample_shape: tuple
    steps: int  # per epoch
    batch_size: int
    graphs: bool  # whether the CUDA-graph pair runs


def workloads(smoke):
    """The two workloads; ``smoke``: tiny sizes (a narrow ResNet on 16x16 images)."""
    if smoke:
        return {"mlp": Workload("mlp", mlp, (784,), 4, 64, True),
                "resnet18": Workload("resnet18", lambda: ResNet18(width=8), (3, 16, 16), 2, 16,
                                     False)}
    return {"mlp": Workload("mlp", mlp, (784,), 500, 128, True),
            "resnet18": Workload("resnet18", ResNet18, (3, 32, 32), 60, 128, False)}


def make_data(workload, device):
    """Random inputs and labels on ``device``, the same for every contender."""
    generator = torch.Generator().manual_seed(SEED)
    samples = workload.steps * workload.batch_size
    x = torch.randn((samples,) + workload.sample_shape, generator=generator)
    y = torch.randint(0, 10, (samples,), generator=generator)
    return x.to(device), y.to(device)


class Mode(NamedTuple):
    """A precision/compilation setting, as raw and torchfit spell it."""
    name: str
    autocast: Optional[torch.dtype]
    precision: str
    compile_options: Optional[dict]  # raw's torch.compile options; None: eager
    jit_compile: object  # torchfit's compile(jit_compile=...)


MODES = {
    "fp32": Mode("fp32", None, "32", None, False),
    "bf16": Mode("bf16", torch.bfloat16, "bf16-mixed", None, False),
    "compile": Mode("compile", None, "32", {}, True),
    "graphs": Mode("graphs", None, "32", {"mode": "reduce-overhead"}, "reduce-overhead"),
}


def eager_backend(mode):
    """``mode`` with dynamo's eager backend instead of inductor (``--compile-backend eager``)."""
    if mode.compile_options is None:
        return mode
    return mode._replace(compile_options={"backend": "eager"}, jit_compile={"backend": "eager"})


def synchronizer(device):
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def _seeded_module(workload, device):
    torch.manual_seed(SEED)
    return workload.build().to(device)


class RawLoop:
    """The hand-written loop: state (module, optimizer, compiled forward) kept across rounds."""

    def __init__(self, workload, mode, data, device):
        self.module = _seeded_module(workload, device)
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=1e-3)
        self.forward = self.module
        if mode.compile_options is not None:
            self.forward = torch.compile(self.module, **mode.compile_options)
        self.graphs = mode.compile_options == {"mode": "reduce-overhead"}
        self.mode, self.data, self.device = mode, data, device
        self.batch_size, self.sync = workload.batch_size, synchronizer(device)

    def _autocast(self):
        if self.mode.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.mode.autocast)

    def epochs(self, count):
        """Runs ``count`` epochs; returns each one's seconds."""
        x, y = self.data
        times, size = [], self.batch_size
        self.module.train()
        for _ in range(count):
            self.sync()
            start = time.perf_counter()
            perm = torch.randperm(len(x), device=self.device)
            total = torch.zeros((), device=self.device)
            correct = torch.zeros((), device=self.device, dtype=torch.int64)
            for first in range(0, len(x), size):
                ids = perm[first:first + size]
                xb, yb = x[ids], y[ids]
                if self.graphs:  # torch's marker of a new iteration for cudagraph trees
                    torch.compiler.cudagraph_mark_step_begin()
                with self._autocast():
                    logits = self.forward(xb)
                    loss = F.cross_entropy(logits, yb)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                total += loss.detach()
                correct += (logits.argmax(1) == yb).sum()
            float(total), int(correct)  # sync: once per epoch, as fit's logs
            times.append(time.perf_counter() - start)
        return times


class _EpochTimer(torchfit.callbacks.Callback):
    """Seconds per epoch of a ``fit`` (synchronised at both ends; no batch hooks)."""

    def __init__(self, sync):
        super().__init__()
        self.sync, self.times = sync, []

    def on_epoch_begin(self, epoch, logs=None):
        self.sync()
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):  # after fit's once-per-epoch read of the logs
        self.sync()
        self.times.append(time.perf_counter() - self.start)


class TorchfitLoop:
    """``model.fit`` on the same module, optimizer, loss and data; the model kept across rounds."""

    def __init__(self, workload, mode, data, device):
        module = _seeded_module(workload, device)
        self.model = torchfit.Model(module, device=device)
        self.model.compile(optimizer=torch.optim.Adam(module.parameters(), lr=1e-3),
                           loss=nn.CrossEntropyLoss(), metrics=["accuracy"],
                           precision=mode.precision, jit_compile=mode.jit_compile)
        self.data, self.batch_size, self.sync = data, workload.batch_size, synchronizer(device)
        self.note = ""  # set when jit_compile fell back to the eager forward

    def epochs(self, count):
        timer = _EpochTimer(self.sync)
        x, y = self.data
        with warnings.catch_warnings(record=True) as caught:  # jit_compile's eager fallback
            warnings.simplefilter("always")
            self.model.fit(x, y, batch_size=self.batch_size, epochs=count, shuffle=True,
                           verbose=0, callbacks=[timer])
        for warning in caught:
            if "jit_compile" in str(warning.message):
                self.note = f"ran eagerly: {str(warning.message)[:160]}"
        return timer.times


class Contender(NamedTuple):
    workload: Workload
    mode: Mode
    side: str  # "raw" or "torchfit"
    build: Callable[[], object]

    @property
    def key(self):
        return (self.workload.name, self.mode.name, self.side)


def contenders(selected, device, compile_backend, smoke):
    """Every contender for ``device``, pairs adjacent, as ``[Contender]`` (built lazily)."""
    out, skipped = [], []
    for workload in workloads(smoke).values():
        if workload.name not in selected:
            continue
        data = make_data(workload, device)
        for mode in MODES.values():
            if mode.name == "graphs" and not workload.graphs:
                continue
            if mode.compile_options is not None and compile_backend == "eager":
                mode = eager_backend(mode)
            elif mode.compile_options is not None and device.type != "cuda":
                skipped.append(f"{workload.name} {mode.name}")
                continue
            for side, cls in (("raw", RawLoop), ("torchfit", TorchfitLoop)):
                out.append(Contender(workload, mode, side,
                                     lambda cls=cls, w=workload, m=mode, d=data: cls(w, m, d,
                                                                                     device)))
    return out, skipped


def run_round(pending, built, results, errors, epochs, reverse, report=lambda: None):
    """One round: every contender (not failed yet) runs ``epochs`` epochs, the first dropped;
    ``report()`` after each (the table is rewritten, so a run cut short keeps what it measured).
    """
    for contender in (reversed(pending) if reverse else pending):
        report()
        key = contender.key
        if key in errors:
            continue
        try:
            if key not in built:
                built[key] = contender.build()
            times = built[key].epochs(epochs)
        except Exception as error:  # reported in the table; the others still run
            errors[key] = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:160]}"
            built.pop(key, None)
            continue
        steps = contender.workload.steps
        results.setdefault(key, []).extend(steps / t for t in times[1:])


def machine(device):
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        name += "threads)"
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return (f"{name}; torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {cudnn}, "
            f"Python {platform.python_version()}")


def _fmt(value):
    return f"{value:,.1f}" if value >= 100 else f"{value:.3g}"


def table_rows(pending, results, errors, notes):
    """``[(workload, contender, median, low, high, ratio, vs_eager, note)]`` in contender order."""
    median = {key: statistics.median(v) for key, v in results.items() if v}
    rows = []
    for contender in pending:
        key = contender.key
        workload, mode, side = key
        if key not in median:
            rows.append((workload, f"{side} {mode}", None, None, None, None, None,
                         errors.get(key, "no measured epoch")))
            continue
        raw = median.get((workload, mode, "raw"))
        eager = median.get((workload, "fp32", "raw"))
        ratio = median[key] / raw if raw else None
        vs_eager = median[key] / eager if eager else None
        rows.append((workload, f"{side} {mode}", median[key], min(results[key]),
                     max(results[key]), ratio, vs_eager, notes.get(key, "")))
    return rows


def markdown(rows, header, skipped, rounds_done, rounds):
    lines = [f"# torchfit vs a hand-written loop on {header['machine']}", "",
             f"{header['date']}; rounds done: {rounds_done} of {rounds}, {header['epochs']} epochs "
             "per round, the first of each dropped; steps/s median and min-max over the measured "
             "epochs; ratio = torchfit / raw in the same mode (goal >= 0.98x); vs raw eager = / "
             "raw fp32 eager (goal for torchfit graphs on the MLP: > 1.00x).", "",
             "| workload | contender | steps/s (median) | spread (min-max) | ratio to raw | "
             "vs raw eager | note |", "|---|---|---:|---:|---:|---:|---|"]
    for workload, name, med, low, high, ratio, vs_eager, note in rows:
        if med is None:
            lines.append(f"| {workload} | {name} | - | - | - | - | {note} |")
            continue
        notes = [note] if note else []
        if name.startswith("torchfit") and ratio is not None and ratio < 0.98:
            notes.append("below the 0.98x goal")
        if name == "torchfit graphs" and vs_eager is not None and vs_eager <= 1.0:
            notes.append("not faster than raw eager")
        ratio_text = f"{ratio:.3f}x" if ratio is not None else "-"
        eager_text = f"{vs_eager:.3f}x" if vs_eager is not None else "-"
        lines.append(f"| {workload} | {name} | {_fmt(med)} | {_fmt(low)}-{_fmt(high)} | "
                     f"{ratio_text} | {eager_text} | {'; '.join(notes)} |")
    if skipped:
        lines += ["", f"Skipped on this device (compiled contenders need CUDA, or "
                      f"--compile-backend eager): {', '.join(skipped)}."]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, 1 round of 2 epochs: checks the harness in seconds")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3; smoke 1)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per contender per round, the first dropped (default 3)")
    parser.add_argument("--workloads", default="mlp,resnet18", help="comma-separated")
    parser.add_argument("--compile-backend", choices=("inductor", "eager"), default="inductor",
                        help="eager: dynamo's eager backend for the compiled contenders")
    parser.add_argument("--markdown", default=None, help="write the table to this file")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.smoke else 3)
    args.epochs = args.epochs or (2 if args.smoke else 3)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch of each round is dropped")
    return args


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: no CUDA device visible to torch (use --device cpu for the smoke run)")
        return 2
    torch.backends.cudnn.benchmark = True
    selected = set(args.workloads.split(","))
    pending, skipped = contenders(selected, device, args.compile_backend, args.smoke)
    header = {"machine": machine(device), "epochs": args.epochs,
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    built, results, errors = {}, {}, {}

    def report(rounds_done):
        notes = {key: loop.note for key, loop in built.items() if getattr(loop, "note", "")}
        text = markdown(table_rows(pending, results, errors, notes), header, skipped,
                        rounds_done, args.rounds)
        if args.markdown:
            with open(args.markdown, "w") as stream:
                stream.write(text)
        return text

    for index in range(args.rounds):
        start = time.perf_counter()
        run_round(pending, built, results, errors, args.epochs, reverse=index % 2 == 1,
                  report=lambda: report(f"{index} (round {index + 1} under way)"))
        text = report(str(index + 1))
        print(f"round {index + 1}/{args.rounds}: {time.perf_counter() - start:.1f} s",
              file=sys.stderr, flush=True)
    print(text, end="")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
