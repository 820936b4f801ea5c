"""Overlap losses for segmentation: Dice and Tversky (Keras 3 only; tf.keras 2 has neither).

Both reduce over `axis` (by default every axis, batch included, giving one scalar loss, as in
Keras 3); pass e.g. `axis=(1, 2)` for one loss per image. The formulas are Keras 3's: note that
`dice` puts 1e-7 in the denominator.
"""

from torchfit.losses.functions import prepare
from torchfit.losses.loss import Loss
from torchfit.utils.tensor_utils import EPSILON

__all__ = ["Dice", "Tversky", "dice", "tversky"]


def _sum(x, axis):
    if axis is None:
        return x.sum()
    return x.sum(axis if isinstance(axis, int) else tuple(axis))


def dice(y_true, y_pred, axis=None):
    """Dice loss: `1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + 1e-7)`.

    Args:
        y_true: Targets (masks in [0, 1]).
        y_pred: Predicted probabilities, same shape.
        axis: The axes summed over: `None` (every axis: one scalar loss), an int or a tuple.

    Returns:
        The loss, of `y_pred`'s shape without `axis`.

    Example:
        >>> y_true = torch.tensor([[[[1.0], [1.0]], [[0.0], [0.0]]],
        ...                        [[[1.0], [1.0]], [[0.0], [0.0]]]])
        >>> y_pred = torch.tensor([[[[0.0], [1.0]], [[0.0], [1.0]]],
        ...                        [[[0.4], [0.0]], [[0.0], [0.9]]]])
        >>> dice(y_true, y_pred, axis=(1, 2, 3))  # Keras's docstring: 0.5, 0.75757575
        tensor([0.5000, 0.7576])
    """
    y_true, y_pred = prepare(y_true, y_pred)
    intersection = _sum(y_true * y_pred, axis)
    return 1.0 - 2.0 * intersection / (_sum(y_true, axis) + _sum(y_pred, axis) + EPSILON)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """Tversky loss: `1 - tp / (tp + alpha * fp + beta * fn + 1e-7)`, from soft counts.

    `tp = sum(y_true * y_pred)`, `fp = sum((1 - y_true) * y_pred)`,
    `fn = sum(y_true * (1 - y_pred))` over `axis`; `alpha = beta = 0.5` is the Dice loss.

    Args:
        y_true: Targets (masks in [0, 1]).
        y_pred: Predicted probabilities, same shape.
        alpha: The weight of false positives.
        beta: The weight of false negatives.
        axis: The axes summed over: `None` (every axis: one scalar loss), an int or a tuple.

    Returns:
        The loss, of `y_pred`'s shape without `axis`.

    Example:
        >>> tversky(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.5]]), alpha=0.5, beta=0.5)
        tensor(0.5000)
    """
    y_true, y_pred = prepare(y_true, y_pred)
    intersection = _sum(y_pred * y_true, axis)
    fp = _sum((1.0 - y_true) * y_pred, axis)
    fn = _sum(y_true * (1.0 - y_pred), axis)
    return 1.0 - intersection / (intersection + fp * alpha + fn * beta + EPSILON)


class Dice(Loss):
    """Dice loss, `1 - 2 * |y_true * y_pred| / (|y_true| + |y_pred|)` (see `dice`).

    Args:
        reduction: See `Loss`.
        name: Defaults to `"dice"`.
        axis: The axes summed over: `None` (default, every axis: one scalar loss, whatever the
            reduction), an int or a tuple such as `(1, 2)` for one loss per image.

    Example:
        >>> loss = torchfit.losses.Dice(axis=(1, 2))
        >>> loss(torch.ones(2, 2, 2), torch.full((2, 2, 2), 0.5))
        tensor(0.3333)
    """

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None):
        super().__init__(name=name, reduction=reduction)
        self.axis = axis

    def call(self, y_true, y_pred):
        return dice(y_true, y_pred, self.axis)

    def get_config(self):
        return {"axis": self.axis, **super().get_config()}


class Tversky(Loss):
    """Tversky loss (Salehi et al., 2017): Dice with weights on false positives and negatives.

    See `tversky` for the formula (Keras 3's).

    Args:
        alpha: The weight of false positives.
        beta: The weight of false negatives.
        reduction: See `Loss`.
        name: Defaults to `"tversky"`.
        axis: The axes summed over: `None` (default, every axis: one scalar loss) or a tuple.

    Example:
        >>> loss = torchfit.losses.Tversky(alpha=0.3, beta=0.7)
        >>> loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.5]]))
        tensor(0.5000)
    """

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky",
                 axis=None):
        super().__init__(name=name, reduction=reduction)
        self.alpha = alpha
        self.beta = beta
        self.axis = axis

    def call(self, y_true, y_pred):
        return tversky(y_true, y_pred, self.alpha, self.beta, self.axis)

    def get_config(self):
        return {"alpha": self.alpha, "beta": self.beta, "axis": self.axis,
                **super().get_config()}
