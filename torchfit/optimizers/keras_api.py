"""Keras 3's ``get_config`` dict and ``variables`` list for a torchfit optimizer.

``optimizer_config`` writes the keys of Keras 3's ``BaseOptimizer.get_config`` in its order,
torchfit's missing options (EMA, loss-scale factor, gradient accumulation) with their "off"
values, so that the dict equals Keras's and ``keras.optimizers.deserialize`` reads it; a built-in
schedule is written with Keras's module (``"keras.optimizers.schedules"``), a user's with module
None and its class name as ``registered_name``, as Keras 3 writes them. ``check_keras_only``
accepts such a dict back (those options must be off).

``optimizer_variables`` is Keras 3's ``optimizer.variables`` order over torch's state.

Example:
    >>> from torchfit.optimizers import SGD, schedules
    >>> config = SGD(schedules.ExponentialDecay(0.1, 10, 0.9)).get_config()
    >>> config["learning_rate"]["module"], config["use_ema"]
    ('keras.optimizers.schedules', False)
"""

import torch

from torchfit import schedules

__all__ = [
    "KERAS_ONLY_OPTIONS", "optimizer_config", "check_keras_only", "optimizer_variables",
    "scalar_variables", "slot_variables",
]  # fmt: skip

# Keras 3 base-optimizer options torchfit does not have, with the value that means "off".
KERAS_ONLY_OPTIONS = {
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}
_KERAS_SCHEDULES = "keras.optimizers.schedules"


def schedule_config(schedule):
    """Keras 3's dict for the schedule inside an optimizer config (a function: its own form)."""
    config = schedules.serialize(schedule)
    if config["class_name"] == "function":
        return config
    if type(schedule).__module__ == schedules.__name__:  # one of Keras's schedules
        return {**config, "module": _KERAS_SCHEDULES}
    return {**config, "module": None, "registered_name": type(schedule).__name__}


def optimizer_config(optimizer, keras_arguments, has_weight_decay):
    """Keras 3's ``get_config()`` of ``optimizer`` (see the module docstring).

    Args:
        optimizer: A torchfit ``Optimizer``.
        keras_arguments: The class's own constructor arguments, in Keras's order.
        has_weight_decay: Whether the class takes ``weight_decay``.
    """
    learning_rate = optimizer.learning_rate
    if callable(learning_rate):
        learning_rate = schedule_config(learning_rate)
    config = dict(
        name=optimizer.name, learning_rate=learning_rate, weight_decay=optimizer.weight_decay,
        clipnorm=optimizer._clipnorm, global_clipnorm=optimizer._global_clipnorm,
        clipvalue=optimizer._clipvalue, **KERAS_ONLY_OPTIONS,
    )  # fmt: skip
    config.update(keras_arguments)  # weight_decay keeps its place and value
    if not has_weight_decay:
        del config["weight_decay"]
    return config


def check_keras_only(cls, config):
    """``config`` without Keras's EMA/loss-scale/accumulation keys, which must be off."""
    config = dict(config)
    for key, off in KERAS_ONLY_OPTIONS.items():
        value = config.pop(key, off)
        if value != off:
            raise ValueError(
                f"{cls.__name__}.from_config() received {key}={value!r}: torchfit optimizers "
                f"have no `{key}`. Expected {key}={off!r} (Keras's default) or no such key."
            )
    return config


def scalar_variables(optimizer):
    """``iterations`` and, unless it is a schedule, the learning rate, as new CPU tensors."""
    values = [torch.tensor(optimizer.iterations, dtype=torch.int32)]
    if not callable(optimizer.learning_rate):
        values.append(torch.tensor(optimizer.learning_rate, dtype=torch.float32))
    return values


def slot_variables(optimizer):
    """The state tensors of a built torch optimizer, per parameter in ``param_groups`` order."""
    values = []
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})  # .get: no entry made in the defaultdict
            values.extend(value for value in state.values() if torch.is_tensor(value))
    return values


def optimizer_variables(optimizer):
    """Keras 3's ``optimizer.variables`` for a torchfit optimizer (see ``Optimizer.variables``)."""
    slots = slot_variables(optimizer) if optimizer.built else []
    return scalar_variables(optimizer) + slots
