"""Tiny fixtures shared by the tests (imported as `helpers`; tests/ is on sys.path)."""

import os
import sys

import numpy as np
import torch

import torchfit

# The examples are importable by the tests (they port the guide, and the tests run them).
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples")
if EXAMPLES not in sys.path:
    sys.path.insert(0, EXAMPLES)


def blobs():
    """64 samples, 4 features, 3 linearly separable classes (float32 x, int64 y)."""
    rng = np.random.default_rng(0)
    centers = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], np.float32)
    y = rng.integers(0, 3, size=64)
    x = (centers[y] + rng.normal(scale=0.5, size=(64, 4))).astype(np.float32)
    return x, y


def make_model(seed=0, **kwargs):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    return torchfit.Model(net, device="cpu", **kwargs)


def compiled_model(seed=0, optimizer="sgd", metrics=("accuracy",), **kwargs):
    model = make_model(seed)
    model.compile(optimizer=optimizer,
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=list(metrics), **kwargs)
    return model
