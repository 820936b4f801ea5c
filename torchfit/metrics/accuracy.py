"""Accuracy metrics: per-sample functions and their running-mean classes (Keras names).

Each function returns one float per sample (per element for `accuracy`), 1.0 for a hit; the
class of the same name is its sample-weighted running mean. Predictions are class scores with
classes on the last axis (probabilities or logits: argmax does not care).
"""

import torch

from torchfit.metrics.reduction import MeanMetricWrapper


def _tensors(y_true, y_pred):
    # Array-likes (NumPy arrays, lists) are accepted as in tf.keras 2's eager functions.
    if not isinstance(y_pred, torch.Tensor):
        y_pred = torch.as_tensor(y_pred)
    if not isinstance(y_true, torch.Tensor):
        y_true = torch.as_tensor(y_true, device=y_pred.device)
    return y_true, y_pred


def accuracy(y_true, y_pred):
    """1.0 where `y_pred` equals `y_true` exactly (after casting `y_pred` to `y_true`'s dtype)."""
    y_true, y_pred = _tensors(y_true, y_pred)
    if y_pred.dtype != y_true.dtype:
        y_pred = y_pred.to(y_true.dtype)
    return (y_true == y_pred).float()


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per sample, the fraction of outputs where `y_pred > threshold` matches the 0/1 label.

    One value per sample (the mean over the last axis), as tf.keras 2's function; Keras 3's
    returns the element-wise hits. The `BinaryAccuracy` metric is the same in both.
    """
    y_true, y_pred = _tensors(y_true, y_pred)
    hits = (y_true == (y_pred > threshold)).float()
    return hits.mean(dim=-1) if hits.ndim > 1 else hits


def categorical_accuracy(y_true, y_pred):
    """1.0 where argmax of the one-hot `y_true` equals argmax of `y_pred`."""
    y_true, y_pred = _tensors(y_true, y_pred)
    return (y_true.argmax(dim=-1) == y_pred.argmax(dim=-1)).float()


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the integer label (shape `(N,)` or `(N, 1)`) equals argmax of `y_pred`."""
    y_true, y_pred = _tensors(y_true, y_pred)
    return (_sparse_labels(y_true, y_pred) == y_pred.argmax(dim=-1)).float()


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the class of the one-hot `y_true` is among the `k` highest scores."""
    y_true, y_pred = _tensors(y_true, y_pred)
    return _in_top_k(y_pred, y_true.argmax(dim=-1), k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the integer label is among the `k` highest scores of `y_pred`."""
    y_true, y_pred = _tensors(y_true, y_pred)
    return _in_top_k(y_pred, _sparse_labels(y_true, y_pred), k)


def _sparse_labels(y_true, y_pred):
    # (N, 1) labels for (N, C) scores: drop the label axis, as Keras does.
    if y_true.ndim == y_pred.ndim and y_true.ndim > 0 and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return y_true


def _in_top_k(scores, targets, k):
    # tf.math.in_top_k semantics: a target tied at the k-th score counts as a hit. Counting the
    # scores strictly above the target's avoids a sort (two elementwise ops and a reduction).
    target_scores = scores.gather(-1, targets.long().unsqueeze(-1))
    return ((scores > target_scores).sum(dim=-1) < k).float()


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly (element-wise), e.g. for integer outputs."""

    higher_is_better = True

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often `y_pred > threshold` matches the 0/1 label.

    Example:
        >>> m = torchfit.metrics.BinaryAccuracy()
        >>> y_true = torch.tensor([[1], [1], [0], [0]])
        >>> m.update_state(y_true, torch.tensor([[0.98], [1.0], [0.0], [0.6]]))
        >>> m.result()
        tensor(0.7500)
    """

    higher_is_better = True

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax of the one-hot labels equals argmax of the predictions."""

    higher_is_better = True

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often integer labels equal argmax of the predictions.

    Example:
        >>> m = torchfit.metrics.SparseCategoricalAccuracy()
        >>> m.update_state(torch.tensor([2, 1]), torch.tensor([[0.1, 0.6, 0.3], [0.05, 0.95, 0.0]]))
        >>> m.result()
        tensor(0.5000)
    """

    higher_is_better = True

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        # The per-step fast path of fit (unweighted tensors already on the state's device): the
        # hits are counted straight into the state, three kernels fewer than the general path.
        if (sample_weight is None and isinstance(y_pred, torch.Tensor)
                and isinstance(y_true, torch.Tensor) and y_pred.device == self._device
                and y_pred.ndim == 2 and y_true.ndim == 1):
            self._accumulate(y_pred.argmax(dim=-1) == y_true, None)  # argmax joins no graph
            return
        super().update_state(y_true, y_pred, sample_weight)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the `k` highest predictions."""

    higher_is_better = True

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the `k` highest predictions."""

    higher_is_better = True

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k
