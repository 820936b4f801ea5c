"""Cross-rank reductions under torchrun, run by tests/distributed/test_reduce.py.

``python -m torch.distributed.run --nproc_per_node=2 reduce_script.py OUT``: every rank runs
every check of ``CHECKS`` and writes ``OUT/report_<rank>.json``, ``{check: {"got": ...,
"expected": ...}}``. ``got`` is what ``torchfit.distributed`` gives on that rank; ``expected``
is the reference computed here without it: one metric updated with all of the data, or an
order written by hand. The test compares the two (and the two ranks' reports).
"""

import contextlib
import io
import json
import os
import sys

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from torchfit import metrics
from torchfit.distributed import reduce, runtime, sharding, strategy
from worker import leave

WORLD = 2


class SumState(metrics.Metric):
    """A float "sum" state and an int64 "sum" state (the reduction groups by dtype)."""

    def __init__(self):
        super().__init__(name="sum_state")
        self.total = self.add_weight("total", shape=(2,), aggregation="sum")
        self.count = self.add_weight("count", dtype=torch.int64, aggregation="sum")

    def update_state(self, values):
        self.total += values.sum(0)
        self.count += values.shape[0]

    def result(self):
        return torch.cat([self.total, self.count.reshape(1).float()])


class MeanState(metrics.Metric):
    """The running mean of its values, a "mean" state: with as many values on every rank, the
    mean of the ranks' states is the mean of all values."""

    def __init__(self):
        super().__init__(name="mean_state")
        self.average = self.add_weight("average", shape=(2,), aggregation="mean")
        self.seen = 0  # host bookkeeping, not a state

    def update_state(self, values):
        seen = self.seen + values.shape[0]
        self.average.mul_(self.seen / seen).add_(values.sum(0) / seen)
        self.seen = seen

    def result(self):
        return self.average.clone()


class ExtremeStates(metrics.Metric):
    """A "max" and a "min" state, starting at -inf and +inf."""

    def __init__(self):
        super().__init__(name="extremes")
        self.peak = self.add_weight("peak", shape=(2,), initializer=float("-inf"),
                                    aggregation="max")
        self.trough = self.add_weight("trough", shape=(2,), initializer=float("inf"),
                                      aggregation="min")

    def update_state(self, values):
        torch.maximum(self.peak, values.max(0).values, out=self.peak)
        torch.minimum(self.trough, values.min(0).values, out=self.trough)

    def result(self):
        return torch.cat([self.peak, self.trough])


class ConcatState(metrics.Metric):
    """Every row seen, a "concat" state of rows of 2."""

    def __init__(self):
        super().__init__(name="rows")
        self.rows = self.add_weight("rows", shape=(0, 2), aggregation="concat")

    def update_state(self, values):
        self.rows = torch.cat([self.rows, values])

    def result(self):
        return self.rows.clone()


def _data(seed=0, samples=40, classes=3):
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(samples, 2, generator=generator)
    labels = torch.randint(0, 2, (samples,), generator=generator)
    scores = torch.rand(samples, generator=generator)
    weights = torch.rand(samples, generator=generator) + 0.5
    sparse = torch.randint(0, classes, (samples,), generator=generator)
    predicted = torch.randint(0, classes, (samples,), generator=generator)
    return values, labels, scores, weights, sparse, predicted


def _half(tensors, rank, split):
    """Rank 0 takes the first ``split`` rows, rank 1 the rest."""
    return [t[:split] if rank == 0 else t[split:] for t in tensors]


def _metric_cases():
    """``(name, make, update(metric, *data), split)``: rank 0 takes ``split`` of 40 rows."""
    return [
        ("sum", SumState, lambda m, v, *_: m.update_state(v), 13),
        ("mean", MeanState, lambda m, v, *_: m.update_state(v), 20),
        ("max_min", ExtremeStates, lambda m, v, *_: m.update_state(v), 9),
        ("concat", ConcatState, lambda m, v, *_: m.update_state(v), 15),
        ("concat_empty_rank", ConcatState, lambda m, v, *_: m.update_state(v), 40),
        ("Mean", metrics.Mean, lambda m, v, y, s, w, *_: m.update_state(s, sample_weight=w), 17),
        ("Accuracy", metrics.Accuracy, lambda m, v, y, s, w, c, p: m.update_state(c, p), 23),
        ("BinaryAccuracy", metrics.BinaryAccuracy,
         lambda m, v, y, s, w, *_: m.update_state(y, s, sample_weight=w), 11),
        ("AUC", metrics.AUC, lambda m, v, y, s, *_: m.update_state(y, s), 19),
        ("AUC_PR", lambda: metrics.AUC(curve="PR", num_thresholds=50),
         lambda m, v, y, s, w, *_: m.update_state(y, s, sample_weight=w), 25),
        ("Precision", lambda: metrics.Precision(thresholds=[0.3, 0.5, 0.7]),
         lambda m, v, y, s, *_: m.update_state(y, s), 21),
        ("Recall", metrics.Recall, lambda m, v, y, s, w, *_: m.update_state(y, s, w), 8),
        ("MeanIoU", lambda: metrics.MeanIoU(num_classes=3),
         lambda m, v, y, s, w, c, p: m.update_state(c, p), 27),
    ]


def _results(metric):
    value = metric.result()
    return value.tolist() if isinstance(value, torch.Tensor) else value


def check_metrics(rank):
    data = _data()
    report = {}
    for name, make, update, split in _metric_cases():
        reference = make()
        update(reference, *data)
        local = make()
        mine = _half(data, rank, split)
        if len(mine[0]):  # the rank with no rows never updates (its states stay initial)
            update(local, *[t[:5] for t in mine])  # two batches
            if len(mine[0]) > 5:
                update(local, *[t[5:] for t in mine])
        before = {key: value.clone() for key, value in local.state_dict().items()}
        own_result = _results(local)
        with reduce.reduced_states([local]):
            reduced = _results(local)
        after = local.state_dict()
        unchanged = (before.keys() == after.keys()
                     and all(torch.equal(before[key], after[key]) for key in before)
                     and _results(local) == own_result)
        report[f"metric:{name}"] = {"got": reduced, "expected": _results(reference)}
        report[f"local_unchanged:{name}"] = {"got": unchanged, "expected": True}
    return report


def check_metric_logs(rank):
    """``DistributedMetricLogs`` of several metrics at once: reduced values, on every rank."""
    values, labels, scores, weights, _, _ = _data(seed=1)
    references = [metrics.Mean(name="mean"), metrics.AUC(name="auc")]
    locals_ = [metrics.Mean(name="mean"), metrics.AUC(name="auc")]
    for metric_list, part in ((references, slice(None)),
                              (locals_, slice(0, 30) if rank == 0 else slice(30, None))):
        metric_list[0].update_state(scores[part], sample_weight=weights[part])
        metric_list[1].update_state(labels[part], scores[part])
    logs = reduce.DistributedMetricLogs(locals_)
    got = reduce.distributed_to_floats(logs)
    return {"metric_logs": {"got": got,
                            "expected": {m.name: float(m.result()) for m in references}}}


def check_gather_rows(rank):
    report = {}
    rows = {0: torch.arange(6.0).reshape(3, 2), 1: torch.arange(100.0, 110.0).reshape(5, 2)}
    report["gather_rows:3_and_5"] = {
        "got": reduce.gather_rows(rows[rank]).tolist(),
        "expected": torch.cat([rows[0], rows[1]]).tolist()}
    ints = {0: torch.zeros(0, dtype=torch.int64), 1: torch.tensor([7, 8, 9])}
    gathered = reduce.gather_rows(ints[rank])
    report["gather_rows:0_and_3"] = {"got": [gathered.tolist(), str(gathered.dtype)],
                                     "expected": [[7, 8, 9], "torch.int64"]}
    empty = reduce.gather_rows(torch.zeros(0, 4))
    report["gather_rows:0_and_0"] = {"got": list(empty.shape), "expected": [0, 4]}
    objects = [{"rank": 0, "rows": torch.arange(3).tolist()}, {"rank": 1, "text": "x" * 1000}]
    report["gather_objects"] = {"got": reduce.gather_objects(objects[rank]), "expected": objects}
    return report


def check_gather_outputs(rank):
    report = {}
    # A DistributedSampler over 5 samples on 2 ranks pads rank 1 with sample 0 (unshuffled:
    # rank 0 gets 0, 2, 4 and rank 1 gets 1, 3, 0).
    indices = list(DistributedSampler(range(5), num_replicas=WORLD, rank=rank, shuffle=False))
    values = torch.tensor(indices, dtype=torch.float32) * 10
    pairs = torch.stack([values, -values], 1)
    positions = reduce.output_positions([indices[:2], indices[2:]], [2, 1])
    got = reduce.gather_outputs([values, pairs], positions)
    report["gather_outputs:padded"] = {
        "got": [indices, got[0].tolist(), got[1].tolist()],
        "expected": [[[0, 2, 4], [1, 3, 0]][rank], [0.0, 10.0, 20.0, 30.0, 40.0],
                     [[10.0 * i, -10.0 * i] for i in range(5)]]}
    # Global batches sharded by ShardBatch.positions: ranges into the input.
    ranges = [[range(0, 3), range(5, 8)], [range(3, 5), range(8, 10)]][rank]
    rows = torch.cat([torch.tensor(list(r), dtype=torch.float32) for r in ranges])
    got = reduce.gather_outputs([rows], reduce.output_positions(ranges, [len(r) for r in ranges]))
    report["gather_outputs:ranges"] = {"got": got[0].tolist(),
                                       "expected": [float(i) for i in range(10)]}
    # A stream the user shards (positions None): batch after batch, the ranks in order within
    # each. Rank 0 yields batches of 2 and 3 rows, rank 1 of 2 and 1; a row is 100*rank +
    # 10*batch + row.
    sizes = [[2, 3], [2, 1]][rank]
    rows = torch.tensor([100.0 * rank + 10 * b + i for b, size in enumerate(sizes)
                         for i in range(size)])
    got = reduce.gather_outputs([rows], reduce.output_positions([None, None], sizes))
    report["gather_outputs:stream"] = {
        "got": got[0].tolist(),
        "expected": [0.0, 1.0, 100.0, 101.0, 10.0, 11.0, 12.0, 110.0]}
    return report


def check_flags_and_floats(rank):
    report = {"agree:rank1_only": {"got": reduce.agree(rank == 1), "expected": True},
              "agree:none": {"got": reduce.agree(False), "expected": False},
              "agree:all": {"got": reduce.agree(True), "expected": True}}
    logs = {"loss": torch.tensor(1.0 + 2 * rank), "acc": torch.tensor([0.25 + 0.5 * rank]),
            "steps": 3 + 2 * rank, "name": "text", "vector": torch.tensor([1.0, 2.0])}
    floats = reduce.distributed_to_floats(logs)
    report["distributed_to_floats"] = {
        "got": {key: floats[key] for key in ("loss", "acc", "steps", "name")},
        "expected": {"loss": 2.0, "acc": 0.5, "steps": 4.0, "name": "text"}}
    return report


def check_runtime_and_sharding(rank):
    report = {}
    started_again = runtime.ensure_process_group("cpu")
    report["runtime"] = {
        "got": [runtime.rank(), runtime.world_size(), runtime.is_distributed(),
                runtime.is_main_process(), runtime.local_rank(),
                runtime.launched_world_size(), str(runtime.collective_device("cpu")),
                started_again],
        "expected": [rank, WORLD, True, rank == 0, int(os.environ["LOCAL_RANK"]), WORLD,
                     "cpu", False]}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        runtime.print_on_main("from", "main")
    report["print_on_main"] = {"got": printed.getvalue(),
                               "expected": "from main\n" if rank == 0 else ""}
    report["shared_seed"] = {"got": sharding.shared_seed(1000 + rank), "expected": 1000}
    # Every rank seeded differently: the slices still come from rank 0's one-process order.
    torch.manual_seed(rank)
    sampler = sharding.ShardedBatchSampler(11, 4, True, rank, WORLD)
    mine = [batch.tolist() for batch in DataLoader(range(11), batch_sampler=sampler)]
    every = [None] * WORLD
    dist.all_gather_object(every, mine)
    torch.manual_seed(0)
    one_process = [batch.tolist() for batch in DataLoader(range(11), batch_size=4, shuffle=True)]
    report["sharded_sampler"] = {"got": [a + b for a, b in zip(*every)], "expected": one_process}
    found = strategy.resolve_strategy("auto", "cpu")
    report["strategy_auto"] = {
        "got": [found.kind, found.started_group, list(found.shard), sharding.shared_seed(5 + rank),
                found.agree(rank == 0)],
        "expected": ["ddp", False, [rank, WORLD], 5, True]}
    return report


CHECKS = [check_runtime_and_sharding, check_metrics, check_metric_logs, check_gather_rows,
          check_gather_outputs, check_flags_and_floats]


def main(out):
    started = runtime.ensure_process_group("cpu")  # gloo, from torchrun's variables
    rank = runtime.rank()
    report = {"started_group": {"got": started, "expected": True}}
    for check in CHECKS:  # an error ends every rank (torchrun): the test shows its traceback
        report.update(check(rank))
    with open(os.path.join(out, f"report_{rank}.json"), "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(sys.argv[1])
    leave()
