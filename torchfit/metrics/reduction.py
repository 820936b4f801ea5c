"""Mean, Sum and MeanMetricWrapper: the reductions every per-sample metric is built on."""

import torch

from torchfit.metrics.metric import Metric


class Sum(Metric):
    """The (weighted) sum of every value seen: `update_state(values, sample_weight=None)`.

    Example:

    ```python
    m = torchfit.metrics.Sum()
    m.update_state(torch.tensor([1.0, 3.0, 5.0, 7.0]))
    m.result()  # tensor(16.)
    ```
    """

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_weight("total")

    def update_state(self, values, sample_weight=None):
        values = self._as_tensor(values)
        self._follow_device(values)
        if sample_weight is not None:
            values, _ = _apply_weight(values, self._as_tensor(sample_weight))
        self.total += values.sum()

    def result(self):
        return self.total.clone()  # a copy: later updates must not change a value already logged


class Mean(Metric):
    """The (weighted) mean of every value seen: `update_state(values, sample_weight=None)`.

    With `sample_weight`, the result is `sum(values * w) / sum(w)` (w broadcast against values,
    `(N,)` or `(N, 1)` weights for `(N, ...)` values, as in Keras).

    Example:

    ```python
    m = torchfit.metrics.Mean()
    m.update_state(torch.tensor([1.0, 3.0, 5.0, 7.0]))
    m.result()  # tensor(4.)
    ```
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_weight("total")
        self.count = self.add_weight("count")

    def update_state(self, values, sample_weight=None):
        values = self._as_tensor(values)
        self._follow_device(values)
        self._accumulate(values, sample_weight)

    def _accumulate(self, values, sample_weight):
        # Cost per step: unweighted, one reduction and two in-place adds (numel is a Python int,
        # so no tensor is allocated for the count); weighted, two more ops.
        if sample_weight is None:
            self.total += values.sum()
            self.count += values.numel()
            return
        weighted, weight = _apply_weight(values, self._as_tensor(sample_weight))
        self.total += weighted.sum()
        self.count += weight.expand(weighted.shape).sum()

    def result(self):
        return div_no_nan(self.total, self.count)


class MeanMetricWrapper(Mean):
    """The weighted mean of a per-sample function `fn(y_true, y_pred, **fn_kwargs)`.

    Before calling `fn`, a trailing size-1 axis is dropped when the ranks of `y_true` and `y_pred`
    differ by one (Keras' alignment, so `(N,)` labels meet `(N, 1)` predictions).

    Example:

    ```python
    def within_tenth(y_true, y_pred):
        return ((y_true - y_pred).abs() < 0.1).float()

    m = torchfit.metrics.MeanMetricWrapper(within_tenth)  # logged as "within_tenth"
    ```
    """

    def __init__(self, fn, name=None, dtype=None, **fn_kwargs):
        if not callable(fn):
            raise TypeError(
                f"MeanMetricWrapper expects a callable fn(y_true, y_pred). Received: fn={fn!r}"
            )
        if name is None and getattr(fn, "__name__", "<lambda>") != "<lambda>":
            name = fn.__name__
        super().__init__(name=name, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = fn_kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = self._as_tensor(y_pred)
        self._follow_device(y_pred)
        y_true, y_pred = squeeze_or_expand(self._as_tensor(y_true), y_pred)
        values = self._as_tensor(self._fn(y_true, y_pred, **self._fn_kwargs))
        self._accumulate(values, sample_weight)


def squeeze_or_expand(y_true, y_pred):
    """Keras' rank alignment: drop the trailing size-1 axis of the one with one extra axis."""
    rank_diff = y_pred.ndim - y_true.ndim
    if rank_diff == 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred.squeeze(-1)
    elif rank_diff == -1 and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return y_true, y_pred


def align_weight(weight, values):
    """`weight` reshaped the Keras way to broadcast against `values`: `(N, 1)` weights for `(N,)`
    values lose their last axis, `(N,)` weights for `(N, D, ...)` values gain trailing axes."""
    rank_diff = weight.ndim - values.ndim
    if rank_diff == 1 and weight.shape[-1] == 1:
        return weight.squeeze(-1)
    if rank_diff < 0 and weight.ndim > 0:
        return weight.reshape(weight.shape + (1,) * -rank_diff)
    return weight


def _apply_weight(values, weight):
    """Return (values * weight, weight) with weight aligned to values."""
    weight = align_weight(weight, values)
    try:
        return values * weight, weight
    except RuntimeError as error:
        raise weight_shape_error(weight, values) from error


def weight_shape_error(weight, values):
    return ValueError(
        f"sample_weight cannot be broadcast to the metric values. Received: sample_weight of "
        f"shape {tuple(weight.shape)} for values of shape {tuple(values.shape)}. Expected "
        "one weight per sample: shape (batch_size,) or (batch_size, 1)."
    )


def div_no_nan(numerator, denominator):
    """numerator / denominator, and 0 where the denominator is 0 (nothing seen yet)."""
    return torch.where(denominator == 0, 0.0, numerator / denominator)
