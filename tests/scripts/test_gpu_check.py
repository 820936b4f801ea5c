"""scripts/gpu_check.sh on a machine without CUDA: status 2 at once; its later steps' failures.

The GPU steps themselves only run on a CUDA machine; here a stand-in Python that reports one
GPU (and is the real interpreter otherwise) drives the script's control flow: every CUDA test
skipped fails step 3, a failed benchmark fails step 4, and a step's failure does not stop the next.
"""

import os
import re
import subprocess
import sys

import pytest
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir)
SCRIPT = os.path.join(ROOT, "scripts", "gpu_check.sh")

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: run the "
                                "script itself (bash scripts/gpu_check.sh)")


def _run(env_extra, timeout=240):
    env = {**os.environ, "PY": sys.executable, "OMP_NUM_THREADS": "1", **env_extra}
    env.pop("OUT", None)
    proc = subprocess.run(["bash", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, env=env, cwd=ROOT)
    return proc.returncode, proc.stdout


def _one_fake_gpu(tmp_path):
    """A Python that answers step 1's GPU count with 1, and is ``sys.executable`` otherwise."""
    fake = tmp_path / "python"
    fake.write_text("#!/usr/bin/env bash\n"
                    'if [[ "$1" == "-c" && "$2" == *"print(torch.cuda.device_count() if"* ]]; '
                    "then echo 1; exit 0; fi\n"
                    f'exec "{sys.executable}" "$@"\n')
    fake.chmod(0o755)
    return str(fake)


def test_exits_2_at_once_without_a_gpu():
    status, output = _run({})
    assert status == 2, output
    assert "no GPU visible to torch: nothing to check" in output
    assert "== step 2" not in output and "== step 3" not in output


def test_skipped_cuda_tests_and_a_failed_benchmark_fail_their_steps(tmp_path):
    status, output = _run({"PY": _one_fake_gpu(tmp_path), "STEPS": "3 4",
                           "CUDA_TESTS": "tests/test_device.py",
                           "BENCH_MD": str(tmp_path / "bench.md")})
    assert status == 1, output
    assert "(step 2 not in STEPS='3 4': skipped)" in output
    assert re.search(r"CUDA tests: [1-9]\d* selected, [1-9]\d* skipped", output), output
    assert re.search(r"FAILED: step 3: all [1-9]\d* CUDA tests were skipped", output), output
    assert "no CUDA device visible to torch" in output  # bench_gpu.py --device cuda, status 2
    assert "FAILED: step 4 (bench_gpu.py exit status 2)" in output
    assert output.rstrip().endswith("FAILED: step 4 (benchmark)")


def test_the_benchmark_step_prints_the_table_last(tmp_path):
    table = tmp_path / "bench.md"
    status, output = _run({"PY": _one_fake_gpu(tmp_path), "STEPS": "4", "BENCH_MD": str(table),
                           "BENCH_ARGS": "--device cpu --smoke --workloads mlp"})
    assert status == 0, output
    assert table.read_text() in output
    assert "| mlp | torchfit fp32 |" in table.read_text()
    assert output.rstrip().endswith("== all GPU checks passed")


def test_a_spent_time_budget_fails_the_steps_not_started(tmp_path):
    status, output = _run({"PY": _one_fake_gpu(tmp_path), "STEPS": "2 3", "TOTAL_TIMEOUT": "10"})
    assert status == 1, output
    assert "FAILED: step 2 not started: TOTAL_TIMEOUT=10s spent" in output
    assert "FAILED: step 3 not started" in output
