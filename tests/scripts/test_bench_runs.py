"""scripts/bench_runs.py: each run's ratios against its own floor, with their median and range."""

import os
import sys

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                       "scripts")
sys.path.insert(0, SCRIPTS)

import bench_runs  # noqa: E402


def test_every_ratio_is_taken_within_its_own_run():
    runs = bench_runs.RunRatios()
    tables = {"A": ["A:raw", "A:torchfit"]}
    runs.add_run(tables, {"A:raw": [1.0, 3.0, 2.0], "A:torchfit": [2.2, 1.8]},
                 inference={"raw evaluate": [0.02], "torchfit evaluate": [0.021],
                            "raw predict": [0.01, 0.03], "torchfit predict": [0.02]})
    runs.add_run(tables, {"A:raw": [4.0], "A:torchfit": [3.0]},
                 ddp={"results": {"ddp:raw": {"steady": [2.0]},
                                  "ddp:torchfit": {"steady": [2.5]}}})
    assert runs.rows["A: torchfit / raw"] == [2.0 / 2.0, 3.0 / 4.0]
    assert runs.rows["evaluate / raw no_grad loop"] == [0.021 / 0.02]
    assert runs.rows["predict / raw no_grad loop"] == [0.02 / 0.02]
    assert runs.rows["DDP: torchfit / hand-written DDP loop"] == [None, 1.25]
    lines = bench_runs.spread_lines(runs)
    assert lines[0] == "| ratio (same run) | run 1 | run 2 | median | spread (min-max) |"
    assert "| A: torchfit / raw | 1.000x | 0.750x | 0.875x | 0.750-1.000x |" in lines
    assert "| DDP: torchfit / hand-written DDP loop | n/a | 1.250x | 1.250x | 1.250-1.250x |" \
        in lines
