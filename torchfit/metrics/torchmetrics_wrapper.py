"""TorchMetricsWrapper: a `torchmetrics.Metric` behind the torchfit `Metric` protocol.

torchmetrics is not imported here: the wrapped object brings its own classes, so importing
`torchfit.metrics` stays cheap.
"""

import sys

import torch

from torchfit.metrics.metric import Metric
from torchfit.utils.naming import to_snake_case


def is_torchmetrics_metric(obj):
    """True for a `torchmetrics.Metric` instance; never imports torchmetrics itself."""
    torchmetrics = sys.modules.get("torchmetrics")
    return torchmetrics is not None and isinstance(obj, torchmetrics.Metric)


class TorchMetricsWrapper(Metric):
    """Use a torchmetrics metric where torchfit expects a `Metric`.

    `update_state(y_true, y_pred)` calls `metric.update(y_pred, y_true)` (torchmetrics takes
    predictions first), `result()` is `metric.compute()`, `reset_state()` is `metric.reset()`.
    Usually not needed by hand: `compile(metrics=[...])` and `torchfit.metrics.get` wrap
    torchmetrics objects automatically.

    The wrapper declares no torchfit state (`state_aggregations` is empty): the state lives in
    the torchmetrics object, which declares its own reductions (`add_state(dist_reduce_fx=...)`)
    and synchronises across processes itself; `merge_state` defers to torchmetrics' own.

    Example:
        >>> from torchmetrics.classification import MulticlassAccuracy
        >>> m = torchfit.metrics.TorchMetricsWrapper(MulticlassAccuracy(num_classes=3))
        >>> m.name
        'multiclass_accuracy'
        >>> m.update_state(torch.tensor([0, 2]), torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.1, 0.1]]))
        >>> m.result()
        tensor(0.5000)
    """

    def __init__(self, metric, name=None):
        if not is_torchmetrics_metric(metric):
            raise TypeError(
                "TorchMetricsWrapper expects a torchmetrics.Metric instance, e.g. "
                f"MulticlassAccuracy(num_classes=10). Received: {metric!r} "
                f"of type {type(metric).__name__}."
            )
        super().__init__(name=name if name is not None else to_snake_case(type(metric).__name__))
        self.metric = metric
        self.higher_is_better = metric.higher_is_better

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(
                f"Metric {self.name!r} wraps a torchmetrics {type(self.metric).__name__}, "
                "which does not "
                "take sample weights. Received: sample_weight. Pass it in `metrics=` rather than "
                "`weighted_metrics=`, or use a torchfit metric, which supports sample weights."
            )
        if isinstance(y_pred, torch.Tensor) and y_pred.device != self.device:
            self.to(y_pred.device)
        self.metric.update(y_pred, y_true)

    def result(self):
        return self.metric.compute()

    def merge_state(self, metrics):
        """Merge other wrappers' states into this one's through torchmetrics' `merge_state`.

        Args:
            metrics: A `TorchMetricsWrapper` or an iterable of them, wrapping the same
                torchmetrics class.

        Raises:
            ValueError: For a metric that does not wrap the same torchmetrics class.
            TypeError: When the installed torchmetrics has no `merge_state` (before 1.3).
        """
        others = [metrics] if isinstance(metrics, Metric) else list(metrics)
        for other in others:
            if not isinstance(other, TorchMetricsWrapper) or type(other.metric) is not type(
                self.metric
            ):
                inner = type(getattr(other, "metric", other)).__name__
                raise ValueError(
                    f"Cannot merge metric {getattr(other, 'name', other)!r} ({inner}) into "
                    f"metric {self.name!r} ({type(self.metric).__name__}): only wrappers of the "
                    "same torchmetrics class merge."
                )
        if not hasattr(self.metric, "merge_state"):
            raise TypeError(
                f"Cannot merge metric {self.name!r}: the installed torchmetrics "
                f"{type(self.metric).__name__} has no merge_state(). Upgrade torchmetrics "
                "(>= 1.3)."
            )
        for other in others:
            self.metric.merge_state(other.metric)

    def reset_state(self):
        self.metric.reset()

    @property
    def device(self):
        return self.metric.device

    def to(self, device):
        self.metric.to(device)
        return self

    def state_dict(self):
        return {name: _copy(value) for name, value in self.metric.metric_state.items()}

    def load_state_dict(self, state_dict):
        expected = set(self.metric.metric_state)
        if set(state_dict) != expected:
            raise ValueError(
                f"Cannot load the state of metric {self.name!r}: the keys differ. "
                f"Received: {sorted(state_dict)}. Expected: {sorted(expected)}."
            )
        device = self.device
        self.metric.reset()  # public way to drop torchmetrics' cached compute() value
        for name, value in state_dict.items():
            setattr(self.metric, name, _copy(value, device))


def _copy(state, device=None):
    # torchmetrics states are tensors or lists of tensors ("cat" states).
    if isinstance(state, torch.Tensor):
        return state.detach().to(device, copy=True)
    return [_copy(value, device) for value in state]
