"""`Loss`: the base class of every loss, and how losses are weighted and reduced.

A loss's `call(y_true, y_pred)` returns per-sample losses; `Loss.__call__` multiplies them by
the sample weights (aligned the Keras way: `(N,)` and `(N, 1)` weights both weight samples) and
reduces them: `"sum_over_batch_size"` (the default) divides the weighted sum by the number of
losses, not by the sum of the weights, as Keras does.
"""

import torch

from torchfit.utils.naming import to_snake_case
from torchfit.utils.tensor_utils import align_sample_weight

__all__ = ["Loss", "apply_sample_weight", "check_reduction", "reduce_losses"]

REDUCTIONS = ("sum_over_batch_size", "sum", "none")


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
    sample_weight = torch.as_tensor(sample_weight, dtype=losses.dtype, device=losses.device)
    sample_weight = align_sample_weight(sample_weight, losses)
    try:
        return losses * sample_weight
    except RuntimeError:
        raise ValueError(
            f"sample_weight must have one weight per sample. Received: sample_weight.shape="
            f"{tuple(sample_weight.shape)} for per-sample losses of shape {tuple(losses.shape)}."
        ) from None


def reduce_losses(losses, sample_weight, reduction):
    """Weight per-sample `losses` by `sample_weight` (if not None), then apply `reduction`.

    Example:
        >>> reduce_losses(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 0.0]), "sum_over_batch_size")
        tensor(1.)
    """
    if sample_weight is not None:
        losses = apply_sample_weight(losses, sample_weight)
    if reduction == "sum_over_batch_size":
        # Keras divides by the number of losses, not by the sum of the weights: weights of 2
        # double the loss.
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    # A `reduction` set after construction: "auto" still means sum_over_batch_size, anything
    # else is refused here rather than silently returning unreduced losses.
    check_reduction(reduction)
    return losses.mean()


class Loss:
    """Base class of all losses.

    Subclasses implement `call(y_true, y_pred)`, returning per-sample losses; `__call__` weights
    and reduces them. A subclass may also override `_mean(y_true, y_pred)` with a fused torch op
    that computes the unweighted mean directly: it is the path taken every step when no sample
    weights are given.

    Args:
        name: Name of the loss; defaults to the snake_case class name.
        reduction: `"sum_over_batch_size"` (default): `sum(sample_weight * losses) / num_losses`;
            `"sum"`: `sum(sample_weight * losses)`; `"none"`: the weighted per-sample losses.

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

    def _mean(self, y_true, y_pred):
        return self.call(y_true, y_pred).mean()

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Return the loss: a scalar tensor, or per-sample losses with `reduction="none"`.

        Args:
            y_true: Targets.
            y_pred: Predictions.
            sample_weight: Optional per-sample weights, shape `(N,)` or `(N, 1)`; a tensor or
                anything `torch.as_tensor` accepts.
        """
        if sample_weight is None and self.reduction == "sum_over_batch_size":
            return self._mean(y_true, y_pred)
        return reduce_losses(self.call(y_true, y_pred), sample_weight, self.reduction)

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
