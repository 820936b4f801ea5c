"""F-scores over multi-class or multi-label predictions: FBetaScore and F1Score, with Keras 3's
formulas (tf.keras 2 divides with `divide_no_nan` where Keras 3 adds 1e-7 to the denominators:
the same up to float32 rounding once a class has been seen).

Predictions are binarised (`y_pred > threshold`, or with `threshold=None` the highest score of
each row, when it is not 0), then true positives, false positives, false negatives and the
label support are summed per class (or over everything for `average="micro"`), weighted by
`sample_weight`. With `p = TP / (TP + FP + 1e-7)` and `r = TP / (TP + FN + 1e-7)`:
`f = (1 + beta**2) * p * r / (beta**2 * p + r + 1e-7)`, then averaged by `average`.

Per class, the state is shaped by the number of classes, read from the first batch (as Keras
builds it); with `average="micro"` it is declared at construction.
"""

import torch

from torchfit.metrics.metric import Metric
from torchfit.utils.tensor_utils import EPSILON, align_sample_weight

__all__ = ["F1Score", "FBetaScore"]

_STATES = ("true_positives", "false_positives", "false_negatives", "intermediate_weights")


class FBetaScore(Metric):
    """The F-beta score, the weighted harmonic mean of precision and recall.

    Args:
        average: None (one score per class), "micro" (from the counts over all classes),
            "macro" (the mean of the class scores) or "weighted" (their mean weighted by
            the classes' support).
        beta: how much more recall counts than precision (a number > 0, default 1).
        threshold: predictions `> threshold` are positive; None (default) makes the highest
            prediction of each row the positive one.
        name: the metric's name (default "fbeta_score"). dtype: the state's dtype.

    Example:
        >>> m = torchfit.metrics.FBetaScore(beta=2.0, threshold=0.5)
        >>> y_true = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
        >>> y_pred = torch.tensor([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
        >>> m.update_state(y_true, y_pred)
        >>> m.result()
        tensor([0.3846, 0.9091, 0.8333])
    """

    higher_is_better = True

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                "Invalid `average` argument value. Expected one of: "
                f"{{None, 'micro', 'macro', 'weighted'}}. Received: average={average!r}"
            )
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta <= 0:
            raise ValueError(
                f"Invalid `beta` argument value. It should be a number > 0. Received: beta={beta!r}"
            )
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, (int, float))
            or not 0.0 < threshold <= 1.0
        ):
            raise ValueError(
                "Invalid `threshold` argument value. It should be a number with "
                f"0 < threshold <= 1, or None. Received: threshold={threshold!r}"
            )
        self.average = average
        self.beta = float(beta)
        self.threshold = threshold
        self.axis = None if average == "micro" else 0  # the axis the counts are summed over
        self._built = False
        if average == "micro":  # one scalar per count: known now
            self._build_like(())

    def _check_shapes(self, y_true, y_pred):
        if y_pred.ndim != 2 or y_true.ndim != 2:
            raise ValueError(
                f"{type(self).__name__} expects 2D inputs with shape (batch_size, output_dim). "
                f"Received input shapes: y_pred.shape={tuple(y_pred.shape)} and "
                f"y_true.shape={tuple(y_true.shape)}."
            )

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add this batch's weighted TP, FP, FN and support (per class unless "micro")."""
        y_pred = self._as_tensor(y_pred)
        self._follow_device(y_pred)
        y_true = self._as_tensor(y_true).to(self.dtype)
        y_pred = y_pred.to(self.dtype)
        self._check_shapes(y_true, y_pred)
        if not self._built:  # one value per class: the last axis of the first batch
            self._build_like((y_pred.shape[-1],))
        if self.threshold is None:
            top = y_pred.amax(dim=-1, keepdim=True)
            # A row of zeros stays all-negative rather than all-positive.
            y_pred = (y_pred >= top) & (y_pred.abs() > 1e-9)
        else:
            y_pred = y_pred > self.threshold
        y_pred = y_pred.to(self.dtype)
        weight = None
        if sample_weight is not None:
            weight = align_sample_weight(self._as_tensor(sample_weight).to(self.dtype), y_true)
        dims = tuple(range(y_true.ndim)) if self.axis is None else (0,)

        def weighted_sum(values):
            return (values if weight is None else values * weight).sum(dim=dims)

        self.true_positives += weighted_sum(y_pred * y_true)
        self.false_positives += weighted_sum(y_pred * (1 - y_true))
        self.false_negatives += weighted_sum((1 - y_pred) * y_true)
        self.intermediate_weights += weighted_sum(y_true)

    def result(self):
        if not self._built:
            return torch.zeros((), dtype=self.dtype, device=self.device)
        tp = self.true_positives
        precision = tp / (tp + self.false_positives + EPSILON)
        recall = tp / (tp + self.false_negatives + EPSILON)
        b2 = self.beta**2
        score = (1 + b2) * (precision * recall / (b2 * precision + recall + EPSILON))
        if self.average == "weighted":
            support = self.intermediate_weights
            return (score * support / (support.sum() + EPSILON)).sum()
        if self.average is not None:  # micro (already a scalar) or macro
            return score.mean()
        return score

    def reset_state(self):
        if self._built:
            super().reset_state()

    def merge_state(self, metrics):
        others = [metrics] if isinstance(metrics, Metric) else list(metrics)
        # An instance that has seen no data has no state yet: nothing to merge from it, and an
        # unbuilt self takes its shape from the first built one.
        others = [m for m in others if not isinstance(m, FBetaScore) or m._built]
        if not self._built and others and isinstance(others[0], FBetaScore):
            self._build_like(others[0].true_positives.shape)
        super().merge_state(others)

    def _build_like(self, shape):
        for name in _STATES:
            self.add_weight(name, shape=shape, aggregation="sum")
        self._built = True

    def load_state_dict(self, state_dict):
        if not self._built and "true_positives" in state_dict:
            self._build_like(torch.as_tensor(state_dict["true_positives"]).shape)
        super().load_state_dict(state_dict)

    def _merge_config(self):
        return {"average": self.average, "beta": self.beta, "threshold": self.threshold}

    def get_config(self):
        """Keras's config: `name`, `dtype`, `average`, `beta`, `threshold`."""
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score, `2 * precision * recall / (precision + recall)`: `FBetaScore(beta=1)`.

    Args: as for `FBetaScore`, without `beta` (default name "f1_score").

    Example:
        >>> m = torchfit.metrics.F1Score(threshold=0.5)
        >>> y_true = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
        >>> y_pred = torch.tensor([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
        >>> m.update_state(y_true, y_pred)
        >>> m.result()
        tensor([0.5000, 0.8000, 0.6667])
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        """FBetaScore's config without `beta`."""
        config = super().get_config()
        del config["beta"]
        return config
