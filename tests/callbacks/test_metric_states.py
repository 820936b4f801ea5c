"""metric_states: the running metric states of a mid-epoch backup, loaded as metrics appear."""

import pytest
import torch

import torchfit
from torchfit.callbacks.metric_states import load_metric_states, metric_states


class TwoHeads(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 1)

    def forward(self, x):
        return {"cls": self.a(x), "reg": self.b(x)}


def two_heads():
    model = torchfit.Model(TwoHeads(), device="cpu")
    model.compile(optimizer="sgd", loss={"cls": torchfit.losses.SparseCategoricalCrossentropy(
        from_logits=True), "reg": "mse"}, metrics={"cls": ["accuracy"], "reg": ["mae"]})
    return model


def test_states_round_trip_by_name_and_leave_the_unmatched():
    first, second = torchfit.metrics.Mean(name="m"), torchfit.metrics.Mean(name="m")
    first.update_state(torch.tensor([1.0, 2.0, 6.0]))
    states = {**metric_states([first]), "later": {}}
    load_metric_states([second, torchfit.metrics.Sum(name="other")], states)
    assert second.result() == 3.0 and list(states) == ["later"]


def test_a_state_that_does_not_fit_warns_and_is_skipped():
    states = metric_states([torchfit.metrics.Mean(name="m")])
    precision = torchfit.metrics.Precision(name="m")
    with pytest.warns(UserWarning, match=r"running state of metric 'm' does not fit.*restarts "
                                         r"from zero"):
        load_metric_states([precision], states)
    assert states == {}


def test_pending_states_load_when_the_first_batch_builds_the_metrics(blobs):
    x, y = blobs
    targets = {"cls": y, "reg": x[:, :1]}
    first_half = two_heads()
    first_half.evaluate(x[:32], {k: v[:32] for k, v in targets.items()}, batch_size=32,
                        verbose=0)
    states = metric_states(first_half.metrics)
    assert {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"} <= set(states)
    model = two_heads()  # nothing built yet: every state but `loss` waits for the build
    model.compiled_loss.pending_states = model.compiled_metrics.pending_states = states
    resumed = model.test_on_batch(x[32:], {k: v[32:] for k, v in targets.items()},
                                  return_dict=True)
    whole = two_heads().evaluate(x, targets, batch_size=32, verbose=0, return_dict=True)
    assert resumed.keys() == whole.keys()
    for key in whole:
        if key != "loss":  # `loss` exists before the build: BackupAndRestore loads it itself
            assert resumed[key] == whole[key], key
    assert model.compiled_loss.pending_states is None
    assert model.compiled_metrics.pending_states is None
