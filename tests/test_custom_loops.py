"""Part II of the guide (custom loops) and the override points, run on the bundled MNIST sample."""

import pytest
import torch
from torch import nn

import torchfit
from helpers import blobs


pytestmark = pytest.mark.slow


def test_first_custom_loop_learns():
    import custom_training_loop

    losses = custom_training_loop.main(epochs=3, log_every=1000)
    assert losses[0] > losses[1] > losses[2]


def test_custom_loop_metrics_validation_accuracy_rises_over_three_epochs(capsys):
    import custom_loop_metrics

    history = custom_loop_metrics.main(epochs=3, log_every=1000)
    accuracy = history["val_acc"]
    assert accuracy[0] < accuracy[1] < accuracy[2] and accuracy[2] > 0.8
    assert "Training acc over epoch:" in capsys.readouterr().out


def test_custom_loop_extra_losses_adds_model_losses():
    import custom_loop_extra_losses

    model = custom_loop_extra_losses.get_model()
    x = torch.rand(8, 784)
    for _ in range(3):
        model(x)
    assert len(model.losses) == 1
    with torch.no_grad():
        hidden = model.module[1](model.module[0](x))
        torch.testing.assert_close(model.losses[0], 1e-2 * hidden.sum())
    assert len(custom_loop_extra_losses.main(epochs=1, log_every=1000)) == 1


def test_apply_gradients_equals_the_torch_step():
    torch.manual_seed(0)
    ours, theirs = nn.Linear(4, 3), nn.Linear(4, 3)
    theirs.load_state_dict(ours.state_dict())
    optimizer = torchfit.optimizers.Adam(learning_rate=1e-2)
    reference = torchfit.optimizers.Adam(learning_rate=1e-2).build(theirs.parameters())
    x = torch.randn(16, 4)
    for _ in range(3):
        grads = torch.autograd.grad(ours(x).pow(2).mean(), list(ours.parameters()))
        optimizer.apply_gradients(zip(grads, list(ours.parameters())))
        reference.zero_grad()
        theirs(x).pow(2).mean().backward()
        reference.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)


def test_standalone_losses_and_metrics():
    loss_fn = torchfit.losses.SparseCategoricalCrossentropy(from_logits=True)
    y, logits = torch.tensor([0, 2]), torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    torch.testing.assert_close(loss_fn(y, logits), nn.functional.cross_entropy(logits, y))
    metric = torchfit.metrics.SparseCategoricalAccuracy()
    assert float(metric(y, logits)) == 1.0
    metric.update_state(torch.tensor([1]), torch.tensor([[1.0, 0.0, 0.0]]))
    assert float(metric.result()) == pytest.approx(2 / 3)
    metric.reset_states()
    assert float(metric.result()) == 0.0


def test_overridden_train_and_test_steps_change_fit_and_evaluate():
    import custom_train_step

    x, y = blobs()
    torch.manual_seed(0)
    model = custom_train_step.GradientPenaltyModel(nn.Sequential(nn.Linear(4, 3)), device="cpu")
    model.compile(optimizer="sgd", loss=torchfit.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    xt, yt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(y)
    loss = nn.functional.cross_entropy(model.module(xt), yt)
    (grad,) = torch.autograd.grad(loss, xt)
    expected_penalty = grad.pow(2).sum(1).mean().item()
    logs = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    assert logs["gradient_penalty"] == pytest.approx(expected_penalty, rel=1e-5)
    history = model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    assert history.history["gradient_penalty"][0] == pytest.approx(expected_penalty, rel=1e-5)


def test_custom_train_step_example_runs():
    import custom_train_step

    results = custom_train_step.main(epochs=2, verbose=0)
    history, test = results["GradientPenaltyModel"]
    assert "val_gradient_penalty" in history.history and test["accuracy"] > 0.8
    assert results["SmoothedLossModel"][1]["accuracy"] > 0.8
