"""Shared data for the pytorch/examples ports: small, bundled or generated, nothing downloads."""

import numpy as np
import torch

import torchfit


def mnist_tensors(n=256, normalize=True):
    """The first ``n`` images of the bundled MNIST sample as (N, 1, 28, 28) float32 and int64."""
    (x, y), _ = torchfit.datasets.mnist.load_data(sample=True)
    x = torch.from_numpy(x[:n].astype(np.float32) / 255).unsqueeze(1)
    if normalize:  # transforms.Normalize((0.1307,), (0.3081,))
        x = (x - 0.1307) / 0.3081
    return x, torch.from_numpy(y[:n].astype(np.int64))


def loader(dataset, batch_size, seed=0, shuffle=True):
    """A DataLoader whose shuffling has its own generator: two loaders built alike give the
    same batches in the same order, whatever else draws from torch's global generator."""
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                                       generator=torch.Generator().manual_seed(seed))
