"""pytorch/examples time_sequence_prediction/train.py ported to torchfit.

* float64: the module is ``.double()``, so the float64 waves stay float64 (inputs follow the
  module's floating dtype) and predictions come back float64.
* LBFGS: ``compile`` takes the optimizer instance; its ``step`` takes a closure, so ``fit`` gives
  it one that re-runs forward and loss. The logged loss is the closure's first evaluation.
* One LBFGS step per epoch on the whole data: ``batch_size=len(input)``, ``shuffle=False``.
* Predicting the future needs ``forward(input, future=20)``: call the module itself.

    python examples/from_pytorch/time_sequence_prediction_torchfit.py
"""

import numpy as np
import torch
from torch import nn

import torchfit
from time_sequence_prediction_torch import Sequence, sine_waves


def main(steps=2, future=20, seed=0, verbose=0):
    """Returns (final state_dict, training loss of each step, test loss, the predicted future)."""
    np.random.seed(seed)
    torch.manual_seed(seed)
    data = sine_waves()
    input, target = data[3:, :-1], data[3:, 1:]
    test_input, test_target = data[:3, :-1], data[:3, 1:]
    model = torchfit.Model(Sequence().double(), device="cpu")
    model.compile(optimizer=torch.optim.LBFGS(model.parameters(), lr=0.8), loss=nn.MSELoss())
    history = model.fit(input, target, batch_size=len(input), epochs=steps, shuffle=False,
                        verbose=verbose)
    test_loss = model.evaluate(test_input, test_target, verbose=verbose)
    with torch.no_grad():
        pred = model.module(test_input, future=future)
    return model.module.state_dict(), history.history["loss"], test_loss, pred[:, -future:]


if __name__ == "__main__":
    state, losses, test_loss, _ = main(verbose="auto")
    print("losses:", losses, "test loss:", test_loss)
