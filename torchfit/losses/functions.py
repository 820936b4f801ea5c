"""The Keras loss functions: per-sample losses, Keras names, `(y_true, y_pred)` order.

The formulas are Keras 3's (`keras.src.losses.losses` on its torch backend). Where tf.keras 2
differs, the function's docstring says how: binary crossentropy of probabilities (tf.keras 2 adds
1e-7 inside the logs, so a saturated probability costs `-log(2e-7)` = 15.42 there and
`-log(1e-7)` = 16.12 here) and sparse categorical crossentropy of unnormalised probabilities.

Conventions shared by all built-in losses:

- `y_true` is cast to `y_pred`'s dtype and reshaped to `y_pred`'s rank when the two differ by a
  trailing axis of size 1 (`(N,)` against `(N, 1)`); any other shape mismatch is a `ValueError`.
- Losses that average over the last axis (MSE, MAE, BCE, ...) treat a 1-D `y_pred` as one value per
  sample, so `(N,)` outputs still get one loss, and one sample weight, per sample. (Both Keras
  versions average a 1-D vector into one loss: the unweighted mean is the same, `"sum"` and
  sample weights are not.)
- Probabilities are clipped to `[1e-7, 1 - 1e-7]` as Keras does, so a probability of 0 for the true
  class costs `-log(1e-7)` instead of `inf`.
- These functions run every training step, so they never synchronise with the device (no host reads,
  no data-dependent Python branches) and check only metadata (dtype, rank, shape).

The input-preparation helpers below are shared with the `Loss` classes' fused fast paths.
"""

import warnings

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
                f"Shapes {tuple(y_true.shape)} and {tuple(y_pred.shape)} are incompatible: "
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


def check_sparse_labels(y_true, y_pred, axis=-1, ignore_class=None, argument="y"):
    """Raises ``ValueError`` unless every label is a whole number in ``[0, num_classes)``
    (``ignore_class`` excepted), ``num_classes`` being ``y_pred.shape[axis]``.

    One vectorised pass and one host sync: ``fit`` runs it on the first batch only, so the
    training steps stay sync-free. Without it torch reports "Target 10 is out of bounds" (on
    CPU, after earlier steps ran; a device-side assert on CUDA) and float labels are truncated.

    Example:
        >>> check_sparse_labels(torch.tensor([0, 3]), torch.zeros(2, 3))
        Traceback (most recent call last):
        ValueError: Received a label of 3 in `y`, but the model has 3 outputs (classes 0 to 2)...
    """
    labels = torch.as_tensor(y_true, device=y_pred.device).detach()
    if ignore_class is not None:
        labels = labels[labels != ignore_class]
    num_classes = y_pred.shape[axis] if y_pred.dim() else 1
    bad = (labels < 0) | (labels >= num_classes)
    if labels.is_floating_point():
        bad = bad | (labels != labels.round())  # fractional, and NaN
    if not bool(bad.any()):  # sync: once per fit, on its first batch
        return
    value = labels[bad][0].item()  # sync: only on the way to the error
    kind = "fractional " if value == value and value >= 0 and value < num_classes else ""
    raise ValueError(
        f"Received a {kind}label of {value:g} in `{argument}`, but the model has {num_classes} "
        f"outputs (classes 0 to {num_classes - 1}), and sparse categorical crossentropy "
        "expects integer class indices in that range. Re-map the labels (e.g. "
        "`np.unique(y, return_inverse=True)[1]`), give the last layer one output per class, "
        "or use categorical crossentropy for one-hot/soft targets."
    )


def mean_last(losses, axis=-1):
    # A 1-D tensor holds one value per sample: averaging it would merge the batch into one loss.
    return losses.mean(axis) if losses.dim() > 1 else losses


def class_dim_first(y_pred, class_dim):
    """`y_pred` with the class axis moved to dim 1, where torch's `cross_entropy` wants it."""
    if y_pred.dim() > 1 and class_dim != 1:
        return y_pred.movedim(class_dim, 1)
    return y_pred


def warn_single_class(y_pred, axis, loss_name, stacklevel=3):
    """Warn as both Kerases do (a ``SyntaxWarning``) when the class axis holds one class: a
    categorical loss is then always 0 and nothing is learned."""
    shape = getattr(y_pred, "shape", None)
    if shape is not None and len(shape) and shape[axis] == 1:
        warnings.warn(
            f"In loss {loss_name}, expected y_pred.shape to be (batch_size, num_classes) with "
            f"num_classes > 1. Received: y_pred.shape={tuple(shape)}. With one class the loss is "
            "always 0: consider using 'binary_crossentropy' if you only have 2 classes.",
            SyntaxWarning,
            stacklevel=stacklevel,
        )


def clip_probabilities(probabilities):
    return probabilities.clamp(EPSILON, 1.0 - EPSILON)


def smooth_binary(y_true, label_smoothing):
    """Binary label smoothing: targets move towards 0.5."""
    if label_smoothing:
        return y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return y_true


def smooth_categorical(y_true, label_smoothing, axis):
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
    y_pred = clip_probabilities(y_pred)
    # F.binary_cross_entropy is one fused kernel, but CUDA autocast refuses it: use the formula.
    if torch.is_autocast_enabled(y_pred.device.type):
        losses = -(y_true * torch.log(y_pred) + (1.0 - y_true) * torch.log(1.0 - y_pred))
        return losses.mean() if reduction == "mean" else losses
    return F.binary_cross_entropy(y_pred, y_true, reduction=reduction)


def sparse_crossentropy(y_true, y_pred, from_logits, axis, ignore_class, reduction):
    """Sparse categorical crossentropy, torch `reduction`, and the mask of counted entries.

    Returns `(losses, mask)`; `mask` is `None` without `ignore_class`. Entries labelled
    `ignore_class` have loss 0 (torch's `ignore_index`, as Keras 3 zeroes them).
    """
    labels, y_pred, class_dim = prepare_sparse(y_true, y_pred, axis)
    y_pred = class_dim_first(y_pred, class_dim)
    ignore_index = -100 if ignore_class is None else int(ignore_class)
    mask = None if ignore_class is None else labels != ignore_index
    if from_logits:
        losses = F.cross_entropy(y_pred, labels, reduction=reduction, ignore_index=ignore_index)
    else:
        # Keras 3: -log(clip(p_y / sum(p))). (tf.keras 2: -log(clip(p_y) / sum(clip(p))).)
        dim = 1 if y_pred.dim() > 1 else 0
        log_p = torch.log(clip_probabilities(y_pred / y_pred.sum(dim, keepdim=True)))
        losses = F.nll_loss(log_p, labels, reduction=reduction, ignore_index=ignore_index)
    return losses, mask


# ---------------------------------------------------------------------------------------------
# Functions: per-sample losses, Keras names and signatures
# ---------------------------------------------------------------------------------------------


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary crossentropy, averaged over `axis`: `-(y log p + (1 - y) log(1 - p))`.

    Keras 3's formula: `p` is clipped to `[1e-7, 1 - 1e-7]` and nothing is added inside the
    logs, so a saturated wrong probability costs `-log(1e-7)` = 16.118. tf.keras 2 computes
    `log(p + 1e-7)` after clipping, which gives `-log(2e-7)` = 15.425 there.

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
    return mean_last(losses, axis)


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
    y_true = smooth_categorical(y_true, label_smoothing, axis)
    y_pred = clip_probabilities(y_pred / y_pred.sum(axis, keepdim=True))
    return -(y_true * torch.log(y_pred)).sum(axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    """Categorical crossentropy with integer class indices as targets (Keras 3's formula).

    With probabilities, `y_pred` is divided by its sum over `axis` and clipped:
    `-log(clip(p_y / sum(p)))` (tf.keras 2 clips first, `-log(clip(p_y) / sum(clip(p)))`: the
    two differ only for probabilities within 1e-7 of 0 or 1).

    Args:
        y_true: Class indices of any integer (or float) dtype, shape `(N,)` or `(N, 1)`.
        y_pred: Class probabilities, or logits if `from_logits=True`, shape `(N, num_classes)`.
        from_logits: Whether `y_pred` holds logits.
        ignore_class: Optional class index (e.g. -1 or 255 for a "void" class) whose entries
            get loss 0; the `Loss` class also leaves them out of the number of losses.
        axis: The class axis of `y_pred`.

    Returns:
        Per-sample losses, of shape `(N,)`.

    Example:
        >>> probabilities = torch.tensor([[0.5, 0.5], [0.2, 0.8]])
        >>> sparse_categorical_crossentropy(torch.tensor([1, 1]), probabilities)
        tensor([0.6931, 0.2231])
        >>> sparse_categorical_crossentropy(torch.tensor([1, -1]), probabilities, ignore_class=-1)
        tensor([0.6931, 0.0000])
    """
    return sparse_crossentropy(y_true, y_pred, from_logits, axis, ignore_class, "none")[0]


def mean_squared_error(y_true, y_pred):
    """`mean((y_true - y_pred) ** 2, axis=-1)`.

    Example:
        >>> mean_squared_error(torch.tensor([[0.0, 1.0], [0.0, 0.0]]), torch.ones(2, 2))
        tensor([0.5000, 1.0000])
    """
    y_true, y_pred = prepare(y_true, y_pred)
    return mean_last(F.mse_loss(y_pred, y_true, reduction="none"))


def mean_absolute_error(y_true, y_pred):
    """`mean(abs(y_true - y_pred), axis=-1)`."""
    y_true, y_pred = prepare(y_true, y_pred)
    return mean_last(F.l1_loss(y_pred, y_true, reduction="none"))


def mean_absolute_percentage_error(y_true, y_pred):
    """`100 * mean(abs((y_true - y_pred) / max(abs(y_true), 1e-7)), axis=-1)`."""
    y_true, y_pred = prepare(y_true, y_pred)
    diff = ((y_true - y_pred) / y_true.abs().clamp_min(EPSILON)).abs()
    return 100.0 * mean_last(diff)


def mean_squared_logarithmic_error(y_true, y_pred):
    """`mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1)) ** 2, axis=-1)`."""
    y_true, y_pred = prepare(y_true, y_pred)
    first_log = torch.log1p(y_pred.clamp_min(EPSILON))
    second_log = torch.log1p(y_true.clamp_min(EPSILON))
    return mean_last((first_log - second_log).square())


def huber(y_true, y_pred, delta=1.0):
    """Huber loss, mean over the last axis of `0.5 * e**2` where `|e| <= delta`, else
    `delta * (|e| - 0.5 * delta)`, with `e = y_pred - y_true`.

    Example:
        >>> huber(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.5, 2.0]]))
        tensor([0.8125])
    """
    y_true, y_pred = prepare(y_true, y_pred)
    return mean_last(F.huber_loss(y_pred, y_true, reduction="none", delta=delta))


def log_cosh(y_true, y_pred):
    """`mean(log(cosh(y_pred - y_true)), axis=-1)`, computed without overflow."""
    y_true, y_pred = prepare(y_true, y_pred)
    x = y_pred - y_true
    # log(cosh(x)) = x + softplus(-2x) - log(2) stays finite where cosh(x) overflows.
    return mean_last(x + F.softplus(-2.0 * x) - 0.6931471805599453)


def kl_divergence(y_true, y_pred):
    """`sum(y_true * log(y_true / y_pred), axis=-1)`, both clipped to `[1e-7, 1]`."""
    y_true, y_pred = prepare(y_true, y_pred)
    y_true = y_true.clamp(EPSILON, 1.0)
    y_pred = y_pred.clamp(EPSILON, 1.0)
    return (y_true * torch.log(y_true / y_pred)).sum(-1)


def poisson(y_true, y_pred):
    """`mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)`."""
    y_true, y_pred = prepare(y_true, y_pred)
    return mean_last(y_pred - y_true * torch.log(y_pred + EPSILON))


def hinge(y_true, y_pred):
    """`mean(max(1 - y_true * y_pred, 0), axis=-1)`; labels in {0, 1} are mapped to {-1, 1}."""
    y_true, y_pred = prepare(y_true, y_pred)
    y_true = _convert_binary_labels(y_true)
    return mean_last((1.0 - y_true * y_pred).clamp_min(0.0))


def squared_hinge(y_true, y_pred):
    """`mean(max(1 - y_true * y_pred, 0) ** 2, axis=-1)`; labels in {0, 1} are mapped to {-1, 1}."""
    y_true, y_pred = prepare(y_true, y_pred)
    y_true = _convert_binary_labels(y_true)
    return mean_last((1.0 - y_true * y_pred).clamp_min(0.0).square())


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
