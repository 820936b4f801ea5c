"""Mean, Sum, MeanMetricWrapper and tf.keras 2's SumOverBatchSize: the reductions of metrics.

`MeanTensor` (the element-wise mean) lives in `mean_tensor.py`.
"""

from torchfit.metrics.metric import HostCount, Metric
from torchfit.utils.tensor_utils import align_sample_weight, div_no_nan, squeeze_to_same_rank


class Sum(Metric):
    """The (weighted) sum of every value seen: `update_state(values, sample_weight=None)`.

    Example:
        >>> m = torchfit.metrics.Sum()
        >>> m.update_state(torch.tensor([1.0, 3.0, 5.0, 7.0]))
        >>> m.result()
        tensor(16.)
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
    `(N,)` or `(N, 1)` weights for `(N, ...)` values, as in Keras). Values with two or more axes
    more than the weights are first averaged over those trailing axes, as tf-keras does, so a
    `(N,)` weight counts once per sample.

    Example:
        >>> m = torchfit.metrics.Mean()
        >>> m.update_state(torch.tensor([1.0, 3.0, 5.0, 7.0]))
        >>> m.result()
        tensor(4.)
        >>> m.update_state(torch.tensor([2.0, 4.0]), sample_weight=torch.tensor([1.0, 0.0]))
        >>> m.result()  # (16 + 2) / (4 + 1)
        tensor(3.6000)
        >>> m = torchfit.metrics.Mean()
        >>> m.update_state(torch.tensor([[[1.0, 3.0]], [[5.0, 7.0]]]), sample_weight=[1.0, 3.0])
        >>> m.result()  # (2 * 1 + 6 * 3) / (1 + 3)
        tensor(5.)
    """

    count = HostCount()  # unweighted counts are the batches' sizes, known on the host

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_weight("total")
        self.count = self.add_weight("count")

    def update_state(self, values, sample_weight=None):
        values = self._as_tensor(values)
        self._follow_device(values)
        self._accumulate(values, sample_weight)

    def _accumulate(self, values, sample_weight):
        # Cost per step: unweighted, one reduction and one in-place add of same-dtype tensors
        # (hits are summed as floats, the count is counted on the host); weighted, three more.
        if sample_weight is None:
            self.total.add_(values.sum() if values.is_floating_point()
                            else values.sum(dtype=self.total.dtype))
            self._pending_count += values.numel()
            return
        weight = self._as_tensor(sample_weight)
        weighted, weight = _apply_weight(reduce_to_weight_rank(values, weight), weight)
        self.total += weighted.sum()
        self.count += weight.expand(weighted.shape).sum()

    def result(self):
        return div_no_nan(self.total, self.count)


class MeanMetricWrapper(Mean):
    """The weighted mean of a per-sample function `fn(y_true, y_pred, **fn_kwargs)`.

    Before calling `fn`, a trailing size-1 axis is dropped when the ranks of `y_true` and `y_pred`
    differ by one (Keras' alignment, so `(N,)` labels meet `(N, 1)` predictions).

    Example:
        >>> def within_tenth(y_true, y_pred):
        ...     return ((y_true - y_pred).abs() < 0.1).float()
        >>> m = torchfit.metrics.MeanMetricWrapper(within_tenth)
        >>> m.name
        'within_tenth'
        >>> m.update_state(torch.tensor([1.0, 2.0]), torch.tensor([[1.05], [2.5]]))
        >>> m.result()
        tensor(0.5000)
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
        y_true, y_pred = squeeze_to_same_rank(self._as_tensor(y_true), y_pred)
        values = _single_tensor(self._fn(y_true, y_pred, **self._fn_kwargs), self._as_tensor)
        self._accumulate(values, sample_weight)

    def get_config(self):
        """`name`, `dtype` and the keyword arguments of `fn`, as Keras writes them.

        A subclass (`BinaryAccuracy`, ...) fixes `fn`, so its config is its own constructor
        arguments; a plain `MeanMetricWrapper` adds `"fn"` (the function itself).

        Example:
            >>> torchfit.metrics.BinaryAccuracy(threshold=0.7).get_config()
            {'name': 'binary_accuracy', 'dtype': 'float32', 'threshold': 0.7}
        """
        config = super().get_config()
        if type(self) is MeanMetricWrapper:
            config["fn"] = self._fn
        return {**config, **self._fn_kwargs}

    def _merge_config(self):
        # Means of different functions (or thresholds, k, ...) must not be merged.
        return {"fn": self._fn, **self._fn_kwargs}


def reduce_to_weight_rank(values, weight):
    """`values` averaged over the trailing axes that `weight` is more than one axis short of.

    tf-keras's `Reduce`: weights that cannot broadcast against the values weight the mean over
    the extra trailing axes (one count per weight, not per element). `(N,)` weights for
    `(N, D)` values broadcast, so those values are returned as they are.
    """
    weight_rank = weight.dim()
    while weight_rank > values.dim() and weight.shape[weight_rank - 1] == 1:
        weight_rank -= 1
    if 0 < weight_rank < values.dim() - 1:
        values = values.mean(dim=tuple(range(weight_rank, values.dim())))
    return values


class SumOverBatchSize(Mean):
    """`sum(values * sample_weight) / number of values` over everything seen (tf.keras 2).

    Unlike `Mean`, the denominator counts the values, not the weights: a weight of 0 masks a
    value's contribution to the sum but it still counts.

    Example:
        >>> m = torchfit.metrics.SumOverBatchSize()
        >>> m.update_state(torch.tensor([1.0, 3.0, 5.0, 7.0]), sample_weight=[1.0, 1.0, 0.0, 0.0])
        >>> m.result()  # (1 + 3) / 4, tf.keras 2's docstring
        tensor(1.)
    """

    def __init__(self, name="sum_over_batch_size", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def _accumulate(self, values, sample_weight):
        values = values.to(self.dtype) if values.dtype != self.dtype else values
        if sample_weight is not None:
            weight = self._as_tensor(sample_weight).to(values.dtype)
            values, _ = _apply_weight(reduce_to_weight_rank(values, weight), weight)
        self.total += values.sum()
        self._pending_count += values.numel()


class SumOverBatchSizeMetricWrapper(SumOverBatchSize):
    """`SumOverBatchSize` of a per-sample function `fn(y_true, y_pred, **kwargs)` (tf.keras 2).

    Example:
        >>> m = torchfit.metrics.SumOverBatchSizeMetricWrapper(torchfit.metrics.mean_squared_error)
        >>> m.update_state(torch.tensor([[0.0], [2.0]]), torch.tensor([[1.0], [2.0]]),
        ...                sample_weight=[2.0, 0.0])
        >>> m.result()  # (1 * 2 + 0 * 0) / 2 values
        tensor(1.)
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(
                "SumOverBatchSizeMetricWrapper expects a callable fn(y_true, y_pred). "
                f"Received: fn={fn!r}"
            )
        if name is None and getattr(fn, "__name__", "<lambda>") != "<lambda>":
            name = fn.__name__
        super().__init__(name=name or "sum_over_batch_size", dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = self._as_tensor(y_pred)
        self._follow_device(y_pred)
        y_true, y_pred = squeeze_to_same_rank(self._as_tensor(y_true), y_pred)
        values = _single_tensor(self._fn(y_true, y_pred, **self._fn_kwargs), self._as_tensor)
        self._accumulate(values, sample_weight)

    def get_config(self):
        """`name`, `dtype`, `fn` and the keyword arguments of `fn`."""
        return {**super().get_config(), "fn": self._fn, **self._fn_kwargs}

    def _merge_config(self):
        return {"fn": self._fn, **self._fn_kwargs}


def _single_tensor(values, as_tensor):
    """A metric function's output as one tensor, or tf-keras's RuntimeError for anything else."""
    if values is None or isinstance(values, dict):
        message = ("The output of a metric function can only be a single Tensor. "
                   f"Received: {values!r}. ")  # fmt: skip
        if isinstance(values, dict):
            message += "To return a dict of values, implement a custom Metric subclass."
        raise RuntimeError(message)
    return as_tensor(values)


def _apply_weight(values, weight):
    """Return (values * weight, weight) with weight aligned to values."""
    weight = align_sample_weight(weight, values)
    try:
        return values * weight, weight
    except RuntimeError as error:
        raise weight_shape_error(weight, values) from error


def weight_shape_error(weight, values):
    """The ValueError for sample weights that do not broadcast against a metric's values."""
    return ValueError(
        f"sample_weight cannot be broadcast to the metric values. Received: sample_weight of "
        f"shape {tuple(weight.shape)} for values of shape {tuple(values.shape)}. Expected "
        "one weight per sample: shape (batch_size,) or (batch_size, 1)."
    )
