"""Circle loss (Sun et al., 2020), a metric-learning loss on L2-normalised embeddings.

Keras 3's formula (tf.keras 2 has no such loss). `y_true` holds one integer label per embedding,
`y_pred` the embeddings `(batch, dim)`; every pair of the batch (or of the batch against
reference embeddings) is compared by cosine distance. As in Keras 3 a sample whose loss is 0
(no positive or no negative pair) is masked: `"sum_over_batch_size"` divides by the number of
samples with a non-zero loss.
"""

import torch
import torch.nn.functional as F

from torchfit.losses.functions import as_float
from torchfit.losses.loss import Loss

__all__ = ["Circle", "circle"]


def _pos_neg_masks(labels, ref_labels, remove_diagonal):
    positive = labels.reshape(-1, 1) == ref_labels.reshape(1, -1)
    negative = ~positive
    if remove_diagonal:
        positive = positive & ~torch.eye(*positive.shape, dtype=torch.bool,
                                         device=positive.device)
    return positive, negative


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True,
           gamma=80.0, margin=0.4):
    """Circle loss per sample: `softplus(logsumexp(positive terms) + logsumexp(negative terms))`.

    With cosine distances `d` (clamped at 0), positives contribute
    `-gamma * max(margin + d, 0) * (margin - d)` and negatives
    `gamma * max(1 + margin - d, 0) * (1 - margin - d)`.

    Args:
        y_true: Integer labels, shape `(batch,)` or `(batch, 1)`.
        y_pred: L2-normalised embeddings, `(batch, dim)`.
        ref_labels: Labels of the reference embeddings; defaults to `y_true`.
        ref_embeddings: L2-normalised reference embeddings; defaults to `y_pred`.
        remove_diagonal: Whether a sample is not its own positive pair.
        gamma: The scale of the similarity scores.
        margin: The relaxation margin.

    Returns:
        Per-sample losses, shape `(batch,)`.

    Example:
        >>> embeddings = torch.nn.functional.normalize(torch.tensor(
        ...     [[1.0, 0.1], [0.9, 0.2], [-0.1, 1.0], [0.2, 0.9]]), dim=-1)
        >>> circle(torch.tensor([0, 0, 1, 1]), embeddings, gamma=1.0).shape
        torch.Size([4])
    """
    y_pred = as_float(y_pred)
    labels = torch.as_tensor(y_true, device=y_pred.device).long()
    ref = y_pred if ref_embeddings is None else torch.as_tensor(
        ref_embeddings, dtype=y_pred.dtype, device=y_pred.device)
    ref_labels = labels if ref_labels is None else torch.as_tensor(
        ref_labels, device=y_pred.device).long()
    distances = (1.0 - y_pred @ ref.transpose(0, 1)).clamp_min(0.0)
    positive, negative = _pos_neg_masks(labels, ref_labels, remove_diagonal)
    pos_weights = ((margin + distances) * positive).clamp_min(0.0)
    neg_weights = ((1.0 + margin - distances) * negative).clamp_min(0.0)
    pos_terms = -gamma * pos_weights * (margin - distances)
    neg_terms = gamma * neg_weights * (1.0 - margin - distances)
    p_loss = torch.logsumexp(pos_terms.masked_fill(~positive, float("-inf")), dim=1)
    n_loss = torch.logsumexp(neg_terms.masked_fill(~negative, float("-inf")), dim=1)
    return F.softplus(p_loss + n_loss)


class Circle(Loss):
    """Circle loss between integer labels and L2-normalised embeddings (see `circle`).

    The model should end with a linear layer and an L2 normalisation
    (`torch.nn.functional.normalize`).

    Args:
        gamma: The scale of the similarity scores.
        margin: The relaxation margin.
        remove_diagonal: Whether a sample is not its own positive pair.
        reduction: See `Loss`; samples with a zero loss are masked as in Keras 3.
        name: Defaults to `"circle"`.

    Example:
        >>> loss = torchfit.losses.Circle(gamma=1.0)
        >>> embeddings = torch.nn.functional.normalize(torch.tensor(
        ...     [[1.0, 0.1], [0.9, 0.2], [-0.1, 1.0], [0.2, 0.9]]), dim=-1)
        >>> loss(torch.tensor([0, 0, 1, 1]), embeddings).shape
        torch.Size([])
    """

    def __init__(self, gamma=80.0, margin=0.4, remove_diagonal=True,
                 reduction="sum_over_batch_size", name="circle"):
        super().__init__(name=name, reduction=reduction)
        self.gamma = gamma
        self.margin = margin
        self.remove_diagonal = remove_diagonal

    def call(self, y_true, y_pred):
        return circle(y_true, y_pred, remove_diagonal=self.remove_diagonal, gamma=self.gamma,
                      margin=self.margin)

    def call_with_mask(self, y_true, y_pred):
        losses = self.call(y_true, y_pred)
        return losses, losses > 0

    def get_config(self):
        return {"gamma": self.gamma, "margin": self.margin,
                "remove_diagonal": self.remove_diagonal, **super().get_config()}
