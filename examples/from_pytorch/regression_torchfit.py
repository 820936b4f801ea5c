"""pytorch/examples regression/main.py ported to torchfit.

The loop stops on a condition of one batch's loss, so it stays a loop, over ``train_on_batch``
(which returns that batch's loss, computed before the update, like the original's ``loss``).
``nn.SmoothL1Loss()`` is a torch loss module, called ``loss(y_pred, y_true)``; SGD at lr 0.1 is
the original's update ``param.add_(param.grad, alpha=-0.1)``.

    python examples/from_pytorch/regression_torchfit.py
"""

import torch
from torch import nn

import torchfit
from regression_torch import POLY_DEGREE, get_batch, make_target


def main(seed=1, max_batches=2000):
    """Returns (weight, bias, per-batch losses)."""
    w_target, b_target = make_target(seed)
    model = torchfit.Model(nn.Linear(POLY_DEGREE, 1), device="cpu")
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss=nn.SmoothL1Loss())
    losses = []
    for _ in range(max_batches):
        losses.append(model.train_on_batch(*get_batch(w_target, b_target)))
        if losses[-1] < 1e-3:
            break
    print(f"Loss: {losses[-1]:.6f} after {len(losses)} batches")
    fc = model.module
    return fc.weight.detach().clone(), fc.bias.detach().clone(), losses


if __name__ == "__main__":
    main()
