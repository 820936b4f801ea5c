"""The learning-rate helpers the callbacks share (torchfit/callbacks/learning_rate.py)."""

import pytest
import torch

from helpers import make_model
from torchfit import optimizers
from torchfit.callbacks.learning_rate import (
    check_settable,
    get_learning_rate,
    get_learning_rates,
    require_optimizer,
    set_learning_rates,
)


def _two_groups():
    first, second = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    return torch.optim.SGD([{"params": first.parameters(), "lr": 0.1},
                            {"params": second.parameters(), "lr": 0.01}])


def test_get_and_set_the_learning_rates_of_a_torch_optimizer_with_two_groups():
    optimizer = _two_groups()
    assert get_learning_rates(optimizer) == [0.1, 0.01]
    assert get_learning_rate(optimizer) == 0.1
    set_learning_rates(optimizer, [0.2, 0.02])
    assert [group["lr"] for group in optimizer.param_groups] == [0.2, 0.02]
    set_learning_rates(optimizer, 0.5)  # one value for every group
    assert [group["lr"] for group in optimizer.param_groups] == [0.5, 0.5]
    assert all(type(lr) is float for lr in get_learning_rates(optimizer))


def test_a_tensor_learning_rate_is_filled_in_place():
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=torch.tensor(0.01))
    tensor = optimizer.param_groups[0]["lr"]
    assert get_learning_rates(optimizer) == [pytest.approx(0.01)]
    set_learning_rates(optimizer, 0.25)
    assert optimizer.param_groups[0]["lr"] is tensor and float(tensor) == 0.25


def test_a_torchfit_optimizer_is_set_through_its_learning_rate():
    model = make_model()
    optimizer = optimizers.SGD(learning_rate=0.1)
    model.compile(optimizer=optimizer, loss="mse")
    set_learning_rates(model.optimizer, 0.3)
    assert model.optimizer.learning_rate == 0.3
    assert get_learning_rates(model.optimizer) == [0.3]


def test_a_torchfit_optimizer_with_a_schedule_is_refused():
    schedule = optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    model = make_model()
    model.compile(optimizer=optimizers.SGD(learning_rate=schedule), loss="mse")
    message = (r"ReduceLROnPlateau cannot set the learning rate of this SGD optimizer: its "
               r"learning_rate is a schedule \(.*\), which sets the rate before every step")
    with pytest.raises(TypeError, match=message):
        check_settable(model.optimizer, "ReduceLROnPlateau")
    with pytest.raises(TypeError, match=message):
        set_learning_rates(model.optimizer, 0.01, owner="ReduceLROnPlateau")
    assert get_learning_rate(model.optimizer) == pytest.approx(0.1)  # reading is fine
    check_settable(_two_groups(), "ReduceLROnPlateau")  # a plain torch optimizer is settable


def test_require_optimizer_names_what_it_received():
    model = make_model()
    with pytest.raises(ValueError, match=r"^LearningRateScheduler needs a compiled model with a "
                                         r"torch.optim optimizer. Received: model.optimizer=None. "
                                         r"Call model.compile\(optimizer=...\) before fit.$"):
        require_optimizer(model, "LearningRateScheduler")
    model.compile(optimizer="adam", loss="mse")
    assert require_optimizer(model, "LearningRateScheduler") is model.optimizer
