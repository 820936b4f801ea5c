"""Layer: an ``nn.Module`` that adds losses and metrics from inside ``forward``, as Keras layers do.

There is no global state: each layer keeps what its ``forward`` added in its own per-call buffers.
A ``torchfit.Model`` clears them at the start of each of its calls and gathers them afterwards, so
``model.losses`` holds exactly the losses of the last call, ``fit`` adds their sum to the
training loss, and ``add_metric`` values become named metrics in the logs, averaged (or summed)
over each epoch.
"""

import torch
from torch import nn

__all__ = ["Layer", "AGGREGATIONS", "check_loss_value", "check_aggregation", "metric_value"]

AGGREGATIONS = ("mean", "sum")


def check_loss_value(value, where):
    """``value`` as a 0-d tensor, or a ``ValueError`` naming ``where`` and the shape."""
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        shape = f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else \
            f"a {type(value).__name__}"
        raise ValueError(
            f"{where} expects a scalar tensor. Received: {shape}. "
            "Reduce it first, e.g. `self.add_loss(x.sum() * 0.1)`."
        )
    return value.reshape(())


def metric_value(value):
    """An added metric's value as a detached float32 scalar tensor (mean of its elements)."""
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value, dtype=torch.float32)
    return value.detach().float().mean()


def check_aggregation(aggregation):
    if aggregation not in AGGREGATIONS:
        raise ValueError(
            f"`aggregation` must be one of {', '.join(map(repr, AGGREGATIONS))}. "
            f"Received: aggregation={aggregation!r}"
        )


class Layer(nn.Module):
    """A module whose ``forward`` may call ``self.add_loss(tensor)`` and ``self.add_metric(...)``.

    Example:
        >>> class ActivityRegularization(torchfit.Layer):
        ...     def forward(self, x):
        ...         self.add_loss(x.sum() * 0.1)
        ...         self.add_metric(x.std(), name="std_of_activation", aggregation="mean")
        ...         return x
    """

    def __init__(self):
        super().__init__()
        self._losses = []
        self._added_metrics = []

    def add_loss(self, loss):
        """Adds a scalar loss tensor computed in this call's ``forward``."""
        self._losses.append(check_loss_value(loss, f"{type(self).__name__}.add_loss"))

    def add_metric(self, value, name, aggregation="mean"):
        """Logs ``value`` (a scalar tensor) as metric ``name``, aggregated over each epoch.

        Args:
            value: a scalar tensor (kept on the device; no sync).
            name: the log key, e.g. ``"std_of_activation"``.
            aggregation: ``"mean"`` (average of the per-batch values) or ``"sum"``.
        """
        check_aggregation(aggregation)
        if not isinstance(name, str) or not name:
            raise ValueError(f"`add_metric` needs a non-empty string `name`. Received: {name!r}")
        self._added_metrics.append((name, metric_value(value), aggregation))

    def clear_added(self):
        """Forgets the losses and metrics of the previous call (the Model does this per call)."""
        self._losses.clear()
        self._added_metrics.clear()

    @property
    def losses(self):
        return list(self._losses)
