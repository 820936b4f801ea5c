"""torchfit.optimizers.catalogue: torch classes with Keras 3's rules, arguments and configs.

The update formulas themselves are tested in test_rules.py (against Keras's update_step in NumPy)
and tests/compat/test_keras_optimizers.py (against Keras 3).
"""

import inspect
import pydoc

import pytest
import torch

from torchfit import optimizers, schedules
from torchfit.optimizers import rules
from optimizer_helpers import assert_same_params, make_model, train, train_with_apply_gradients


TORCH_CLASSES = {
    optimizers.SGD: torch.optim.SGD, optimizers.RMSprop: torch.optim.RMSprop,
    optimizers.Adam: torch.optim.Adam, optimizers.AdamW: torch.optim.AdamW,
    optimizers.Adagrad: torch.optim.Adagrad, optimizers.Adadelta: torch.optim.Adadelta,
    optimizers.Adamax: torch.optim.Adamax, optimizers.Nadam: torch.optim.NAdam,
}  # fmt: skip


@pytest.mark.parametrize("cls", list(TORCH_CLASSES), ids=lambda cls: cls.__name__)
def test_each_is_its_torch_class_and_steps_with_keras_rule(cls):
    model = make_model()
    optimizer = cls().build(model.parameters())
    assert isinstance(optimizer, TORCH_CLASSES[cls])
    assert isinstance(optimizer, torch.optim.Optimizer)
    assert type(optimizer).step.__wrapped__ is rules.KerasUpdate.step  # torch's hook wrapper
    train(model, optimizer)
    assert not torch.equal(model[0].weight, make_model()[0].weight)  # it did train
    assert optimizer.iterations == 5 and optimizer.param_groups[0]["step"] == 5
    model, reference = make_model(), make_model()
    train_with_apply_gradients(model, cls())
    train(reference, cls().build(reference.parameters()))
    assert_same_params(model, reference)


def test_a_torch_lr_scheduler_drives_the_keras_rule():
    model, reference = make_model(), make_model()
    optimizer = optimizers.SGD(0.1, momentum=0.9).build(model.parameters())
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    expected = optimizers.SGD(schedules.PiecewiseConstantDecay([1, 3], [0.1, 0.05, 0.025]),
                              momentum=0.9).build(reference.parameters())
    for _ in range(5):
        train(model, optimizer, steps=1)
        scheduler.step()
    train(reference, expected, steps=5)
    assert_same_params(model, reference)


@pytest.mark.parametrize(
    "optimizer, expected",
    [
        (optimizers.SGD(), dict(lr=0.01, momentum=0.0, nesterov=False, weight_decay=None)),
        (optimizers.RMSprop(), dict(lr=0.001, alpha=0.9, eps=1e-7, momentum=0.0, centered=False)),
        (optimizers.Adam(), dict(lr=0.001, betas=(0.9, 0.999), eps=1e-7, amsgrad=False)),
        (optimizers.AdamW(), dict(lr=0.001, betas=(0.9, 0.999), eps=1e-7, weight_decay=0.004)),
        (optimizers.Adagrad(), dict(lr=0.001, initial_accumulator_value=0.1, eps=1e-7)),
        (optimizers.Adadelta(), dict(lr=0.001, rho=0.95, eps=1e-7)),
        (optimizers.Adamax(), dict(lr=0.001, betas=(0.9, 0.999), eps=1e-7)),
        (optimizers.Nadam(), dict(lr=0.001, betas=(0.9, 0.999), eps=1e-7, weight_decay=None)),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, optimizers.Optimizer) else "",
)
def test_keras_defaults(optimizer, expected):
    group = optimizer.build(make_model().parameters()).param_groups[0]
    assert {key: group[key] for key in expected} == expected


# ---------------------------------------------------------------------------- arguments


_CLIPPING = dict(clipnorm=None, clipvalue=None, global_clipnorm=None)
# Keras 3's constructor arguments in order with their defaults (keras/src/optimizers/*.py), less
# use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps.
KERAS_ARGUMENTS = {
    optimizers.SGD: dict(
        learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, **_CLIPPING,
        name="SGD",
    ),
    optimizers.RMSprop: dict(
        learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-07, centered=False,
        weight_decay=None, **_CLIPPING, name="rmsprop",
    ),
    optimizers.Adam: dict(
        learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False,
        weight_decay=None, **_CLIPPING, name="adam",
    ),
    optimizers.AdamW: dict(
        learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-07,
        amsgrad=False, **_CLIPPING, name="adamw",
    ),
    optimizers.Adagrad: dict(
        learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-07, weight_decay=None,
        **_CLIPPING, name="adagrad",
    ),
    optimizers.Adadelta: dict(
        learning_rate=0.001, rho=0.95, epsilon=1e-07, weight_decay=None, **_CLIPPING,
        name="adadelta",
    ),
    optimizers.Adamax: dict(
        learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07, weight_decay=None,
        **_CLIPPING, name="adamax",
    ),
    optimizers.Nadam: dict(
        learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07, weight_decay=None,
        **_CLIPPING, name="nadam",
    ),
}  # fmt: skip
CLASSES = pytest.mark.parametrize("cls", list(KERAS_ARGUMENTS), ids=lambda cls: cls.__name__)


@CLASSES
def test_signature_lists_the_keras_arguments_in_order_with_keras_defaults(cls):
    parameters = list(inspect.signature(cls).parameters.values())
    assert [(p.name, p.default) for p in parameters[:-1]] == list(KERAS_ARGUMENTS[cls].items())
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters[:-1])
    assert parameters[-1].name == "kwargs" and parameters[-1].kind is parameters[-1].VAR_KEYWORD


@CLASSES
def test_help_shows_the_keras_signature(cls):
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    assert f"{cls.__name__}{inspect.signature(cls)}" in text
    assert "weight_decay=" in text and "global_clipnorm=None" in text


# A value other than Keras's default for each argument.
OTHER_VALUES = dict(
    learning_rate=0.05, momentum=0.5, nesterov=True, rho=0.8, epsilon=1e-6, centered=True,
    beta_1=0.8, beta_2=0.99, amsgrad=True, initial_accumulator_value=0.2, weight_decay=0.01,
    clipnorm=None, clipvalue=0.5, global_clipnorm=2.0, name="mine",
)  # fmt: skip


def described(optimizer):
    """What an optimizer does: its name, clipping and the torch defaults it was built with."""
    built = optimizer if optimizer.built else optimizer.build(make_model().parameters())
    clipping = (built._clipnorm, built._clipvalue, built._global_clipnorm)
    return built.name, clipping, built.weight_decay, built.defaults


@CLASSES
def test_positional_arguments_follow_keras_order(cls):
    names = list(KERAS_ARGUMENTS[cls])
    values = [OTHER_VALUES[name] for name in names]
    positional, keyword = cls(*values), cls(**dict(zip(names, values)))
    assert described(positional) == described(keyword)
    assert described(positional) != described(cls())
    assert positional.name == "mine" and positional.defaults["lr"] == 0.05


def test_positional_arguments_examples():
    rmsprop = optimizers.RMSprop(0.01, 0.8, 0.5, 1e-6, True).build(make_model().parameters())
    group = rmsprop.param_groups[0]
    assert (group["lr"], group["alpha"], group["momentum"], group["eps"], group["centered"]) == (
        0.01, 0.8, 0.5, 1e-6, True
    )  # fmt: skip
    adamw = optimizers.AdamW(0.01, 0.1).build(make_model().parameters())  # Keras: wd second
    assert adamw.param_groups[0]["weight_decay"] == 0.1


def test_too_many_or_repeated_arguments_are_type_errors():
    with pytest.raises(TypeError, match=r"SGD\(\) too many positional arguments: it takes \("):
        optimizers.SGD(0.1, 0.9, False, None, None, None, None, "sgd", "extra")
    with pytest.raises(TypeError, match=r"Adam\(\) multiple values for argument 'learning_rate'"):
        optimizers.Adam(0.1, learning_rate=0.2)


@CLASSES
def test_every_unknown_keyword_is_a_type_error_with_a_suggestion(cls):
    message = rf"{cls.__name__}\(\) got an unexpected keyword argument 'nme'\. Did you mean 'name'"
    with pytest.raises(TypeError, match=message):
        cls(nme="x")
    with pytest.raises(ValueError, match=r"decay is deprecated.*does not take `decay`"):
        cls(decay=1e-4)
    with pytest.warns(DeprecationWarning, match="`lr` argument is deprecated") as record:
        assert cls(lr=0.5).learning_rate == 0.5
    assert record[0].filename == __file__  # the warning points at the caller


def test_unknown_keyword_suggests_the_keras_name():
    message = (
        r"RMSprop\(\) got an unexpected keyword argument 'rh'\. "
        r"Did you mean 'rho'\? Valid arguments: 'learning_rate', 'rho'"
    )
    with pytest.raises(TypeError, match=message):
        optimizers.RMSprop(rh=0.8)
    with pytest.raises(TypeError, match=r"Adam\(\) got an unexpected keyword argument 'betas'"):
        optimizers.Adam(betas=(0.9, 0.99))


def test_lr_is_accepted_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="`lr` argument is deprecated, use `learning_rate`"):
        optimizer = optimizers.SGD(lr=0.5)
    assert optimizer.learning_rate == 0.5


def test_legacy_decay_points_to_inverse_time_decay():
    message = r"does not take `decay`.*InverseTimeDecay\(learning_rate, decay_steps=1"
    with pytest.raises(ValueError, match=message):
        optimizers.SGD(0.1, decay=1e-4)


def test_adamw_needs_a_weight_decay():
    message = r"Missing value of `weight_decay`.*Received: weight_decay=None"
    with pytest.raises(ValueError, match=message):
        optimizers.AdamW(weight_decay=None)


def test_sgd_momentum_is_checked_as_keras_does():
    with pytest.raises(ValueError, match=r"`momentum` must be a float between \[0, 1\]. "
                                         r"Received: momentum=1.5"):
        optimizers.SGD(momentum=1.5)


@CLASSES
def test_get_config_has_keras_keys_and_from_config_rebuilds(cls):
    names = list(KERAS_ARGUMENTS[cls])
    values = {name: OTHER_VALUES[name] for name in names}
    optimizer = cls(**values)
    config = optimizer.get_config()
    assert list(config)[:11] == ["name", "learning_rate", "weight_decay", "clipnorm",
                                 "global_clipnorm", "clipvalue", "use_ema", "ema_momentum",
                                 "ema_overwrite_frequency", "loss_scale_factor",
                                 "gradient_accumulation_steps"]  # Keras 3's BaseOptimizer order
    keras_off = dict(use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                     loss_scale_factor=None, gradient_accumulation_steps=None)
    assert config == {**values, **keras_off}
    assert described(cls.from_config(config)) == described(cls(**values))


def test_a_schedule_is_serialised_in_the_config():
    schedule = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    config = optimizers.Adam(schedule).get_config()
    # Keras 3 writes its own module for the schedules it has (torchfit's are those).
    assert config["learning_rate"] == {**schedules.serialize(schedule),
                                       "module": "keras.optimizers.schedules"}
    rebuilt = optimizers.Adam.from_config(config).learning_rate
    assert isinstance(rebuilt, schedules.ExponentialDecay) and rebuilt(10) == schedule(10)


def test_from_config_refuses_keras_only_options_that_are_on():
    with pytest.raises(ValueError, match=r"received use_ema=True: torchfit optimizers have no"):
        optimizers.SGD.from_config({"learning_rate": 0.1, "use_ema": True})
    assert optimizers.SGD.from_config({"learning_rate": 0.1, "use_ema": False}).learning_rate == 0.1
