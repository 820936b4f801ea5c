"""Crossentropy metrics: the running mean of the per-sample crossentropy (Keras formulas).

Probabilities are clipped to [1e-7, 1 - 1e-7] as Keras does; with `from_logits=True` the
numerically stable torch formulas are used instead. Classes are on the last axis.
"""

# The per-sample functions are the losses' own, so a crossentropy logged as a metric equals the
# same crossentropy used as the loss.
from torchfit.losses import (
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
)
from torchfit.metrics.reduction import MeanMetricWrapper


class _Crossentropy(MeanMetricWrapper):
    """The running mean of one of the losses' crossentropy functions (``_fn``)."""

    higher_is_better = False
    _fn = None

    def __init__(self, name, dtype=None, from_logits=False, **fn_kwargs):
        super().__init__(self._fn, name=name, dtype=dtype, from_logits=from_logits, **fn_kwargs)
        self.from_logits = from_logits


class BinaryCrossentropy(_Crossentropy):
    """Running mean of `binary_crossentropy`."""

    _fn = staticmethod(binary_crossentropy)

    def __init__(
        self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0
    ):
        super().__init__(name, dtype, from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(_Crossentropy):
    """Running mean of `categorical_crossentropy`."""

    _fn = staticmethod(categorical_crossentropy)

    def __init__(
        self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0
    ):
        super().__init__(name, dtype, from_logits, label_smoothing=label_smoothing)


class SparseCategoricalCrossentropy(_Crossentropy):
    """Running mean of `sparse_categorical_crossentropy`."""

    _fn = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False):
        super().__init__(name, dtype, from_logits)
