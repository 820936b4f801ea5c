"""Logs that stay on the device until somebody reads them.

``train_step`` returns :class:`MetricLogs`, a read-only mapping over the model's metrics: building
it costs nothing, and a value is computed (``metric.result()``, still a device tensor) only when
read. :func:`to_floats` turns any logs mapping into Python floats with a single device sync.
"""

from collections.abc import Mapping

import torch

__all__ = ["MetricLogs", "to_floats"]


class MetricLogs(Mapping):
    """``{metric.name: metric.result()}``, computed on read.

    It reflects the metrics' state at the time of reading, so readers that keep values for later
    must copy them (``to_floats(logs)``). A metric whose ``result()`` is a dict contributes its
    keys instead of its name, as in both Kerases; which metrics do is found on the first read
    (one ``result()`` call each, once).
    """

    __slots__ = ("_metrics", "_keys")

    def __init__(self, metrics):
        self._metrics = {metric.name: metric for metric in metrics}
        self._keys = None  # {log key: (metric, key in its dict result or None)}, on first read

    def _index(self):
        if self._keys is None:
            keys = {}
            for name, metric in self._metrics.items():
                result = metric.result()
                if result is None:
                    raise RuntimeError(
                        "The output of a metric function can only be a single Tensor (or, from "
                        f"a Metric's result(), a dict of them). Received: None from metric "
                        f"{name!r} ({type(metric).__name__}.result()). Return its value.")
                if isinstance(result, Mapping):
                    keys.update((key, (metric, key)) for key in result)
                else:
                    keys[name] = (metric, None)
            self._keys = keys
        return self._keys

    def __getitem__(self, key):
        metric, part = self._index()[key]
        return metric.result() if part is None else metric.result()[part]

    def __iter__(self):
        return iter(self._index())

    def __len__(self):
        return len(self._index())

    def __repr__(self):
        return f"MetricLogs({list(self._metrics)})"


def to_floats(logs):
    """Returns ``{name: float}`` for a logs mapping whose values are tensors or numbers.

    All device tensors are stacked and copied to the host together, so reading a whole set of
    logs costs one synchronisation, not one per value.
    """
    if logs is None:
        return {}
    values = dict(logs)
    tensors = {k: v for k, v in values.items() if isinstance(v, torch.Tensor) and v.numel() == 1}
    if tensors:
        stacked = torch.stack([t.detach().reshape(()).float() for t in tensors.values()])
        values.update(zip(tensors, stacked.cpu().tolist()))  # sync: one copy for all values
    return values
