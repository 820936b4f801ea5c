#!/usr/bin/env bash
# GPU checks, for a machine with CUDA (the CPU test suite cannot run them). Usage, from the
# repository root, with the .venv of scripts/test.sh (a CUDA build of torch):
#
#     bash scripts/gpu_check.sh
#
# Step 1 reports the GPUs torch sees. Step 2 (issue 12) checks distributed training on NCCL: with
# at least 2 GPUs a 2-process `torchrun` fit (DDP, one process per GPU); with one GPU a 1-process
# `torchrun --nproc_per_node=1` fit with compile(strategy="ddp"). Each checks that torchfit
# started an NCCL process group, placed every process's model on cuda:LOCAL_RANK, trained the
# same weights and History on every rank, and that predict gathered every row in input order
# (compared with the module's own forward on the whole input) and evaluate agreed across ranks.
# Exit status: 0 when every step passed, 1 otherwise, 2 when no GPU is visible.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PY:-.venv/bin/python}"
TIMEOUT="${TIMEOUT:-600}"  # seconds per step: a hang in a collective fails instead of blocking

echo "== step 1: CUDA devices"
GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)")
"$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, \
'NCCL', torch.cuda.nccl.version() if torch.cuda.is_available() else None); \
[print(f'  cuda:{i}', torch.cuda.get_device_name(i)) for i in range(torch.cuda.device_count())]"
if [ "$GPUS" -lt 1 ]; then
    echo "no GPU visible to torch: nothing to check"
    exit 2
fi

echo "== step 2: DDP fit on NCCL under torchrun"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
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
if ! PYTHONPATH="$PWD" timeout "$TIMEOUT" "$PY" -m torch.distributed.run \
        --nproc_per_node="$NPROC" --master_port="$PORT" "$WORK/ddp_nccl_check.py"; then
    echo "FAILED: step 2 (DDP on NCCL)"
    exit 1
fi
echo "== all GPU checks passed"
