"""Keras losses for PyTorch: Keras names, `(y_true, y_pred)` order, tf.keras 2.x formulas.

Every loss is a `Loss` object called as `loss(y_true, y_pred, sample_weight=None)`, returning a
scalar tensor (or per-sample losses with `reduction="none"`), and has a snake_case function
counterpart returning per-sample losses (`mean_squared_error(y_true, y_pred)`). `get(identifier)`
resolves what `Model.compile(loss=...)` receives: a name, a `Loss`, a `torch.nn` loss module
(called in torch order, `module(y_pred, y_true)`) or any callable `fn(y_true, y_pred)`.

Conventions shared by all built-in losses:

- `y_true` is cast to `y_pred`'s dtype and reshaped to `y_pred`'s rank when the two differ by a
  trailing axis of size 1 (`(N,)` against `(N, 1)`); any other shape mismatch is a `ValueError`.
- Losses that average over the last axis (MSE, MAE, BCE, ...) treat a 1-D `y_pred` as one value per
  sample, so `(N,)` outputs still get one loss, and one sample weight, per sample.
- Probabilities are clipped to `[1e-7, 1 - 1e-7]` as Keras does, so a probability of 0 for the true
  class costs `-log(1e-7)` instead of `inf`.
- These functions run every training step, so they never synchronise with the device (no host reads,
  no data-dependent Python branches) and check only metadata (dtype, rank, shape).
"""

import copy
import re

import torch
import torch.nn.functional as F

from torchfit.utils.validation import unknown_identifier_error

__all__ = [
    "Loss",
    "LossFunctionWrapper",
    "TorchLossWrapper",
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
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "huber",
    "log_cosh",
    "kl_divergence",
    "poisson",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "cosine_similarity",
    "mse",
    "mae",
    "mape",
    "msle",
    "kld",
    "kullback_leibler_divergence",
    "logcosh",
    "MSE",
    "MAE",
    "MAPE",
    "MSLE",
    "KLD",
    "get",
]

# Keras's backend.epsilon(): the clipping bound for probabilities and the guard for divisions.
EPSILON = 1e-7

_REDUCTIONS = ("sum_over_batch_size", "sum", "none")


# ---------------------------------------------------------------------------------------------
# Input preparation (metadata checks only: they run every step)
# ---------------------------------------------------------------------------------------------


def _as_float(y_pred):
    if not isinstance(y_pred, torch.Tensor):
        y_pred = torch.as_tensor(y_pred)
    if not y_pred.is_floating_point():
        y_pred = y_pred.to(torch.get_default_dtype())
    return y_pred


def _match_rank(y_true, y_pred):
    """Reshape `y_true` to `y_pred`'s rank when they differ by one trailing axis of size 1.

    Keras squeezes whichever side has the extra axis; torchfit always adjusts `y_true` so that
    the per-sample losses keep the shape of the model's output.
    """
    true_dim, pred_dim = y_true.dim(), y_pred.dim()
    if true_dim == pred_dim + 1 and y_true.shape[-1] == 1:
        return y_true.squeeze(-1)
    if pred_dim == true_dim + 1 and y_pred.shape[-1] == 1:
        return y_true.unsqueeze(-1)
    return y_true


def _prepare(y_true, y_pred, hint=""):
    """Return `(y_true, y_pred)` as floating tensors of `y_pred`'s dtype and shape."""
    y_pred = _as_float(y_pred)
    if not isinstance(y_true, torch.Tensor):
        y_true = torch.as_tensor(y_true, device=y_pred.device)
    if y_true.dtype != y_pred.dtype:
        y_true = y_true.to(y_pred.dtype)
    if y_true.shape != y_pred.shape:
        y_true = _match_rank(y_true, y_pred)
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"y_true and y_pred must have the same shape (or differ only by a trailing axis "
                f"of size 1). Received: y_true.shape={tuple(y_true.shape)}, "
                f"y_pred.shape={tuple(y_pred.shape)}.{hint}"
            )
    return y_true, y_pred


_ONE_HOT_HINT = (
    " If y_true holds integer class indices rather than one-hot vectors, use "
    "SparseCategoricalCrossentropy ('sparse_categorical_crossentropy')."
)


def _prepare_sparse(y_true, y_pred, axis):
    """Return `(labels, y_pred, class_dim)`, labels int64 and shaped like `y_pred` minus `axis`."""
    y_pred = _as_float(y_pred)
    if not isinstance(y_true, torch.Tensor):
        y_true = torch.as_tensor(y_true, device=y_pred.device)
    # Keras accepts float labels (NumPy arrays often are); torch wants int64 class indices.
    if y_true.dtype != torch.long:
        y_true = y_true.long()
    ndim = y_pred.dim()
    if y_true.dim() == ndim and ndim > 0 and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    class_dim = axis % ndim if ndim else 0
    expected = y_pred.shape[:class_dim] + y_pred.shape[class_dim + 1 :]
    if y_true.shape != expected:
        raise ValueError(
            f"sparse categorical crossentropy expects y_true to hold one integer class index per "
            f"sample, of shape {tuple(expected)} (or {tuple(expected) + (1,)}) for y_pred of shape "
            f"{tuple(y_pred.shape)}. Received: y_true.shape={tuple(y_true.shape)}. If y_true is "
            f"one-hot encoded, use CategoricalCrossentropy ('categorical_crossentropy')."
        )
    return y_true, y_pred, class_dim


def _mean_last(losses, axis=-1):
    # A 1-D tensor holds one value per sample: averaging it would merge the batch into one loss.
    return losses.mean(axis) if losses.dim() > 1 else losses


def _class_dim_first(y_pred, class_dim):
    # torch's cross_entropy wants classes on dim 1; Keras keeps them on the last axis.
    if y_pred.dim() > 1 and class_dim != 1:
        return y_pred.movedim(class_dim, 1)
    return y_pred


def _clip(probabilities):
    return probabilities.clamp(EPSILON, 1.0 - EPSILON)


def _smooth_binary(y_true, label_smoothing):
    if label_smoothing:
        return y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return y_true


def _smooth_categorical(y_true, label_smoothing, axis):
    if label_smoothing:
        return y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[axis]
    return y_true


def _convert_binary_labels(y_true):
    # Keras maps {0, 1} labels to {-1, 1} only when every label is 0 or 1; deciding on the device
    # with torch.where keeps that data-dependent choice free of a host sync.
    is_binary = ((y_true == 0) | (y_true == 1)).all()
    return torch.where(is_binary, 2.0 * y_true - 1.0, y_true)


def _bce_on_probabilities(y_true, y_pred, reduction):
    y_pred = _clip(y_pred)
    # F.binary_cross_entropy is one fused kernel, but CUDA autocast refuses it: use the formula.
    if torch.is_autocast_enabled(y_pred.device.type):
        losses = -(y_true * torch.log(y_pred) + (1.0 - y_true) * torch.log(1.0 - y_pred))
        return losses.mean() if reduction == "mean" else losses
    return F.binary_cross_entropy(y_pred, y_true, reduction=reduction)


def _l2_normalize(x, axis):
    # tf.math.l2_normalize: x / sqrt(max(sum(x**2), 1e-12)).
    return x * torch.rsqrt(x.square().sum(axis, keepdim=True).clamp_min(1e-12))


# ---------------------------------------------------------------------------------------------
# Functions: per-sample losses, Keras names and signatures
# ---------------------------------------------------------------------------------------------


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary crossentropy, averaged over `axis`: `-(y log p + (1 - y) log(1 - p))`.

    Args:
        y_true: Targets in [0, 1], same shape as `y_pred`.
        y_pred: Probabilities, or logits if `from_logits=True`.
        from_logits: Whether `y_pred` holds logits (numerically safer) rather than probabilities.
        label_smoothing: Moves targets towards 0.5:
            `y * (1 - label_smoothing) + 0.5 * label_smoothing`.
        axis: The axis averaged over.

    Returns:
        Per-sample losses, of `y_pred`'s shape without `axis`.
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = _smooth_binary(y_true, label_smoothing)
    if from_logits:
        losses = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        losses = _bce_on_probabilities(y_true, y_pred, "none")
    return _mean_last(losses, axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Categorical crossentropy between one-hot (or probability) targets and predictions.

    With probabilities, `y_pred` is first divided by its sum over `axis`, then clipped, as in Keras.

    Args:
        y_true: One-hot or probability targets, same shape as `y_pred`.
        y_pred: Class probabilities, or logits if `from_logits=True`.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Mixes targets with the uniform distribution:
            `y * (1 - label_smoothing) + label_smoothing / num_classes`.
        axis: The class axis.

    Returns:
        Per-sample losses, of `y_pred`'s shape without `axis`.
    """
    y_true, y_pred = _prepare(y_true, y_pred, _ONE_HOT_HINT)
    if from_logits:
        class_dim = axis % y_pred.dim() if y_pred.dim() else 0
        return F.cross_entropy(
            _class_dim_first(y_pred, class_dim),
            _class_dim_first(y_true, class_dim),
            reduction="none",
            label_smoothing=label_smoothing,
        )
    y_true = _smooth_categorical(y_true, label_smoothing, axis)
    y_pred = _clip(y_pred / y_pred.sum(axis, keepdim=True))
    return -(y_true * torch.log(y_pred)).sum(axis)


def _sparse_logits(y_true, y_pred, from_logits, axis):
    labels, y_pred, class_dim = _prepare_sparse(y_true, y_pred, axis)
    if not from_logits:
        # tf.keras 2.x feeds log(clip(p)) to a softmax crossentropy, i.e. -log(p_y / sum(p)).
        y_pred = torch.log(_clip(y_pred))
    return labels, _class_dim_first(y_pred, class_dim)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Categorical crossentropy with integer class indices as targets.

    Args:
        y_true: Class indices of any integer (or float) dtype, shape `(N,)` or `(N, 1)`.
        y_pred: Class probabilities, or logits if `from_logits=True`, shape `(N, num_classes)`.
        from_logits: Whether `y_pred` holds logits.
        axis: The class axis of `y_pred`.

    Returns:
        Per-sample losses, of shape `(N,)`.
    """
    labels, logits = _sparse_logits(y_true, y_pred, from_logits, axis)
    return F.cross_entropy(logits, labels, reduction="none")


def mean_squared_error(y_true, y_pred):
    """`mean((y_true - y_pred) ** 2, axis=-1)`."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return _mean_last(F.mse_loss(y_pred, y_true, reduction="none"))


def mean_absolute_error(y_true, y_pred):
    """`mean(abs(y_true - y_pred), axis=-1)`."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return _mean_last(F.l1_loss(y_pred, y_true, reduction="none"))


def mean_absolute_percentage_error(y_true, y_pred):
    """`100 * mean(abs((y_true - y_pred) / max(abs(y_true), 1e-7)), axis=-1)`."""
    y_true, y_pred = _prepare(y_true, y_pred)
    diff = ((y_true - y_pred) / y_true.abs().clamp_min(EPSILON)).abs()
    return 100.0 * _mean_last(diff)


def mean_squared_logarithmic_error(y_true, y_pred):
    """`mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1)) ** 2, axis=-1)`."""
    y_true, y_pred = _prepare(y_true, y_pred)
    first_log = torch.log1p(y_pred.clamp_min(EPSILON))
    second_log = torch.log1p(y_true.clamp_min(EPSILON))
    return _mean_last((first_log - second_log).square())


def huber(y_true, y_pred, delta=1.0):
    """Huber loss, mean over the last axis of `0.5 * e**2` where `|e| <= delta`, else
    `delta * (|e| - 0.5 * delta)`, with `e = y_pred - y_true`."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return _mean_last(F.huber_loss(y_pred, y_true, reduction="none", delta=delta))


def log_cosh(y_true, y_pred):
    """`mean(log(cosh(y_pred - y_true)), axis=-1)`, computed without overflow."""
    y_true, y_pred = _prepare(y_true, y_pred)
    x = y_pred - y_true
    # log(cosh(x)) = x + softplus(-2x) - log(2) stays finite where cosh(x) overflows.
    return _mean_last(x + F.softplus(-2.0 * x) - 0.6931471805599453)


def kl_divergence(y_true, y_pred):
    """`sum(y_true * log(y_true / y_pred), axis=-1)`, both clipped to `[1e-7, 1]`."""
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = y_true.clamp(EPSILON, 1.0)
    y_pred = y_pred.clamp(EPSILON, 1.0)
    return (y_true * torch.log(y_true / y_pred)).sum(-1)


def poisson(y_true, y_pred):
    """`mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)`."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return _mean_last(y_pred - y_true * torch.log(y_pred + EPSILON))


def hinge(y_true, y_pred):
    """`mean(max(1 - y_true * y_pred, 0), axis=-1)`; labels in {0, 1} are mapped to {-1, 1}."""
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = _convert_binary_labels(y_true)
    return _mean_last((1.0 - y_true * y_pred).clamp_min(0.0))


def squared_hinge(y_true, y_pred):
    """`mean(max(1 - y_true * y_pred, 0) ** 2, axis=-1)`; labels in {0, 1} are mapped to {-1, 1}."""
    y_true, y_pred = _prepare(y_true, y_pred)
    y_true = _convert_binary_labels(y_true)
    return _mean_last((1.0 - y_true * y_pred).clamp_min(0.0).square())


def categorical_hinge(y_true, y_pred):
    """`max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)` over the last axis."""
    y_true, y_pred = _prepare(y_true, y_pred, _ONE_HOT_HINT)
    pos = (y_true * y_pred).sum(-1)
    neg = ((1.0 - y_true) * y_pred).amax(-1)
    return (neg - pos + 1.0).clamp_min(0.0)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Negative cosine similarity along `axis`: -1 for identical directions, 1 for opposite ones."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return -(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis)).sum(axis)


# Keras's short names for the same functions.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh


# ---------------------------------------------------------------------------------------------
# Reduction
# ---------------------------------------------------------------------------------------------


def _check_reduction(reduction):
    if reduction == "auto":  # tf.keras 2.x's default, which means sum_over_batch_size
        return "sum_over_batch_size"
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"Invalid reduction. Received: reduction={reduction!r}. "
            f"Expected one of: {', '.join(repr(r) for r in _REDUCTIONS)}."
        )
    return reduction


def _apply_sample_weight(losses, sample_weight):
    sample_weight = torch.as_tensor(sample_weight, dtype=losses.dtype, device=losses.device)
    # Keras squeezes or expands trailing axes so that (N,) and (N, 1) weights both weight samples.
    while sample_weight.dim() > losses.dim() and sample_weight.shape[-1] == 1:
        sample_weight = sample_weight.squeeze(-1)
    if 0 < sample_weight.dim() < losses.dim():
        sample_weight = sample_weight.reshape(
            sample_weight.shape + (1,) * (losses.dim() - sample_weight.dim())
        )
    try:
        return losses * sample_weight
    except RuntimeError:
        raise ValueError(
            f"sample_weight must have one weight per sample. Received: sample_weight.shape="
            f"{tuple(sample_weight.shape)} for per-sample losses of shape {tuple(losses.shape)}."
        ) from None


def _reduce(losses, sample_weight, reduction):
    if sample_weight is not None:
        losses = _apply_sample_weight(losses, sample_weight)
    if reduction == "sum_over_batch_size":
        # Keras divides by the number of losses, not by the sum of the weights: weights of 2
        # double the loss.
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _snake_case(name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


# ---------------------------------------------------------------------------------------------
# Loss classes
# ---------------------------------------------------------------------------------------------


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

    ```python
    class ScaledMSE(torchfit.losses.Loss):
        def __init__(self, scale=2.0, **kwargs):
            super().__init__(**kwargs)
            self.scale = scale

        def call(self, y_true, y_pred):
            return self.scale * ((y_true - y_pred) ** 2).mean(dim=-1)

    loss = ScaledMSE()
    loss(torch.zeros(4, 3), torch.ones(4, 3))                # tensor(2.)
    loss(torch.zeros(4, 3), torch.ones(4, 3), torch.full((4,), 2.0))  # tensor(4.)
    ```
    """

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        self.name = name or _snake_case(type(self).__name__)
        self.reduction = _check_reduction(reduction)

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
        return _reduce(self.call(y_true, y_pred), sample_weight, self.reduction)

    def get_config(self):
        """Return the constructor arguments, such that `type(self)(**config)` rebuilds the loss."""
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"


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

    ```python
    loss = torchfit.losses.BinaryCrossentropy(from_logits=True)
    loss(torch.tensor([[0.0], [1.0]]), torch.tensor([[-2.0], [3.0]]))  # tensor(0.0878)
    ```
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
        y_true, y_pred = _prepare(y_true, y_pred)
        y_true = _smooth_binary(y_true, self.label_smoothing)
        if self.from_logits:
            return F.binary_cross_entropy_with_logits(y_pred, y_true)
        return _bce_on_probabilities(y_true, y_pred, "mean")

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
        return categorical_crossentropy(
            y_true, y_pred, self.from_logits, self.label_smoothing, self.axis
        )

    def _mean(self, y_true, y_pred):
        if not self.from_logits:
            return self.call(y_true, y_pred).mean()
        y_true, y_pred = _prepare(y_true, y_pred, _ONE_HOT_HINT)
        class_dim = self.axis % y_pred.dim() if y_pred.dim() else 0
        return F.cross_entropy(
            _class_dim_first(y_pred, class_dim),
            _class_dim_first(y_true, class_dim),
            label_smoothing=self.label_smoothing,
        )

    def get_config(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis, **super().get_config()}


class SparseCategoricalCrossentropy(Loss):
    """Categorical crossentropy with integer class indices as targets.

    `y_true` may have any integer dtype and shape `(N,)` or `(N, 1)`; it is cast to int64 only
    when it is not already.

    Args:
        from_logits: Whether `y_pred` holds logits (recommended: one fused `F.cross_entropy`)
            rather than probabilities (clipped to `[1e-7, 1 - 1e-7]`).
        axis: The class axis of `y_pred`.
        reduction: See `Loss`.
        name: Defaults to `"sparse_categorical_crossentropy"`.

    Example:

    ```python
    loss = torchfit.losses.SparseCategoricalCrossentropy(from_logits=True)
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    loss(torch.tensor([0, 2]), logits)  # same as F.cross_entropy(logits, torch.tensor([0, 2]))
    ```
    """

    def __init__(self, from_logits=False, axis=-1, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy"):
        super().__init__(name=name, reduction=reduction)
        self.from_logits = from_logits
        self.axis = axis

    def call(self, y_true, y_pred):
        return sparse_categorical_crossentropy(y_true, y_pred, self.from_logits, self.axis)

    def _mean(self, y_true, y_pred):
        labels, logits = _sparse_logits(y_true, y_pred, self.from_logits, self.axis)
        return F.cross_entropy(logits, labels)

    def get_config(self):
        return {"from_logits": self.from_logits, "axis": self.axis, **super().get_config()}


class MeanSquaredError(Loss):
    """Mean of squared errors over the last axis: `mean((y_true - y_pred) ** 2, axis=-1)`.

    Example:

    ```python
    loss = torchfit.losses.MeanSquaredError()
    loss(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]]))  # tensor(0.5000)
    ```
    """

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(name=name, reduction=reduction)

    def call(self, y_true, y_pred):
        return mean_squared_error(y_true, y_pred)

    def _mean(self, y_true, y_pred):
        y_true, y_pred = _prepare(y_true, y_pred)
        return F.mse_loss(y_pred, y_true)


class MeanAbsoluteError(Loss):
    """Mean of absolute errors over the last axis: `mean(abs(y_true - y_pred), axis=-1)`."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(name=name, reduction=reduction)

    def call(self, y_true, y_pred):
        return mean_absolute_error(y_true, y_pred)

    def _mean(self, y_true, y_pred):
        y_true, y_pred = _prepare(y_true, y_pred)
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
        y_true, y_pred = _prepare(y_true, y_pred)
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
        y_true, y_pred = _prepare(y_true, y_pred)
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


# ---------------------------------------------------------------------------------------------
# Wrappers for user callables and torch.nn loss modules
# ---------------------------------------------------------------------------------------------


class LossFunctionWrapper(Loss):
    """Turns a function `fn(y_true, y_pred, **kwargs)` into a `Loss`.

    `fn` returns per-sample losses (or a scalar); the wrapper adds sample weighting and reduction.
    `y_true` is reshaped to `y_pred`'s rank when they differ by a trailing axis of size 1, and
    non-tensor inputs become tensors; dtypes are left to `fn`.

    Args:
        fn: The loss function, in Keras order `(y_true, y_pred)`.
        name: Defaults to `fn.__name__`.
        reduction: See `Loss`.
        **kwargs: Passed to `fn` on every call.
    """

    def __init__(self, fn, name=None, reduction="sum_over_batch_size", **kwargs):
        if not callable(fn):
            raise TypeError(f"LossFunctionWrapper expects a callable. Received: fn={fn!r}.")
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        if not isinstance(y_pred, torch.Tensor):
            y_pred = torch.as_tensor(y_pred)
        if not isinstance(y_true, torch.Tensor):
            y_true = torch.as_tensor(y_true, device=y_pred.device)
        if y_true.dim() != y_pred.dim():
            y_true = _match_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return {"fn": self.fn, **super().get_config(), **self._fn_kwargs}


# torch.nn reductions mapped to (Keras reduction, how to reduce a sample's non-batch elements).
_TORCH_REDUCTIONS = {
    "mean": ("sum_over_batch_size", "mean"),
    "sum": ("sum", "sum"),
    "none": ("none", "mean"),
    "batchmean": ("sum_over_batch_size", "sum"),  # KLDivLoss: sum per sample, mean over the batch
}


class TorchLossWrapper(Loss):
    """Makes a `torch.nn` loss module (`nn.CrossEntropyLoss()`, ...) a `Loss`.

    The module keeps torch's argument order: it is called as `module(y_pred, y_true)`. Without
    sample weights the module is called as is, so its result is exactly torch's. With sample
    weights, a shallow copy made once here with `reduction="none"` gives per-element losses,
    averaged over each sample's non-batch elements, then weighted and reduced the Keras way
    (`sum(w * losses) / batch_size` for the default `reduction="mean"`). The copy shares the
    module's parameters and buffers (e.g. class weights), so moving the module moves the copy.

    Args:
        module: A `torch.nn.modules.loss._Loss` instance.
        name: Defaults to the snake_case class name, e.g. `"cross_entropy_loss"`.
    """

    def __init__(self, module, name=None):
        if not isinstance(module, torch.nn.modules.loss._Loss):
            raise TypeError(
                f"TorchLossWrapper expects a torch.nn loss module such as nn.CrossEntropyLoss(). "
                f"Received: {module!r}."
            )
        reduction, self._sample_reduction = _TORCH_REDUCTIONS.get(
            module.reduction, ("sum_over_batch_size", "mean")
        )
        super().__init__(name=name or _snake_case(type(module).__name__), reduction=reduction)
        self.module = module
        self._unreduced = copy.copy(module)
        self._unreduced.reduction = "none"

    def call(self, y_true, y_pred):
        losses = self._unreduced(y_pred, y_true)
        if losses.dim() > 1:
            losses = losses.flatten(1)
            losses = losses.sum(1) if self._sample_reduction == "sum" else losses.mean(1)
        return losses

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None:
            return self.module(y_pred, y_true)
        return _reduce(self.call(y_true, y_pred), sample_weight, self.reduction)

    def get_config(self):
        return {"module": self.module, "name": self.name}


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

_REGISTRY = {
    "BinaryCrossentropy": BinaryCrossentropy,
    "CategoricalCrossentropy": CategoricalCrossentropy,
    "SparseCategoricalCrossentropy": SparseCategoricalCrossentropy,
    "MeanSquaredError": MeanSquaredError,
    "MeanAbsoluteError": MeanAbsoluteError,
    "MeanAbsolutePercentageError": MeanAbsolutePercentageError,
    "MeanSquaredLogarithmicError": MeanSquaredLogarithmicError,
    "Huber": Huber,
    "LogCosh": LogCosh,
    "KLDivergence": KLDivergence,
    "Poisson": Poisson,
    "Hinge": Hinge,
    "SquaredHinge": SquaredHinge,
    "CategoricalHinge": CategoricalHinge,
    "CosineSimilarity": CosineSimilarity,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "MSLE": MeanSquaredLogarithmicError,
    "huber": Huber,
    "huber_loss": Huber,
    "log_cosh": LogCosh,
    "logcosh": LogCosh,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "KLD": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "poisson": Poisson,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "cosine_similarity": CosineSimilarity,
}


def get(identifier):
    """Resolve a loss identifier, as `Model.compile(loss=...)` receives it, to a `Loss`.

    Args:
        identifier: `None` (returned as is); a `Loss` instance (as is) or subclass (instantiated);
            a name such as `"sparse_categorical_crossentropy"`, `"mse"` or `"Huber"` (a new
            instance of that class, named with the canonical snake_case name); a `torch.nn` loss
            module (wrapped in `TorchLossWrapper`, called in torch order); or any other callable
            `fn(y_true, y_pred)` (wrapped in `LossFunctionWrapper`).

    Returns:
        A `Loss`, or `None`.

    Raises:
        ValueError: For an unknown name, listing the closest and all valid names.
        TypeError: For anything else.
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _REGISTRY.get(identifier)
        if cls is None:
            raise ValueError(_unknown_name_message(identifier))
        return cls()
    if isinstance(identifier, type):
        if issubclass(identifier, Loss):
            return identifier()
        if issubclass(identifier, torch.nn.modules.loss._Loss):
            return TorchLossWrapper(identifier())
    if isinstance(identifier, torch.nn.modules.loss._Loss):
        return TorchLossWrapper(identifier)
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(
        f"Could not interpret loss identifier. Received: loss={identifier!r} "
        f"(of type {type(identifier).__name__}). Expected a loss name such as "
        f"'sparse_categorical_crossentropy', a torchfit.losses.Loss, a torch.nn loss module, "
        f"or a callable fn(y_true, y_pred)."
    )


def _unknown_name_message(name):
    return str(unknown_identifier_error("loss", name, _REGISTRY))
