"""scripts/bench.py: every contender starts from the same seeds (the same initial weights)."""

import importlib.util
import os
import sys

import numpy as np
import torch
from torch import nn

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                       "scripts")


def load_bench():
    if SCRIPTS not in sys.path:
        sys.path.insert(0, SCRIPTS)  # bench.py imports bench_peers from its folder
    spec = importlib.util.spec_from_file_location("bench", os.path.join(SCRIPTS, "bench.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_each_contender_run_starts_from_the_same_initial_weights():
    bench = load_bench()
    initial = {}

    def contender(key):
        def run():
            weights = nn.Linear(4, 2).weight.detach().clone()  # torch's generator
            shuffle = np.random.permutation(8)  # NumPy's, as peers may use it
            initial.setdefault(key, []).append((weights, shuffle))
            return bench.Run([0.1, 0.1], 1.0)
        return bench.Contender(key, run)

    torch.manual_seed(123)
    bench.measure({"first": contender("first"), "second": contender("second")}, rounds=2)
    runs = initial["first"] + initial["second"]
    assert len(runs) == 4
    for weights, shuffle in runs[1:]:
        assert torch.equal(weights, runs[0][0]) and np.array_equal(shuffle, runs[0][1])
