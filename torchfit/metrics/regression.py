"""Regression metrics: per-sample functions and their running-mean classes (Keras names).

Each function averages over the last axis, giving one value per sample for `(N, D)` inputs.
1-D inputs `(N,)` are N samples with one value each (Keras would average them into a single
value per batch; per-sample values give the same epoch mean, weighted by batch size).
"""

import torch

# The per-sample error functions are the losses' own, so a metric equals the same loss.
from torchfit.losses import (  # noqa: F401  (re-exported as metric functions)
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
)
from torchfit.metrics.reduction import Mean, MeanMetricWrapper
from torchfit.utils import tensor_utils
from torchfit.utils.tensor_utils import div_no_nan, squeeze_to_same_rank


def _cast_like(y_true, y_pred):
    # No-op when y_true already has y_pred's floating dtype.
    dtype = y_pred.dtype if y_pred.is_floating_point() else torch.float32
    return y_true.to(dtype), y_pred.to(dtype)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Cosine of the angle between `y_true` and `y_pred` along `axis` (1.0 = same direction).

    Example:
        >>> y_true, y_pred = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]])
        >>> torchfit.metrics.cosine_similarity(y_true, y_pred)
        tensor([0.7071])
    """
    y_true, y_pred = _cast_like(y_true, y_pred)
    return tensor_utils.cosine_similarity(y_true, y_pred, axis)


class MeanSquaredError(MeanMetricWrapper):
    """Running mean of `mean_squared_error`."""

    higher_is_better = False

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Running mean of `mean_absolute_error`."""

    higher_is_better = False

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """Running mean of `mean_absolute_percentage_error` (in percent)."""

    higher_is_better = False

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """Running mean of `mean_squared_logarithmic_error`."""

    higher_is_better = False

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, name=name, dtype=dtype)


class LogCoshError(MeanMetricWrapper):
    """Running mean of `log_cosh`."""

    higher_is_better = False

    def __init__(self, name="logcosh", dtype=None):
        super().__init__(log_cosh, name=name, dtype=dtype)


class CosineSimilarity(MeanMetricWrapper):
    """Running mean of `cosine_similarity` along `axis`."""

    higher_is_better = True

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of the element-wise squared error over everything seen.

    Example:
        >>> m = torchfit.metrics.RootMeanSquaredError()
        >>> y_true, y_pred = torch.tensor([[0.0, 1.0], [0.0, 0.0]]), torch.ones(2, 2)
        >>> m.update_state(y_true, y_pred)
        >>> m.result()  # sqrt((1 + 0 + 1 + 1) / 4)
        tensor(0.8660)
    """

    higher_is_better = False

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = self._as_tensor(y_pred)
        self._follow_device(y_pred)
        y_true, y_pred = _cast_like(*squeeze_to_same_rank(self._as_tensor(y_true), y_pred))
        self._accumulate((y_pred - y_true).square(), sample_weight)

    def result(self):
        return div_no_nan(self.total, self.count).sqrt()


class MeanRelativeError(Mean):
    """The (weighted) mean of `|y_true - y_pred| / normalizer` (tf.keras 2; not in Keras 3).

    `normalizer` broadcasts against the predictions (e.g. one value per output); a zero
    normalizer gives a relative error of 0 (tf.keras 2's `divide_no_nan`).

    Example:
        >>> m = torchfit.metrics.MeanRelativeError(normalizer=[1.0, 3.0, 2.0, 3.0])
        >>> m.update_state(torch.tensor([1.0, 3.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 6.0, 8.0]))
        >>> m.result()  # tf.keras 2's docstring example: 1.25
        tensor(1.2500)
    """

    higher_is_better = False

    def __init__(self, normalizer, name=None, dtype=None):
        super().__init__(name=name or "mean_relative_error", dtype=dtype)
        self.normalizer = torch.as_tensor(normalizer, dtype=self.dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = self._as_tensor(y_pred)
        self._follow_device(y_pred)
        y_true, y_pred = squeeze_to_same_rank(self._as_tensor(y_true).to(self.dtype),
                                              y_pred.to(self.dtype))  # fmt: skip
        normalizer = self.normalizer.to(y_pred.device)
        if normalizer.dim() == y_pred.dim() + 1 and normalizer.shape[-1] == 1:
            normalizer = normalizer.squeeze(-1)
        self._accumulate(div_no_nan((y_true - y_pred).abs(), normalizer), sample_weight)

    def get_config(self):
        """`name`, `dtype` and `normalizer` (as a list, as tf.keras 2 writes it)."""
        return {**super().get_config(), "normalizer": self.normalizer.tolist()}

    def _merge_config(self):
        return {"normalizer": self.normalizer}
