"""torchfit.Sequential: layers as arguments or as one list, add(), the module's own keys."""

import torch
from torch import nn

import torchfit


def test_layers_as_arguments_or_as_a_list_build_the_same_module():
    torch.manual_seed(0)
    layers = [nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)]
    by_arguments = torchfit.Sequential(*layers, device="cpu")
    by_list = torchfit.Sequential(layers, device="cpu")
    assert isinstance(by_arguments.module, nn.Sequential)
    assert list(by_arguments.module) == list(by_list.module) == layers
    x = torch.randn(3, 4)
    assert torch.equal(by_arguments(x), layers[2](layers[1](layers[0](x))))


def test_add_appends_a_layer_on_the_model_device_and_keeps_bare_keys():
    model = torchfit.Sequential(nn.Linear(4, 8), device="cpu", output_names=["scores"])
    model.add(nn.ReLU())
    model.add(nn.Linear(8, 2))
    assert [type(m).__name__ for m in model.module] == ["Linear", "ReLU", "Linear"]
    assert model(torch.zeros(5, 4)).shape == (5, 2)
    assert set(model.module.state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert model.output_names == ["scores"]
    assert all(p.device.type == "cpu" for p in model.parameters())
