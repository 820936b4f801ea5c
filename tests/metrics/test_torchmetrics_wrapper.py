"""Tests for torchfit/metrics/torchmetrics_wrapper.py."""

import subprocess
import sys

import numpy as np
import pytest
import torch

import torchfit.metrics as metrics
from metric_data import C, batches, labels, probs, stream


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric")
def test_torchmetrics_wrapper():
    from torchmetrics.classification import MulticlassAccuracy

    wrapper = metrics.get(MulticlassAccuracy(num_classes=C, average="micro"))
    assert isinstance(wrapper, metrics.TorchMetricsWrapper)
    assert wrapper.name == "multiclass_accuracy" and wrapper.higher_is_better is True
    ours = metrics.SparseCategoricalAccuracy()
    np.testing.assert_allclose(
        stream(wrapper, labels, probs), stream(ours, labels, probs), rtol=1e-6
    )
    wrapper.reset_states()
    wrapper(torch.tensor([1]), torch.tensor([[0.1, 0.9, 0.0, 0.0, 0.0]]))
    assert wrapper.result().item() == 1.0
    assert wrapper.to("cpu") is wrapper and wrapper.device == torch.device("cpu")
    with pytest.raises(ValueError, match="does not take sample weights"):
        wrapper.update_state(torch.tensor([1]), torch.ones(1, C), sample_weight=torch.ones(1))
    copy = metrics.get(MulticlassAccuracy(num_classes=C, average="micro"))
    copy.load_state_dict(wrapper.state_dict())
    assert torch.equal(copy.result(), wrapper.result())
    named = metrics.TorchMetricsWrapper(MulticlassAccuracy(num_classes=C), name="acc")
    assert named.name == "acc"
    with pytest.raises(TypeError, match="expects a torchmetrics.Metric instance"):
        metrics.TorchMetricsWrapper(metrics.Mean())


def test_importing_metrics_does_not_import_torchmetrics():
    code = "import sys, torchfit.metrics; assert 'torchmetrics' not in sys.modules"
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=str(__import__("pathlib").Path(__file__).parents[2]),
    )


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric")
def test_torchmetrics_wrapper_merges_through_torchmetrics():
    from torchmetrics.classification import MulticlassAccuracy

    def make():
        return metrics.TorchMetricsWrapper(MulticlassAccuracy(num_classes=C, average="micro"))

    parts = []
    for y, p in batches(labels, probs):
        part = make()
        part.update_state(y, p)
        parts.append(part)
    parts[0].merge_state(parts[1:])
    expected = np.mean(labels == probs.argmax(1))
    np.testing.assert_allclose(parts[0].result().numpy(), expected, rtol=1e-6)
    assert parts[0].state_aggregations == {}  # the state lives in the torchmetrics object
    with pytest.raises(ValueError, match=r"'mean' \(Mean\) into metric 'multiclass_accuracy'"):
        parts[0].merge_state([metrics.Mean()])
