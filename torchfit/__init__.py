"""torchfit: the Keras training experience for PyTorch modules.

Example:
    >>> import torchfit
    >>> from torch import nn
    >>> model = torchfit.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    >>> model.compile(optimizer="rmsprop",
    ...               loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
    ...               metrics=["accuracy"])
"""

from torchfit import (
    callbacks,
    data,
    datasets,
    distributed,
    losses,
    metrics,
    optimizers,
    schedules,
    utils,
)
from torchfit.layer import Layer
from torchfit.model import Model
from torchfit.sequential import Sequential

from torchfit._version import __version__

__all__ = [
    "Model",
    "Sequential",
    "Layer",
    "callbacks",
    "data",
    "datasets",
    "distributed",
    "losses",
    "metrics",
    "optimizers",
    "schedules",
    "utils",
    "__version__",
]
