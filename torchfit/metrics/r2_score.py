"""`R2Score`: the coefficient of determination over everything seen.

tf.keras 2 (2.13+) and Keras 3 (3.15) have the same class and formula, including the `n` of
the adjusted score: the number of target *values* seen (`batch_size * num_outputs` per batch,
whatever the weights), which torchfit keeps.
"""

import torch

from torchfit.metrics.metric import Metric
from torchfit.utils.tensor_utils import squeeze_to_same_rank

__all__ = ["R2Score"]

_CLASS_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


class R2Score(Metric):
    """`1 - sum((y_true - y_pred) ** 2) / sum((y_true - mean(y_true)) ** 2)` per output.

    Inputs are `(batch_size, num_outputs)`; the state is one running sum per output, created
    by the first update. The per-output scores are combined by `class_aggregation`: None (one
    score per output), `"uniform_average"` (their mean) or `"variance_weighted_average"`
    (weighted by each output's variance). With `num_regressors=p > 0` the adjusted score
    `1 - (1 - R2) (n - 1) / (n - p - 1)` is returned, `n` the number of values seen; Keras
    falls back to the plain score (with a warning) when `p >= n - 1`, torchfit falls back
    silently, because the check would read `n` back from the device.

    Example:
        >>> m = torchfit.metrics.R2Score()
        >>> m.update_state(torch.tensor([[1.0], [4.0], [3.0]]), torch.tensor([[2.0], [4.0], [4.0]]))
        >>> m.result()  # Keras's docstring example: 0.57142854
        tensor(0.5714)
    """

    higher_is_better = True

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score",
                 dtype=None):  # fmt: skip
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in _CLASS_AGGREGATIONS:
            raise ValueError(
                "Invalid value for argument `class_aggregation`. Expected one of "
                f"{_CLASS_AGGREGATIONS}. Received: class_aggregation={class_aggregation!r}"
            )
        if num_regressors < 0:
            raise ValueError(
                "Invalid value for argument `num_regressors`. Expected a value >= 0. "
                f"Received: num_regressors={num_regressors}"
            )
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self.num_samples = self.add_weight("num_samples")
        self.squared_sum = self.sum = self.total_mse = self.count = None  # built by update

    def _build(self, y_true_shape, y_pred_shape):
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError(
                "R2Score expects 2D inputs with shape (batch_size, output_dim). Received input "
                f"shapes: y_pred.shape={tuple(y_pred_shape)} and "
                f"y_true.shape={tuple(y_true_shape)}. Reshape 1-D targets to (batch_size, 1)."
            )
        num_classes = y_pred_shape[-1]
        self.squared_sum = self.add_weight("squared_sum", shape=(num_classes,))
        self.sum = self.add_weight("sum", shape=(num_classes,))
        self.total_mse = self.add_weight("residual", shape=(num_classes,))
        self.count = self.add_weight("count", shape=(num_classes,))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = self._as_tensor(y_pred)
        self._follow_device(y_pred)
        y_true, y_pred = squeeze_to_same_rank(self._as_tensor(y_true).to(self.dtype),
                                              y_pred.to(self.dtype))  # fmt: skip
        if "sum" not in self.state_specs:
            self._build(y_true.shape, y_pred.shape)
        weight = (torch.ones((), dtype=self.dtype, device=self.device) if sample_weight is None
                  else self._as_tensor(sample_weight).to(self.dtype))  # fmt: skip
        if weight.dim() == 1:
            weight = weight.unsqueeze(1)  # one weight per sample, over its outputs
        weight = weight.expand(y_true.shape)
        weighted_y_true = y_true * weight
        self.sum += weighted_y_true.sum(0)
        self.squared_sum += (y_true * weighted_y_true).sum(0)
        self.total_mse += ((y_true - y_pred).square() * weight).sum(0)
        self.count += weight.sum(0)
        self.num_samples += y_true.numel()

    def result(self):
        if "sum" not in self.state_specs:
            return torch.full((), float("nan"), dtype=self.dtype, device=self.device)
        mean = self.sum / self.count
        total = self.squared_sum - self.sum * mean
        raw_scores = 1 - self.total_mse / total
        raw_scores = torch.where(raw_scores.isinf(), 0.0, raw_scores)
        if self.class_aggregation == "uniform_average":
            score = raw_scores.mean()
        elif self.class_aggregation == "variance_weighted_average":
            score = (total * raw_scores).sum() / total.sum()
        else:
            score = raw_scores
        if self.num_regressors:
            n, p = self.num_samples, self.num_regressors
            adjusted = 1 - (1 - score) * (n - 1) / (n - p - 1)
            score = torch.where(p >= n - 1, score, adjusted)  # Keras's fallback, without a sync
        return score

    def get_config(self):
        """`name`, `dtype`, `class_aggregation` and `num_regressors`, as Keras writes them."""
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}  # fmt: skip

    def _merge_config(self):
        return {"class_aggregation": self.class_aggregation, "num_regressors": self.num_regressors}
