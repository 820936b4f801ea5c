"""A failing DataLoader worker: one clear error naming it, and no process left behind
(torchfit/data/workers.py). Real subprocesses with ``num_workers=2``, each with a negative
control (the loader iterated by torch alone) and a timeout."""

import json
import os
import subprocess
import sys
import time

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from torchfit.data.workers import loader_batches

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

SCRIPT = os.path.join(os.path.dirname(__file__), "worker_script.py")
TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])}


def running(pid):
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def run(tmp_path, how, *args):
    proc = subprocess.run([sys.executable, SCRIPT, str(tmp_path), how, *args],
                          capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "report.json") as f:
        report = json.load(f)
    pids = [int(name.split("-")[1]) for name in os.listdir(tmp_path)
            if name.startswith("worker-")]
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(pids) == 2, pids
    assert not any(running(pid) for pid in pids), report  # none outlives the script
    return report


def test_a_worker_that_raises_gives_its_error_with_the_traceback_and_no_live_worker(tmp_path):
    report = run(tmp_path, "raise")
    assert report["type"] == "ValueError"
    assert "Caught ValueError in DataLoader worker process 1" in report["message"]
    assert 'raise ValueError("bad sample 37")' in report["message"]  # the original traceback
    assert report["children"] == 0  # shut down while the error is still held


def test_negative_control_torch_alone_keeps_the_workers_alive(tmp_path):
    report = run(tmp_path, "raise", "--unwrapped")
    assert report["children"] >= 1, report


def test_a_killed_worker_gives_one_error_naming_it_at_a_batch_fetch(tmp_path):
    # torch reports a killed worker as a RuntimeError from its SIGCHLD handler or first as a
    # broken pipe (ConnectionResetError), depending on timing: either way one error names it.
    report = run(tmp_path, "kill")
    assert report["type"] == "RuntimeError" and not report["chained"], report
    assert report["message"].startswith(
        "DataLoader worker process 1 (pid ") and "was killed by SIGKILL" in report["message"]
    assert "(torch: " in report["message"], report
    assert report["frames"][-1] == "loader_batches", report  # not inside a step
    assert "train_step" not in report["frames"]
    assert report["children"] == 0


def test_negative_control_torch_alone_does_not_name_the_killed_worker(tmp_path):
    report = run(tmp_path, "kill", "--unwrapped")
    assert not report["message"].startswith("DataLoader worker process 1 (pid "), report


def test_loader_batches_passes_a_single_process_loader_through():
    loader = DataLoader(TensorDataset(torch.arange(5.0)), batch_size=2)
    assert [b[0].tolist() for b in loader_batches(loader)] == [[0.0, 1.0], [2.0, 3.0], [4.0]]
