"""Intersection-over-union metrics over a confusion matrix: IoU, MeanIoU, BinaryIoU, OneHotIoU,
OneHotMeanIoU, with Keras 3's arguments and formulas.

The state is one `(num_classes, num_classes)` confusion matrix, `total_cm[true, predicted]`,
of summed sample weights, filled with one `index_add_` per batch. For each class,
`iou = TP / (TP + FP + FN + 1e-7)`; a class that appears in neither labels nor predictions is
left out of the mean, which is `sum(iou) / (number of classes present + 1e-7)` (Keras 3; tf.keras
2 divides without the 1e-7, a difference below float32 rounding for counts >= 1).

Labels or predictions outside `[0, num_classes)`, and labels equal to `ignore_class`, are left
out (Keras 3). One deliberate difference: the matrix is float32 by default, as in tf.keras 2,
so fractional sample weights count as they are; Keras 3 defaults it to int and truncates them.
"""

import torch

from torchfit.metrics.metric import Metric
from torchfit.metrics.reduction import weight_shape_error
from torchfit.utils.tensor_utils import EPSILON, align_sample_weight

__all__ = ["BinaryIoU", "IoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU"]


class _IoUBase(Metric):
    """The confusion-matrix state and its update, shared by every IoU metric."""

    higher_is_better = True

    def __init__(
        self,
        num_classes,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_true=True,
        sparse_y_pred=True,
        axis=-1,
    ):
        super().__init__(name=name, dtype=dtype)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f"`num_classes` must be a positive integer. Received: num_classes={num_classes!r}"
            )
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true = sparse_y_true
        self.sparse_y_pred = sparse_y_pred
        self.axis = axis
        self.total_cm = self.add_weight(
            "total_cm", shape=(num_classes, num_classes), aggregation="sum"
        )

    def _merge_config(self):
        return {"num_classes": self.num_classes, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred}

    def _class_ids(self, values, sparse):
        values = self._as_tensor(values)
        if not sparse:
            values = values.argmax(dim=self.axis)
        return values

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add the (weighted) pairs (label, prediction) of this batch to the confusion matrix."""
        self._follow_device(y_pred if isinstance(y_pred, torch.Tensor) else y_true)
        y_true = self._class_ids(y_true, self.sparse_y_true)
        y_pred = self._class_ids(y_pred, self.sparse_y_pred)
        self._accumulate(y_true, y_pred, sample_weight)

    def _accumulate(self, y_true, y_pred, sample_weight):
        labels, shape = y_true, y_true.shape
        # Casting truncates toward zero, as Keras's cast of float labels does.
        y_true, y_pred = y_true.reshape(-1).long(), y_pred.reshape(-1).long()
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"{type(self).__name__} expects one label per prediction. Received: y_true of "
                f"shape {tuple(shape)} and y_pred with {y_pred.numel()} class ids. (For one-hot "
                "labels or class scores, use sparse_y_true=False / sparse_y_pred=False.)"
            )
        n = self.num_classes
        keep = (y_true >= 0) & (y_true < n) & (y_pred >= 0) & (y_pred < n)
        if self.ignore_class is not None:
            keep &= y_true != self.ignore_class
        weight = keep.to(self.dtype)
        if sample_weight is not None:
            weight = weight * _flat_weight(self._as_tensor(sample_weight), labels, self.dtype)
        index = torch.where(keep, y_true * n + y_pred, 0)
        self.total_cm.view(-1).index_add_(0, index, weight)

    def result(self):
        cm = self.total_cm
        true_positives = cm.diagonal()
        denominator = cm.sum(0) + cm.sum(1) - true_positives  # TP + FP + FN per class
        true_positives = true_positives[self._target_ids].float()
        denominator = denominator[self._target_ids].float()
        valid = denominator > 1e-9  # classes in neither labels nor predictions are left out
        iou = torch.where(valid, true_positives / (denominator + EPSILON), 0.0)
        return iou.sum() / (valid.sum() + EPSILON)


def _flat_weight(weight, values, dtype):
    """Sample weights broadcast over the (unflattened) labels, then flattened."""
    weight = align_sample_weight(weight.to(dtype, copy=False), values)
    try:
        return weight.expand_as(values).reshape(-1)
    except RuntimeError as error:
        raise weight_shape_error(weight, values) from error


class IoU(_IoUBase):
    """The mean IoU of the classes in `target_class_ids` (the IoU of that class for one id).

    `iou = TP / (TP + FP + FN)` per class, from the confusion matrix of everything seen.

    Args:
        num_classes: the number of classes, so the state is a (num_classes, num_classes) matrix.
        target_class_ids: a list or tuple of the class ids to average.
        ignore_class: a label value left out (e.g. a "void" class such as 255 or -1).
        sparse_y_true: labels are class ids (True) or one-hot / scores to argmax over `axis`.
        sparse_y_pred: predictions are class ids (True) or scores to argmax over `axis`.
        axis: the class axis for the argmax (default -1).

    Example:
        >>> m = torchfit.metrics.IoU(num_classes=2, target_class_ids=[0])
        >>> m.update_state(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1]))
        >>> m.result()
        tensor(0.3333)
    """

    def __init__(
        self,
        num_classes,
        target_class_ids,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_true=True,
        sparse_y_pred=True,
        axis=-1,
    ):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)
        ids = list(target_class_ids)
        if not ids or any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
            raise ValueError(
                "`target_class_ids` must be a non-empty list or tuple of integer class ids. "
                f"Received: target_class_ids={target_class_ids!r}"
            )
        if max(ids) >= num_classes or min(ids) < 0:
            raise ValueError(
                f"Target class id {max(ids) if max(ids) >= num_classes else min(ids)} is out of "
                f"range, which is [0, {num_classes}). Received: target_class_ids={ids}"
            )
        self.target_class_ids = ids
        self._target_ids = torch.tensor(ids, device=self.device)

    def _merge_config(self):
        return {**super()._merge_config(), "target_class_ids": self.target_class_ids}

    def to(self, device):
        super().to(device)
        self._target_ids = self._target_ids.to(self.device)
        return self

    def get_config(self):
        """Keras's config: `name`, `dtype`, `num_classes`, `target_class_ids`, `ignore_class`,
        `sparse_y_true`, `sparse_y_pred`, `axis`."""
        return {**super().get_config(), "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class BinaryIoU(IoU):
    """IoU of classes 0 and/or 1 of a binary task: predictions `>= threshold` are class 1.

    Args:
        target_class_ids: `[0]`, `[1]` or `[0, 1]` (default: the mean of both).
        threshold: predictions below it are class 0, the others class 1 (default 0.5).

    Example:
        >>> m = torchfit.metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
        >>> m.update_state(torch.tensor([0, 1, 0, 1]), torch.tensor([0.1, 0.2, 0.4, 0.7]))
        >>> m.result()
        tensor(0.3333)
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def _merge_config(self):
        return {**super()._merge_config(), "threshold": self.threshold}

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Threshold `y_pred` (`>= threshold` is class 1), then count as `IoU` does."""
        self._follow_device(y_pred if isinstance(y_pred, torch.Tensor) else y_true)
        y_pred = self._as_tensor(y_pred).float() >= self.threshold
        self._accumulate(self._as_tensor(y_true), y_pred, sample_weight)

    def get_config(self):
        """Keras's config: `target_class_ids`, `threshold`, `name`, `dtype`."""
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold,
                "name": self.name, "dtype": Metric.get_config(self)["dtype"]}


class MeanIoU(IoU):
    """The mean IoU over all `num_classes` classes (those present in labels or predictions).

    Args: as for `IoU`, without `target_class_ids`.

    Example:
        >>> m = torchfit.metrics.MeanIoU(num_classes=2)
        >>> m.update_state(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1]))
        >>> m.result()
        tensor(0.3333)
    """

    def __init__(
        self,
        num_classes,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_true=True,
        sparse_y_pred=True,
        axis=-1,
    ):
        # (An invalid num_classes is refused by the base class before the ids are read.)
        ids = range(num_classes) if isinstance(num_classes, int) else ()
        super().__init__(num_classes, ids, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        """Keras's config: IoU's without `target_class_ids`."""
        config = super().get_config()
        del config["target_class_ids"]
        return config


class OneHotIoU(IoU):
    """`IoU` for one-hot labels (and class scores): both are argmaxed over `axis` first.

    Args: as for `IoU`, without `sparse_y_true` (always False); `sparse_y_pred` defaults to False.

    Example:
        >>> m = torchfit.metrics.OneHotIoU(num_classes=3, target_class_ids=[0, 2])
        >>> y_true = torch.tensor([[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]])
        >>> y_pred = torch.tensor([[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1],
        ...                        [0.1, 0.4, 0.5]])
        >>> m.update_state(y_true, y_pred)
        >>> m.result()
        tensor(0.1667)
    """

    def __init__(
        self,
        num_classes,
        target_class_ids,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_pred=False,
        axis=-1,
    ):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        """Keras's config: IoU's without `sparse_y_true`."""
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """`MeanIoU` for one-hot labels (and class scores): both are argmaxed over `axis` first.

    Args: as for `MeanIoU`, without `sparse_y_true` (always False); `sparse_y_pred` defaults to
    False.

    Example:
        >>> m = torchfit.metrics.OneHotMeanIoU(num_classes=3)
        >>> y_true = torch.tensor([[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]])
        >>> y_pred = torch.tensor([[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1],
        ...                        [0.1, 0.4, 0.5]])
        >>> m.update_state(y_true, y_pred)
        >>> m.result()
        tensor(0.1111)
    """

    def __init__(
        self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1
    ):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        """Keras's config: MeanIoU's without `sparse_y_true`."""
        config = super().get_config()
        del config["sparse_y_true"]
        return config
