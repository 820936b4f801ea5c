"""torchfit/logs.py: logs that stay on the device until read, and one sync to read them all."""

import pytest
import torch

import torchfit
from torchfit.logs import MetricLogs, to_floats


def test_metric_logs_compute_each_value_when_read():
    mean = torchfit.metrics.Mean(name="loss")
    logs = MetricLogs([mean])
    assert list(logs) == ["loss"] and len(logs) == 1
    mean.update_state(torch.tensor([1.0, 3.0]))
    assert float(logs["loss"]) == 2.0
    mean.update_state(torch.tensor([8.0]))
    assert float(logs["loss"]) == 4.0  # a view of the current state, not a snapshot
    with pytest.raises(KeyError):
        logs["accuracy"]


def test_to_floats_reads_every_tensor_and_keeps_other_values():
    logs = {"loss": torch.tensor(0.25), "acc": torch.tensor([0.5]), "lr": 0.01,
            "vector": torch.ones(3), "half": torch.tensor(1.5, dtype=torch.float16)}
    floats = to_floats(logs)
    assert floats["loss"] == 0.25 and floats["acc"] == 0.5 and floats["lr"] == 0.01
    assert floats["half"] == 1.5 and all(isinstance(floats[k], float) for k in ("loss", "half"))
    assert floats["vector"] is logs["vector"]  # not a scalar: left as it is
    assert to_floats(None) == {}


def test_to_floats_copies_to_the_host_once(monkeypatch):
    copies = []
    real_cpu = torch.Tensor.cpu
    monkeypatch.setattr(torch.Tensor, "cpu", lambda self: copies.append(1) or real_cpu(self))
    to_floats({f"metric_{i}": torch.tensor(float(i)) for i in range(5)})
    assert len(copies) == 1
