"""trainer/checkpoint.py: what Model.save puts in the file, and what Model.load restores."""

import numpy as np
import torch
from torch import nn

import torchfit
from torchfit.trainer.checkpoint import load_model, save_model


def trained(seed=0):
    torch.manual_seed(seed)
    model = torchfit.Sequential(nn.Linear(3, 2), device="cpu")
    model.compile(optimizer=torchfit.optimizers.Adam(1e-2), loss="mse")
    x, y = np.random.default_rng(0).normal(size=(2, 16, 3)).astype("float32")
    model.fit(x, y[:, :2], batch_size=8, epochs=2, verbose=0)
    return model


def test_save_and_load_round_trip_weights_optimizer_and_history(tmp_path):
    model = trained()
    save_model(model, tmp_path / "m.pt")
    checkpoint = torchfit.saving.load_checkpoint(tmp_path / "m.pt")
    assert checkpoint["training"]["epoch"] == 2 and checkpoint["training"]["step"] == 4
    assert set(checkpoint["model"]) == {"0.weight", "0.bias"}
    restored = trained(seed=1)
    load_model(restored, tmp_path / "m.pt")
    assert torch.equal(restored.module[0].weight, model.module[0].weight)
    assert restored.history.history == model.history.history
    assert restored.history.epoch == [0, 1]
    ours, theirs = restored.optimizer.state_dict(), model.optimizer.state_dict()
    for key in ours["state"]:
        assert torch.equal(ours["state"][key]["exp_avg"], theirs["state"][key]["exp_avg"])


def test_an_unfitted_uncompiled_model_saves_weights_only(tmp_path):
    model = torchfit.Sequential(nn.Linear(3, 2), device="cpu")
    save_model(model, tmp_path / "m.h5")
    checkpoint = torchfit.saving.load_checkpoint(tmp_path / "m.h5")
    assert checkpoint["optimizer"] is None
    assert checkpoint["training"] == {"epoch": 0, "step": 0}
