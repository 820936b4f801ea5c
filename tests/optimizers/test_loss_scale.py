"""torchfit.optimizers.loss_scale: Keras 3's loss_scale_optimizer_test.py (stateful cases), its
expected numbers ported; and how it stands with compile and torch's GradScaler."""

import copy

import numpy as np
import pytest
import torch

import torchfit
from torchfit.optimizers import SGD, Lion, LossScaleOptimizer


def _var():
    return torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0, 4.0]))


def _apply(optimizer, grads, var):
    optimizer.apply_gradients([(torch.tensor(grads, dtype=torch.float32), var)])


def test_config():
    inner = SGD(learning_rate=0.5, momentum=0.06, nesterov=True, weight_decay=0.004)
    config = LossScaleOptimizer(inner).get_config()
    rebuilt = LossScaleOptimizer.from_config(copy.deepcopy(config))
    assert rebuilt.get_config() == config
    assert isinstance(rebuilt.inner_optimizer, SGD)


def test_apply_with_no_vars():
    # Keras's apply(grads) on a built optimizer is step() with .grad here.
    optimizer = LossScaleOptimizer(SGD(learning_rate=0.5))
    var = _var()
    optimizer.build([var])
    var.grad = torch.tensor([1.0, 6.0, 7.0, 2.0]) * optimizer.initial_scale
    optimizer.scale_loss(torch.tensor(0.0))  # the .grad of a scaled loss
    optimizer.step()
    np.testing.assert_allclose(var.detach(), [0.5, -1.0, -0.5, 3.0], rtol=1e-4, atol=1e-4)


def test_finite_step():
    optimizer = LossScaleOptimizer(SGD(learning_rate=0.5))
    var = _var()
    _apply(optimizer, np.array([1.0, 6.0, 7.0, 2.0]) * optimizer.initial_scale, var)
    np.testing.assert_allclose(var.detach(), [0.5, -1.0, -0.5, 3.0], rtol=1e-4, atol=1e-4)


def test_infinite_step():
    optimizer = LossScaleOptimizer(SGD(learning_rate=0.5))
    var = _var()
    _apply(optimizer, [np.inf] * 4, var)
    np.testing.assert_allclose(var.detach(), [1.0, 2.0, 3.0, 4.0], rtol=1e-4, atol=1e-4)


def test_downscaling():
    optimizer = LossScaleOptimizer(SGD(learning_rate=0.5), initial_scale=400.0)
    var = _var()
    optimizer.build([var])
    for _ in range(4):
        _apply(optimizer, [np.inf] * 4, var)
    np.testing.assert_allclose(float(optimizer.scale_loss(1.0)), 25.0)


def test_upscaling():
    optimizer = LossScaleOptimizer(
        SGD(learning_rate=0.5), initial_scale=2.0, dynamic_growth_steps=2
    )
    var = _var()
    optimizer.build([var])
    for _ in range(8):
        _apply(optimizer, [1.0, 6.0, 7.0, 2.0], var)
    np.testing.assert_allclose(float(optimizer.scale_loss(1.0)), 32.0)


def test_iterations_update():
    optimizer = LossScaleOptimizer(SGD(learning_rate=0.5))
    var = _var()
    optimizer.build([var])
    assert optimizer.iterations == 0
    for i in range(3):
        _apply(optimizer, [1.0, 6.0, 7.0, 2.0], var)
        assert optimizer.iterations == i + 1


def test_serialization():
    optimizer = LossScaleOptimizer(
        SGD(learning_rate=0.5), initial_scale=3.0, dynamic_growth_steps=2, name="test_opt"
    )
    config = optimizer.get_config()
    assert len(config) == 4
    assert config["name"] == "test_opt"
    assert config["initial_scale"] == 3.0 and config["dynamic_growth_steps"] == 2
    assert "inner_optimizer" in config
    LossScaleOptimizer.from_config(config)


def test_init_dynamic_arg():
    LossScaleOptimizer(SGD(learning_rate=0.5), dynamic=True)
    with pytest.raises(ValueError, match="set `loss_scale_factor`"):
        LossScaleOptimizer(SGD(learning_rate=0.5), dynamic=False)


def test_init_unsupported_arg():
    with pytest.raises(ValueError, match="arguments: `foo`, `bar`"):
        LossScaleOptimizer(SGD(learning_rate=0.5), foo=True, bar=3)


@pytest.mark.parametrize(
    "name, value",
    [
        ("weight_decay", 0.5), ("clipnorm", 0.5), ("global_clipnorm", 0.5), ("clipvalue", 0.5),
        ("use_ema", True), ("ema_momentum", 0.5), ("ema_overwrite_frequency", 2),
        ("loss_scale_factor", 0.5), ("gradient_accumulation_steps", 2),
    ],
)  # fmt: skip
def test_init_base_optimizer_unsupported_args(name, value):
    with pytest.raises(ValueError, match="on the `inner_optimizer`"):
        LossScaleOptimizer(SGD(learning_rate=0.5), **{name: value})


def test_deserialization_backwards_compatibility():
    keras_off = dict(
        weight_decay=None, clipnorm=None, global_clipnorm=None, clipvalue=None, use_ema=False,
        ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
        gradient_accumulation_steps=None,
    )  # fmt: skip
    config = {
        "name": "loss_scale_optimizer", **keras_off,
        "inner_optimizer": {
            "module": "keras.optimizers", "class_name": "SGD",
            "config": {"name": "SGD", "learning_rate": 0.5, **keras_off, "momentum": 0.0,
                       "nesterov": False},
            "registered_name": None,
        },
        "initial_scale": 2.0, "dynamic_growth_steps": 2,
    }  # fmt: skip
    optimizer = LossScaleOptimizer.from_config(config)
    assert optimizer.inner_optimizer.learning_rate == 0.5 and optimizer.initial_scale == 2.0


# ---------------------------------------------------------------------------- torch side


def test_custom_torch_loop_equals_unscaled_training():
    """scale_loss -> backward -> step: the plain SGD run, since the scale is a power of two."""
    torch.manual_seed(0)
    model, reference = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    reference.load_state_dict(model.state_dict())
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    optimizer = LossScaleOptimizer(SGD(learning_rate=0.1)).build(model.parameters())
    plain = SGD(learning_rate=0.1).build(reference.parameters())
    for _ in range(3):
        optimizer.zero_grad()
        optimizer.scale_loss(torch.nn.functional.mse_loss(model(x), y)).backward()
        optimizer.step()
        plain.zero_grad()
        torch.nn.functional.mse_loss(reference(x), y).backward()
        plain.step()
    for param, expected in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(param, expected)
    assert optimizer.iterations == 3


def test_scale_follows_torch_grad_scaler():
    """The same skip / halve / double rule as torch.amp.GradScaler with Keras's numbers."""
    var = torch.nn.Parameter(torch.ones(2))
    optimizer = LossScaleOptimizer(
        SGD(learning_rate=0.1), initial_scale=8.0, dynamic_growth_steps=2
    )
    torch_var = torch.nn.Parameter(torch.ones(2))
    torch_opt = torch.optim.SGD([torch_var], lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=8.0, growth_interval=2)
    for grad in [1.0, np.inf, 1.0, 1.0, 1.0, np.nan, 1.0]:
        optimizer.apply_gradients([(torch.full((2,), grad) * optimizer.dynamic_scale, var)])
        torch_var.grad = scaler.scale(torch.full((2,), grad))
        scaler.step(torch_opt)
        scaler.update()
        assert float(optimizer.dynamic_scale) == scaler.get_scale()
        torch.testing.assert_close(var.detach(), torch_var.detach())


def test_state_dict_round_trip():
    var, clone = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    optimizer = LossScaleOptimizer(Lion(), initial_scale=4.0, dynamic_growth_steps=2)
    for grad in [1.0, np.inf, 1.0]:
        optimizer.apply_gradients([(torch.full((2,), grad), var)])
    with torch.no_grad():
        clone.copy_(var)
    resumed = LossScaleOptimizer(Lion(), initial_scale=4.0, dynamic_growth_steps=2).build([clone])
    resumed.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    assert float(resumed.dynamic_scale) == 2.0 and int(resumed.step_counter) == 1
    for opt, v in ((optimizer, var), (resumed, clone)):
        opt.apply_gradients([(torch.full((2,), -3.0), v)])
    assert torch.equal(var, clone) and float(resumed.dynamic_scale) == 4.0


def test_compile_refuses_it_and_says_to_use_16_mixed():
    model = torchfit.Sequential(torch.nn.Linear(3, 1))
    with pytest.raises(ValueError, match=r"not built.*precision='16-mixed'"):
        model.compile(optimizer=LossScaleOptimizer(SGD()), loss="mse")
    built = LossScaleOptimizer(SGD()).build(model.parameters())
    model.compile(optimizer=built, loss="mse")
    with pytest.raises(RuntimeError, match=r"scale_loss\(\) did not scale.*precision='16-mixed'"):
        model.fit(np.ones((4, 3), np.float32), np.ones((4, 1), np.float32), verbose=0)


def test_inner_optimizer_must_be_an_optimizer():
    with pytest.raises(TypeError, match=r"`inner_optimizer` must be .*inner_optimizer='sgd'"):
        LossScaleOptimizer("sgd")
