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

class BinaryCrossentropy(MeanMetricWrapper):
    """Running mean of `binary_crossentropy`."""

    higher_is_better = False

    def __init__(
        self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0
    ):
        super().__init__(
            binary_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )
        self.from_logits = from_logits


class CategoricalCrossentropy(MeanMetricWrapper):
    """Running mean of `categorical_crossentropy`."""

    higher_is_better = False

    def __init__(
        self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0
    ):
        super().__init__(
            categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )
        self.from_logits = from_logits


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Running mean of `sparse_categorical_crossentropy`."""

    higher_is_better = False

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False):
        super().__init__(
            sparse_categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits
        )
        self.from_logits = from_logits
