"""Runs one model per case of ``CASES`` (compile options that must keep working under DDP) and
writes ``OUT/<case>-rank<r>.npz`` (weights and History), in one process or under torchrun.

``python options_script.py OUT``; a case that raises writes its message instead.
"""

import json
import os
import sys

import numpy as np
import torch
from torch import nn

import torchfit
from worker import leave

CASES = {
    "jit_compile": {"jit_compile": True},
    "bf16_mixed": {"precision": "bf16-mixed"},
    "float16_mixed": {"precision": "16-mixed"},
    "sync_batchnorm_on_cpu": {"sync_batchnorm": True},
}


def run_case(out, name, options):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2))
    model = torchfit.Model(net, device="cpu")
    path = os.path.join(out, f"{name}-rank{torchfit.distributed.rank()}")
    try:
        model.compile(optimizer="adam", metrics=["accuracy"],
                      loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
                      **options)
        history = model.fit(x, y, batch_size=14, epochs=2, verbose=0)
    except ValueError as error:
        with open(path + ".txt", "w") as f:
            f.write(str(error))
        return
    np.savez(path + ".npz", history=json.dumps(history.history),
             **{key: value.detach().numpy() for key, value in net.state_dict().items()})


if __name__ == "__main__":
    for case_name, case_options in CASES.items():
        run_case(sys.argv[1], case_name, case_options)
    leave()
