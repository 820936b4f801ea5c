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
from torchfit.metrics.reduction import Mean, MeanMetricWrapper, div_no_nan, squeeze_or_expand


def _cast_like(y_true, y_pred):
    # No-op when y_true already has y_pred's floating dtype.
    dtype = y_pred.dtype if y_pred.is_floating_point() else torch.float32
    return y_true.to(dtype), y_pred.to(dtype)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Cosine of the angle between `y_true` and `y_pred` along `axis` (1.0 = same direction)."""
    y_true, y_pred = _cast_like(y_true, y_pred)
    y_true = torch.nn.functional.normalize(y_true, dim=axis, eps=1e-6)
    y_pred = torch.nn.functional.normalize(y_pred, dim=axis, eps=1e-6)
    return (y_true * y_pred).sum(dim=axis)


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

    ```python
    m = torchfit.metrics.RootMeanSquaredError()
    m.update_state(torch.tensor([[0.0, 1.0], [0.0, 0.0]]), torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    m.result()  # tensor(0.5000)
    ```
    """

    higher_is_better = False

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = self._as_tensor(y_pred)
        self._follow_device(y_pred)
        y_true, y_pred = _cast_like(*squeeze_or_expand(self._as_tensor(y_true), y_pred))
        self._accumulate((y_pred - y_true).square(), sample_weight)

    def result(self):
        return div_no_nan(self.total, self.count).sqrt()
