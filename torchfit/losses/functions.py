"""The Keras loss functions: per-sample losses, Keras names, `(y_true, y_pred)` order.

Conventions shared by all built-in losses:

- `y_true` is cast to `y_pred`'s dtype and reshaped to `y_pred`'s rank when the two differ by a
  trailing axis of size 1 (`(N,)` against `(N, 1)`); any other shape mismatch is a `ValueError`.
- Losses that average over the last axis (MSE, MAE, BCE, ...) treat a 1-D `y_pred` as one value per
  sample, so `(N,)` outputs still get one loss, and one sample weight, per sample.
- Probabilities are clipped to `[1e-7, 1 - 1e-7]` as Keras does, so a probability of 0 for the true
  class costs `-log(1e-7)` instead of `inf`.
- These functions run every training step, so they never synchronise with the device (no host reads,
  no data-dependent Python branches) and check only metadata (dtype, rank, shape).

The input-preparation helpers below are shared with the `Loss` classes' fused fast paths.
"""

import torch
import torch.nn.functional as F

from torchfit.utils import tensor_utils
from torchfit.utils.tensor_utils import EPSILON, match_rank

__all__ = [
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
]


# ---------------------------------------------------------------------------------------------
# Input preparation (metadata checks only: they run every step)
# ---------------------------------------------------------------------------------------------


def as_float(y_pred):
    """`y_pred` as a floating tensor (the default dtype when it is not floating yet)."""
    if not isinstance(y_pred, torch.Tensor):
        y_pred = torch.as_tensor(y_pred)
    if not y_pred.is_floating_point():
        y_pred = y_pred.to(torch.get_default_dtype())
    return y_pred


def prepare(y_true, y_pred, hint=""):
    """Return `(y_true, y_pred)` as floating tensors of `y_pred`'s dtype and shape."""
    y_pred = as_float(y_pred)
    if not isinstance(y_true, torch.Tensor):
        y_true = torch.as_tensor(y_true, device=y_pred.device)
    if y_true.dtype != y_pred.dtype:
        y_true = y_true.to(y_pred.dtype)
    if y_true.shape != y_pred.shape:
        y_true = match_rank(y_true, y_pred)
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"y_true and y_pred must have the same shape (or differ only by a trailing axis "
                f"of size 1). Received: y_true.shape={tuple(y_true.shape)}, "
                f"y_pred.shape={tuple(y_pred.shape)}.{hint}"
            )
    return y_true, y_pred


ONE_HOT_HINT = (
    " If y_true holds integer class indices rather than one-hot vectors, use "
    "SparseCategoricalCrossentropy ('sparse_categorical_crossentropy')."
)


def prepare_sparse(y_true, y_pred, axis):
    """Return `(labels, y_pred, class_dim)`, labels int64 and shaped like `y_pred` minus `axis`."""
    y_pred = as_float(y_pred)
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


def class_dim_first(y_pred, class_dim):
    """`y_pred` with the class axis moved to dim 1, where torch's `cross_entropy` wants it."""
    if y_pred.dim() > 1 and class_dim != 1:
        return y_pred.movedim(class_dim, 1)
    return y_pred


def _clip(probabilities):
    return probabilities.clamp(EPSILON, 1.0 - EPSILON)


def smooth_binary(y_true, label_smoothing):
    """Binary label smoothing: targets move towards 0.5."""
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


def bce_on_probabilities(y_true, y_pred, reduction):
    """Binary crossentropy of clipped probabilities, torch `reduction` ("none" or "mean")."""
    y_pred = _clip(y_pred)
    # F.binary_cross_entropy is one fused kernel, but CUDA autocast refuses it: use the formula.
    if torch.is_autocast_enabled(y_pred.device.type):
        losses = -(y_true * torch.log(y_pred) + (1.0 - y_true) * torch.log(1.0 - y_pred))
        return losses.mean() if reduction == "mean" else losses
    return F.binary_cross_entropy(y_pred, y_true, reduction=reduction)


def sparse_logits(y_true, y_pred, from_logits, axis):
    """Return `(labels, logits)` ready for `F.cross_entropy` (classes on dim 1)."""
    labels, y_pred, class_dim = prepare_sparse(y_true, y_pred, axis)
    if not from_logits:
        # tf.keras 2.x feeds log(clip(p)) to a softmax crossentropy, i.e. -log(p_y / sum(p)).
        y_pred = torch.log(_clip(y_pred))
    return labels, class_dim_first(y_pred, class_dim)


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

    Example:
        >>> binary_crossentropy(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]]))
        tensor([0.6931])
    """
    y_true, y_pred = prepare(y_true, y_pred)
    y_true = smooth_binary(y_true, label_smoothing)
    if from_logits:
        losses = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        losses = bce_on_probabilities(y_true, y_pred, "none")
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

    Example:
        >>> categorical_crossentropy(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]]))
        tensor([0.6931])
    """
    y_true, y_pred = prepare(y_true, y_pred, ONE_HOT_HINT)
    if from_logits:
        class_dim = axis % y_pred.dim() if y_pred.dim() else 0
        return F.cross_entropy(
            class_dim_first(y_pred, class_dim),
            class_dim_first(y_true, class_dim),
            reduction="none",
            label_smoothing=label_smoothing,
        )
    y_true = _smooth_categorical(y_true, label_smoothing, axis)
    y_pred = _clip(y_pred / y_pred.sum(axis, keepdim=True))
    return -(y_true * torch.log(y_pred)).sum(axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Categorical crossentropy with integer class indices as targets.

    Args:
        y_true: Class indices of any integer (or float) dtype, shape `(N,)` or `(N, 1)`.
        y_pred: Class probabilities, or logits if `from_logits=True`, shape `(N, num_classes)`.
        from_logits: Whether `y_pred` holds logits.
        axis: The class axis of `y_pred`.

    Returns:
        Per-sample losses, of shape `(N,)`.

    Example:
        >>> probabilities = torch.tensor([[0.5, 0.5], [0.2, 0.8]])
        >>> sparse_categorical_crossentropy(torch.tensor([1, 1]), probabilities)
        tensor([0.6931, 0.2231])
    """
    labels, logits = sparse_logits(y_true, y_pred, from_logits, axis)
    return F.cross_entropy(logits, labels, reduction="none")


def mean_squared_error(y_true, y_pred):
    """`mean((y_true - y_pred) ** 2, axis=-1)`.

    Example:
        >>> mean_squared_error(torch.tensor([[0.0, 1.0], [0.0, 0.0]]), torch.ones(2, 2))
        tensor([0.5000, 1.0000])
    """
    y_true, y_pred = prepare(y_true, y_pred)
    return _mean_last(F.mse_loss(y_pred, y_true, reduction="none"))


def mean_absolute_error(y_true, y_pred):
    """`mean(abs(y_true - y_pred), axis=-1)`."""
    y_true, y_pred = prepare(y_true, y_pred)
    return _mean_last(F.l1_loss(y_pred, y_true, reduction="none"))


def mean_absolute_percentage_error(y_true, y_pred):
    """`100 * mean(abs((y_true - y_pred) / max(abs(y_true), 1e-7)), axis=-1)`."""
    y_true, y_pred = prepare(y_true, y_pred)
    diff = ((y_true - y_pred) / y_true.abs().clamp_min(EPSILON)).abs()
    return 100.0 * _mean_last(diff)


def mean_squared_logarithmic_error(y_true, y_pred):
    """`mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1)) ** 2, axis=-1)`."""
    y_true, y_pred = prepare(y_true, y_pred)
    first_log = torch.log1p(y_pred.clamp_min(EPSILON))
    second_log = torch.log1p(y_true.clamp_min(EPSILON))
    return _mean_last((first_log - second_log).square())


def huber(y_true, y_pred, delta=1.0):
    """Huber loss, mean over the last axis of `0.5 * e**2` where `|e| <= delta`, else
    `delta * (|e| - 0.5 * delta)`, with `e = y_pred - y_true`.

    Example:
        >>> huber(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.5, 2.0]]))
        tensor([0.8125])
    """
    y_true, y_pred = prepare(y_true, y_pred)
    return _mean_last(F.huber_loss(y_pred, y_true, reduction="none", delta=delta))


def log_cosh(y_true, y_pred):
    """`mean(log(cosh(y_pred - y_true)), axis=-1)`, computed without overflow."""
    y_true, y_pred = prepare(y_true, y_pred)
    x = y_pred - y_true
    # log(cosh(x)) = x + softplus(-2x) - log(2) stays finite where cosh(x) overflows.
    return _mean_last(x + F.softplus(-2.0 * x) - 0.6931471805599453)


def kl_divergence(y_true, y_pred):
    """`sum(y_true * log(y_true / y_pred), axis=-1)`, both clipped to `[1e-7, 1]`."""
    y_true, y_pred = prepare(y_true, y_pred)
    y_true = y_true.clamp(EPSILON, 1.0)
    y_pred = y_pred.clamp(EPSILON, 1.0)
    return (y_true * torch.log(y_true / y_pred)).sum(-1)


def poisson(y_true, y_pred):
    """`mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)`."""
    y_true, y_pred = prepare(y_true, y_pred)
    return _mean_last(y_pred - y_true * torch.log(y_pred + EPSILON))


def hinge(y_true, y_pred):
    """`mean(max(1 - y_true * y_pred, 0), axis=-1)`; labels in {0, 1} are mapped to {-1, 1}."""
    y_true, y_pred = prepare(y_true, y_pred)
    y_true = _convert_binary_labels(y_true)
    return _mean_last((1.0 - y_true * y_pred).clamp_min(0.0))


def squared_hinge(y_true, y_pred):
    """`mean(max(1 - y_true * y_pred, 0) ** 2, axis=-1)`; labels in {0, 1} are mapped to {-1, 1}."""
    y_true, y_pred = prepare(y_true, y_pred)
    y_true = _convert_binary_labels(y_true)
    return _mean_last((1.0 - y_true * y_pred).clamp_min(0.0).square())


def categorical_hinge(y_true, y_pred):
    """`max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)` over the last axis."""
    y_true, y_pred = prepare(y_true, y_pred, ONE_HOT_HINT)
    pos = (y_true * y_pred).sum(-1)
    neg = ((1.0 - y_true) * y_pred).amax(-1)
    return (neg - pos + 1.0).clamp_min(0.0)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Negative cosine similarity along `axis`: -1 for identical directions, 1 for opposite ones.

    Example:
        >>> cosine_similarity(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, 2.0]]))
        tensor([-1.])
    """
    y_true, y_pred = prepare(y_true, y_pred)
    return -tensor_utils.cosine_similarity(y_true, y_pred, axis)


# Keras's short names for the same functions.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
