"""LearningRateScheduler: set the learning rate every epoch, from a function or a torch scheduler.

This module holds only the callback. A function schedule is called at each epoch's start and its
value written into every parameter group (a ``MultiOptimizer``: each inner optimizer's own rate
goes through the schedule, as in Keras 3); a ``torch.optim.lr_scheduler`` instance is stepped at
each epoch's end (a torch ``ReduceLROnPlateau`` with the monitored log value). The learning rate
is read and written with the helpers of ``torchfit/callbacks/learning_rate.py``, in
``optimizer.param_groups``, so any ``torch.optim`` optimizer works; a torchfit optimizer whose
``learning_rate`` is a schedule is refused when training starts, as the two would fight.
"""

import inspect
import numbers

import torch

from torchfit.callbacks.callback import Callback
from torchfit.callbacks.learning_rate import (
    check_settable,
    get_learning_rate,
    require_optimizer,
    set_learning_rates,
)
from torchfit.callbacks.monitor import Monitor
from torchfit.distributed.runtime import print_on_main

__all__ = ["LearningRateScheduler"]


def _takes_lr(schedule):
    """True for ``schedule(epoch, lr)``, False for ``schedule(epoch)``, None if unknown."""
    try:
        signature = inspect.signature(schedule)
    except (TypeError, ValueError):  # some builtins and C extensions have no signature
        return None
    try:
        signature.bind(0, 0.0)
    except TypeError:
        return False
    return True


def _is_torch_scheduler(schedule):
    return isinstance(schedule, (torch.optim.lr_scheduler.LRScheduler,
                                 torch.optim.lr_scheduler.ReduceLROnPlateau))


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of every epoch.

    ``schedule`` is either

    * a function ``schedule(epoch, lr) -> new_lr`` (or ``schedule(epoch) -> new_lr``), called at
      ``on_epoch_begin`` with the 0-based epoch and the current learning rate, as in Keras; the
      result is written into every parameter group. It must return a number (an ``int`` is
      accepted and converted, where Keras insists on a float); anything else is a ``ValueError``.
    * a ``torch.optim.lr_scheduler`` instance built on ``model.optimizer``: its ``step()`` is called
      at ``on_epoch_end`` (the usual once-per-epoch torch pattern). A ``ReduceLROnPlateau``
      scheduler is stepped with ``logs[monitor]``.

    The learning rate is not written into the logs (tf.keras 2.x adds ``lr`` to them; torchfit
    keeps logs read-only). With ``verbose=1`` each epoch prints
    ``Epoch 00001: LearningRateScheduler setting learning rate to 0.001.``

    Args:
        schedule: a function of the epoch (and the learning rate), or a torch LR scheduler.
        verbose: 1 prints the learning rate set at each epoch.
        monitor: the log key a torch ``ReduceLROnPlateau`` steps on.

    Example:
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.compile(optimizer=torchfit.optimizers.SGD(learning_rate=0.1), loss="mse")
        >>> x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
        >>> def halve_every_2(epoch, lr):
        ...     return lr * 0.5 if epoch and epoch % 2 == 0 else lr
        >>> _ = model.fit(x, y, epochs=5, verbose=0,
        ...               callbacks=[LearningRateScheduler(halve_every_2)])
        >>> model.optimizer.param_groups[0]["lr"]  # halved at epochs 2 and 4
        0.025
        >>> step = torch.optim.lr_scheduler.StepLR(model.optimizer, step_size=2, gamma=0.5)
        >>> _ = model.fit(x, y, epochs=4, verbose=0, callbacks=[LearningRateScheduler(step)])
        >>> model.optimizer.param_groups[0]["lr"]  # stepped 4 times: halved twice
        0.00625
    """

    may_stop_training = False  # never sets stop_training in a batch hook

    def __init__(self, schedule, verbose=0, monitor="val_loss"):
        super().__init__()
        if not (callable(schedule) or _is_torch_scheduler(schedule)):
            raise TypeError(
                "LearningRateScheduler: `schedule` must be a function schedule(epoch, lr) -> lr "
                "(or schedule(epoch) -> lr) or a torch.optim.lr_scheduler instance. "
                f"Received: schedule={schedule!r} of type {type(schedule).__name__}."
            )
        self.schedule = schedule
        self.verbose = verbose
        self._torch_scheduler = schedule if _is_torch_scheduler(schedule) else None
        self._plateau = isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau)
        self._monitor = Monitor(
            monitor, owner="LearningRateScheduler",
            missing="LearningRateScheduler: the torch ReduceLROnPlateau scheduler steps on "
                    "metric `{monitor}`, which is not available; the scheduler was not stepped. "
                    "Available metrics are: {available}",
        )
        self._takes_lr = None if self._torch_scheduler is not None else _takes_lr(schedule)

    def on_train_begin(self, logs=None):
        optimizer = require_optimizer(self.model, "LearningRateScheduler")
        if self._torch_scheduler is None:
            check_settable(optimizer, "LearningRateScheduler")
        elif self._torch_scheduler.optimizer is not optimizer:
            raise ValueError(
                f"LearningRateScheduler received a {type(self.schedule).__name__} built on "
                "another optimizer than model.optimizer, so stepping it would not change the "
                "learning rate used for training. Build the scheduler after compile, on "
                "model.optimizer: e.g. torch.optim.lr_scheduler.StepLR(model.optimizer, ...)."
            )

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if self._torch_scheduler is not None:
            if self.verbose > 0:
                self._print(epoch, get_learning_rate(optimizer))
            return
        # A MultiOptimizer: each built inner optimizer schedules its own rate, as in Keras 3.
        targets = [opt for opt in getattr(optimizer, "optimizers", ()) if opt.built]
        for target in targets or [optimizer]:
            lr = self._call_schedule(epoch, get_learning_rate(target))
            set_learning_rates(target, lr, owner="LearningRateScheduler")
        if self.verbose > 0:
            self._print(epoch, lr)

    def on_epoch_end(self, epoch, logs=None):
        if self._torch_scheduler is None:
            return
        if self._plateau:
            value = self._monitor.get(logs)
            if value is not None:
                self._torch_scheduler.step(value)
        else:
            self._torch_scheduler.step()

    def _call_schedule(self, epoch, lr):
        if self._takes_lr is None:  # no signature to inspect: Keras's try/except
            try:
                new_lr = self.schedule(epoch, lr)
            except TypeError:
                new_lr = self.schedule(epoch)
        else:
            new_lr = self.schedule(epoch, lr) if self._takes_lr else self.schedule(epoch)
        if isinstance(new_lr, torch.Tensor) and new_lr.numel() == 1 and new_lr.is_floating_point():
            new_lr = float(new_lr)  # sync: once per epoch, only for a schedule returning tensors
        if not isinstance(new_lr, numbers.Real) or isinstance(new_lr, bool):
            raise ValueError(
                "The output of the `schedule` function should be a float. "
                f"Received: {new_lr!r} of type {type(new_lr).__name__} for epoch {epoch} "
                f"(learning rate {lr})."
            )
        if new_lr < 0:
            raise ValueError(
                f"The output of the `schedule` function must be >= 0. Received: {new_lr!r} for "
                f"epoch {epoch}."
            )
        return float(new_lr)

    @staticmethod
    def _print(epoch, lr):
        print_on_main(
            f"\nEpoch {epoch + 1:05d}: LearningRateScheduler setting learning rate to {lr}.",
            flush=True)

    def state_dict(self):
        """The torch scheduler's ``state_dict()`` (empty for a function schedule)."""
        if self._torch_scheduler is None:
            return {}
        return {"scheduler": self._torch_scheduler.state_dict()}

    def load_state_dict(self, state_dict):
        if self._torch_scheduler is not None and "scheduler" in state_dict:
            self._torch_scheduler.load_state_dict(state_dict["scheduler"])
