"""Crossentropy metrics: the running mean of the per-sample crossentropy (Keras formulas).

Probabilities are clipped to [1e-7, 1 - 1e-7] as Keras does; with `from_logits=True` the
numerically stable torch formulas are used instead. Classes are on the last axis.
"""

# The per-sample functions are the losses' own, so a crossentropy logged as a metric equals the
# same crossentropy used as the loss.
import torch

from torchfit.losses import (
    binary_crossentropy,
    categorical_crossentropy,
    kl_divergence,
    poisson,
    sparse_categorical_crossentropy,
)
from torchfit.metrics.reduction import MeanMetricWrapper
from torchfit.utils.tensor_utils import align_sample_weight


class _Crossentropy(MeanMetricWrapper):
    """The running mean of one of the losses' crossentropy functions (``_fn``)."""

    higher_is_better = False
    _fn = None

    def __init__(self, name, dtype=None, from_logits=False, **fn_kwargs):
        super().__init__(self._fn, name=name, dtype=dtype, from_logits=from_logits, **fn_kwargs)
        self.from_logits = from_logits


class BinaryCrossentropy(_Crossentropy):
    """Running mean of `binary_crossentropy`."""

    _fn = staticmethod(binary_crossentropy)

    def __init__(
        self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0
    ):
        super().__init__(name, dtype, from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(_Crossentropy):
    """Running mean of `categorical_crossentropy`."""

    _fn = staticmethod(categorical_crossentropy)

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0, axis=-1):  # fmt: skip
        super().__init__(name, dtype, from_logits, label_smoothing=label_smoothing, axis=axis)
        self.axis = axis


def _sparse_crossentropy_with_ignore(y_true, y_pred, from_logits=False, ignore_class=None,
                                     axis=-1):  # fmt: skip
    """`sparse_categorical_crossentropy`, 0 where the label is `ignore_class` (Keras 3)."""
    if ignore_class is None:
        return sparse_categorical_crossentropy(y_true, y_pred, from_logits=from_logits, axis=axis)
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    valid = y_true != ignore_class
    losses = sparse_categorical_crossentropy(
        torch.where(valid, y_true, 0), y_pred, from_logits=from_logits, axis=axis
    )
    return torch.where(valid.reshape(losses.shape), losses, 0.0)


class SparseCategoricalCrossentropy(_Crossentropy):
    """Running mean of `sparse_categorical_crossentropy` over the class axis `axis`.

    With `ignore_class`, samples whose label equals it are left out of the mean (their
    weight is 0), as in tf.keras 2. Keras 3 leaves them out only when `sample_weight` is given
    and otherwise counts them with a crossentropy of 0 (half the value below).

    Example:
        >>> m = torchfit.metrics.SparseCategoricalCrossentropy(ignore_class=2)
        >>> m.update_state(torch.tensor([1, 2]), torch.tensor([[0.05, 0.95, 0], [0.1, 0.8, 0.1]]))
        >>> m.result()  # -log(0.95) / 1, as tf.keras 2
        tensor(0.0513)
    """

    _fn = staticmethod(_sparse_crossentropy_with_ignore)

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 ignore_class=None, axis=-1):  # fmt: skip
        super().__init__(name, dtype, from_logits, ignore_class=ignore_class, axis=axis)
        self.ignore_class = ignore_class
        self.axis = axis

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.ignore_class is not None:
            labels = self._as_tensor(y_true)
            if labels.dim() == torch.as_tensor(y_pred).dim() and labels.shape[-1] == 1:
                labels = labels.squeeze(-1)
            valid = (labels != self.ignore_class).to(self.dtype)
            if sample_weight is not None:
                valid = align_sample_weight(self._as_tensor(sample_weight), valid) * valid
            sample_weight = valid
        super().update_state(y_true, y_pred, sample_weight)


class Poisson(MeanMetricWrapper):
    """Running mean of `poisson`: `mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)`.

    Example:
        >>> m = torchfit.metrics.Poisson()
        >>> m.update_state(torch.tensor([[0.0, 1.0], [0.0, 0.0]]),
        ...                torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
        >>> m.result()  # Keras's docstring example: 0.49999997
        tensor(0.5000)
    """

    higher_is_better = False

    def __init__(self, name="poisson", dtype=None):
        super().__init__(poisson, name=name, dtype=dtype)


class KLDivergence(MeanMetricWrapper):
    """Running mean of `kl_divergence`: `sum(y_true * log(y_true / y_pred), axis=-1)`, clipped.

    Example:
        >>> m = torchfit.metrics.KLDivergence()
        >>> m.update_state(torch.tensor([[0.0, 1.0], [0.0, 0.0]]),
        ...                torch.tensor([[0.6, 0.4], [0.4, 0.6]]))
        >>> m.result()  # Keras's docstring example: 0.45814306
        tensor(0.4581)
    """

    higher_is_better = False

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, name=name, dtype=dtype)
