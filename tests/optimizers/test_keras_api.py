"""``keras_api``: Keras 3's config dict and ``variables`` list (differential tests against Keras 3
in tests/compat/test_keras_optimizers*.py)."""

import json

import pytest
import torch

from torchfit import optimizers, schedules


class Halving(schedules.LearningRateSchedule):
    def __init__(self, initial_learning_rate):
        self.initial_learning_rate = initial_learning_rate

    def __call__(self, step):
        return self.initial_learning_rate / 2**step

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate}


def test_variables_are_iterations_learning_rate_then_each_parameters_slots():
    w, b = torch.nn.Parameter(torch.ones(2, 3)), torch.nn.Parameter(torch.ones(3))
    optimizer = optimizers.RMSprop(learning_rate=0.5, momentum=0.9, centered=True)
    assert [v.item() for v in optimizer.variables] == [0, 0.5]  # not built: no slots
    optimizer.apply_gradients([(torch.ones(2, 3), w), (torch.ones(3), b)])
    variables = optimizer.variables
    assert variables[0].dtype == torch.int32 and variables[0].item() == 1
    assert variables[1].dtype == torch.float32 and variables[1].item() == 0.5
    slots = [optimizer.state[p][k] for p in (w, b) for k in ("velocity", "momentum",
                                                             "average_gradient")]  # fmt: skip
    assert len(variables) == 2 + len(slots)
    assert all(v is s for v, s in zip(variables[2:], slots))  # the state itself, no copies


def test_variables_leave_out_a_schedule_and_parameters_not_updated_yet():
    w, frozen = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    optimizer = optimizers.Adam(schedules.ExponentialDecay(0.1, 10, 0.5)).build([w, frozen])
    optimizer.apply_gradients([(torch.ones(2), w)])
    assert len(optimizer.variables) == 3  # iterations, w's momentum and velocity


def test_loss_scale_optimizer_variables():
    w = torch.nn.Parameter(torch.ones(2))
    optimizer = optimizers.LossScaleOptimizer(optimizers.SGD(0.1, momentum=0.9))
    assert len(optimizer.variables) == 2  # the inner optimizer's scalars
    optimizer.apply_gradients([(torch.ones(2), w)])
    variables = optimizer.variables
    assert variables[0] is optimizer.step_counter and variables[1] is optimizer.dynamic_scale
    assert variables[4] is optimizer.inner_optimizer.state[w]["momentum"] and len(variables) == 5
    wrapped_torch = optimizers.LossScaleOptimizer(torch.optim.Adam([w])).build([w])
    assert len(wrapped_torch.variables) == 2  # no state before its first step


def test_config_has_keras_only_options_off_and_round_trips_through_json():
    optimizer = optimizers.Lion(Halving(0.1), beta_2=0.9)
    config = optimizer.get_config()
    assert {key: config[key] for key in ("use_ema", "ema_momentum", "ema_overwrite_frequency",
                                         "loss_scale_factor", "gradient_accumulation_steps")} == {
        "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
        "loss_scale_factor": None, "gradient_accumulation_steps": None,
    }  # fmt: skip
    # A user's schedule as Keras 3 writes it: no module, its class name registered.
    assert config["learning_rate"] == {"module": None, "class_name": "Halving",
                                       "config": {"initial_learning_rate": 0.1},
                                       "registered_name": "Halving"}  # fmt: skip
    rebuilt = optimizers.deserialize(
        json.loads(json.dumps(optimizers.serialize(optimizer))), {"Halving": Halving}
    )
    assert rebuilt.get_config() == config and rebuilt.learning_rate(2) == 0.025


def test_a_builtin_schedule_is_written_under_keras_module():
    config = optimizers.SGD(schedules.CosineDecay(0.1, decay_steps=10)).get_config()
    assert config["learning_rate"]["module"] == "keras.optimizers.schedules"
    assert config["learning_rate"]["registered_name"] is None
    assert optimizers.SGD.from_config(config).learning_rate(5) == pytest.approx(0.05)
