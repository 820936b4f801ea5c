"""Crossentropy metrics: the running mean of the per-sample crossentropy (Keras formulas).

Probabilities are clipped to [1e-7, 1 - 1e-7] as Keras does; with `from_logits=True` the
numerically stable torch formulas are used instead. Classes are on the last axis.
"""

import torch.nn.functional as F

from torchfit.metrics.reduction import MeanMetricWrapper

EPSILON = 1e-7  # Keras' backend.epsilon()


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Mean over the last axis of the element-wise binary crossentropy."""
    y_pred = y_pred if y_pred.is_floating_point() else y_pred.float()
    y_true = y_true.to(y_pred.dtype)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        values = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        p = y_pred.clamp(EPSILON, 1.0 - EPSILON)
        values = -(y_true * (p + EPSILON).log() + (1.0 - y_true) * (1.0 - p + EPSILON).log())
    return values.mean(dim=-1) if values.ndim > 1 else values


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """-sum(y_true * log(y_pred)) over the last axis, `y_true` one-hot (or soft) labels."""
    y_pred = y_pred if y_pred.is_floating_point() else y_pred.float()
    y_true = y_true.to(y_pred.dtype)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
    if from_logits:
        log_p = y_pred.log_softmax(dim=-1)
    else:
        p = y_pred / y_pred.sum(dim=-1, keepdim=True)
        log_p = p.clamp(EPSILON, 1.0 - EPSILON).log()
    return -(y_true * log_p).sum(dim=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """-log(y_pred[label]) per sample, integer labels of shape `(N,)` or `(N, 1)`."""
    y_pred = y_pred if y_pred.is_floating_point() else y_pred.float()
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    # As in Keras, probabilities are clipped and renormalised: log_softmax(log(p)) = log(p / sum p).
    scores = y_pred if from_logits else y_pred.clamp(EPSILON, 1.0 - EPSILON).log()
    log_p = scores.log_softmax(dim=-1)
    return -log_p.gather(-1, y_true.long().unsqueeze(-1)).squeeze(-1)


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
