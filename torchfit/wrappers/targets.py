"""How a classifier's labels reach the model, and how its outputs become probabilities.

``SKLearnClassifier`` encodes any labels (strings, ints, floats) as ``classes_`` indices, then
feeds the model the form its compiled loss expects:

- ``"sparse"``: the indices (int64), for ``sparse_categorical_crossentropy`` & co. (any
  torchfit loss whose name says *sparse*) and ``nn.CrossEntropyLoss`` / ``nn.NLLLoss`` /
  ``nn.MultiMarginLoss``;
- ``"binary"``: a ``(n, 1)`` float column of 0/1, when there are two classes and the model has
  one output unit (``nn.Linear(h, 1)`` with ``binary_crossentropy`` or ``nn.BCEWithLogitsLoss``);
- ``"one_hot"``: a ``(n, n_classes)`` float one-hot matrix otherwise (what Keras's wrapper
  always feeds).

Outputs become probabilities by the same loss: ``from_logits=True`` losses and
``nn.CrossEntropyLoss`` / ``nn.BCEWithLogitsLoss`` mean logits (softmax, or sigmoid for one
unit), ``nn.NLLLoss`` log-probabilities (exp); other outputs are taken as probabilities.
"""

import numpy as np
import torch
from torch import nn

from torchfit import losses

__all__ = ["compiled_loss_of", "target_kind", "encode", "probabilities"]

_SPARSE_TORCH = (nn.CrossEntropyLoss, nn.NLLLoss, nn.MultiMarginLoss)
_LOGIT_TORCH = (nn.CrossEntropyLoss, nn.BCEWithLogitsLoss)


def compiled_loss_of(model):
    """The one loss ``model`` was compiled with, resolved (``None`` when it has none)."""
    config = model.compiled_loss._config if model.compiled_loss is not None else None
    if isinstance(config, (list, tuple)) and len(config) == 1:
        config = config[0]
    if isinstance(config, (dict, list, tuple)):
        raise ValueError(
            "The scikit-learn wrappers train models with one output and one loss. Received a "
            f"model compiled with loss={config!r}. Compile the model with a single loss."
        )
    return None if config is None else losses.to_loss(config)


def _torch_module(loss):
    """The torch loss module a ``TorchLossWrapper`` calls (``None`` for other losses)."""
    return loss.module if isinstance(loss, losses.TorchLossWrapper) else None


def _is_sparse(loss):
    if isinstance(_torch_module(loss), _SPARSE_TORCH):
        return True
    names = (type(loss).__name__, getattr(loss, "name", None), getattr(loss, "__name__", None),
             getattr(getattr(loss, "fn", None), "__name__", None))
    return any(isinstance(name, str) and "sparse" in name.lower() for name in names)


def target_kind(loss, n_outputs, n_classes):
    """``"sparse"``, ``"binary"`` or ``"one_hot"`` (see the module docstring)."""
    if n_outputs == 1 and n_classes == 2:
        return "binary"
    if loss is not None and _is_sparse(loss):
        return "sparse"
    if n_outputs != n_classes:
        raise ValueError(
            f"The model has {n_outputs} output units, but the labels have {n_classes} classes. "
            f"Build the model with {n_classes} outputs (y.shape[1] of the one-hot `y` the "
            "build function receives), or one output for two classes."
        )
    return "one_hot"


def encode(kind, codes, n_classes):
    """The targets fed to ``fit`` for class indices ``codes``."""
    if kind == "sparse":
        return codes.astype(np.int64)
    if kind == "binary":
        return codes.astype(np.float32).reshape(-1, 1)
    return np.eye(n_classes, dtype=np.float32)[codes]


def _output_form(loss):
    module = _torch_module(loss)
    if isinstance(module, _LOGIT_TORCH) or getattr(loss, "from_logits", False) is True:
        return "logits"
    if isinstance(module, nn.NLLLoss):
        return "log_probabilities"
    return "probabilities"


def probabilities(loss, outputs):
    """``(n, n_classes)`` class probabilities from the model's ``outputs`` (a NumPy array)."""
    scores = torch.as_tensor(np.asarray(outputs), dtype=torch.float64)
    if scores.ndim == 1:
        scores = scores.reshape(-1, 1)
    form = _output_form(loss)
    if scores.shape[1] == 1:  # one unit: the probability of the second class
        positive = torch.sigmoid(scores) if form == "logits" else scores
        return torch.cat([1 - positive, positive], dim=1).numpy()
    if form == "logits":
        return torch.softmax(scores, dim=1).numpy()
    if form == "log_probabilities":
        return scores.exp().numpy()
    return scores.numpy()
