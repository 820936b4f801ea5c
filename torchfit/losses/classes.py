"""The Keras loss classes: one `Loss` subclass per loss function, Keras 3's names and defaults.

Each class computes its function's per-sample losses (`torchfit.losses.functions`) in `call`;
where torch has one fused kernel for the unweighted mean (MSE, MAE, BCE, crossentropy, Huber,
Poisson), `_mean` uses it, since that is the path taken every step without sample weights.
"""

import torch
import torch.nn.functional as F

from torchfit.losses.functions import (
    ONE_HOT_HINT,
    bce_on_probabilities,
    binary_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    class_dim_first,
    cosine_similarity,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    prepare,
    smooth_binary,
    sparse_crossentropy,
    squared_hinge,
    warn_single_class,
)
from torchfit.losses.loss import Loss
from torchfit.utils.tensor_utils import EPSILON

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "Huber",
    "LogCosh",
    "KLDivergence",
    "Poisson",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "CosineSimilarity",
]


class BinaryCrossentropy(Loss):
    """Binary crossentropy, for one or more independent yes/no targets per sample.

    Args:
        from_logits: Whether `y_pred` holds logits (recommended: numerically safer and a single
            fused op) rather than probabilities.
        label_smoothing: Moves targets towards 0.5:
            `y * (1 - label_smoothing) + 0.5 * label_smoothing`.
        axis: The axis averaged over to give per-sample losses.
        reduction: See `Loss`.
        name: Defaults to `"binary_crossentropy"`.

    Example:
        >>> loss = torchfit.losses.BinaryCrossentropy(from_logits=True)
        >>> loss(torch.tensor([[0.0], [1.0]]), torch.tensor([[-2.0], [3.0]]))
        tensor(0.0878)
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy"):
        super().__init__(name=name, reduction=reduction)
        self.from_logits = from_logits
        self.label_smoothing = float(label_smoothing)
        self.axis = axis

    def call(self, y_true, y_pred):
        return binary_crossentropy(
            y_true, y_pred, self.from_logits, self.label_smoothing, self.axis
        )

    def _mean(self, y_true, y_pred):
        # The mean of equal-sized per-sample means is the mean over all elements.
        y_true, y_pred = prepare(y_true, y_pred)
        y_true = smooth_binary(y_true, self.label_smoothing)
        if self.from_logits:
            return F.binary_cross_entropy_with_logits(y_pred, y_true)
        return bce_on_probabilities(y_true, y_pred, "mean")

    def get_config(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis, **super().get_config()}


class CategoricalCrossentropy(Loss):
    """Categorical crossentropy, for one-hot (or probability) targets.

    Args:
        from_logits: Whether `y_pred` holds logits rather than probabilities. Probabilities are
            normalised by their sum over `axis` and clipped to `[1e-7, 1 - 1e-7]`, as in Keras.
        label_smoothing: Mixes targets with the uniform distribution:
            `y * (1 - label_smoothing) + label_smoothing / num_classes`.
        axis: The class axis.
        reduction: See `Loss`.
        name: Defaults to `"categorical_crossentropy"`.
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy"):
        super().__init__(name=name, reduction=reduction)
        self.from_logits = from_logits
        self.label_smoothing = float(label_smoothing)
        self.axis = axis

    def call(self, y_true, y_pred):
        warn_single_class(y_pred, self.axis, "categorical_crossentropy")
        return categorical_crossentropy(
            y_true, y_pred, self.from_logits, self.label_smoothing, self.axis
        )

    def _mean(self, y_true, y_pred):
        if not self.from_logits:
            return self.call(y_true, y_pred).mean()
        warn_single_class(y_pred, self.axis, "categorical_crossentropy")
        y_true, y_pred = prepare(y_true, y_pred, ONE_HOT_HINT)
        class_dim = self.axis % y_pred.dim() if y_pred.dim() else 0
        return F.cross_entropy(
            class_dim_first(y_pred, class_dim),
            class_dim_first(y_true, class_dim),
            label_smoothing=self.label_smoothing,
        )

    def get_config(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis, **super().get_config()}


class SparseCategoricalCrossentropy(Loss):
    """Categorical crossentropy with integer class indices as targets (Keras 3's formula).

    `y_true` may have any integer dtype and shape `(N,)` or `(N, 1)`; it is cast to int64 only
    when it is not already.

    Args:
        from_logits: Whether `y_pred` holds logits (recommended: one fused `F.cross_entropy`)
            rather than probabilities (normalised and clipped to `[1e-7, 1 - 1e-7]`).
        ignore_class: Optional class index (e.g. -1 or 255 for a "void" class in segmentation
            maps) left out of the loss: as in Keras 3, its entries count 0 and are not counted
            in the number of losses that `"sum_over_batch_size"` divides by.
        reduction: See `Loss`.
        axis: The class axis of `y_pred`.
        name: Defaults to `"sparse_categorical_crossentropy"`.

    Example:
        >>> loss = torchfit.losses.SparseCategoricalCrossentropy(from_logits=True)
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> labels = torch.tensor([0, 2])
        >>> torch.allclose(loss(labels, logits), torch.nn.functional.cross_entropy(logits, labels))
        True
        >>> masked = torchfit.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=2)
        >>> kept = torch.nn.functional.cross_entropy(logits[:1], labels[:1])
        >>> torch.allclose(masked(labels, logits), kept)  # the sample of class 2 is left out
        True
    """

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 axis=-1, name="sparse_categorical_crossentropy"):
        super().__init__(name=name, reduction=reduction)
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self.axis = axis

    def call(self, y_true, y_pred):
        return self.call_with_mask(y_true, y_pred)[0]

    def call_with_mask(self, y_true, y_pred):
        return sparse_crossentropy(
            y_true, y_pred, self.from_logits, self.axis, self.ignore_class, "none"
        )

    def _mean(self, y_true, y_pred):
        if self.ignore_class is not None:
            # Not torch's "mean" with ignore_index: it gives nan, Keras 0, when all are ignored.
            return super()._mean(y_true, y_pred)
        if (self.from_logits and type(y_pred) is torch.Tensor and type(y_true) is torch.Tensor
                and y_true.dtype == torch.int64 and y_pred.dim() == 2 and y_true.dim() == 1
                and self.axis in (-1, 1) and y_pred.is_floating_point()
                and y_true.shape[0] == y_pred.shape[0]):
            return F.cross_entropy(y_pred, y_true)  # the usual logits and labels: no checks left
        return sparse_crossentropy(y_true, y_pred, self.from_logits, self.axis, None, "mean")[0]

    def get_config(self):
        return {"from_logits": self.from_logits, "ignore_class": self.ignore_class,
                "axis": self.axis, **super().get_config()}


class MeanSquaredError(Loss):
    """Mean of squared errors over the last axis: `mean((y_true - y_pred) ** 2, axis=-1)`.

    Example:
        >>> loss = torchfit.losses.MeanSquaredError()
        >>> loss(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]]))
        tensor(0.5000)
    """

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(name=name, reduction=reduction)

    def call(self, y_true, y_pred):
        return mean_squared_error(y_true, y_pred)

    def _mean(self, y_true, y_pred):
        y_true, y_pred = prepare(y_true, y_pred)
        return F.mse_loss(y_pred, y_true)


class MeanAbsoluteError(Loss):
    """Mean of absolute errors over the last axis: `mean(abs(y_true - y_pred), axis=-1)`."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(name=name, reduction=reduction)

    def call(self, y_true, y_pred):
        return mean_absolute_error(y_true, y_pred)

    def _mean(self, y_true, y_pred):
        y_true, y_pred = prepare(y_true, y_pred)
        return F.l1_loss(y_pred, y_true)


class MeanAbsolutePercentageError(Loss):
    """`100 * mean(abs((y_true - y_pred) / max(abs(y_true), 1e-7)), axis=-1)`."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error"):
        super().__init__(name=name, reduction=reduction)

    def call(self, y_true, y_pred):
        return mean_absolute_percentage_error(y_true, y_pred)


class MeanSquaredLogarithmicError(Loss):
    """`mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1)) ** 2, axis=-1)`."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error"):
        super().__init__(name=name, reduction=reduction)

    def call(self, y_true, y_pred):
        return mean_squared_logarithmic_error(y_true, y_pred)


class Huber(Loss):
    """Huber loss: quadratic for errors up to `delta`, linear beyond; mean over the last axis.

    Args:
        delta: The error at which the loss turns from quadratic to linear.
        reduction: See `Loss`.
        name: Defaults to `"huber_loss"`.
    """

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss"):
        super().__init__(name=name, reduction=reduction)
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        return huber(y_true, y_pred, self.delta)

    def _mean(self, y_true, y_pred):
        y_true, y_pred = prepare(y_true, y_pred)
        return F.huber_loss(y_pred, y_true, delta=self.delta)

    def get_config(self):
        return {"delta": self.delta, **super().get_config()}


class LogCosh(Loss):
    """`mean(log(cosh(y_pred - y_true)), axis=-1)`."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh"):
        super().__init__(name=name, reduction=reduction)

    def call(self, y_true, y_pred):
        return log_cosh(y_true, y_pred)


class KLDivergence(Loss):
    """Kullback-Leibler divergence: `sum(y_true * log(y_true / y_pred), axis=-1)`.

    Both arguments are probabilities (clipped to `[1e-7, 1]`), not log-probabilities as in
    `torch.nn.KLDivLoss`.
    """

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence"):
        super().__init__(name=name, reduction=reduction)

    def call(self, y_true, y_pred):
        return kl_divergence(y_true, y_pred)


class Poisson(Loss):
    """`mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)`, for counts and predicted rates."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson"):
        super().__init__(name=name, reduction=reduction)

    def call(self, y_true, y_pred):
        return poisson(y_true, y_pred)

    def _mean(self, y_true, y_pred):
        y_true, y_pred = prepare(y_true, y_pred)
        # With log_input=False torch computes exactly Keras's y_pred - y_true * log(y_pred + eps).
        return F.poisson_nll_loss(y_pred, y_true, log_input=False, eps=EPSILON)


class Hinge(Loss):
    """`mean(max(1 - y_true * y_pred, 0), axis=-1)`; targets in {-1, 1}, or {0, 1} converted."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge"):
        super().__init__(name=name, reduction=reduction)

    def call(self, y_true, y_pred):
        return hinge(y_true, y_pred)


class SquaredHinge(Loss):
    """`mean(max(1 - y_true * y_pred, 0) ** 2, axis=-1)`; targets in {-1, 1} (or {0, 1})."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge"):
        super().__init__(name=name, reduction=reduction)

    def call(self, y_true, y_pred):
        return squared_hinge(y_true, y_pred)


class CategoricalHinge(Loss):
    """`max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`, for one-hot targets."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge"):
        super().__init__(name=name, reduction=reduction)

    def call(self, y_true, y_pred):
        return categorical_hinge(y_true, y_pred)


class CosineSimilarity(Loss):
    """Negative cosine similarity between `y_true` and `y_pred` along `axis`.

    As in Keras, minimising it aligns the vectors: the loss is -1 when they point the same way.

    Args:
        axis: The axis along which the similarity is computed.
        reduction: See `Loss`.
        name: Defaults to `"cosine_similarity"`.
    """

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity"):
        super().__init__(name=name, reduction=reduction)
        self.axis = axis

    def call(self, y_true, y_pred):
        return cosine_similarity(y_true, y_pred, self.axis)

    def get_config(self):
        return {"axis": self.axis, **super().get_config()}
