"""Shared by the ported Keras 3 optimizer tests (keras/src/optimizers/*_test.py)."""

import numpy as np
import torch


def single_step(optimizer, grads, values):
    """Keras's ``test_single_step``: one ``apply_gradients`` on a float32 variable."""
    var = torch.nn.Parameter(torch.tensor(values, dtype=torch.float32))
    optimizer.apply_gradients([(torch.tensor(grads, dtype=torch.float32), var)])
    return var.detach().numpy()


def golden_run(optimizer, steps=5):
    """Keras's ``test_correctness_with_golden``: the values after each of 5 steps of
    ``arange(0.1, 1.1, 0.1)`` that follow one step of 0.01, from ones(10)."""
    x = torch.nn.Parameter(torch.ones(10))
    grads = torch.arange(0.1, 1.1, 0.1, dtype=torch.float32)[:10]
    optimizer.apply_gradients([(torch.full((10,), 0.01), x)])
    seen = []
    for _ in range(steps):
        seen.append(x.detach().numpy().copy())
        optimizer.apply_gradients([(grads.clone(), x)])
    return np.array(seen)


def weight_decay_run(make):
    """Keras's ``test_weight_decay``: three optimizers with lr=1.0, weight_decay=0.004 and zero
    gradients on var1 (each), var2 and var3, the two excluded from the decay. Keras's
    ``exclude_from_weight_decay`` is a param group with ``weight_decay=None`` here.
    """
    var1, var2, var3 = (torch.nn.Parameter(torch.tensor(2.0)) for _ in range(3))
    zero = torch.zeros(())
    make().apply_gradients([(zero.clone(), var1)])
    for excluded in (var2, var3):
        optimizer = make().build([{"params": [var1]}, {"params": [excluded], "weight_decay": None}])
        optimizer.apply_gradients([(zero.clone(), var1), (zero.clone(), excluded)])
    return tuple(float(v.detach()) for v in (var1, var2, var3))


def clipped_gradient(optimizer):
    """Keras's ``test_clip_norm`` / ``test_clip_value``: the gradient [100, 100] as the update
    sees it (recorded by a step pre-hook, which torchfit runs after its clipping)."""
    var = torch.nn.Parameter(torch.zeros(2))
    optimizer.build([var])
    seen = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: seen.append(var.grad.clone()))
    optimizer.apply_gradients([(torch.tensor([100.0, 100.0]), var)])
    return seen[0].numpy()
