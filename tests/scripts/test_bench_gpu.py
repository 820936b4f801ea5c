"""scripts/bench_gpu.py: the harness, on the CPU (the GPU run is scripts/gpu_check.sh's step 4)."""

import importlib.util
import math
import os
import re
import subprocess
import sys

import pytest
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir)
SCRIPT = os.path.join(ROOT, "scripts", "bench_gpu.py")


def load_bench_gpu():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path, *args):
    out = tmp_path / "out.md"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, SCRIPT, "--device", "cpu", "--smoke", "--markdown",
                           str(out), *args], capture_output=True, text=True, timeout=240,
                          env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = out.read_text()
    assert text == proc.stdout  # the table is also printed
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 7 and cells[0] in ("mlp", "resnet18"):
            rows[(cells[0], cells[1])] = cells
    return text, rows


def _ratio(cell):
    assert cell.endswith("x"), cell
    return float(cell[:-1])


def test_cpu_smoke_run_writes_the_table(tmp_path):
    text, rows = _run(tmp_path)
    assert text.startswith("# torchfit vs a hand-written loop on CPU")
    assert f"torch {torch.__version__}" in text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", text)
    expected = [(workload, f"{side} {mode}") for workload in ("mlp", "resnet18")
                for mode in ("fp32", "bf16") for side in ("raw", "torchfit")]
    assert sorted(rows) == sorted(expected)
    for (workload, name), cells in rows.items():
        steps_per_s, spread, ratio, vs_eager = cells[2], cells[3], cells[4], cells[5]
        assert float(steps_per_s.replace(",", "")) > 0
        low, high = (float(v.replace(",", "")) for v in spread.split("-"))
        assert 0 < low <= high
        assert math.isfinite(_ratio(ratio)) and _ratio(ratio) > 0
        assert math.isfinite(_ratio(vs_eager)) and _ratio(vs_eager) > 0
        if name.startswith("raw"):
            assert ratio == "1.000x"
    assert rows[("mlp", "raw fp32")][5] == "1.000x"
    assert "Skipped on this device" in text and "mlp graphs" in text and "resnet18 compile" in text


def test_eager_backend_runs_the_compiled_contenders(tmp_path):
    text, rows = _run(tmp_path, "--workloads", "mlp", "--compile-backend", "eager")
    names = [name for workload, name in rows]
    assert names == [f"{side} {mode}" for mode in ("fp32", "bf16", "compile", "graphs")
                     for side in ("raw", "torchfit")]
    assert all(math.isfinite(_ratio(cells[4])) for cells in rows.values())
    assert "ran eagerly" not in text and "Skipped" not in text


def test_models_have_the_published_sizes():
    bench = load_bench_gpu()
    # ResNet-18 for CIFAR-10 (3x3 stem): 11,173,962 parameters; the guide's MLP: 55,050.
    assert sum(p.numel() for p in bench.ResNet18().parameters()) == 11_173_962
    assert sum(p.numel() for p in bench.mlp().parameters()) == 784 * 64 + 64 + 64 * 64 + 64 + 650
    assert bench.ResNet18()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_pairs_start_from_the_same_weights_and_data():
    bench = load_bench_gpu()
    workload = bench.workloads(smoke=True)["mlp"]
    device = torch.device("cpu")
    data = bench.make_data(workload, device)
    assert torch.equal(data[0], bench.make_data(workload, device)[0])
    raw = bench.RawLoop(workload, bench.MODES["fp32"], data, device)
    ours = bench.TorchfitLoop(workload, bench.MODES["fp32"], data, device)
    for a, b in zip(raw.module.state_dict().values(), ours.model.module.state_dict().values()):
        assert torch.equal(a, b)
    assert type(ours.model.optimizer) is type(raw.optimizer) is torch.optim.Adam


@pytest.mark.parametrize("side", ["RawLoop", "TorchfitLoop"])
def test_graph_contenders_compile_with_reduce_overhead_and_mark_each_step(monkeypatch, side):
    """Both sides of the CUDA-graph pair: torch.compile(mode="reduce-overhead"), and
    torch.compiler.cudagraph_mark_step_begin() before every compiled call."""
    bench = load_bench_gpu()
    events, options = [], []

    def fake_compile(fn, **kwargs):  # no inductor here: record, then run eagerly
        options.append(kwargs)

        def compiled(*args, **kw):
            events.append("call")
            return fn(*args, **kw)
        return compiled

    monkeypatch.setattr(torch, "compile", fake_compile)
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: events.append("mark"))
    workload = bench.workloads(smoke=True)["mlp"]
    device = torch.device("cpu")
    loop = getattr(bench, side)(workload, bench.MODES["graphs"], bench.make_data(workload, device),
                                device)
    times = loop.epochs(2)
    assert len(times) == 2 and all(t > 0 for t in times)
    assert options == [{"mode": "reduce-overhead"}]
    assert events == ["mark", "call"] * (2 * workload.steps)
