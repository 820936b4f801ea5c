"""Reading and writing the learning rate of any ``torch.optim`` optimizer, for the callbacks.

The learning rate lives in ``optimizer.param_groups``, the one place every ``torch.optim``
optimizer, torchfit's included, reads it from. ``LearningRateScheduler``, ``ReduceLROnPlateau``
and ``TensorBoard`` go through these helpers.

Example:
    >>> first, second = nn.Linear(2, 2), nn.Linear(2, 1)
    >>> optimizer = torch.optim.SGD([{"params": first.parameters(), "lr": 0.1},
    ...                              {"params": second.parameters(), "lr": 0.01}])
    >>> get_learning_rates(optimizer)
    [0.1, 0.01]
    >>> set_learning_rates(optimizer, [0.2, 0.02])
    >>> set_learning_rates(optimizer, 0.5)  # one value for every group
    >>> get_learning_rates(optimizer)
    [0.5, 0.5]
"""

import numbers

import torch

from torchfit import optimizers

__all__ = ["check_settable", "get_learning_rate", "get_learning_rates", "require_optimizer",
           "set_learning_rates"]


def require_optimizer(model, owner):
    """``model.optimizer``; a ``ValueError`` naming ``owner`` when it is not a torch optimizer."""
    optimizer = getattr(model, "optimizer", None)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(
            f"{owner} needs a compiled model with a torch.optim optimizer. Received: "
            f"model.optimizer={optimizer!r}. Call model.compile(optimizer=...) before fit."
        )
    return optimizer


def get_learning_rates(optimizer):
    """The learning rate of every parameter group, as Python floats."""
    # sync: only for a tensor learning rate (torch's capturable/fused options); once per epoch.
    return [float(group["lr"]) for group in optimizer.param_groups]


def get_learning_rate(optimizer):
    """The learning rate of the first parameter group, as a Python float."""
    return get_learning_rates(optimizer)[0]


def check_settable(optimizer, owner):
    """Raises ``TypeError`` when ``optimizer`` takes its learning rate from a schedule."""
    if isinstance(optimizer, optimizers.Optimizer) and callable(optimizer.learning_rate):
        raise TypeError(
            f"{owner} cannot set the learning rate of this {type(optimizer).__name__} optimizer: "
            f"its learning_rate is a schedule ({optimizer.learning_rate!r}), which sets the rate "
            "before every step and would overwrite the callback's value. Create the optimizer "
            "with a float learning_rate to use this callback, or keep the schedule and drop the "
            "callback."
        )


def set_learning_rates(optimizer, values, owner="callback"):
    """Writes ``values`` (one float, or one per parameter group) into ``optimizer``.

    A torchfit optimizer with a float learning rate is set through ``optimizer.learning_rate``
    when all groups get the same value; one driven by a schedule is refused (``TypeError``).
    """
    check_settable(optimizer, owner)
    groups = optimizer.param_groups
    values = [float(values)] * len(groups) if isinstance(values, numbers.Real) else list(values)
    if isinstance(optimizer, optimizers.Optimizer) and len(set(values)) == 1:
        optimizer.learning_rate = values[0]
        return
    for group, value in zip(groups, values):
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(value)  # keep the tensor: fused/capturable steps hold on to it
        else:
            group["lr"] = value
