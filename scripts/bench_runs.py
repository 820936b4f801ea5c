"""Run-to-run spread for ``scripts/bench.py --runs N``: the ratios of every run, side by side.

Each run is a whole measurement (every contender interleaved, its own floor); a ratio is only
ever taken within one run. This table lists each run's ratio, their median and their range, so
that a reader sees how far a single run can be trusted on this machine.
"""

import statistics

__all__ = ["RunRatios", "spread_lines"]


def _median(values):
    return statistics.median(values) if values else None


class RunRatios:
    """Collects one ratio per run for each row: ``add(label, value)`` after each run."""

    def __init__(self):
        self.rows = {}  # label -> [ratio of run 1, ratio of run 2, ...] (None: not measured)
        self.runs = 0

    def add(self, label, value):
        """``value`` for ``label`` in the current run (the last one ``add_run`` began)."""
        row = self.rows.setdefault(label, [])
        row.extend([None] * (max(self.runs, 1) - 1 - len(row)))  # runs that did not measure it
        row.append(value)

    def add_run(self, tables, steady, inference=None, ddp=None):
        """One run's ratios: each table's contenders against its floor (the first key), the
        inference ratios, and the DDP ratio.

        ``tables``: ``{workload: [keys]}``; ``steady``: ``{key: [seconds per epoch]}``;
        ``inference``: ``{"raw evaluate": [s], "torchfit evaluate": [s], ...}``; ``ddp``: the
        DDP launch's results (``{"results": {key: {"steady": [...]}}}``).
        """
        self.runs += 1
        for name, keys in tables.items():
            floor = _median(steady.get(keys[0], []))
            for key in keys[1:]:
                ours = _median(steady.get(key, []))
                if ours is not None and floor:
                    self.add(f"{name}: {key.split(':', 1)[1]} / {keys[0].split(':', 1)[1]}",
                             ours / floor)
        for verb in ("evaluate", "predict"):
            if inference and inference.get(f"raw {verb}"):
                raw = _median(inference[f"raw {verb}"])
                self.add(f"{verb} / raw no_grad loop",
                         _median(inference[f"torchfit {verb}"]) / raw)
        if ddp is not None:
            results = ddp["results"]
            self.add("DDP: torchfit / hand-written DDP loop",
                     _median(results["ddp:torchfit"]["steady"])
                     / _median(results["ddp:raw"]["steady"]))


def spread_lines(ratios):
    """The markdown table of ``RunRatios``: one column per run, then median and range.

    Example:
        >>> runs = RunRatios()
        >>> for value in (1.0, 1.2, 0.9):
        ...     runs.add("A: torchfit / raw", value)
        >>> print("\\n".join(spread_lines(runs)[2:]))
        | A: torchfit / raw | 1.000x | 1.200x | 0.900x | 1.000x | 0.900-1.200x |
    """
    count = max([ratios.runs] + [len(values) for values in ratios.rows.values()])
    header = ["ratio (same run)"] + [f"run {i + 1}" for i in range(count)]
    header += ["median", "spread (min-max)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, values in ratios.rows.items():
        known = [v for v in values if v is not None]
        cells = [f"{v:.3f}x" if v is not None else "n/a" for v in values]
        cells += ["n/a"] * (count - len(values))
        cells += [f"{_median(known):.3f}x", f"{min(known):.3f}-{max(known):.3f}x"] if known \
            else ["n/a", "n/a"]
        lines.append("| " + " | ".join([label] + cells) + " |")
    return lines
