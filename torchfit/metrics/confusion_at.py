"""One rate at the best threshold where another reaches a target: SensitivityAtSpecificity,
SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision (Keras 3's, also tf.keras 2's).

The confusion counts come from the same device-resident histogram as `confusion.py`'s metrics,
at `num_thresholds` evenly spaced thresholds `[0, 1/(n-1), ..., 1]` (a single 0.5 for
`num_thresholds=1`); a prediction counts as positive at threshold t when `y_pred > t`. `result()`
is the largest value of the dependent rate over the thresholds where the constrained rate is
`>=` the target, and 0 when no threshold reaches it.
"""

import torch

from torchfit.metrics.confusion import _ThresholdedMetric
from torchfit.utils.tensor_utils import div_no_nan

__all__ = [
    "PrecisionAtRecall",
    "RecallAtPrecision",
    "SensitivityAtSpecificity",
    "SpecificityAtSensitivity",
]


class _SensitivitySpecificityBase(_ThresholdedMetric):
    """Counts at `num_thresholds` thresholds; subclasses pick the two rates of `result()`."""

    higher_is_better = True
    _target = "value"  # the name of the constructor argument holding the target rate

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(
                f"Argument `{self._target}` must be in the range [0, 1]. "
                f"Received: {self._target}={value!r}"
            )
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or (
            num_thresholds <= 0
        ):
            raise ValueError(
                "Argument `num_thresholds` must be an integer > 0. "
                f"Received: num_thresholds={num_thresholds!r}"
            )
        if num_thresholds == 1:
            thresholds = [0.5]
        else:
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            thresholds = [0.0, *inner, 1.0]
        super().__init__(thresholds, name=name, dtype=dtype, class_id=class_id)
        self.value = value
        self.num_thresholds = num_thresholds
        self._build()

    def _merge_config(self):
        return {**super()._merge_config(), "value": self.value}

    def get_config(self):
        """Keras's config: `name`, `dtype`, `class_id`, `num_thresholds` and the target rate."""
        return {**super().get_config(), "class_id": self.class_id,
                "num_thresholds": self.num_thresholds, self._target: self.value}

    def _rates(self):
        tp, fp, tn, fn = self._counts()
        return {
            "sensitivity": div_no_nan(tp, tp + fn),  # = recall
            "specificity": div_no_nan(tn, tn + fp),
            "precision": div_no_nan(tp, tp + fp),
        }

    def _max_where_reached(self, constrained, dependent):
        """max(dependent where constrained >= target), and 0 where no threshold reaches it."""
        rates = self._rates()
        feasible = rates[constrained] >= self.value
        return torch.where(feasible, rates[dependent], 0.0).amax().clamp_min(0.0)


class SensitivityAtSpecificity(_SensitivitySpecificityBase):
    """The best sensitivity (TP / (TP + FN)) at a threshold where specificity >= `specificity`.

    Args:
        specificity: the target specificity (TN / (TN + FP)), in [0, 1].
        num_thresholds: how many evenly spaced thresholds in [0, 1] to try (default 200).
        class_id: score only this class (last axis) of multi-class predictions.
        name: the metric's name. dtype: the state's dtype.

    Example:
        >>> m = torchfit.metrics.SensitivityAtSpecificity(0.5)
        >>> m.update_state(torch.tensor([0, 0, 0, 1, 1]), torch.tensor([0, 0.3, 0.8, 0.3, 0.8]))
        >>> m.result()
        tensor(0.5000)
    """

    _target = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id=class_id, name=name, dtype=dtype)
        self.specificity = specificity

    def result(self):
        return self._max_where_reached("specificity", "sensitivity")


class SpecificityAtSensitivity(_SensitivitySpecificityBase):
    """The best specificity (TN / (TN + FP)) at a threshold where sensitivity >= `sensitivity`.

    Args:
        sensitivity: the target sensitivity (TP / (TP + FN)), in [0, 1].
        num_thresholds: how many evenly spaced thresholds in [0, 1] to try (default 200).
        class_id: score only this class (last axis) of multi-class predictions.
        name: the metric's name. dtype: the state's dtype.

    Example:
        >>> m = torchfit.metrics.SpecificityAtSensitivity(0.5)
        >>> m.update_state(torch.tensor([0, 0, 0, 1, 1]), torch.tensor([0, 0.3, 0.8, 0.3, 0.8]))
        >>> m.result()
        tensor(0.6667)
    """

    _target = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id=class_id, name=name, dtype=dtype)
        self.sensitivity = sensitivity

    def result(self):
        return self._max_where_reached("sensitivity", "specificity")


class PrecisionAtRecall(_SensitivitySpecificityBase):
    """The best precision (TP / (TP + FP)) at a threshold where recall >= `recall`.

    Args:
        recall: the target recall (TP / (TP + FN)), in [0, 1].
        num_thresholds: how many evenly spaced thresholds in [0, 1] to try (default 200).
        class_id: score only this class (last axis) of multi-class predictions.
        name: the metric's name. dtype: the state's dtype.

    Example:
        >>> m = torchfit.metrics.PrecisionAtRecall(0.5)
        >>> m.update_state(torch.tensor([0, 0, 0, 1, 1]), torch.tensor([0, 0.3, 0.8, 0.3, 0.8]))
        >>> m.result()
        tensor(0.5000)
    """

    _target = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id=class_id, name=name, dtype=dtype)
        self.recall = recall

    def result(self):
        return self._max_where_reached("sensitivity", "precision")


class RecallAtPrecision(_SensitivitySpecificityBase):
    """The best recall (TP / (TP + FN)) at a threshold where precision >= `precision`.

    When no threshold reaches the precision, the result is 0.

    Args:
        precision: the target precision (TP / (TP + FP)), in [0, 1].
        num_thresholds: how many evenly spaced thresholds in [0, 1] to try (default 200).
        class_id: score only this class (last axis) of multi-class predictions.
        name: the metric's name. dtype: the state's dtype.

    Example:
        >>> m = torchfit.metrics.RecallAtPrecision(0.8)
        >>> m.update_state(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 0.5, 0.3, 0.9]))
        >>> m.result()
        tensor(0.5000)
    """

    _target = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id=class_id, name=name, dtype=dtype)
        self.precision = precision

    def result(self):
        return self._max_where_reached("precision", "sensitivity")
