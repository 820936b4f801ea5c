"""torchfit.optimizers.get / build: every identifier kind, and the errors."""

import pytest
import torch

from torchfit import optimizers, schedules
from optimizer_helpers import make_model


@pytest.mark.parametrize(
    "name, cls",
    [("sgd", optimizers.SGD), ("SGD", optimizers.SGD), ("rmsprop", optimizers.RMSprop),
     ("RMSprop", optimizers.RMSprop), ("adam", optimizers.Adam), ("AdamW", optimizers.AdamW),
     ("adagrad", optimizers.Adagrad), ("Adadelta", optimizers.Adadelta),
     ("adamax", optimizers.Adamax), ("Nadam", optimizers.Nadam)],
)  # fmt: skip
def test_get_by_name(name, cls):
    optimizer = optimizers.get(name)
    assert type(optimizer) is cls and not optimizer.built


def test_get_every_identifier_kind():
    instance = optimizers.Adam()
    torch_instance = torch.optim.SGD(make_model().parameters(), lr=0.1)
    assert optimizers.get(instance) is instance
    assert type(optimizers.get(optimizers.Nadam)) is optimizers.Nadam
    assert optimizers.get(torch_instance) is torch_instance
    assert optimizers.get(torch.optim.SGD) is torch.optim.SGD
    assert optimizers.get("adam", learning_rate=0.1).learning_rate == 0.1
    assert optimizers.schedules is schedules


def test_get_errors():
    message = (
        r"Unknown optimizer: 'rmsprob'\. Did you mean 'rmsprop'\? "
        r"Valid names: 'adadelta', 'adafactor', 'adagrad', 'adam', 'adamax', 'adamw', 'ftrl'"
    )
    with pytest.raises(ValueError, match=message):
        optimizers.get("rmsprob")
    with pytest.raises(ValueError, match=r"Received optimizer=None\. Expected an optimizer name"):
        optimizers.get(None)
    with pytest.raises(TypeError, match=r"Could not interpret optimizer identifier: 3\."):
        optimizers.get(3)
    with pytest.raises(TypeError, match=r"apply only when get\(\) creates the optimizer"):
        optimizers.get(optimizers.Adam(), learning_rate=0.1)


def test_build_every_identifier_kind():
    model = make_model()
    params = list(model.parameters())
    built = optimizers.build("rmsprop", model.parameters())
    assert isinstance(built, optimizers.RMSprop) and built.built
    instance = optimizers.Adam()
    assert optimizers.build(instance, params) is instance and instance.built
    torch_instance = torch.optim.SGD(model[2].parameters(), lr=0.1)  # a subset: fine-tuning
    assert optimizers.build(torch_instance, params) is torch_instance
    from_class = optimizers.build(torch.optim.Adam, params)
    assert type(from_class) is torch.optim.Adam and from_class.param_groups[0]["params"] == params


def test_build_errors():
    params = list(make_model().parameters())
    foreign = torch.optim.SGD(make_model().parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"SGD optimizer was created for other parameters: 4 of"):
        optimizers.build(foreign, params)

    class NeedsLR(torch.optim.SGD):
        def __init__(self, params, lr):
            super().__init__(params, lr=lr)

    message = r"NeedsLR cannot be created from the parameters alone: it requires 'lr'\. Pass an"
    with pytest.raises(TypeError, match=message):
        optimizers.build(NeedsLR, params)


@pytest.mark.parametrize("identifier", ["adam", optimizers.SGD, torch.optim.AdamW])
def test_build_holds_only_the_trainable_parameters(identifier):
    net = make_model()
    params = list(net.parameters())
    params[0].requires_grad_(False)
    optimizer = optimizers.build(identifier, params)
    held = [p for group in optimizer.param_groups for p in group["params"]]
    assert [id(p) for p in held] == [id(p) for p in params[1:]]
    grouped = optimizers.build("sgd", [{"params": params[:2], "lr": 0.5}, {"params": params[2:]}])
    assert [len(g["params"]) for g in grouped.param_groups] == [1, len(params) - 2]
    assert grouped.param_groups[0]["lr"] == 0.5


def test_build_without_trainable_parameters_gives_an_empty_optimizer():
    net = make_model().requires_grad_(False)
    optimizer = optimizers.build("rmsprop", net.parameters())
    assert [group["params"] for group in optimizer.param_groups] == [[]]
    optimizer.step()  # nothing to do, no error


def test_serialize_and_deserialize_round_trip_with_a_schedule():
    schedule = optimizers.schedules.CosineDecay(0.1, decay_steps=100)
    optimizer = optimizers.Nadam(schedule, beta_1=0.8, clipnorm=1.0)
    config = optimizers.serialize(optimizer)
    assert (config["module"], config["class_name"]) == ("torchfit.optimizers", "Nadam")
    assert config["config"]["learning_rate"]["class_name"] == "CosineDecay"
    rebuilt = optimizers.deserialize(config)
    assert type(rebuilt) is optimizers.Nadam and rebuilt.get_config() == optimizer.get_config()
    assert optimizers.get(config).get_config() == optimizer.get_config()
    with pytest.raises(TypeError, match="not from a serialized dict"):
        optimizers.get(config, learning_rate=0.1)
    with pytest.raises(ValueError, match="Unknown optimizer.*'Adamm'|Adamm"):
        optimizers.deserialize({"class_name": "Adamm", "config": {}})
