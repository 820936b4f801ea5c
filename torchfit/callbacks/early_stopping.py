"""EarlyStopping: stop training when a monitored metric has stopped improving."""

import math
import numbers

from torchfit.callbacks.monitor_callback import MonitorCallback
from torchfit.distributed.runtime import print_on_main

__all__ = ["EarlyStopping"]


def _snapshot(module):
    # A real copy: state_dict() tensors alias the live parameters, so a plain state_dict() (or a
    # shallow copy of it) would "restore" the last weights instead of the best ones.
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


class EarlyStopping(MonitorCallback):
    """Stops training when ``monitor`` has not improved for ``patience`` epochs.

    The rules of the last tf.keras 2.x release (and of Keras 3), epoch by epoch; epochs before
    ``start_from_epoch`` and epochs whose logs lack ``monitor`` are ignored: ``wait`` grows by
    one; an improvement over ``best`` by more than ``min_delta`` updates ``best`` and resets
    ``wait`` to 0 only if it also beats ``baseline`` (when given); an epoch that does not improve
    stops training (``model.stop_training = True``) once ``wait >= patience``, from the second
    epoch on. With ``verbose > 0`` the end of training prints ``Epoch 00006: early stopping``
    (tf.keras 2.0's zero-padded epoch, as in the guide). A NaN ``monitor`` never improves (it
    counts as an epoch without improvement) and warns once per ``fit``.

    ``restore_best_weights=True`` keeps a copy (``detach().clone()``) of the weights of the best
    epoch (or of the first monitored epoch whose value is not NaN if none improved; none at all
    when every value is NaN) and loads it back at the end of
    training, *whether or not* training stopped early. This is Keras 3's behaviour; tf.keras 2.x
    restored only when it stopped training, which surprised users (keras-team/keras#12511).

    Args:
        monitor: the log key to watch, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement after which training stops.
        verbose: 1 prints the stopping line (and the restoring line).
        mode: ``"auto"``, ``"min"`` or ``"max"``; ``auto`` uses the metric's ``higher_is_better``
            or, failing that, the name (``acc`` -> max).
        baseline: training stops if the metric does not beat this value within ``patience``
            epochs.
        restore_best_weights: load the best epoch's weights at the end of training.
        start_from_epoch: epochs to wait before monitoring starts (warm-up).

    Attributes:
        best, wait, stopped_epoch (0 when it did not stop), best_epoch, best_weights.

    Example:
        A learning rate of 0 keeps the loss flat: training stops after ``patience`` epochs
        without improvement.

        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.compile(optimizer=torchfit.optimizers.SGD(learning_rate=0.0), loss="mse")
        >>> x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
        >>> stop = EarlyStopping(monitor="loss", patience=2, verbose=1)
        >>> history = model.fit(x, y, epochs=20, verbose=0, callbacks=[stop])
        Epoch 00003: early stopping
        >>> history.epoch, stop.stopped_epoch
        ([0, 1, 2], 2)
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(
            monitor, mode, min_delta, baseline,
            missing="Early stopping conditioned on metric `{monitor}` which is not available. "
                    "Available metrics are: {available}",
        )
        for name, value in (("patience", patience), ("start_from_epoch", start_from_epoch)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
                raise ValueError(
                    f"EarlyStopping: `{name}` must be an integer >= 0. Received: {name}={value!r}"
                )
        self.patience = int(patience)
        self.verbose = verbose
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self.reset()

    def reset(self):
        super().reset()
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = 0
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        self.wait += 1
        improved = self.is_improvement(current, self.best_or_initial())
        if self.restore_best_weights and (improved or (self.best_weights is None
                                                       and not math.isnan(current))):
            # Until an epoch improves, the first monitored one stands as best; a NaN one never
            # does (unlike Keras 3, which keeps the first epoch's weights even then).
            self.best_weights = _snapshot(self.model.weights_module())
            self.best_epoch = epoch
        if improved:
            self.best = current
            self.best_epoch = epoch
            # Only restart waiting if we beat both the baseline and our previous best.
            if self.beats_baseline(current):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self.stopped_epoch > 0 and self.verbose > 0:
            print_on_main(f"Epoch {self.stopped_epoch + 1:05d}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_on_main("Restoring model weights from the end of the best epoch: "
                              f"{self.best_epoch + 1}.", flush=True)
            self.model.weights_module().load_state_dict(self.best_weights)

    def state_dict(self):
        """Plain values and tensors (loadable with ``torch.load(weights_only=True)``)."""
        return {
            **super().state_dict(),
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best_epoch": self.best_epoch,
            "best_weights": None if self.best_weights is None else dict(self.best_weights),
        }

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self.wait = int(state_dict["wait"])
        self.stopped_epoch = int(state_dict["stopped_epoch"])
        self.best_epoch = int(state_dict["best_epoch"])
        weights = state_dict["best_weights"]
        self.best_weights = None if weights is None else {
            key: value.detach().clone() for key, value in weights.items()
        }
