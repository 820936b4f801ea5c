"""CTC, the Connectionist Temporal Classification loss, on `torch.nn.functional.ctc_loss`.

Keras 3's conventions (tf.keras 2 has no CTC loss class; its `backend.ctc_batch_cost` takes
explicit lengths): `y_true` is `(batch, max_label_length)` integer labels padded with 0, the
blank index, so each label length is the number of non-zero entries; `y_pred` is
`(batch, time, num_classes)` unnormalised logits, every sequence `time` steps long. The losses
are torch's negative log-likelihoods per sample (not divided by the label length).
"""

import torch
import torch.nn.functional as F

from torchfit.losses.functions import as_float
from torchfit.losses.loss import Loss

__all__ = ["CTC", "ctc"]

_MASK_INDEX = 0  # Keras 3's blank: 0 is never a class


def ctc(y_true, y_pred):
    """CTC loss per sample, Keras 3's layout (see the module docstring).

    Args:
        y_true: Integer labels, `(batch, max_label_length)`, 0-padded (0 is the blank).
        y_pred: Logits, `(batch, time, num_classes)`; not softmax-normalised.

    Returns:
        Per-sample losses, shape `(batch,)`.

    Raises:
        ValueError: For a `y_true` that is not 2-D or a `y_pred` that is not 3-D.

    Example:
        >>> logits = torch.zeros(1, 4, 3)  # uniform over blank, 1, 2 at each of 4 steps
        >>> labels = torch.tensor([[1, 2, 0]])
        >>> log_probs = torch.log_softmax(logits, -1).transpose(0, 1)
        >>> reference = torch.nn.functional.ctc_loss(log_probs, labels[:, :2], [4], [2],
        ...                                          reduction="none")
        >>> torch.allclose(ctc(labels, logits), reference)
        True
    """
    y_pred = as_float(y_pred)
    if not isinstance(y_true, torch.Tensor):
        y_true = torch.as_tensor(y_true, device=y_pred.device)
    if y_true.dim() != 2:
        raise ValueError(
            "Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` "
            f"in integer format, 0-padded. Received: y_true.shape={tuple(y_true.shape)}."
        )
    if y_pred.dim() != 3:
        raise ValueError(
            "Logits `y_pred` are expected to be a tensor of shape `(batch_size, max_length, "
            f"num_classes)`. Received: y_pred.shape={tuple(y_pred.shape)}."
        )
    labels = y_true.long()
    batch, steps = y_pred.shape[0], y_pred.shape[1]
    # Keras 3 casts to at least float32 (tf.nn.ctc_loss's promotion rule).
    if y_pred.dtype in (torch.float16, torch.bfloat16):
        y_pred = y_pred.float()
    log_probs = F.log_softmax(y_pred.transpose(0, 1), dim=-1)
    input_lengths = torch.full((batch,), steps, dtype=torch.long, device=y_pred.device)
    label_lengths = (labels != _MASK_INDEX).sum(-1)
    return F.ctc_loss(log_probs, labels, input_lengths, label_lengths, blank=_MASK_INDEX,
                      reduction="none")


class CTC(Loss):
    """Connectionist Temporal Classification loss (Keras 3's `keras.losses.CTC`).

    See the module docstring for the layout: 0-padded integer labels `(batch, max_length)`,
    logits `(batch, time, num_classes)` with class 0 the blank.

    Args:
        reduction: See `Loss`.
        name: Defaults to `"ctc"`.

    Example:
        >>> loss = torchfit.losses.CTC()
        >>> loss(torch.tensor([[1, 0]]), torch.zeros(1, 2, 2))  # paths 11, 01, 10 of 4
        tensor(0.2877)
    """

    def __init__(self, reduction="sum_over_batch_size", name="ctc"):
        super().__init__(name=name, reduction=reduction)

    def call(self, y_true, y_pred):
        return ctc(y_true, y_pred)
