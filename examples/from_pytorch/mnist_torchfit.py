"""pytorch/examples mnist/main.py ported to torchfit: same Net, DataLoader, optimizer and schedule.

The torch scheduler becomes a ``LearningRateScheduler`` callback (stepped at each epoch's end);
``nn.NLLLoss()`` is a torch loss module, called ``loss(y_pred, y_true)`` as in torch.

    python examples/from_pytorch/mnist_torchfit.py
"""

import torch
from torch import nn
from torch.optim.lr_scheduler import StepLR

import torchfit
from ported_data import loader, mnist_tensors
from mnist_torch import Net


def main(epochs=2, n=256, batch_size=64, seed=1, verbose=0):
    """Returns (final state_dict, per-epoch mean train loss, test loss)."""
    torch.manual_seed(seed)
    x, y = mnist_tensors(n)
    train_loader = loader(torch.utils.data.TensorDataset(x[:192], y[:192]), batch_size)
    model = torchfit.Model(Net(), device="cpu")
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    model.compile(optimizer=optimizer, loss=nn.NLLLoss())
    scheduler = torchfit.callbacks.LearningRateScheduler(StepLR(optimizer, step_size=1, gamma=0.7))
    history = model.fit(train_loader, epochs=epochs, verbose=verbose, callbacks=[scheduler])
    test_loss = model.evaluate(x[192:], y[192:], batch_size=1000, verbose=verbose)
    return model.module.state_dict(), history.history["loss"], test_loss


if __name__ == "__main__":
    state, losses, test_loss = main(verbose="auto")
    print("train losses:", losses, "test loss:", test_loss)
