#!/usr/bin/env bash
# GPU checks, for a machine with CUDA (the CPU test suite cannot run them). Usage, from the
# repository root, with the .venv of scripts/test.sh (a CUDA build of torch):
#
#     bash scripts/gpu_check.sh
#
# Step 1 reports the GPUs torch sees (and stops with status 2 when there is none). Step 2
# (issue 12) checks distributed training on NCCL: with at least 2 GPUs a 2-process `torchrun`
# fit (DDP, one process per GPU); with one GPU a 1-process `torchrun --nproc_per_node=1` fit with
# compile(strategy="ddp"). Each checks that torchfit started an NCCL process group, placed every
# process's model on cuda:LOCAL_RANK, trained the same weights and History on every rank, and that
# predict gathered every row in input order (compared with the module's own forward on the whole
# input) and evaluate agreed across ranks.
# Step 3 (issue 15) runs the CUDA tests of the suite: those named `*on_cuda*` (skipped on a CPU)
# and the optimizers' `test_no_host_sync_in_a_step`: no host sync per training step under
# torch.cuda.set_sync_debug_mode("error") (fp32, bf16-mixed, host-resident data), bf16 and fp16
# (GradScaler) AMP against torch's hand-written AMP loop, pinned prefetch of host-resident arrays,
# jit_compile="reduce-overhead" (CUDA graphs) in fit/evaluate/predict. It fails if one fails, or
# if every one of them was skipped.
# Step 4 (issue 15) benchmarks fit against a hand-written loop (scripts/bench_gpu.py: the MLP and
# a ResNet-18 at fp32, bf16-mixed, jit_compile, and CUDA graphs on the MLP) and prints its
# markdown table, also written to $BENCH_MD (default: $OUT/gpu_bench.md when $OUT is set, else
# /tmp/gpu_bench.md). Performance goals are reported in the table, not enforced.
#
# Every step runs under its own timeout, cut to what is left of TOTAL_TIMEOUT (default 450 s);
# a failed step does not stop the later ones. Settings (environment): PY (the Python), STEPS
# (which of steps 2-4 to run, default "2 3 4"), TOTAL_TIMEOUT, CUDA_TESTS (the test paths of
# step 3, default "tests"), BENCH_MD, BENCH_ARGS (more arguments for bench_gpu.py).
# Expected on one H100/H200: step 2 ~30 s, step 3 ~1-2 min (inductor compiles one small model),
# step 4 ~2-3 min (torch.compile of the MLP twice and the ResNet-18 once, per side).
# Exit status: 0 when every step passed, 1 otherwise, 2 when no GPU is visible.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PY:-.venv/bin/python}"
TOTAL_TIMEOUT="${TOTAL_TIMEOUT:-450}"  # seconds for steps 2-4 together
STEPS="${STEPS:-2 3 4}"
CUDA_TESTS="${CUDA_TESTS:-tests}"
BENCH_MD="${BENCH_MD:-${OUT:-/tmp}/gpu_bench.md}"
BENCH_ARGS="${BENCH_ARGS:-}"
START=$SECONDS
FAILED=()

# The timeout of a step: its own limit, cut to what is left of TOTAL_TIMEOUT (a hang in a
# collective or a compile fails the step instead of blocking).
step_timeout() {
    local left=$((TOTAL_TIMEOUT - (SECONDS - START)))
    if [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi
}

# Whether step $1 is selected in STEPS and there is time left to start it.
want_step() {
    case " $STEPS " in *" $1 "*) ;; *) echo "(step $1 not in STEPS='$STEPS': skipped)"; return 1;; esac
    if [ "$(step_timeout 30)" -lt 30 ]; then
        echo "FAILED: step $1 not started: TOTAL_TIMEOUT=${TOTAL_TIMEOUT}s spent"
        FAILED+=("step $1 (no time left)")
        return 1
    fi
}

echo "== step 1: CUDA devices"
GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)")
"$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, \
'NCCL', torch.cuda.nccl.version() if torch.cuda.is_available() else None); \
[print(f'  cuda:{i}', torch.cuda.get_device_name(i)) for i in range(torch.cuda.device_count())]"
if [ "$GPUS" -lt 1 ]; then
    echo "no GPU visible to torch: nothing to check"
    exit 2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if want_step 2; then
echo "== step 2: DDP fit on NCCL under torchrun"
cat > "$WORK/ddp_nccl_check.py" <<'PYEOF'
"""One torchrun worker: a DDP fit on NCCL, then the checks (an AssertionError fails the step)."""
import os

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

import torchfit

world, rank, local = (int(os.environ[k]) for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"))
torch.manual_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(130, 8)).astype("float32")  # 130 = 4 global batches of 32 and one of 2
y = (x[:, 0] + x[:, 1] > 0).astype("int64")
model = torchfit.Model(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)))
model.compile(optimizer="adam", loss=torchfit.losses.SparseCategoricalCrossentropy(
    from_logits=True), metrics=["accuracy"], strategy="ddp")
device = torch.device("cuda", local)

assert dist.is_initialized(), "compile(strategy='ddp') started no process group"
assert dist.get_backend() == "nccl", f"backend {dist.get_backend()!r}, expected 'nccl'"
assert dist.get_world_size() == world, (dist.get_world_size(), world)
placed = {p.device for p in model.module.parameters()}
assert placed == {device}, f"rank {rank}: parameters on {placed}, expected {device}"

history = model.fit(x, y, batch_size=32, epochs=3, verbose=0)
results = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
predictions = model.predict(x, batch_size=32, verbose=0)


def gathered(values):
    """Every rank's copy of a flat float tensor, gathered on this rank's GPU (NCCL)."""
    mine = torch.as_tensor(values, dtype=torch.float64).reshape(-1).to(device)
    every = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(every, mine)
    return every


weights = torch.cat([p.detach().double().reshape(-1) for p in model.module.parameters()])
logs = [v for key in sorted(history.history) for v in history.history[key]]
for name, values in (("weights", weights), ("History", logs),
                     ("evaluate", [results[k] for k in sorted(results)]),
                     ("predict", torch.from_numpy(predictions))):
    every = gathered(values)
    assert all(torch.equal(every[0], other) for other in every), f"{name} differ across ranks"
assert predictions.shape == (130, 2), predictions.shape  # every row, not this rank's share
model.module.eval()
with torch.no_grad():
    expected = model.module(torch.from_numpy(x).to(device)).cpu().numpy()
np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-5,
                           err_msg="predict's rows are not the input's, in order")
assert sorted(history.history) == ["accuracy", "loss"] and len(history.epoch) == 3
if rank == 0:
    print(f"OK: {world} process(es), NCCL, cuda:LOCAL_RANK placement, same weights/History/"
          f"evaluate on every rank, predict gathered in input order; final loss "
          f"{history.history['loss'][-1]:.4f}")
PYEOF
if [ "$GPUS" -ge 2 ]; then NPROC=2; else NPROC=1; fi
PORT=$("$PY" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
echo "torchrun --nproc_per_node=$NPROC ($GPUS GPU(s) visible)"
if ! PYTHONPATH="$PWD" timeout -k 10 "$(step_timeout 180)" "$PY" -m torch.distributed.run \
        --nproc_per_node="$NPROC" --master_port="$PORT" "$WORK/ddp_nccl_check.py"; then
    echo "FAILED: step 2 (DDP on NCCL)"
    FAILED+=("step 2 (DDP on NCCL)")
fi
fi

if want_step 3; then
echo "== step 3: the CUDA tests (pytest -k 'on_cuda or no_host_sync_in_a_step')"
# shellcheck disable=SC2086  # CUDA_TESTS is a list of paths
if timeout -k 10 "$(step_timeout 240)" "$PY" -m pytest $CUDA_TESTS -q -p no:cacheprovider -rs \
        -m "not slow" -k "on_cuda or no_host_sync_in_a_step" --junitxml="$WORK/cuda_tests.xml"; then
    TESTS_RC=0
else
    TESTS_RC=$?
fi
COUNTS=$("$PY" -c "import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print('0 0'); sys.exit()
suites = [root] if root.tag == 'testsuite' else list(root.iter('testsuite'))
print(sum(int(s.get('tests', 0)) for s in suites), sum(int(s.get('skipped', 0)) for s in suites))
" "$WORK/cuda_tests.xml")
read -r NTESTS NSKIPPED <<< "$COUNTS"
echo "CUDA tests: $NTESTS selected, $NSKIPPED skipped, pytest exit status $TESTS_RC"
if [ "$TESTS_RC" -ne 0 ]; then
    echo "FAILED: step 3 (CUDA tests: pytest exit status $TESTS_RC)"
    FAILED+=("step 3 (CUDA tests failed)")
elif [ "$NTESTS" -eq 0 ] || [ "$NSKIPPED" -ge "$NTESTS" ]; then
    echo "FAILED: step 3: all $NTESTS CUDA tests were skipped (they must run on a GPU machine)"
    FAILED+=("step 3 (every CUDA test skipped)")
fi
fi

if want_step 4; then
echo "== step 4: benchmark, torchfit fit vs a hand-written loop (scripts/bench_gpu.py)"
rm -f "$BENCH_MD"
# shellcheck disable=SC2086  # BENCH_ARGS is a list of arguments
if timeout -k 10 "$(step_timeout 300)" "$PY" scripts/bench_gpu.py --markdown "$BENCH_MD" \
        $BENCH_ARGS > "$WORK/bench.out"; then
    BENCH_RC=0
else
    BENCH_RC=$?
fi
if [ -s "$BENCH_MD" ]; then
    echo "(table written to $BENCH_MD)"
else
    cat "$WORK/bench.out"
fi
if [ "$BENCH_RC" -ne 0 ]; then
    echo "FAILED: step 4 (bench_gpu.py exit status $BENCH_RC)"
    FAILED+=("step 4 (benchmark)")
fi
fi

echo "== done in $((SECONDS - START)) s"
if [ -s "$BENCH_MD" ]; then cat "$BENCH_MD"; fi  # last, so that it ends the output
if [ "${#FAILED[@]}" -gt 0 ]; then
    printf 'FAILED: %s\n' "${FAILED[@]}"
    exit 1
fi
echo "== all GPU checks passed"
