"""First-batch checks of what ``compile``'s losses will receive: ``loss_weights``, sparse labels
and ``class_weight`` keys, each raising one clear error before any optimizer step.

``CompiledLoss`` runs the label checks on the first batch of each ``fit``/``evaluate`` call only
(one host sync), so the training steps stay sync-free.
"""

import numbers

import torch

from torchfit import losses as losses_module
from torchfit.losses.functions import check_sparse_labels

__all__ = ["check_class_weight_keys", "check_labels", "check_loss_weights", "sparse_labels_spec"]


def check_loss_weights(loss_weights):
    """Raises ``TypeError`` unless ``loss_weights`` is None, a number, or a list/dict of numbers.

    Example:
        >>> check_loss_weights("heavy")
        Traceback (most recent call last):
        TypeError: `loss_weights` must be a number, or a list or dict (by output name) of numbers...
    """
    values = (loss_weights.values() if isinstance(loss_weights, dict) else loss_weights
              if isinstance(loss_weights, (list, tuple)) else [loss_weights])
    for value in values:
        if value is None or isinstance(value, torch.Tensor) and value.numel() == 1:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                "`loss_weights` must be a number, or a list or dict (by output name) of "
                f"numbers. Received: loss_weights={loss_weights!r}. E.g. loss_weights=[1.0, "
                "0.2] for two outputs.")


def sparse_labels_spec(loss_fn, target):
    """``(class axis, ignored label)`` when ``loss_fn`` takes class indices, else ``None``:
    torchfit's sparse crossentropy, and torch's ``CrossEntropyLoss``/``NLLLoss`` given integer
    targets (float targets there are class probabilities).

    Example:
        >>> sparse_labels_spec(losses_module.to_loss(torch.nn.CrossEntropyLoss()),
        ...                    torch.tensor([0, 1]))
        (1, -100)
    """
    if target is None:
        return None
    if isinstance(loss_fn, losses_module.SparseCategoricalCrossentropy):
        return loss_fn.axis, loss_fn.ignore_class
    module = getattr(loss_fn, "module", None)
    if isinstance(module, (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss)) and isinstance(
            target, torch.Tensor) and not target.is_floating_point():
        return 1, module.ignore_index
    return None


def check_labels(loss_fn, target, pred, argument):
    """``check_sparse_labels`` when ``loss_fn`` takes class indices (see ``sparse_labels_spec``)."""
    spec = sparse_labels_spec(loss_fn, target)
    if spec is not None and isinstance(pred, torch.Tensor):
        check_sparse_labels(target, pred, *spec, argument)


def check_class_weight_keys(class_weight, y_pred):
    """``class_weight`` keys must be classes of the output: ``[0, C)`` (``[0, 2)`` for one).

    Example:
        >>> check_class_weight_keys({0: 1.0, 3: 2.0}, torch.zeros(4, 3))
        Traceback (most recent call last):
        ValueError: `class_weight` has keys [3] that are not classes of the model's output...
    """
    if not isinstance(y_pred, torch.Tensor) or y_pred.dim() < 2:
        return
    classes = max(int(y_pred.shape[-1]), 2)
    outside = sorted(key for key in class_weight if not 0 <= int(key) < classes)
    if outside:
        raise ValueError(
            f"`class_weight` has keys {outside} that are not classes of the model's output, "
            f"which has {classes} classes (0 to {classes - 1}). Received: "
            f"class_weight={class_weight!r}. Key the weights by class index.")
