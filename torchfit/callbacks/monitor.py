"""Monitor: the "is this epoch better?" logic shared by EarlyStopping, ModelCheckpoint and
ReduceLROnPlateau (the ``monitor`` / ``mode`` / ``min_delta`` / ``baseline`` arguments).

Direction (``mode="auto"``): a metric of the compiled model whose name is the monitored key (less
any ``val_`` prefix) decides through its ``higher_is_better`` (``"val_loss"`` -> min,
``"val_accuracy"`` -> max, ``"val_auc"`` -> max). Keys with no such metric, or a metric without a
direction (``Mean``), fall back to the Keras name rule: max when the key contains ``acc``, starts
with ``fmeasure`` or ends with ``auc``; min otherwise. The direction is looked up lazily, on the
first comparison, because the model builds its metrics on the first batch.

Improvement (Keras's sign convention): ``min_delta`` is made non-negative, then
``current - min_delta > reference`` in ``max`` mode and ``current + min_delta < reference`` in
``min`` mode. NaN never improves, and never becomes the ``best`` (a NaN monitored value warns,
once per ``fit``); any number improves on a NaN reference.

Example:
    >>> monitor = Monitor("val_loss", min_delta=0.1)
    >>> monitor.is_improvement(0.5, monitor.initial_best())
    True
    >>> monitor.is_improvement(0.45, 0.5)
    False
"""

import math
import numbers
import warnings

__all__ = ["Monitor"]

_MODES = ("auto", "min", "max")


def _name_says_higher_is_better(name):
    # tf.keras 2.x: "acc" in monitor or monitor.startswith("fmeasure"); EarlyStopping adds "auc".
    return "acc" in name or name.startswith("fmeasure") or name.endswith("auc")


def _metric_direction(model, name):
    """``higher_is_better`` of the model's metric called ``name``, or None."""
    for metric in getattr(model, "metrics", None) or ():
        if getattr(metric, "name", None) == name:
            return getattr(metric, "higher_is_better", None)
    return None


class Monitor:
    """Reads one monitored value from the logs and compares it with a reference.

    Args:
        monitor: the log key to watch, e.g. ``"val_loss"``.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        min_delta: the smallest change that counts as an improvement (its sign is ignored).
        baseline: an optional value the monitored quantity must beat (see ``beats_baseline``).
        owner: the calling callback's name, for error messages.
        missing: the warning shown (once) when the key is absent; ``{monitor}`` and
            ``{available}`` are filled in.

    Raises:
        ValueError: ``mode`` is not one of ``"auto"``, ``"min"``, ``"max"``, or ``min_delta`` /
            ``baseline`` is not a number.
        TypeError: ``monitor`` is not a string.
    """

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0.0, baseline=None,
                 owner="Callback",
                 missing="{owner} is conditioned on metric `{monitor}` which is not available. "
                         "Available metrics are: {available}"):
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(
                f"{owner}: `monitor` must be the name of a log key, e.g. 'val_loss'. "
                f"Received: monitor={monitor!r}"
            )
        if mode not in _MODES:
            raise ValueError(
                f"{owner}: `mode` must be one of 'auto', 'min', 'max'. Received: mode={mode!r}. "
                "Use 'min' for losses and errors, 'max' for accuracies, or 'auto' to decide "
                "from the metric."
            )
        _check_number(owner, "min_delta", min_delta)
        if baseline is not None:
            _check_number(owner, "baseline", baseline)
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(float(min_delta))
        self.baseline = None if baseline is None else float(baseline)
        self.owner = owner
        self._missing = missing
        self._higher_is_better = None if mode == "auto" else mode == "max"
        self._warned = False
        self._warned_nan = False

    def resolve(self, model=None):
        """Fixes the direction for ``mode="auto"`` from ``model``'s metrics or the key's name.

        Does nothing once the direction is known (call ``reset`` to look again).
        """
        if self._higher_is_better is not None:
            return
        name = self.monitor.removeprefix("val_")
        direction = _metric_direction(model, name)
        if direction is None:
            direction = _name_says_higher_is_better(name)
        self._higher_is_better = bool(direction)

    def reset(self):
        """Forgets the ``auto`` direction (the model may be compiled again between fits) and
        re-arms the NaN warning (once per ``fit``)."""
        self._warned_nan = False
        if self.mode == "auto":
            self._higher_is_better = None

    @property
    def higher_is_better(self):
        """True in ``max`` mode; for ``auto``, resolved on first use (by name if no model)."""
        if self._higher_is_better is None:
            self.resolve(None)
        return self._higher_is_better

    def initial_best(self):
        """``inf`` when lower is better, ``-inf`` when higher is better."""
        return -math.inf if self.higher_is_better else math.inf

    def is_improvement(self, current, reference):
        """Whether ``current`` beats ``reference`` by more than ``min_delta``; NaN never does,
        and any number beats a NaN ``reference``."""
        if math.isnan(current):
            return False
        if math.isnan(reference):
            return True
        if self.higher_is_better:
            return current - self.min_delta > reference
        return current + self.min_delta < reference

    def beats_baseline(self, current):
        """True when there is no baseline or ``current`` improves on it."""
        return self.baseline is None or self.is_improvement(current, self.baseline)

    def get(self, logs, model=None):
        """The monitored value as a float, or None (with a one-time warning) when it is absent.

        The first value read also fixes the ``auto`` direction from ``model`` (see ``resolve``).
        """
        logs = logs if logs is not None else {}
        value = logs.get(self.monitor)
        if value is None:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    self._missing.format(owner=self.owner, monitor=self.monitor,
                                         available=",".join(logs.keys())),
                    UserWarning, stacklevel=3,
                )
            return None
        self.resolve(model)
        value = float(value)  # epoch logs are floats; a device value is read once here
        if math.isnan(value) and not self._warned_nan:
            self._warned_nan = True
            warnings.warn(
                f"{self.owner}: the monitored value `{self.monitor}` is NaN. It never counts as "
                "an improvement (nor as the best); check the loss for a divergence, e.g. with "
                "a lower learning rate or the TerminateOnNaN callback.", UserWarning,
                stacklevel=3)
        return value


def _check_number(owner, name, value):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or math.isnan(value):
        raise ValueError(f"{owner}: `{name}` must be a number (not NaN). "
                         f"Received: {name}={value!r}")
