"""The DDP workload of ``scripts/bench.py``: workload A split over processes (gloo, CPU).

Run by ``python scripts/bench.py --workloads ddp``, which launches this file under
``torch.distributed.run --nproc_per_node=N`` (2 by default, one torch thread each). Every process
holds the whole of workload A's data; per process the batch is workload A's (64), so the global
batch is 64 x N. Two contenders, run round-robin (order rotated each round) in the same process
group, each building its model from the same seed:

- ``hand-written DDP loop`` (the floor): ``DistributedDataParallel(mlp())`` with torch's
  RMSprop; each epoch one ``randperm`` from a seed shared by all ranks, each rank indexing its
  slice of every global batch (the split torchfit uses); cross-entropy, ``zero_grad`` /
  ``backward`` / ``step``; loss and accuracy summed on the device; then each rank validates its
  half of the validation images and one ``all_reduce`` of the epoch's sums is the one sync.
- ``torchfit fit under torchrun``: ``model.fit(x, y, batch_size=64 * N)`` with workload A's
  compile (torchfit's RMSprop), ``strategy="auto"`` (DDP), validation every epoch.

Rank 0 times each epoch (ranks meet in every step's gradient ``all_reduce``, so its clock is the
job's), in wall-clock seconds and in CPU seconds of its process (``time.process_time``: the work
it did, which other load on a shared machine disturbs much less than the wall clock), and prints one line ``DDP_RESULTS=<json>`` that ``bench.py`` reads (``launch``) and
reports (``report_lines``): medians over the epochs of all runs, the first epoch of each run
dropped, and the spread of the per-round ratios. ``--profile FILE`` writes rank 0's cProfile.
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (workload A's model, optimizers, data and timer)

KEYS = ("ddp:raw", "ddp:torchfit")
LABELS = {"ddp:raw": "hand-written DDP loop", "ddp:torchfit": "torchfit fit under torchrun"}


def share(size, rank, world):
    """``(start, stop)`` of ``rank``'s slice of ``size`` samples (the first ``size % world``
    ranks one more): the same split as ``torchfit.distributed.sharding.share_bounds``."""
    base, extra = divmod(size, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def raw_ddp(data, epochs, seed):
    """The hand-written DDP loop; ``([(wall s, CPU s) per epoch], final val accuracy)``."""
    x, y, x_val, y_val = (torch.from_numpy(a) for a in data)
    rank, world = dist.get_rank(), dist.get_world_size()
    model = DistributedDataParallel(bench.mlp())
    opt = bench.MLP.torch_optimizer(model.parameters())
    global_batch, n = bench.MLP.batch_size * world, len(x)
    lo_val, hi_val = share(len(x_val), rank, world)
    times = []
    for epoch in range(epochs):
        start = time.perf_counter(), time.process_time()
        model.train()
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.long)
        for first in range(0, n, global_batch):
            batch = perm[first:first + global_batch]
            lo, hi = share(len(batch), rank, world)
            xb, yb = x[batch[lo:hi]], y[batch[lo:hi]]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(yb)
            correct += (logits.argmax(1) == yb).sum()
        val_loss, val_correct = bench._raw_validate(model.module, x_val[lo_val:hi_val],
                                                    y_val[lo_val:hi_val], bench.MLP.batch_size)
        sums = torch.stack([t.double() for t in (loss_sum, correct, val_loss, val_correct)])
        dist.all_reduce(sums)
        # sync: one read of the epoch's sums, as any loop that reports them must do.
        results = (sums / torch.tensor([n, n, len(x_val), len(x_val)])).tolist()
        times.append((time.perf_counter() - start[0], time.process_time() - start[1]))
    return times, results[-1]


def torchfit_ddp(data, epochs, seed):
    """``fit`` under torchrun, workload A's compile; as ``raw_ddp``."""
    x, y, x_val, y_val = data
    world = dist.get_world_size()
    model = bench.compiled_torchfit(bench.MLP)
    timer = bench._epoch_timer()
    history = model.fit(x, y, batch_size=bench.MLP.batch_size * world, epochs=epochs, verbose=0,
                        validation_data=(x_val, y_val),
                        validation_batch_size=bench.MLP.batch_size * world, callbacks=[timer])
    return list(zip(timer.times, timer.cpu_times)), history.history["val_accuracy"][-1]


RUNS = {"ddp:raw": raw_ddp, "ddp:torchfit": torchfit_ddp}


def measure(data, rounds, epochs, only=None):
    """Round-robin runs; ``{key: {"steady": [wall s], "cpu": [CPU s], "first": [wall s],
    "rounds": [median wall s per run], "accuracy": float}}`` (rank 0's clocks; "steady" and
    "cpu" without the first epoch of each run)."""
    keys = [only] if only else list(KEYS)
    out = {key: {"steady": [], "cpu": [], "first": [], "rounds": [], "accuracy": None}
           for key in keys}
    for round_index in range(rounds):
        shift = round_index % len(keys)
        for key in keys[shift:] + keys[:shift]:
            bench.seed_everything()
            dist.barrier()  # both ranks start the run together
            times, accuracy = RUNS[key](data, epochs, bench.SEED)
            steady = [wall for wall, _ in (times[1:] if len(times) > 1 else times)]
            out[key]["steady"] += steady
            out[key]["cpu"] += [cpu for _, cpu in (times[1:] if len(times) > 1 else times)]
            out[key]["first"].append(times[0][0])
            out[key]["rounds"].append(sorted(steady)[len(steady) // 2])
            out[key]["accuracy"] = accuracy
        if dist.get_rank() == 0:
            print(f"ddp round {round_index + 1}/{rounds} done", file=sys.stderr, flush=True)
    return out


# ---------------------------------------------------------------- in bench.py's process
def launch(rounds, epochs, tiles, val_size, procs=2, timeout=3600):
    """Runs this file under ``torch.distributed.run --nproc_per_node=procs`` (gloo, one torch
    thread per process); returns rank 0's ``DDP_RESULTS``."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={procs}",
               f"--master_port={port}", os.path.abspath(__file__), "--rounds", str(rounds),
               "--epochs", str(epochs), "--tiles", str(tiles), "--val-size", str(val_size)]
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, timeout=timeout)
    found = re.findall(r"^DDP_RESULTS=(.*)$", proc.stdout, re.MULTILINE)
    if proc.returncode or not found:
        raise SystemExit(f"{' '.join(command)} failed (exit {proc.returncode}):\n"
                         f"{proc.stdout[-3000:]}")
    return json.loads(found[-1])


def ratios_per_round(results):
    """torchfit's median s/epoch over the loop's, round by round."""
    return [ours / floor for ours, floor in zip(results["ddp:torchfit"]["rounds"],
                                                results["ddp:raw"]["rounds"])]


def report_lines(ddp, epochs, rounds):
    """The DDP section of ``bench.py``'s report."""
    world, results = ddp["world"], ddp["results"]
    floor = statistics.median(results["ddp:raw"]["steady"])
    spread = ratios_per_round(results)
    lines = [f"### Workload DDP: workload A split over {world} CPU processes (gloo), "
             f"{ddp['samples']:,} samples, batch {bench.MLP.batch_size} per process "
             f"({bench.MLP.batch_size * world} global), RMSprop(1e-3), validation on "
             f"{ddp['val']:,} samples each epoch", "",
             f"{epochs} epochs per run x {rounds} rounds, interleaved in one torchrun job, one "
             "torch thread per process; rank 0's clock.", "",
             "| contender | median s/epoch | ratio to floor | per-round ratios (min-max) | "
             "median CPU s/epoch (rank 0) | CPU ratio | final val accuracy |",
             "|---|---|---|---|---|---|---|"]
    cpu_floor = statistics.median(results["ddp:raw"]["cpu"])
    for key in KEYS:
        median = statistics.median(results[key]["steady"])
        label = LABELS[key] + (" (floor)" if key == "ddp:raw" else "")
        per_round = "" if key == "ddp:raw" else f"{min(spread):.3f}-{max(spread):.3f}"
        cpu = statistics.median(results[key]["cpu"])
        lines.append(f"| {label} | {median:.3f} | {median / floor:.3f}x | {per_round} | "
                     f"{cpu:.3f} | {cpu / cpu_floor:.3f}x | {results[key]['accuracy']:.4f} |")
    return lines


# ---------------------------------------------------------------- under torchrun
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--tiles", type=int, default=10)
    parser.add_argument("--val-size", type=int, default=10000)
    parser.add_argument("--only", choices=KEYS, help="one contender (profiling)")
    parser.add_argument("--profile", help="write rank 0's cProfile stats to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group("gloo")  # torchfit's compile finds it and starts none
    data = bench.load(args.tiles, args.val_size, image=False)
    if args.profile and dist.get_rank() == 0:
        import cProfile  # noqa: PLC0415 (profiling only)

        profiler = cProfile.Profile()
        profiler.enable()
        results = measure(data, args.rounds, args.epochs, args.only)
        profiler.disable()
        profiler.dump_stats(args.profile)
    else:
        results = measure(data, args.rounds, args.epochs, args.only)
    if dist.get_rank() == 0:
        print("DDP_RESULTS=" + json.dumps({"world": dist.get_world_size(), "results": results,
                                           "samples": len(data[0]), "val": len(data[2])}),
              flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
