"""torchfit.optimizers.keras_update, through the optimizers built on it (Adafactor, Ftrl, Lamb,
Lion): real torch optimizers with Keras's arguments, state, schedules, clipping and config."""

import io

import numpy as np
import pytest
import torch

import torchfit
from optimizer_helpers import X, Y, assert_same_params, loss_of, make_model, train
from torchfit import optimizers, schedules
from torchfit.optimizers.keras_update import KerasUpdate

CLASSES = [optimizers.Adafactor, optimizers.Ftrl, optimizers.Lamb, optimizers.Lion]
NAMES = ["adafactor", "ftrl", "lamb", "lion"]


@pytest.mark.parametrize("cls", CLASSES)
def test_state_dict_round_trip_resumes_bit_exactly(cls):
    model, clone = make_model(), make_model()
    optimizer = cls(learning_rate=0.01, weight_decay=0.01).build(model.parameters())
    train(model, optimizer, steps=3)
    clone.load_state_dict(model.state_dict())
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert state["iterations"] == 3 and state["param_groups"][0]["step"] == 3
    resumed = cls(learning_rate=0.01, weight_decay=0.01).build(clone.parameters())
    resumed.load_state_dict(state)
    train(model, optimizer, steps=4)
    train(clone, resumed, steps=4)
    assert_same_params(clone, model)
    assert resumed.iterations == optimizer.iterations == 7


@pytest.mark.parametrize("name", NAMES)
def test_compile_by_name_and_fit(name):
    model = torchfit.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    model.compile(optimizer=name, loss="mse")
    assert isinstance(model.optimizer, optimizers.get(name).__class__)
    assert isinstance(model.optimizer, torch.optim.Optimizer)
    before = model.evaluate(X.numpy(), Y.numpy(), verbose=0)
    model.fit(X.numpy(), Y.numpy(), epochs=5, batch_size=4, verbose=0)
    assert model.optimizer.iterations == 20
    assert model.evaluate(X.numpy(), Y.numpy(), verbose=0) < before


@pytest.mark.parametrize("cls", CLASSES)
def test_a_schedule_sets_each_steps_learning_rate(cls):
    """Step s runs with schedule(s): the same as setting that float before each step by hand."""
    schedule = schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5)
    model, reference = make_model(), make_model()
    optimizer = cls(learning_rate=schedule).build(model.parameters())
    by_hand = cls(learning_rate=0.05).build(reference.parameters())
    for step in range(5):
        by_hand.param_groups[0]["lr"] = schedule(step)
        train(reference, by_hand, steps=1)
    train(model, optimizer, steps=5)
    assert_same_params(model, reference)


@pytest.mark.parametrize("cls", CLASSES)
def test_clipping_updates_with_the_clipped_gradients(cls):
    def clip(grads):
        for grad in grads:
            grad.clamp_(-0.01, 0.01)

    model, reference = make_model(), make_model()
    train(model, cls(learning_rate=0.01, clipvalue=0.01).build(model.parameters()))
    train(reference, cls(learning_rate=0.01).build(reference.parameters()), edit_grads=clip)
    assert_same_params(model, reference)


@pytest.mark.parametrize("cls", CLASSES)
def test_config_round_trip_with_a_schedule_and_keras_only_options(cls):
    schedule = schedules.CosineDecay(0.1, decay_steps=10)
    optimizer = cls(learning_rate=schedule, clipnorm=2.0, name="mine")
    config = optimizer.get_config()
    assert config["learning_rate"]["class_name"] == "CosineDecay"
    rebuilt = cls.from_config(dict(config, use_ema=False, ema_momentum=0.99))
    assert rebuilt.get_config() == config and rebuilt.name == "mine"
    assert isinstance(rebuilt.learning_rate, schedules.CosineDecay)
    with pytest.raises(ValueError, match=r"received use_ema=True: torchfit optimizers have no"):
        cls.from_config(dict(config, use_ema=True))


@pytest.mark.parametrize("cls", CLASSES)
def test_parameters_without_gradient_are_left_alone(cls):
    used, unused = torch.nn.Parameter(torch.ones(2, 2)), torch.nn.Parameter(torch.ones(2))
    optimizer = cls(learning_rate=0.1, weight_decay=0.5).build([used, unused])
    optimizer.apply_gradients([(torch.ones(2, 2), used)])
    assert torch.equal(unused.detach(), torch.ones(2)) and not optimizer.state[unused]
    assert not torch.equal(used.detach(), torch.ones(2, 2))


def test_sparse_gradients_are_refused():
    weight = torch.nn.Parameter(torch.ones(3, 2))
    optimizer = optimizers.Lion().build([weight])
    weight.grad = torch.ones(3, 2).to_sparse()
    with pytest.raises(TypeError, match=r"Lion does not support sparse gradients.*shape \(3, 2\)"):
        optimizer.step()


def test_step_returns_the_closure_loss_and_counts_steps():
    class SignSGD(KerasUpdate):
        def _update(self, group, params, grads, states):
            torch._foreach_add_(params, [g.sign() for g in grads], alpha=-group["lr"])

    model = make_model()
    optimizer = SignSGD(model.parameters(), lr=0.1, weight_decay=0.5)
    before = [p.detach().clone() for p in model.parameters()]

    def closure():
        optimizer.zero_grad()
        loss = loss_of(model)
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    assert torch.is_tensor(loss) and optimizer.param_groups[0]["step"] == 1
    for param, old in zip(model.parameters(), before):  # decay, then the sign step
        expected = old * (1 - 0.5 * 0.1) - 0.1 * param.grad.sign()
        torch.testing.assert_close(param.detach(), expected)


def test_no_host_sync_in_a_step():
    """Every data-dependent quantity stays a tensor: a step runs with sync debug mode erroring."""
    if not torch.cuda.is_available():
        pytest.skip("torch's sync debug mode reports CUDA synchronisations")
    model = make_model().cuda()
    for cls in CLASSES:
        optimizer = cls(weight_decay=0.01).build(model.parameters())
        loss = torch.nn.functional.mse_loss(model(X.cuda()), Y.cuda())
        loss.backward()
        torch.cuda.set_sync_debug_mode("error")
        try:
            optimizer.step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert np.isfinite(float(loss))
