"""WeightsMixin: what Model's files hold, in one process (the distributed cases are in
tests/distributed/)."""

import numpy as np
import torch
from torch import nn

import torchfit
from torchfit.trainer.weights import WeightsMixin


def compiled():
    torch.manual_seed(0)
    model = torchfit.Model(nn.Sequential(nn.Linear(3, 2)), device="cpu")
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 3), "float32"), np.zeros((4, 2), "float32"), verbose=0)
    return model


def test_model_takes_its_file_methods_from_the_mixin():
    for name in ("save_weights", "load_weights", "save", "load", "export"):
        assert getattr(torchfit.Model, name) is getattr(WeightsMixin, name)


def test_files_hold_the_bare_modules_state_and_the_optimizers():
    model = compiled()
    module_state, optimizer_state = model._states_to_save()
    assert list(module_state) == ["0.weight", "0.bias"]
    assert all(torch.equal(module_state[k], v) for k, v in model.module.state_dict().items())
    assert optimizer_state["state"] and optimizer_state == model.optimizer.state_dict()
    assert model._states_to_save(optimizer=False)[1] is None


def test_load_states_puts_a_saved_state_back(tmp_path):
    model, other = compiled(), torchfit.Model(nn.Sequential(nn.Linear(3, 2)), device="cpu")
    other.compile(optimizer="adam", loss="mse")
    model.save(tmp_path / "model.pt")
    other.load(tmp_path / "model.pt")
    for key, value in model.module.state_dict().items():
        assert torch.equal(other.module.state_dict()[key], value)
    assert other.optimizer.state_dict()["state"].keys() == model.optimizer.state_dict()[
        "state"].keys()
