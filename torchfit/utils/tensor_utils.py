"""Tensor helpers shared by losses and metrics: rank and sample-weight alignment, safe division,
L2 normalisation and cosine similarity.

No torchfit imports, so both `torchfit.losses` and `torchfit.metrics` build on it. Everything
here runs every training step: it reads only metadata (rank, shape) and never synchronises with
the device.
"""

import torch

__all__ = [
    "EPSILON",
    "align_sample_weight",
    "cosine_similarity",
    "div_no_nan",
    "l2_normalize",
    "match_rank",
    "squeeze_to_same_rank",
]

# Keras's backend.epsilon(): the clipping bound for probabilities and the guard for divisions.
EPSILON = 1e-7


def match_rank(y_true, y_pred):
    """Reshape `y_true` to `y_pred`'s rank when they differ by one trailing axis of size 1.

    The losses' rule: `y_pred` is never changed, so per-sample losses keep the shape of the
    model's output. (Keras squeezes whichever side has the extra axis; see
    `squeeze_to_same_rank` for that, the metrics' rule.) Any other shape is returned as is.

    Args:
        y_true: The targets.
        y_pred: The predictions, whose rank is kept.

    Returns:
        `y_true`, squeezed or expanded at the last axis, or unchanged.

    Example:
        >>> match_rank(torch.zeros(4), torch.zeros(4, 1)).shape
        torch.Size([4, 1])
        >>> match_rank(torch.zeros(4, 1), torch.zeros(4)).shape
        torch.Size([4])
    """
    true_dim, pred_dim = y_true.dim(), y_pred.dim()
    if true_dim == pred_dim + 1 and y_true.shape[-1] == 1:
        return y_true.squeeze(-1)
    if pred_dim == true_dim + 1 and y_pred.shape[-1] == 1:
        return y_true.unsqueeze(-1)
    return y_true


def squeeze_to_same_rank(y_true, y_pred):
    """Drop the trailing size-1 axis of whichever of the two has one axis more.

    The metrics' rule (Keras's `squeeze_or_expand_dimensions`), so that `(N,)` labels meet
    `(N, 1)` predictions as `(N,)` against `(N,)`. Unlike `match_rank`, it may change `y_pred`.

    Args:
        y_true: The targets.
        y_pred: The predictions.

    Returns:
        `(y_true, y_pred)`, one of them possibly squeezed.

    Example:
        >>> y_true, y_pred = squeeze_to_same_rank(torch.zeros(4), torch.zeros(4, 1))
        >>> y_true.shape, y_pred.shape
        (torch.Size([4]), torch.Size([4]))
    """
    rank_diff = y_pred.ndim - y_true.ndim
    if rank_diff == 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred.squeeze(-1)
    elif rank_diff == -1 and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return y_true, y_pred


def align_sample_weight(weight, values):
    """Reshape `weight` the Keras way so that it broadcasts one weight per sample over `values`.

    Trailing size-1 axes are dropped while `weight` has more axes than `values` (`(N, 1)`
    weights for `(N,)` values); a weight of lower rank gains trailing size-1 axes (`(N,)`
    weights for `(N, D, ...)` values). A scalar weight is returned as is.

    Args:
        weight: The sample weights, a tensor.
        values: The per-sample (or per-element) values to be weighted.

    Returns:
        `weight`, reshaped (a view, no copy). Whether it then broadcasts is the caller's check.

    Example:
        >>> align_sample_weight(torch.ones(4, 1), torch.zeros(4)).shape
        torch.Size([4])
        >>> align_sample_weight(torch.ones(4), torch.zeros(4, 3)).shape
        torch.Size([4, 1])
    """
    while weight.dim() > values.dim() and weight.shape[-1] == 1:
        weight = weight.squeeze(-1)
    if 0 < weight.dim() < values.dim():
        weight = weight.reshape(weight.shape + (1,) * (values.dim() - weight.dim()))
    return weight


def div_no_nan(numerator, denominator):
    """`numerator / denominator`, and 0 where the denominator is 0 (e.g. nothing seen yet).

    Example:
        >>> div_no_nan(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 0.0]))
        tensor([0.5000, 0.0000])
    """
    return torch.where(denominator == 0, 0.0, numerator / denominator)


def l2_normalize(x, axis=-1):
    """`x / sqrt(max(sum(x ** 2, axis), 1e-12))`, as `tf.math.l2_normalize`.

    Example:
        >>> l2_normalize(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
        tensor([[0.6000, 0.8000],
                [0.0000, 0.0000]])
    """
    return x * torch.rsqrt(x.square().sum(axis, keepdim=True).clamp_min(1e-12))


def cosine_similarity(x1, x2, axis=-1):
    """The cosine of the angle between `x1` and `x2` along `axis`: 1 for the same direction.

    Zero vectors give 0 rather than NaN (see `l2_normalize`).

    Example:
        >>> cosine_similarity(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]]))
        tensor([1.])
    """
    return (l2_normalize(x1, axis) * l2_normalize(x2, axis)).sum(axis)
