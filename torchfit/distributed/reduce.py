"""Cross-rank reductions: metric states, logs, flags, and ``predict``'s outputs.

Metric states combine by the aggregation each declares (``Metric.add_weight(aggregation=)``):
"sum", "max", "min" are one ``all_reduce`` per (operation, dtype) for all metrics together,
"mean" a SUM divided by the world size, "concat" an ``all_gather`` of the rows (padded to the
longest). The reduced states are swapped in only while the results are computed
(``reduced_states``): each rank keeps accumulating its own, so reading never double counts.
Metrics without declared states (torchmetrics objects) sync themselves in ``compute()``.
"""

import contextlib
import pickle

import torch
import torch.distributed as dist

from torchfit.distributed import runtime
from torchfit.logs import MetricLogs, to_floats

__all__ = ["DistributedMetricLogs", "agree", "distributed_to_floats", "gather_objects",
           "gather_outputs", "gather_rows", "output_positions", "reduced_states"]

_OPS = {"sum": dist.ReduceOp.SUM, "mean": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX,
        "min": dist.ReduceOp.MIN}


def _declared(metrics):
    """``[(metric, name, aggregation)]`` of every declared state, in a fixed order."""
    return [(metric, name, spec.aggregation) for metric in metrics
            for name, spec in getattr(metric, "state_specs", {}).items()]


def _reduce_states(states):
    """``{(id(metric), name): reduced tensor}`` for ``states`` = ``[(metric, name, how)]``."""
    world = runtime.world_size()
    reduced = {}
    groups = {}
    for metric, name, how in states:
        value = getattr(metric, name)
        if how == "concat":
            reduced[(id(metric), name)] = gather_rows(value)
        else:
            groups.setdefault((how if how != "mean" else "sum", value.dtype, value.device),
                              []).append((metric, name, how, value))
    for (how, _, device), members in groups.items():
        flat = torch.cat([value.reshape(-1) for _, _, _, value in members])
        target = runtime.collective_device(device)
        flat = flat.to(target)
        dist.all_reduce(flat, op=_OPS[how])
        flat = flat.to(device)
        offset = 0
        for metric, name, declared, value in members:
            part = flat[offset:offset + value.numel()].view_as(value)
            offset += value.numel()
            reduced[(id(metric), name)] = part / world if declared == "mean" else part
    return reduced


@contextlib.contextmanager
def reduced_states(metrics):
    """Within the block, every metric holds its states reduced across ranks; then its own again.

    Example:
        >>> metric = torchfit.metrics.Mean()
        >>> metric.update_state(torch.tensor([1.0, 3.0]))
        >>> with reduced_states([metric]):  # one process: the states as they are
        ...     metric.result()
        tensor(2.)
    """
    states = _declared(metrics)
    if not runtime.is_distributed() or not states:
        yield
        return
    own = [(metric, name, getattr(metric, name)) for metric, name, _ in states]
    reduced = _reduce_states(states)
    try:
        for metric, name, _ in states:
            setattr(metric, name, reduced[(id(metric), name)])
        yield
    finally:
        for metric, name, value in own:
            setattr(metric, name, value)


class DistributedMetricLogs(MetricLogs):
    """``MetricLogs`` whose values are those of the metrics' states reduced across ranks.

    The first read after a step reduces every metric at once (one collective per state kind)
    and keeps the results until the next step (``invalidate``). Reading is collective: every
    rank must read the logs at the same points, as torchfit's callbacks do.

    Example:
        >>> metric = torchfit.metrics.Mean(name="loss")
        >>> metric.update_state(torch.tensor([1.0, 2.0]))
        >>> logs = DistributedMetricLogs([metric])
        >>> dict(logs)  # one process: the metrics' own results
        {'loss': tensor(1.5000)}
        >>> metric.update_state(torch.tensor([6.0]))
        >>> logs.invalidate()  # a step ran: the next read computes again
        >>> logs["loss"]
        tensor(3.)
    """

    __slots__ = ("_values",)

    def __init__(self, metrics):
        super().__init__(metrics)
        self._values = None

    def invalidate(self):
        """The metrics changed (a step ran): the next read reduces again."""
        self._values = None

    def __getitem__(self, key):
        if self._values is None:
            keys = self._index()
            with reduced_states(list(self._metrics.values())):
                self._values = {name: MetricLogs.__getitem__(self, name) for name in keys}
        return self._values[key]


def distributed_to_floats(logs):
    """``to_floats(logs)``, the same on every rank: a plain dict of tensors (a custom
    ``train_step``'s) is averaged across ranks; ``DistributedMetricLogs`` are reduced already.

    Example:
        >>> distributed_to_floats({"loss": torch.tensor(0.5), "steps": 2})  # one process
        {'loss': 0.5, 'steps': 2}
    """
    if not runtime.is_distributed() or logs is None or isinstance(logs, DistributedMetricLogs):
        return to_floats(logs)
    values = dict(logs)
    keys = [k for k, v in values.items() if isinstance(v, (torch.Tensor, float, int))
            and not isinstance(v, bool) and torch.as_tensor(v).numel() == 1]
    if keys:
        device = next((v.device for v in values.values() if isinstance(v, torch.Tensor)), "cpu")
        stacked = torch.stack([torch.as_tensor(values[k], dtype=torch.float64).reshape(())
                               .to(runtime.collective_device(device)) for k in keys])
        dist.all_reduce(stacked)
        values.update(zip(keys, (stacked / runtime.world_size()).tolist()))  # sync: per epoch
    return to_floats(values)


def agree(flag, device="cpu"):
    """True on every rank when ``flag`` is true on any (one small ``all_reduce``).

    Example:
        >>> agree(False), agree(1)  # one process: the flag itself
        (False, True)
    """
    if not runtime.is_distributed():
        return bool(flag)
    value = torch.tensor([int(bool(flag))], device=runtime.collective_device(device))
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())  # sync: a decision every rank takes together


def gather_rows(tensor):
    """Every rank's ``tensor`` concatenated along axis 0 in rank order (rows may differ).

    Example:
        >>> gather_rows(torch.tensor([[1, 2], [3, 4]]))  # one process: the rows as they are
        tensor([[1, 2],
                [3, 4]])
    """
    if not runtime.is_distributed():
        return tensor
    world = runtime.world_size()
    device = tensor.device
    target = runtime.collective_device(device)
    local = tensor.to(target)
    counts = torch.tensor([local.shape[0]], dtype=torch.int64, device=target)
    all_counts = [torch.empty_like(counts) for _ in range(world)]
    dist.all_gather(all_counts, counts)
    sizes = [int(c.item()) for c in all_counts]  # sync: once per gather
    longest = max(sizes)
    padded = local.new_zeros((longest,) + tuple(local.shape[1:]))
    padded[:local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([part[:size] for part, size in zip(parts, sizes)]).to(device)


def gather_objects(obj, device="cpu"):
    """Every rank's picklable ``obj`` (CPU tensors, plain values), in rank order, on every rank.

    Unlike ``torch.distributed.all_gather_object``, whose bytes travel on
    ``torch.cuda.current_device()`` under NCCL, they travel on ``collective_device(device)``
    (the model's GPU). In one process: ``[obj]``.

    Example:
        >>> gather_objects({"step": 3})  # one process
        [{'step': 3}]
    """
    if not runtime.is_distributed():
        return [obj]
    data = torch.frombuffer(bytearray(pickle.dumps(obj)), dtype=torch.uint8)
    data = data.to(runtime.collective_device(device))
    sizes = gather_rows(torch.tensor([data.numel()], device=data.device)).tolist()  # sync: once
    everything = gather_rows(data).cpu().numpy().tobytes()
    ends = [sum(sizes[:i + 1]) for i in range(len(sizes))]
    return [pickle.loads(everything[end - size:end]) for size, end in zip(sizes, ends)]


def output_positions(positions, sizes, device="cpu"):
    """Where this rank's ``predict`` rows go: each batch's ``ShardBatch.positions``, or, for a
    stream the user shards (``None``), batch after batch with the ranks in order within each.

    Example:
        >>> output_positions([range(0, 2), [4, 3]], [2, 2])  # two batches' ShardBatch.positions
        tensor([0, 1, 4, 3])
    """
    rank, world = runtime.rank(), runtime.world_size()
    parts = []
    for index, (where, size) in enumerate(zip(positions, sizes)):
        if where is None:  # batch `index` of this rank: after the same batch of lower ranks
            where = range((index * world + rank) << 31, ((index * world + rank) << 31) + size)
        parts.append(torch.as_tensor(list(where), dtype=torch.int64))
    return torch.cat(parts).to(device) if parts else torch.zeros(0, dtype=torch.int64)


def gather_outputs(leaves, positions):
    """Every rank's output rows, in input order, on every rank.

    ``leaves`` are this rank's joined outputs (one tensor per output), ``positions`` the place of
    each row in the input (``output_positions``). A position dealt to two ranks (a
    ``DistributedSampler``'s padding) keeps one row.

    Example:
        >>> rows = torch.tensor([10.0, 11.0, 14.0, 13.0])
        >>> gather_outputs([rows], torch.tensor([0, 1, 4, 3]))  # one process: in input order
        [tensor([10., 11., 13., 14.])]
    """
    every = gather_rows(positions)
    order = torch.argsort(every, stable=True)
    ordered = every[order]
    first = torch.ones_like(ordered, dtype=torch.bool)
    first[1:] = ordered[1:] != ordered[:-1]
    index = order[first]
    return [gather_rows(leaf)[index.to(leaf.device)] for leaf in leaves]
