"""Shared by tests/metrics: tiny random data (drawn in a fixed order from one seeded RNG)
and helpers that stream it through a metric in uneven batches."""

import numpy as np
import torch

RNG = np.random.default_rng(0)


N, C = 48, 5


def batches(*arrays):
    """Split aligned arrays into three uneven batches of tensors."""
    cuts = [0, 7, 30, len(arrays[0])]
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        yield [torch.as_tensor(a[lo:hi]) for a in arrays]


def stream(metric, y_true, y_pred, weight=None):
    """Feed the data in three uneven batches and return result() as NumPy."""
    arrays = (y_true, y_pred) if weight is None else (y_true, y_pred, weight)
    for batch in batches(*arrays):
        metric.update_state(*batch)
    result = metric.result()
    assert isinstance(result, torch.Tensor)
    return result.numpy()


def weighted_mean(values, weight=None):
    if weight is None:
        return values.mean()
    weight = np.broadcast_to(
        weight.reshape(weight.shape[0], *[1] * (values.ndim - 1)), values.shape
    )
    return (values * weight).sum() / weight.sum()


probs = RNG.dirichlet(np.ones(C), size=N).astype(np.float32)


labels = RNG.integers(0, C, size=N)


one_hot = np.eye(C, dtype=np.float32)[labels]


weights = RNG.uniform(0.0, 2.0, size=N).astype(np.float32)


binary_true = RNG.integers(0, 2, size=(N, 1)).astype(np.float32)


binary_pred = RNG.uniform(size=(N, 1)).astype(np.float32)


reg_true = RNG.normal(size=(N, 3)).astype(np.float32)


reg_pred = (reg_true + RNG.normal(scale=0.5, size=(N, 3))).astype(np.float32)


logits = RNG.normal(size=(N, C)).astype(np.float32)


def np_confusion(y_true, y_pred, threshold, w=None):
    w = np.ones_like(y_pred, dtype=np.float64) if w is None else np.broadcast_to(w, y_pred.shape)
    pos, pred = y_true.astype(bool), y_pred > threshold
    return {
        "tp": (w * (pos & pred)).sum(),
        "fp": (w * (~pos & pred)).sum(),
        "tn": (w * (~pos & ~pred)).sum(),
        "fn": (w * (pos & ~pred)).sum(),
    }


def safe_div(a, b):
    return a / b if b else 0.0


auc_true = RNG.integers(0, 2, size=64).astype(np.float32)


auc_pred = np.clip(auc_true * 0.3 + RNG.uniform(size=64) * 0.7, 0, 1).astype(np.float32)


auc_weight = RNG.uniform(0.1, 2.0, size=64).astype(np.float32)
