"""Keras learning-rate schedules: plain callables from the optimizer step to a learning rate.

A schedule is a function of the number of optimizer steps already taken (a Python int, counting
from 0), evaluated on the host in pure Python: no tensors and no device synchronisation. Pass one as
``learning_rate`` to any torchfit optimizer; before the update of step ``s`` the optimizer sets the
learning rate of every parameter group to ``float(schedule(s))``. The formulas are those of Keras 3
(``keras.optimizers.schedules``), which are tf.keras 2.x's too, except ``CosineDecay``'s warmup
(Keras 3 only); computed in float64 they equal Keras 3's float32 values to float32 rounding at
every step. Constructor arguments, defaults (``name`` included) and ``get_config()`` keys are
Keras 3's, and ``serialize`` / ``deserialize`` read and write Keras 3's dicts.

Example:
    >>> from torchfit.optimizers import schedules
    >>> lr = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    >>> lr(0), lr(9), lr(10)
    (0.1, 0.1, 0.05)
    >>> config = schedules.serialize(lr)
    >>> config["class_name"], config["config"]["name"]
    ('ExponentialDecay', 'ExponentialDecay')
    >>> schedules.deserialize(config)(10)
    0.05
"""

import bisect
import math

from torchfit.utils.config import deserialize_object, serialize_object

__all__ = [
    "serialize",
    "deserialize",
    "LearningRateSchedule",
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "InverseTimeDecay",
    "CosineDecay",
    "CosineDecayRestarts",
]


class LearningRateSchedule:
    """Base class of the learning-rate schedules: a callable ``step -> float``.

    Subclasses implement ``__call__(step)`` and ``get_config()`` (the constructor arguments, so that
    ``type(s).from_config(s.get_config())`` rebuilds an equal schedule). Any plain callable
    ``f(step) -> float`` is accepted as a learning rate too; subclassing adds the config and repr.

    Example:
        >>> class Halving(LearningRateSchedule):
        ...     def __init__(self, initial_learning_rate, every):
        ...         self.initial_learning_rate, self.every = initial_learning_rate, every
        ...     def __call__(self, step):
        ...         return self.initial_learning_rate * 0.5 ** (step // self.every)
        ...     def get_config(self):
        ...         return {"initial_learning_rate": self.initial_learning_rate,
        ...                 "every": self.every}
        >>> Halving(1.0, every=2)(5)
        0.25
    """

    def __call__(self, step):
        raise NotImplementedError(
            f"{type(self).__name__} must implement __call__(step) -> float."
        )

    def get_config(self):
        raise NotImplementedError(
            f"{type(self).__name__} must implement get_config() -> dict of its constructor "
            "arguments."
        )

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        try:
            config = self.get_config()
        except NotImplementedError:
            return object.__repr__(self)
        args = ", ".join(f"{key}={value!r}" for key, value in config.items())
        return f"{type(self).__name__}({args})"


def _check_positive(name, value):
    if not value > 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value!r}")


class _RateDecay(LearningRateSchedule):
    """Decays of ``step / decay_steps`` at ``decay_rate``, floored with ``staircase``."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        name = type(self).__name__ if name is None else name
        _check_positive("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def _progress(self, step):
        progress = step / self.decay_steps
        return math.floor(progress) if self.staircase else progress

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class ExponentialDecay(_RateDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    With ``staircase=True`` the exponent is ``floor(step / decay_steps)``: the rate drops every
    ``decay_steps`` steps.

    Example:
        >>> ExponentialDecay(1.0, decay_steps=2, decay_rate=0.5)(1)
        0.7071067811865476
    """

    def __call__(self, step):
        return float(self.initial_learning_rate * self.decay_rate**self._progress(step))



class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, then ``values[1]`` up to ``boundaries[1]``...

    Each boundary belongs to the interval on its left, as in Keras; ``values`` has one more entry
    than ``boundaries`` (the last applies after the last boundary).

    Example:
        >>> lr = PiecewiseConstantDecay(boundaries=[100, 200], values=[1.0, 0.5, 0.1])
        >>> lr(100), lr(101), lr(500)
        (1.0, 0.5, 0.1)
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                "`values` must have exactly one more entry than `boundaries`. Received: "
                f"{len(boundaries)} boundaries={boundaries} and {len(values)} values={values}."
            )
        if any(left >= right for left, right in zip(boundaries, boundaries[1:])):
            raise ValueError(
                f"`boundaries` must be strictly increasing. Received: boundaries={boundaries}"
            )
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        return float(self.values[bisect.bisect_left(self.boundaries, step)])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """Polynomial decay from ``initial_learning_rate`` to ``end_learning_rate`` in ``decay_steps``.

    ``(initial - end) * (1 - step / decay_steps) ** power + end``, with ``step`` capped at
    ``decay_steps``. With ``cycle=True`` the decay restarts instead: ``decay_steps`` is stretched to
    the first multiple of itself that is ``>= step`` (as in tf.keras, so the rate jumps up after
    each multiple and decays again more slowly).

    Example:
        >>> PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.0)(5)
        0.5
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        end_learning_rate=0.0001,
        power=1.0,
        cycle=False,
        name="PolynomialDecay",
    ):
        _check_positive("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step):
        decay_steps = self.decay_steps
        if self.cycle:
            # The first multiple of decay_steps that is >= step (step 0 uses decay_steps itself).
            decay_steps = decay_steps * max(1, math.ceil(step / decay_steps))
        else:
            step = min(step, decay_steps)
        fraction_left = 1 - step / decay_steps
        span = self.initial_learning_rate - self.end_learning_rate
        return float(span * fraction_left**self.power + self.end_learning_rate)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class InverseTimeDecay(_RateDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``.

    With ``staircase=True``, ``step / decay_steps`` is floored. ``InverseTimeDecay(lr, 1, decay)``
    is the legacy ``decay=`` argument of tf.keras < 2.11 optimizers.

    Example:
        >>> InverseTimeDecay(1.0, decay_steps=1, decay_rate=0.5)(2)
        0.5
    """

    def __call__(self, step):
        return float(self.initial_learning_rate / (1 + self.decay_rate * self._progress(step)))



def _cosine(fraction, alpha):
    """The cosine factor going from 1 (fraction 0) down to ``alpha`` (fraction 1)."""
    return (1 - alpha) * 0.5 * (1 + math.cos(math.pi * fraction)) + alpha


class CosineDecay(LearningRateSchedule):
    """Cosine decay over ``decay_steps``, optionally after a linear warmup (Keras 3 semantics).

    Without ``warmup_target``: ``initial_learning_rate * ((1 - alpha) * c + alpha)`` with
    ``c = 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps))``. With ``warmup_target``: a
    linear ramp from ``initial_learning_rate`` to ``warmup_target`` over the first ``warmup_steps``
    steps, then the same cosine decay from ``warmup_target`` down to ``alpha * warmup_target``.
    ``decay_steps=0`` with a warmup is a warmup only, as in tf.keras 2: the rate then holds at
    ``warmup_target`` (where tf.keras 2 returns NaN; Keras 3 refuses ``decay_steps=0``).

    Example:
        >>> lr = CosineDecay(0.0, decay_steps=100, warmup_target=0.1, warmup_steps=10)
        >>> round(lr(5), 6), round(lr(10), 6), round(lr(110), 6)
        (0.05, 0.1, 0.0)
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        alpha=0.0,
        name="CosineDecay",
        warmup_target=None,
        warmup_steps=0,
    ):
        if warmup_steps < 0:
            raise ValueError(
                f"Argument `warmup_steps` must be >= 0. Received: warmup_steps={warmup_steps!r}"
            )
        has_warmup = warmup_target is not None and warmup_steps > 0
        if not has_warmup:
            _check_positive("decay_steps", decay_steps)
        elif decay_steps < 0:
            raise ValueError(
                f"Argument `decay_steps` must be > 0 (or 0 for a warmup only, with "
                f"`warmup_target` and `warmup_steps > 0`). Received: decay_steps={decay_steps!r}, "
                f"warmup_target={warmup_target!r}, warmup_steps={warmup_steps!r}"
            )
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        if self.warmup_target is None:
            fraction = min(step, self.decay_steps) / self.decay_steps
            return float(self.initial_learning_rate * _cosine(fraction, self.alpha))
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return float(delta * step / self.warmup_steps + self.initial_learning_rate)
        if self.decay_steps == 0:  # warmup only: hold the target
            return float(self.warmup_target)
        fraction = (step - self.warmup_steps) / self.decay_steps
        return float(self.warmup_target * _cosine(fraction, self.alpha))

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov & Hutter 2016).

    The first period lasts ``first_decay_steps`` steps, each next one ``t_mul`` times longer and
    starting from ``m_mul`` times the previous peak; within a period the rate follows
    ``initial * m_mul**i * ((1 - alpha) * 0.5 * (1 + cos(pi * fraction_of_period)) + alpha)``.

    Example:
        >>> lr = CosineDecayRestarts(1.0, first_decay_steps=10)
        >>> lr(0), lr(10), round(lr(20), 6)   # restarts at 10, then at 10 + 20 = 30
        (1.0, 1.0, 0.5)
    """

    def __init__(
        self,
        initial_learning_rate,
        first_decay_steps,
        t_mul=2.0,
        m_mul=1.0,
        alpha=0.0,
        name="SGDRDecay",
    ):
        _check_positive("first_decay_steps", first_decay_steps)
        _check_positive("t_mul", t_mul)
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self.t_mul = t_mul
        self.m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def _restart_and_fraction(self, periods):
        """(index of the current period, fraction of it done) after ``periods`` first periods."""
        if self.t_mul == 1.0:
            restart = math.floor(periods)
            return restart, periods - restart
        t_mul = self.t_mul
        # Period i starts after sum_{k<i} t_mul**k = (1 - t_mul**i) / (1 - t_mul) first periods.
        restart = math.floor(math.log(1.0 - periods * (1.0 - t_mul)) / math.log(t_mul))
        start = (1.0 - t_mul**restart) / (1.0 - t_mul)
        if start > periods:  # the log rounded up across a restart boundary
            restart -= 1
        elif (1.0 - t_mul ** (restart + 1)) / (1.0 - t_mul) <= periods:  # ... or down
            restart += 1
        start = (1.0 - t_mul**restart) / (1.0 - t_mul)
        return restart, (periods - start) / t_mul**restart

    def __call__(self, step):
        restart, fraction = self._restart_and_fraction(step / self.first_decay_steps)
        cosine = 0.5 * self.m_mul**restart * (1 + math.cos(math.pi * fraction))
        return float(self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha))

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


_SCHEDULES = {
    cls.__name__: cls
    for cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay, InverseTimeDecay,
                CosineDecay, CosineDecayRestarts)
}


def serialize(learning_rate_schedule):
    """Keras 3's dict for a schedule: ``{"module", "class_name", "config", "registered_name"}``.

    Example:
        >>> serialize(PiecewiseConstantDecay([10], [0.1, 0.01]))["config"]
        {'boundaries': [10], 'values': [0.1, 0.01], 'name': 'PiecewiseConstant'}
    """
    return serialize_object(learning_rate_schedule, "torchfit.optimizers.schedules")


def deserialize(config, custom_objects=None):
    """The schedule ``serialize`` (torchfit's or ``keras.optimizers.schedules``') described.

    Args:
        config: A dict from ``serialize`` (or from Keras 3), or a schedule's class name.
        custom_objects: Optional names -> user-defined schedule classes.

    Raises:
        ValueError: An unknown class name (the message lists the known ones).

    Example:
        >>> keras_dict = {"module": "keras.optimizers.schedules", "class_name": "CosineDecay",
        ...               "config": {"initial_learning_rate": 0.1, "decay_steps": 10},
        ...               "registered_name": None}
        >>> deserialize(keras_dict)(5)
        0.05
    """
    return deserialize_object(config, _SCHEDULES, "learning rate schedule", custom_objects)
