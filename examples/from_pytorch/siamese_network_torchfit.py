"""pytorch/examples siamese_network/main.py ported to torchfit.

A Dataset item is one sample: ``(x, y)``, or ``(x, y, sample_weight)``. So a model with two inputs
gets them as one tuple, ``((image_1, image_2), target)``, and ``forward(input1, input2)`` receives
them as two positional arguments. The target is given the model's output shape, ``(1,)``, where the
original squeezed the output instead.

    python examples/from_pytorch/siamese_network_torchfit.py
"""

import random

import torch
from torch import nn
from torch.optim.lr_scheduler import StepLR

import torchfit
from siamese_network_torch import SiameseNetwork, datasets


class Pairs(torch.utils.data.Dataset):
    """``((image_1, image_2), target)`` items from the original's ``(image_1, image_2, target)``."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        image_1, image_2, target = self.dataset[index]
        return (image_1, image_2), target.view(1)


def main(epochs=2, batch_size=64, seed=1, verbose=0):
    """Returns (final state_dict, per-epoch mean train loss, test loss)."""
    torch.manual_seed(seed)
    random.seed(seed)
    train_dataset, test_dataset = datasets()
    train_loader = torch.utils.data.DataLoader(Pairs(train_dataset), batch_size=batch_size)
    test_loader = torch.utils.data.DataLoader(Pairs(test_dataset), batch_size=1000)
    model = torchfit.Model(SiameseNetwork(), device="cpu")
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    model.compile(optimizer=optimizer, loss=nn.BCELoss(), metrics=["binary_accuracy"])
    scheduler = torchfit.callbacks.LearningRateScheduler(StepLR(optimizer, step_size=1, gamma=0.7))
    history = model.fit(train_loader, epochs=epochs, verbose=verbose, callbacks=[scheduler])
    test_loss = model.evaluate(test_loader, verbose=verbose)[0]
    return model.module.state_dict(), history.history["loss"], test_loss


if __name__ == "__main__":
    state, losses, test_loss = main(verbose="auto")
    print("train losses:", losses, "test loss:", test_loss)
