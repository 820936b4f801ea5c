"""`MeanTensor`: the element-wise (weighted) mean of same-shaped tensors (tf.keras 2).

Keras 3 dropped it; torchfit keeps tf.keras 2's class, arguments and config.
"""

from torchfit.metrics.metric import Metric
from torchfit.metrics.reduction import reduce_to_weight_rank
from torchfit.utils.tensor_utils import align_sample_weight, div_no_nan

__all__ = ["MeanTensor"]


class MeanTensor(Metric):
    """The element-wise (weighted) mean of the tensors seen, of the shape of one of them.

    The states `total` and `count` have the shape of the values; they are created by the
    first `update_state` unless `shape` is given, and every later update must have that shape.

    `get_config()` is `{"name", "dtype"}` as in tf.keras 2: a rebuilt metric takes its shape
    from its own first update.

    Args:
        name: The metric's name.
        dtype: The state's dtype.
        shape: The shape of the values, or None to take it from the first update.

    Example:
        >>> m = torchfit.metrics.MeanTensor()
        >>> m.update_state(torch.tensor([0.0, 1.0, 2.0, 3.0]))
        >>> m.update_state(torch.tensor([4.0, 5.0, 6.0, 7.0]))
        >>> m.result()  # tf.keras 2's docstring example
        tensor([2., 3., 4., 5.])
    """

    def __init__(self, name="mean_tensor", dtype=None, shape=None):
        super().__init__(name=name, dtype=dtype)
        self.total = None  # the states, declared by `_build`
        self.count = None
        self._shape = None
        if shape is not None:
            self._build(shape)

    def _build(self, shape):
        self._shape = tuple(int(d) for d in shape)
        self.total = self.add_weight("total", shape=self._shape)
        self.count = self.add_weight("count", shape=self._shape)

    def update_state(self, values, sample_weight=None):
        values = self._as_tensor(values)
        self._follow_device(values)
        values = values.to(self.dtype)
        if self._shape is None:
            self._build(values.shape)
        elif tuple(values.shape) != self._shape:
            raise ValueError(
                "MeanTensor input values must always have the same shape. Expected shape (set "
                f"during the first call): {self._shape}. Received: values of shape "
                f"{tuple(values.shape)}. Use one MeanTensor per shape."
            )
        counts = 1.0
        if sample_weight is not None:
            weight = self._as_tensor(sample_weight).to(values.dtype)
            values = reduce_to_weight_rank(values, weight)
            counts = align_sample_weight(weight, values)
            values = values * counts
        self.total += values
        self.count += counts

    def result(self):
        if self._shape is None:
            raise ValueError(
                "MeanTensor does not have any value yet. Call update_state(values) (or the "
                "metric itself) before result(), or pass shape= to the constructor."
            )
        return div_no_nan(self.total, self.count)
