"""Correlation metrics of Keras 3 (no tf.keras 2 counterpart): Pearson and concordance.

Both functions compute one coefficient per slice along `axis` (by default one per sample, over
its outputs), and the classes are their sample-weighted running means, as in Keras 3.
"""

import torch

from torchfit.metrics.reduction import MeanMetricWrapper
from torchfit.utils.tensor_utils import squeeze_to_same_rank

__all__ = [
    "ConcordanceCorrelation",
    "PearsonCorrelation",
    "concordance_correlation",
    "pearson_correlation",
]

_EPSILON = 1e-7  # Keras's backend.epsilon()


def _prepare(y_true, y_pred):
    y_pred = torch.as_tensor(y_pred)
    if not y_pred.is_floating_point():
        y_pred = y_pred.to(torch.get_default_dtype())
    y_true = torch.as_tensor(y_true, device=y_pred.device).to(y_pred.dtype)
    return squeeze_to_same_rank(y_true, y_pred)


def pearson_correlation(y_true, y_pred, axis=-1):
    """The Pearson correlation coefficient of `y_true` and `y_pred` along `axis` (Keras 3).

    Both are centred and divided by their population standard deviation along `axis`; the
    coefficient is the mean of their product.

    Example:
        >>> y_true = torch.tensor([[0.0, 1.0, 0.5], [1.0, 1.0, 0.2]])
        >>> y_pred = torch.tensor([[0.1, 0.9, 0.5], [1.0, 0.9, 0.2]])
        >>> torchfit.metrics.pearson_correlation(y_true, y_pred)  # Keras: [1., 0.99339927]
        tensor([1.0000, 0.9934])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    true_centred = y_true - y_true.mean(axis, keepdim=True)
    pred_centred = y_pred - y_pred.mean(axis, keepdim=True)
    true_centred = true_centred / true_centred.std(axis, correction=0, keepdim=True)
    pred_centred = pred_centred / pred_centred.std(axis, correction=0, keepdim=True)
    return (true_centred * pred_centred).mean(axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance correlation coefficient along `axis`, with Keras 3's exact formula.

    `mean(2 * (y_true - mean(y_pred)) * (y_pred - mean(y_pred)) / (var(y_true) + var(y_pred) +
    (mean(y_true) - mean(y_pred)) ** 2 + 1e-7))`. Keras 3 centres `y_true` on the mean of
    `y_pred` in the covariance term; torchfit keeps that so that the values agree.

    Example:
        >>> y_true = torch.tensor([[0.0, 1.0, 0.5], [1.0, 1.0, 0.2]])
        >>> y_pred = torch.tensor([[0.1, 0.9, 0.5], [1.0, 0.9, 0.2]])
        >>> torchfit.metrics.concordance_correlation(y_true, y_pred)  # Keras: [0.9756, 0.9877]
        tensor([0.9756, 0.9877])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    true_mean = y_true.mean(axis, keepdim=True)
    pred_mean = y_pred.mean(axis, keepdim=True)
    true_var = (y_true - true_mean).var(axis, correction=0, keepdim=True)
    pred_var = (y_pred - pred_mean).var(axis, correction=0, keepdim=True)
    covariance = (y_true - pred_mean) * (y_pred - pred_mean)
    norm = true_var + pred_var + (true_mean - pred_mean).square()
    return (2.0 * covariance / (norm + _EPSILON)).mean(axis)


class PearsonCorrelation(MeanMetricWrapper):
    """Running mean of `pearson_correlation` along `axis` (Keras 3's `PearsonCorrelation`).

    Example:
        >>> m = torchfit.metrics.PearsonCorrelation()
        >>> m.update_state(torch.tensor([[0.0, 1.0, 0.5], [1.0, 1.0, 0.2]]),
        ...                torch.tensor([[0.1, 0.9, 0.5], [1.0, 0.9, 0.2]]))
        >>> m.result()  # Keras: 0.9966996338993913
        tensor(0.9967)
    """

    higher_is_better = True

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class ConcordanceCorrelation(MeanMetricWrapper):
    """Running mean of `concordance_correlation` along `axis` (Keras 3's class).

    Example:
        >>> m = torchfit.metrics.ConcordanceCorrelation()
        >>> m.update_state(torch.tensor([[0.0, 1.0, 0.5], [1.0, 1.0, 0.2]]),
        ...                torch.tensor([[0.1, 0.9, 0.5], [1.0, 0.9, 0.2]]))
        >>> m.result()  # Keras: 0.9816320385426076
        tensor(0.9816)
    """

    higher_is_better = True

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name=name, dtype=dtype, axis=axis)
        self.axis = axis
