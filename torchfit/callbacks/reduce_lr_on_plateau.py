"""ReduceLROnPlateau: lower the learning rate when a monitored metric stops improving."""

import numbers
import warnings

import numpy as np

from torchfit.callbacks.learning_rate import (
    check_settable,
    get_learning_rates,
    require_optimizer,
    set_learning_rates,
)
from torchfit.callbacks.monitor_callback import MonitorCallback
from torchfit.utils.validation import check_kwargs
from torchfit.distributed.runtime import print_on_main

__all__ = ["ReduceLROnPlateau"]


def _check_int(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(
            f"ReduceLROnPlateau: `{name}` must be an integer >= 0. Received: {name}={value!r}"
        )
    return int(value)


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies the learning rate by ``factor`` after ``patience`` epochs without improvement.

    tf.keras 2.x rules, at each epoch end whose logs hold ``monitor``: during cooldown the
    counter counts down and ``wait`` stays 0; an improvement over ``best`` by more than
    ``min_delta`` updates ``best`` and resets ``wait``; otherwise, out of cooldown, ``wait`` grows
    and when it reaches ``patience`` every parameter group whose learning rate is above
    ``min_lr`` (compared in float32, as Keras's float32 variable did) gets
    ``max(lr * factor, min_lr)``, then ``cooldown`` epochs of cooldown start. A NaN ``monitor``
    never improves (nor becomes ``best``) and warns once per ``fit``.

    The learning rate is read from and written to ``model.optimizer.param_groups`` (all groups),
    so any ``torch.optim`` optimizer works; a torchfit optimizer whose learning rate is a schedule
    is refused when training starts (``TypeError``). Unlike Keras, the callback does not add
    ``lr`` to the shared logs (logs are read-only to callbacks).

    With ``verbose=1`` a reduction prints
    ``Epoch 00005: ReduceLROnPlateau reducing learning rate to 0.00010000000000000002.``

    Args:
        monitor: the log key to watch.
        factor: the multiplier, ``0 <= factor < 1``.
        patience: epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        min_delta: the smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the lower bound of the learning rate.

    Example:
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.compile(optimizer=torchfit.optimizers.SGD(learning_rate=0.1), loss="mse")
        >>> x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
        >>> reduce_lr = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1,
        ...                               min_lr=0.001)

        The rule, on scripted epoch logs: ``0.85`` and then ``0.82`` do not improve on ``0.8``.

        >>> reduce_lr.set_model(model)
        >>> reduce_lr.on_train_begin()
        >>> for epoch, val_loss in enumerate([0.9, 0.8, 0.85, 0.82]):
        ...     reduce_lr.on_epoch_end(epoch, {"val_loss": val_loss})
        >>> model.optimizer.param_groups[0]["lr"]
        0.025

        In ``fit``, with validation data:

        >>> _ = model.fit(x, y, epochs=3, validation_data=(x, y), verbose=0,
        ...               callbacks=[reduce_lr])
    """

    may_stop_training = False  # never sets stop_training in a batch hook

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0, **kwargs):
        if "epsilon" in kwargs:  # tf.keras 2.x still accepted the old name
            min_delta = kwargs.pop("epsilon")
            warnings.warn("ReduceLROnPlateau: `epsilon` argument is deprecated and will be "
                          "removed, use `min_delta` instead.", DeprecationWarning, stacklevel=2)
        check_kwargs("ReduceLROnPlateau", kwargs,
                     ["monitor", "factor", "patience", "verbose", "mode", "min_delta",
                      "cooldown", "min_lr"])
        if not isinstance(factor, numbers.Real) or isinstance(factor, bool) or factor < 0:
            raise ValueError(
                "ReduceLROnPlateau: `factor` must be a number in [0, 1). "
                f"Received: factor={factor!r}"
            )
        if factor >= 1.0:
            raise ValueError(
                "ReduceLROnPlateau does not support a factor >= 1.0 (it would not reduce the "
                f"learning rate). Received: factor={factor!r}. Use e.g. factor=0.1."
            )
        if not isinstance(min_lr, numbers.Real) or isinstance(min_lr, bool) or min_lr < 0:
            raise ValueError(
                f"ReduceLROnPlateau: `min_lr` must be a number >= 0. Received: min_lr={min_lr!r}"
            )
        super().__init__(
            monitor, mode, min_delta,
            missing="Learning rate reduction is conditioned on metric `{monitor}` which is not "
                    "available. Available metrics are: {available}",
        )
        self.factor = float(factor)
        self.patience = _check_int("patience", patience)
        self.cooldown = _check_int("cooldown", cooldown)
        self.min_lr = float(min_lr)
        self.verbose = verbose
        self.reset()

    def reset(self):
        super().reset()
        self.wait = 0
        self.cooldown_counter = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        check_settable(require_optimizer(self.model, "ReduceLROnPlateau"), "ReduceLROnPlateau")
        super().on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        current = self.get_monitor_value(logs)
        if current is None:
            return
        best = self.best_or_initial()
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.is_improvement(current, best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(epoch)

    def _reduce(self, epoch):
        optimizer = self.model.optimizer
        old = get_learning_rates(optimizer)
        floor = np.float32(self.min_lr)
        new = [max(lr * self.factor, self.min_lr) if np.float32(lr) > floor else lr for lr in old]
        if new == old:  # every group is already at min_lr
            return
        set_learning_rates(optimizer, new, owner="ReduceLROnPlateau")
        if self.verbose > 0:
            changed = sorted({lr for lr, before in zip(new, old) if lr != before})
            shown = changed[0] if len(changed) == 1 else changed
            print_on_main(
                f"\nEpoch {epoch + 1:05d}: ReduceLROnPlateau reducing learning rate to {shown}.",
                flush=True)
        self.cooldown_counter = self.cooldown
        self.wait = 0

    def state_dict(self):
        """``best``, ``wait`` and ``cooldown_counter`` (the learning rate is in the optimizer)."""
        return {**super().state_dict(), "wait": self.wait,
                "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self.wait = int(state_dict["wait"])
        self.cooldown_counter = int(state_dict["cooldown_counter"])
