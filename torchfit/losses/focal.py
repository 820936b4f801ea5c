"""Crossentropies that reweight examples: focal (Lin et al., 2017) and generalized (Zhang, 2018).

Keras 3's formulas (`keras.src.losses.losses`); tf.keras 2 has the two focal losses (with the
same formulas, except that its binary crossentropy adds 1e-7 inside the logs, see
`functions.binary_crossentropy`) and not `CategoricalGeneralizedCrossEntropy`.
"""

import torch

from torchfit.losses.functions import (
    ONE_HOT_HINT,
    clip_probabilities,
    mean_last,
    smooth_categorical,
    bce_on_probabilities,
    prepare,
    prepare_sparse,
    smooth_binary,
    warn_single_class,
)
from torchfit.losses.loss import Loss

__all__ = [
    "BinaryFocalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalGeneralizedCrossEntropy",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_generalized_cross_entropy",
]


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary focal crossentropy, averaged over `axis`: `(1 - p_t) ** gamma * bce`.

    `p_t = y * p + (1 - y) * (1 - p)` is the probability given to the target; with
    `apply_class_balancing`, positives are weighted by `alpha` and negatives by `1 - alpha`.
    Logits go through a sigmoid first, then the probabilities are clipped to
    `[1e-7, 1 - 1e-7]` as in Keras 3.

    Args:
        y_true: Targets in [0, 1], same shape as `y_pred`.
        y_pred: Probabilities, or logits if `from_logits=True`.
        apply_class_balancing: Whether to weight the classes by `alpha` and `1 - alpha`.
        alpha: The weight of class 1 when `apply_class_balancing`.
        gamma: The focusing parameter; 0 gives the binary crossentropy.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Moves targets towards 0.5.
        axis: The axis averaged over.

    Returns:
        Per-sample losses, of `y_pred`'s shape without `axis`.

    Example:
        >>> y_true = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
        >>> y_pred = torch.tensor([[0.6, 0.4], [0.4, 0.6]])
        >>> binary_focal_crossentropy(y_true, y_pred, gamma=2.0)  # Keras 3: 0.32986, 0.20580
        tensor([0.3299, 0.2058])
    """
    y_true, y_pred = prepare(y_true, y_pred)
    y_true = smooth_binary(y_true, label_smoothing)
    if from_logits:
        y_pred = torch.sigmoid(y_pred)
    bce = bce_on_probabilities(y_true, y_pred, "none")
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal_bce = torch.pow(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal_bce = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal_bce
    return mean_last(focal_bce, axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """Categorical focal crossentropy: `sum(alpha * (1 - p) ** gamma * -y * log(p), axis)`.

    Logits go through a softmax; probabilities are divided by their sum over `axis` and clipped
    to `[1e-7, 1 - 1e-7]` (Keras 3's formula).

    Args:
        y_true: One-hot or probability targets, same shape as `y_pred`.
        y_pred: Class probabilities, or logits if `from_logits=True`.
        alpha: The weighting factor: a float, or one weight per class (broadcast over `axis`
            = -1).
        gamma: The focusing parameter; 0 gives `alpha` times the categorical crossentropy.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Mixes targets with the uniform distribution.
        axis: The class axis.

    Returns:
        Per-sample losses, of `y_pred`'s shape without `axis`.

    Example:
        >>> y_true = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> y_pred = torch.tensor([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
        >>> categorical_focal_crossentropy(y_true, y_pred)  # Keras 3: 3.20583e-05, 0.466273
        tensor([3.2058e-05, 4.6627e-01])
    """
    y_true, y_pred = prepare(y_true, y_pred, ONE_HOT_HINT)
    warn_single_class(y_pred, axis, "categorical_focal_crossentropy")
    y_true = smooth_categorical(y_true, label_smoothing, axis)
    if from_logits:
        y_pred = torch.softmax(y_pred, dim=axis)
    output = clip_probabilities(y_pred / y_pred.sum(axis, keepdim=True))
    if not isinstance(alpha, (int, float)):
        alpha = torch.as_tensor(alpha, dtype=output.dtype, device=output.device)
    focal = alpha * torch.pow(1.0 - output, gamma) * (-y_true * torch.log(output))
    return focal.sum(axis)


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """Generalized crossentropy: `(1 - p_y ** q) / q` with `p_y` the true class's probability.

    As `q` goes to 0 it approaches the crossentropy, at `q = 1` the mean absolute error. Keras 3
    only (tf.keras 2 has no such loss).

    Args:
        y_true: Integer class indices, shape `(N,)` or `(N, 1)`.
        y_pred: Class probabilities, shape `(N, num_classes)` (not clipped).
        q: The noise parameter, in `(0, 1)`.

    Returns:
        Per-sample losses, of shape `(N,)`.

    Example:
        >>> y_pred = torch.tensor([[0.7, 0.3], [0.2, 0.8]])
        >>> categorical_generalized_cross_entropy(torch.tensor([0, 1]), y_pred, q=0.5)
        tensor([0.3267, 0.2111])
    """
    labels, y_pred, _ = prepare_sparse(y_true, y_pred, -1)
    p = y_pred.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return (1.0 - torch.pow(p, q)) / q


class BinaryFocalCrossentropy(Loss):
    """Binary focal crossentropy (Lin et al., 2017): easy examples weigh less.

    See `binary_focal_crossentropy` for the formula (Keras 3's).

    Args:
        apply_class_balancing: Whether to weight class 1 by `alpha` and class 0 by `1 - alpha`.
        alpha: The weight of class 1 when `apply_class_balancing`.
        gamma: The focusing parameter; 0 gives the binary crossentropy.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Moves targets towards 0.5.
        axis: The axis averaged over to give per-sample losses.
        reduction: See `Loss`.
        name: Defaults to `"binary_focal_crossentropy"`.

    Example:
        >>> loss = torchfit.losses.BinaryFocalCrossentropy(gamma=2.0, from_logits=True)
        >>> y_true = torch.tensor([0.0, 1.0, 0.0, 0.0])
        >>> loss(y_true, torch.tensor([-18.6, 0.51, 2.94, -12.8]))  # Keras 3: 0.6912
        tensor(0.6912)
    """

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_focal_crossentropy"):
        super().__init__(name=name, reduction=reduction)
        self.apply_class_balancing = apply_class_balancing
        self.alpha = alpha
        self.gamma = gamma
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis

    def call(self, y_true, y_pred):
        return binary_focal_crossentropy(
            y_true, y_pred, self.apply_class_balancing, self.alpha, self.gamma,
            self.from_logits, self.label_smoothing, self.axis,
        )

    def get_config(self):
        return {"apply_class_balancing": self.apply_class_balancing, "alpha": self.alpha,
                "gamma": self.gamma, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis,
                **super().get_config()}


class CategoricalFocalCrossentropy(Loss):
    """Categorical focal crossentropy (Lin et al., 2017), for one-hot targets.

    See `categorical_focal_crossentropy` for the formula (Keras 3's).

    Args:
        alpha: The weighting factor: a float, or a list of one weight per class.
        gamma: The focusing parameter; 0 gives `alpha` times the categorical crossentropy.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Mixes targets with the uniform distribution.
        axis: The class axis.
        reduction: See `Loss`.
        name: Defaults to `"categorical_focal_crossentropy"`.

    Example:
        >>> loss = torchfit.losses.CategoricalFocalCrossentropy()
        >>> y_true = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> loss(y_true, torch.tensor([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]))  # Keras's: 0.23315
        tensor(0.2332)
    """

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy"):
        super().__init__(name=name, reduction=reduction)
        self.alpha = alpha
        self.gamma = gamma
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis

    def call(self, y_true, y_pred):
        return categorical_focal_crossentropy(
            y_true, y_pred, self.alpha, self.gamma, self.from_logits, self.label_smoothing,
            self.axis,
        )

    def get_config(self):
        return {"alpha": self.alpha, "gamma": self.gamma, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis,
                **super().get_config()}


class CategoricalGeneralizedCrossEntropy(Loss):
    """Generalized crossentropy (Zhang & Sabuncu, 2018), robust to noisy integer labels.

    See `categorical_generalized_cross_entropy` for the formula (Keras 3's).

    Args:
        q: The noise parameter, in `(0, 1)`: near 0 like the crossentropy, near 1 like the mean
            absolute error.
        reduction: See `Loss`.
        name: Defaults to `"categorical_generalized_cross_entropy"`.

    Raises:
        ValueError: If `q` is not in `(0, 1)`.

    Example:
        >>> loss = torchfit.losses.CategoricalGeneralizedCrossEntropy(q=0.5)
        >>> loss(torch.tensor([0, 1]), torch.tensor([[0.7, 0.3], [0.2, 0.8]]))
        tensor(0.2689)
    """

    def __init__(self, q=0.5, reduction="sum_over_batch_size",
                 name="categorical_generalized_cross_entropy"):
        if not 0 < q < 1:
            raise ValueError(
                f"q must be in the interval (0, 1). Received: q={q!r}. Values near 0 behave "
                "like the crossentropy, values near 1 like the mean absolute error."
            )
        super().__init__(name=name, reduction=reduction)
        self.q = q

    def call(self, y_true, y_pred):
        return categorical_generalized_cross_entropy(y_true, y_pred, self.q)

    def get_config(self):
        return {"q": self.q, **super().get_config()}
