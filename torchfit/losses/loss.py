"""`Loss`: the base class of every loss, and how losses are weighted, masked and reduced.

A loss's `call(y_true, y_pred)` returns per-sample losses; `Loss.__call__` multiplies them by
the sample weights (aligned the Keras way: `(N,)` and `(N, 1)` weights both weight samples) and
reduces them with Keras 3's reductions: `"sum_over_batch_size"` (the default) and `"mean"` divide
the weighted sum by the number of losses, not by the sum of the weights, as both Keras versions
do; `"mean_with_sample_weight"` (Keras 3) divides by the sum of the weights. A loss that leaves
some entries out (`SparseCategoricalCrossentropy(ignore_class=...)`, `Circle`) also returns a
mask, applied as Keras 3 applies its masks: masked entries count 0 and are left out of the
number of losses.
"""

import torch

from torchfit.utils.naming import to_snake_case
from torchfit.utils.tensor_utils import align_sample_weight, div_no_nan

__all__ = ["Loss", "apply_sample_weight", "check_reduction", "reduce_losses"]

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)
_MEANS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


def check_reduction(reduction):
    """Return the canonical name of a valid `reduction`, or raise a ValueError.

    Example:
        >>> check_reduction("auto")
        'sum_over_batch_size'
    """
    if reduction == "auto":  # tf.keras 2.x's default, which means sum_over_batch_size
        return "sum_over_batch_size"
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Invalid reduction. Received: reduction={reduction!r}. "
            f"Expected one of: {', '.join(repr(r) for r in REDUCTIONS)}."
        )
    return reduction


def apply_sample_weight(losses, sample_weight):
    """`losses * sample_weight`, the weight cast to the losses' dtype and device and aligned.

    Args:
        losses: Per-sample losses, shape `(N, ...)`.
        sample_weight: One weight per sample, `(N,)` or `(N, 1)`; a tensor or anything
            `torch.as_tensor` accepts.

    Raises:
        ValueError: When the weights do not broadcast against the losses.

    Example:
        >>> apply_sample_weight(torch.tensor([1.0, 2.0]), [[2.0], [0.5]])
        tensor([2., 1.])
    """
    return losses * _weights(losses, sample_weight)


def _weights(losses, sample_weight):
    sample_weight = torch.as_tensor(sample_weight, dtype=losses.dtype, device=losses.device)
    sample_weight = align_sample_weight(sample_weight, losses)
    try:
        torch.broadcast_shapes(losses.shape, sample_weight.shape)
    except RuntimeError:
        raise ValueError(
            f"sample_weight must have one weight per sample. Received: sample_weight.shape="
            f"{tuple(sample_weight.shape)} for per-sample losses of shape {tuple(losses.shape)}. "
            "Dimensions must be equal (or 1, to broadcast over the losses' trailing axes)."
        ) from None
    return sample_weight


def _mask_weights(losses, mask, reduction):
    """Keras 3's `apply_mask`: for the averaging reductions, valid entries weigh total / valid."""
    mask = mask.to(losses.dtype)
    if reduction in ("sum_over_batch_size", "mean"):
        # sum(loss * mask * total / valid) / total = sum(loss * mask) / valid, and 0 if none is.
        return mask * div_no_nan(float(mask.numel()), mask.sum())
    return mask


def reduce_losses(losses, sample_weight, reduction, mask=None):
    """Weight per-sample `losses` by `sample_weight` and `mask` (if not None), then reduce.

    Args:
        losses: Per-sample losses.
        sample_weight: `None`, or one weight per sample.
        reduction: One of `"sum_over_batch_size"`, `"sum"`, `"mean"`,
            `"mean_with_sample_weight"`, `"none"` (or `None`).
        mask: `None`, or a boolean tensor of `losses`' shape: `False` entries count 0 and,
            as in Keras 3, are not counted in the divisor of the averaging reductions.

    Example:
        >>> reduce_losses(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 0.0]), "sum_over_batch_size")
        tensor(1.)
        >>> reduce_losses(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 0.0]),
        ...               "mean_with_sample_weight")
        tensor(1.)
        >>> reduce_losses(torch.tensor([1.0, 0.0]), None, "sum_over_batch_size",
        ...               mask=torch.tensor([True, False]))
        tensor(1.)
    """
    # A `reduction` set after construction: "auto" still means sum_over_batch_size, anything
    # else is refused here rather than silently returning unreduced losses.
    reduction = check_reduction(reduction)
    weights = None if sample_weight is None else _weights(losses, sample_weight)
    if mask is not None:
        mask = _mask_weights(losses, mask, reduction)
        weights = mask if weights is None else weights * mask
    if weights is not None:
        losses = losses * weights
    if reduction is None or reduction == "none" or losses.shape in ((), (0,)):
        return losses
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean_with_sample_weight" and weights is not None:
        return div_no_nan(losses.sum(), weights.expand_as(losses).sum())
    # Keras divides by the number of losses, not by the sum of the weights: weights of 2
    # double the loss.
    return losses.mean()


class Loss:
    """Base class of all losses.

    Subclasses implement `call(y_true, y_pred)`, returning per-sample losses; `__call__` weights
    and reduces them. A subclass may also override `_mean(y_true, y_pred)` with a fused torch op
    that computes the unweighted mean directly: it is the path taken every step when no sample
    weights are given. A loss that leaves entries out overrides `call_with_mask` instead, which
    returns the losses and Keras 3's mask of the entries that count.

    Args:
        name: Name of the loss; defaults to the snake_case class name.
        reduction: `"sum_over_batch_size"` (default) or `"mean"` (Keras 3):
            `sum(sample_weight * losses) / num_losses`; `"sum"`: `sum(sample_weight * losses)`;
            `"mean_with_sample_weight"` (Keras 3): `sum(sample_weight * losses) /
            sum(sample_weight)`; `"none"` or `None`: the weighted per-sample losses.

    Example:
        >>> class ScaledMSE(torchfit.losses.Loss):
        ...     def __init__(self, scale=2.0, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.scale = scale
        ...
        ...     def call(self, y_true, y_pred):
        ...         return self.scale * ((y_true - y_pred) ** 2).mean(dim=-1)
        >>> loss = ScaledMSE()
        >>> loss.name
        'scaled_mse'
        >>> loss(torch.zeros(4, 3), torch.ones(4, 3))
        tensor(2.)
        >>> loss(torch.zeros(4, 3), torch.ones(4, 3), torch.full((4,), 2.0))
        tensor(4.)
    """

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        self.name = name or to_snake_case(type(self).__name__)
        self.reduction = check_reduction(reduction)

    def call(self, y_true, y_pred):
        """Return the per-sample losses. Subclasses must implement this."""
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred).")

    def call_with_mask(self, y_true, y_pred):
        """Return `(losses, mask)`: per-sample losses and a boolean mask of those that count.

        The mask is `None` (every loss counts) unless a subclass says otherwise.
        """
        return self.call(y_true, y_pred), None

    def _mean(self, y_true, y_pred):
        losses, mask = self.call_with_mask(y_true, y_pred)
        if mask is None:
            return losses.mean()
        return reduce_losses(losses, None, "sum_over_batch_size", mask)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Return the loss: a scalar tensor, or per-sample losses with `reduction="none"`.

        Args:
            y_true: Targets.
            y_pred: Predictions.
            sample_weight: Optional per-sample weights, shape `(N,)` or `(N, 1)`; a tensor or
                anything `torch.as_tensor` accepts.
        """
        if sample_weight is None and self.reduction in ("sum_over_batch_size", "mean"):
            return self._mean(y_true, y_pred)
        losses, mask = self.call_with_mask(y_true, y_pred)
        return reduce_losses(losses, sample_weight, self.reduction, mask)

    def get_config(self):
        """Return the constructor arguments, such that `type(self)(**config)` rebuilds the loss."""
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        """Rebuild a loss from `get_config()`'s dict."""
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"
