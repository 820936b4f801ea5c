"""TorchMetricsWrapper: a `torchmetrics.Metric` behind the torchfit `Metric` protocol.

torchmetrics is not imported here: the wrapped object brings its own classes, so importing
`torchfit.metrics` stays cheap.
"""

import sys

import torch

from torchfit.metrics.metric import Metric, to_snake_case


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

    Example:

    ```python
    from torchmetrics.classification import MulticlassAccuracy

    m = torchfit.metrics.TorchMetricsWrapper(MulticlassAccuracy(num_classes=10))
    m.name  # "multiclass_accuracy"
    ```
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
