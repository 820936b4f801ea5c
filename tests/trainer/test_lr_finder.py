"""find_learning_rate: the exponential sweep, Lightning's smoothing and early stop, the
steepest-descent suggestion, and the model restored exactly afterwards."""

import copy
import math
import os

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from torchfit.trainer.lr_finder import LearningRateFinder, smooth_losses, steepest_descent


def _regression(n=1024, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    w = rng.normal(size=(8, 1)).astype(np.float32)
    return x, (x @ w + 0.1 * rng.normal(size=(n, 1))).astype(np.float32)


def _linear(optimizer="sgd", seed=0, **kwargs):
    torch.manual_seed(seed)
    model = torchfit.Sequential(nn.Linear(8, 1), device="cpu")
    model.compile(optimizer=optimizer, loss="mse", **kwargs)
    return model


def _record_step_lrs(optimizer):
    seen = []
    optimizer.register_step_pre_hook(
        lambda opt, args, kwargs: seen.append([g["lr"] for g in opt.param_groups]))
    return seen


def _lightning_smoothing(losses, beta=0.98):
    """Lightning's _LRCallback, written out: avg = beta*avg + (1-beta)*loss, bias-corrected."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def test_the_sweep_is_geometric_and_records_each_steps_loss():
    x, y = _regression(64)
    model = _linear()
    seen = _record_step_lrs(model.optimizer)
    finder = model.find_learning_rate(x, y, batch_size=64, min_learning_rate=1e-5,
                                      max_learning_rate=1e-2, steps=20)
    expected = np.geomspace(1e-5, 1e-2, 20)
    np.testing.assert_allclose(finder.learning_rates, expected, rtol=1e-12)
    np.testing.assert_allclose(np.array(seen)[:, 0], expected, rtol=1e-12)  # set per step
    assert not finder.stopped_early and len(finder.losses) == len(finder.raw_losses) == 20

    # The same 20 full-batch steps by hand, in plain torch.
    torch.manual_seed(0)
    net = nn.Linear(8, 1)
    sgd = torch.optim.SGD(net.parameters(), lr=1.0)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    reference = []
    for lr in expected:
        for group in sgd.param_groups:
            group["lr"] = lr
        loss = nn.functional.mse_loss(net(xt), yt)
        sgd.zero_grad()
        loss.backward()
        sgd.step()
        reference.append(loss.item())
    np.testing.assert_allclose(finder.raw_losses, reference, rtol=1e-5)
    np.testing.assert_allclose(finder.losses, _lightning_smoothing(reference), rtol=1e-5)


def test_suggestion_lands_in_the_good_region_of_a_toy_regression():
    x, y = _regression()
    # Plain SGD on this problem: lr 0.03..0.3 trains in 2 epochs, 1e-3 barely moves, 1 diverges.
    finals = {}
    for lr in (1e-3, 0.05, 0.2, 1.0):
        model = _linear(torchfit.optimizers.SGD(learning_rate=lr))
        finals[lr] = model.fit(x, y, batch_size=128, epochs=2, verbose=0).history["loss"][-1]
    assert finals[0.05] < 1.0 and finals[0.2] < 0.1 and finals[1e-3] > 5
    assert not finals[1.0] < 1.0
    finder = _linear().find_learning_rate(x, y, batch_size=128, min_learning_rate=1e-5,
                                          max_learning_rate=10.0, steps=100)
    assert finder.stopped_early  # 10 diverges
    assert 0.02 < finder.suggestion < 0.5, finder.suggestion
    assert finder.suggestion in finder.learning_rates


def test_divergence_stops_the_sweep_early():
    x, y = _regression(256)
    finder = _linear().find_learning_rate(x, y, batch_size=32, min_learning_rate=1e-4,
                                          max_learning_rate=1e4, steps=100)
    assert finder.stopped_early and 13 < len(finder.losses) < 100
    # Lightning's rule: stop at the first smoothed loss above 4x the best before it.
    smoothed = finder.losses
    assert not (smoothed[-1] <= 4 * min(smoothed[:-1]))
    assert all(s <= 4 * min(smoothed[:i]) for i, s in enumerate(smoothed[:-1]) if i > 0)


def _state(model):
    return ({k: v.clone() for k, v in model.state_dict().items()},
            copy.deepcopy(torch.optim.Optimizer.state_dict(model.optimizer)))


def _assert_same_state(model, before):
    weights, optimizer_state = before
    after = model.state_dict()
    assert weights.keys() == after.keys()
    assert all(torch.equal(weights[k], after[k]) for k in weights)
    now = torch.optim.Optimizer.state_dict(model.optimizer)
    assert now["param_groups"] == optimizer_state["param_groups"]
    assert now["state"].keys() == optimizer_state["state"].keys()
    for index, state in optimizer_state["state"].items():
        assert state.keys() == now["state"][index].keys()
        for key, value in state.items():
            other = now["state"][index][key]
            assert torch.equal(value, other) if torch.is_tensor(value) else value == other


@pytest.mark.parametrize("optimizer", [
    lambda: torchfit.optimizers.Adam(learning_rate=torchfit.schedules.ExponentialDecay(
        0.01, decay_steps=3, decay_rate=0.5)),
    lambda: "rmsprop",
    lambda: torch.optim.SGD,  # built by compile with its defaults
], ids=["torchfit-adam-schedule", "rmsprop", "torch-sgd"])
def test_weights_buffers_and_optimizer_are_restored_exactly(optimizer):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 1))
    model = torchfit.Model(net, device="cpu")
    opt = optimizer()
    if opt is torch.optim.SGD:
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    model.compile(optimizer=opt, loss="mse")
    x, y = _regression(128)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # optimizer state and buffers in use
    model.eval()
    before = _state(model)
    schedule = getattr(model.optimizer, "learning_rate", None)
    iterations = getattr(model.optimizer, "iterations", None)
    rng = torch.random.get_rng_state()
    finder = model.find_learning_rate(x, y, batch_size=16, steps=30)
    assert len(finder.losses) > 0
    _assert_same_state(model, before)
    assert not model.training  # eval mode restored
    assert torch.equal(torch.random.get_rng_state(), rng)
    if iterations is not None:
        assert model.optimizer.iterations == iterations
        assert model.optimizer.learning_rate is schedule


def test_training_after_the_sweep_equals_training_without_it():
    x, y = _regression(128)
    plain, swept = _linear("adam"), _linear("adam")
    swept.find_learning_rate(x, y, batch_size=16, steps=40)
    torch.manual_seed(1)
    a = plain.fit(x, y, batch_size=16, epochs=2, verbose=0).history["loss"]
    torch.manual_seed(1)
    b = swept.fit(x, y, batch_size=16, epochs=2, verbose=0).history["loss"]
    assert a == b


def test_plot_writes_a_png_and_marks_the_suggestion(tmp_path):
    pytest.importorskip("matplotlib")
    x, y = _regression(256)
    finder = _linear().find_learning_rate(x, y, batch_size=32, steps=40)
    path = tmp_path / "lr.png"
    figure = finder.plot(to_file=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and os.listdir(tmp_path) == ["lr.png"]
    (axes,) = figure.axes
    assert axes.get_xscale() == "log" and axes.get_xlabel() == "Learning rate"
    curve, marker = axes.get_lines()
    np.testing.assert_array_equal(curve.get_xdata(), finder.learning_rates)
    np.testing.assert_array_equal(curve.get_ydata(), finder.losses)
    assert list(marker.get_xdata()) == [finder.suggestion]


def test_datasets_and_loaders_work_and_data_running_out_warns():
    x, y = _regression(64)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    finder = _linear().find_learning_rate(dataset, batch_size=8, steps=20,
                                          max_learning_rate=1e-2)
    assert len(finder.losses) == 20  # 8 batches a pass: passed over again

    def three_batches():
        for i in range(3):
            yield x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]

    with pytest.warns(UserWarning) as record:
        finder = _linear().find_learning_rate(three_batches(), steps=20)
    messages = [str(warning.message) for warning in record]
    assert len(messages) == 2 and "data ran out after 3 of 20 steps" in messages[0]
    assert "too few to suggest" in messages[1]
    assert len(finder.losses) == 3 and finder.suggestion is None


def test_too_few_steps_give_no_suggestion():
    x, y = _regression(64)
    with pytest.warns(UserWarning, match="too few to suggest"):
        finder = _linear().find_learning_rate(x, y, steps=5, max_learning_rate=1e-3)
    assert finder.suggestion is None and len(finder.learning_rates) == 5


def test_arguments_are_checked():
    x, y = _regression(16)
    model = torchfit.Sequential(nn.Linear(8, 1), device="cpu")
    with pytest.raises(ValueError, match="find_learning_rate needs a compiled model"):
        model.find_learning_rate(x, y)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="smaller than `max_learning_rate`.*min_learning_rate=1"):
        model.find_learning_rate(x, y, min_learning_rate=1, max_learning_rate=0.1)
    with pytest.raises(ValueError, match="`min_learning_rate` must be a positive number"):
        model.find_learning_rate(x, y, min_learning_rate=0.0)
    with pytest.raises(ValueError, match="`steps` must be an integer of at least 2.*steps=1"):
        model.find_learning_rate(x, y, steps=1)


def test_smoothing_and_suggestion_helpers():
    raw = [3.0, 1.0, 2.0, math.inf]
    assert smooth_losses(raw)[:3] == pytest.approx(_lightning_smoothing(raw)[:3])
    rates = list(np.geomspace(1e-4, 1, 30))
    # A loss that falls fastest at 1e-2 (a logistic in log10(lr)), then rises.
    losses = [1 / (1 + math.exp(3 * (math.log10(r) + 2))) + (r > 0.3) for r in rates]
    best = steepest_descent(rates, losses)
    assert abs(math.log10(best) + 2) < 0.15
    assert steepest_descent(rates[:11], losses[:11]) is None
    result = LearningRateFinder(rates, losses)
    assert result.learning_rates == rates and result.raw_losses == losses
    assert "suggestion=" in repr(result)
