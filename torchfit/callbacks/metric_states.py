"""The running metric states of a mid-epoch backup: saved by name, loaded as the metrics appear.

``BackupAndRestore(save_freq=N)`` saves, with a backup taken inside an epoch, the running state
(``Metric.state_dict()``) of every torchfit metric of the model: the ``loss`` trackers, the
compiled metrics. On resume they are loaded after the epoch's ``reset_metrics``, so the
resumed epoch's logs cover all of its batches, as an uninterrupted run's do. A metric built
on the first batch (the compiled metrics, the per-output loss trackers) does not exist yet at
that point: its state waits in ``pending_states`` of ``CompiledLoss`` / ``CompiledMetrics``,
which load it right after building, before the first update.

Example:
    >>> first, second = torchfit.metrics.Mean(name="m"), torchfit.metrics.Mean(name="m")
    >>> first.update_state(torch.tensor([1.0, 3.0]))
    >>> states = metric_states([first])
    >>> load_metric_states([second], states)
    >>> second.result(), states               # loaded, and taken out of `states`
    (tensor(2.), {})
"""

import warnings

from torchfit.metrics.metric import Metric

__all__ = ["load_metric_states", "metric_states"]


def metric_states(metrics):
    """``{name: state_dict}`` of the torchfit metrics among ``metrics`` (others, e.g.
    torchmetrics metrics, have no declared state to save and restart on resume)."""
    return {metric.name: metric.state_dict() for metric in metrics if isinstance(metric, Metric)}


def load_metric_states(metrics, states):
    """Loads ``states[metric.name]`` into each torchfit metric of ``metrics`` that has one, and
    removes it from ``states`` (what is left waits for metrics not built yet).

    A state that does not fit its metric (another metric of the same name) is skipped with a
    warning: that metric then covers only the batches after the resume.
    """
    for metric in metrics:
        if not isinstance(metric, Metric) or metric.name not in states:
            continue
        state = states.pop(metric.name)
        try:
            metric.load_state_dict(state)
        except ValueError as err:
            warnings.warn(
                f"The backup's running state of metric {metric.name!r} does not fit this "
                f"model's metric ({err}); it restarts from zero, so this epoch's "
                f"{metric.name!r} covers only the batches after the resume.", stacklevel=2)
