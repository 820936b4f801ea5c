"""MonitorCallback: the base of the callbacks that act when a monitored value improves or stalls.

``EarlyStopping``, ``ModelCheckpoint`` and ``ReduceLROnPlateau`` share the ``monitor`` / ``mode``
/ ``min_delta`` / ``baseline`` arguments, the ``best`` value seen so far, the rule that decides
an improvement (``Monitor``), and the ``state_dict`` that lets ``BackupAndRestore`` resume them,
as Keras 3's ``keras/src/callbacks/monitor_callback.py``.
"""

from torchfit.callbacks.callback import Callback
from torchfit.callbacks.monitor import Monitor

__all__ = ["MonitorCallback"]


class MonitorCallback(Callback):
    """A callback watching one log value (``monitor``) and the ``best`` value it has reached.

    Subclasses read the value with ``get_monitor_value(logs)``, compare it with
    ``is_improvement(current, reference)``, and keep ``best`` up to date. At the start of each
    ``fit`` the ``auto`` direction is looked up again and ``reset()`` runs, unless a state was
    loaded with ``load_state_dict`` before that ``fit`` (a resume), which then continues from it.

    Args:
        monitor: the log key to watch, e.g. ``"val_loss"``.
        mode: ``"auto"``, ``"min"`` or ``"max"`` (``auto``: the metric's ``higher_is_better``,
            else the key's name).
        min_delta: the smallest change that counts as an improvement (its sign is ignored).
        baseline: a value the monitored quantity must beat (``None``: none).
        missing: the warning shown once when ``monitor`` is absent from the logs (``{monitor}``
            and ``{available}`` are filled in).

    Attributes:
        best: the best value so far; ``None`` until the first monitored epoch, when it becomes
            ``inf``/``-inf`` (the direction may only be known once the metrics are built).

    Example:
        >>> class PrintImprovements(MonitorCallback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         current = self.get_monitor_value(logs)
        ...         if current is not None and self.is_improvement(current, self.best_or_initial()):
        ...             print(f"epoch {epoch}: {self.monitor} improved to {current:.2f}")
        ...             self.best = current
        >>> callback = PrintImprovements(monitor="loss")
        >>> callback.on_epoch_end(0, {"loss": 0.5})
        epoch 0: loss improved to 0.50
        >>> callback.on_epoch_end(1, {"loss": 0.7})
        >>> callback.state_dict()
        {'best': 0.5}
    """

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0, baseline=None,
                 missing="{owner} is conditioned on metric `{monitor}` which is not available. "
                         "Available metrics are: {available}"):
        super().__init__()
        self._monitor = Monitor(monitor, mode, min_delta, baseline, owner=type(self).__name__,
                                missing=missing)
        self.monitor = monitor
        self.mode = mode
        self.min_delta = self._monitor.min_delta
        self.baseline = self._monitor.baseline
        self.best = None
        self._loaded = False  # a state from load_state_dict that the next fit must keep

    def reset(self):
        """Forgets the progress of a previous ``fit`` (``best``); subclasses extend it."""
        self.best = None

    def on_train_begin(self, logs=None):
        self._monitor.reset()
        if self._loaded:  # loaded before this fit to resume it: keep, do not reset
            self._loaded = False
        else:
            self.reset()

    def on_train_end(self, logs=None):
        self._loaded = False

    def get_monitor_value(self, logs):
        """``logs[monitor]`` as a float, or None (with a one-time warning) when absent."""
        return self._monitor.get(logs, self.model)

    def is_improvement(self, current, reference):
        """Whether ``current`` beats ``reference`` by more than ``min_delta``."""
        return self._monitor.is_improvement(current, reference)

    def beats_baseline(self, current):
        """True when there is no baseline or ``current`` improves on it."""
        return self._monitor.beats_baseline(current)

    def best_or_initial(self):
        """``best``, set first to ``inf``/``-inf`` (by the direction) if nothing was seen yet."""
        if self.best is None:
            self.best = self._monitor.initial_best()
        return self.best

    def state_dict(self):
        """Plain values only (loadable with ``torch.load(weights_only=True)``); extended by
        subclasses with their counters."""
        return {"best": self.best}

    def load_state_dict(self, state_dict):
        """Restores ``state_dict()``, during a ``fit`` (``BackupAndRestore`` loads it in
        ``on_train_begin``) or before one, which then continues from it instead of resetting."""
        best = state_dict["best"]
        self.best = None if best is None else float(best)
        self._loaded = True
