"""Helpers shared by the callback tests (tests/callbacks/test_*.py).

They keep the names they had in the former tests/test_callbacks_builtin.py, so the tests read as
before.
"""

import csv
from types import MappingProxyType

import torch


def _drive(callback, model, values, monitor="val_loss", extra=None):
    """Feeds ``{monitor: v}`` epoch logs to ``callback`` like fit does; returns epochs run."""
    callback.set_model(model)
    callback.set_params({"epochs": len(values), "steps": 1, "verbose": 0})
    model.stop_training = False
    callback.on_train_begin()
    ran = 0
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch)
        logs = {"loss": 1.0, monitor: value, **(extra or {})}
        callback.on_epoch_end(epoch, MappingProxyType(logs))
        ran += 1
        if model.stop_training:
            break
    callback.on_train_end(MappingProxyType({}))
    return ran


def _roundtrip(state, tmp_path):
    """Saves a callback state like a weights_only checkpoint would, and loads it back."""
    path = tmp_path / "state.pt"
    torch.save(state, path)
    return torch.load(path, weights_only=True)


def _weights(model):
    return {k: v.detach().clone() for k, v in model.module.state_dict().items()}


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _lr(model):
    return model.optimizer.param_groups[0]["lr"]


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))
