"""StepPolicy and compile(gradient_accumulation_steps=...)."""

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from helpers import blobs, make_model
from torchfit.trainer.step import StepPolicy

X, Y = blobs()


def test_gradient_accumulation_equals_one_large_batch_with_sample_weights():
    weights = np.linspace(0.5, 2.0, len(Y))
    loss = torchfit.losses.SparseCategoricalCrossentropy(from_logits=True)
    large = make_model()
    large.compile(optimizer=torchfit.optimizers.SGD(0.1), loss=loss)
    large.fit(X, Y, sample_weight=weights, batch_size=32, epochs=2, shuffle=False, verbose=0)
    accumulated = make_model()
    accumulated.compile(optimizer=torchfit.optimizers.SGD(0.1), loss=loss,
                        gradient_accumulation_steps=4)
    accumulated.fit(X, Y, sample_weight=weights, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert accumulated.optimizer.iterations == large.optimizer.iterations == 4
    for ours, theirs in zip(accumulated.parameters(), large.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_the_common_step_is_exactly_the_plain_torch_step():
    torch.manual_seed(0)
    ours, theirs = nn.Linear(3, 2), nn.Linear(3, 2)
    theirs.load_state_dict(ours.state_dict())
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    policy = StepPolicy("32", "cpu")
    x = torch.randn(5, 3)
    for _ in range(3):
        policy.backward_and_step(ours(x).pow(2).mean(), opt_ours)
        opt_theirs.zero_grad(set_to_none=True)
        theirs(x).pow(2).mean().backward()
        opt_theirs.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)


def test_accumulation_steps_the_optimizer_every_n_calls_on_the_mean_gradient():
    torch.manual_seed(0)
    net, reference = nn.Linear(3, 1), nn.Linear(3, 1)
    reference.load_state_dict(net.state_dict())
    policy = StepPolicy("32", "cpu", accumulation_steps=3)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    batches = [torch.randn(4, 3) for _ in range(3)]
    for i, x in enumerate(batches):
        before = net.weight.detach().clone()
        policy.backward_and_step(net(x).pow(2).mean(), optimizer)
        assert torch.equal(net.weight, before) == (i < 2)
    assert all(p.grad is None for p in net.parameters())  # zeroed after the step
    # One step on the mean of the three micro-batch losses, by hand.
    loss = sum(reference(x).pow(2).mean() for x in batches) / 3
    grads = torch.autograd.grad(loss, list(reference.parameters()))
    expected = [q.detach() - 0.5 * h for q, h in zip(reference.parameters(), grads)]
    for p, e in zip(net.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-6, atol=1e-7)


def test_forward_casts_low_precision_outputs_to_float32():
    class Half(nn.Module):
        def forward(self, x):
            return x.to(torch.bfloat16), x.long()

    model = torchfit.Model(Half(), device="cpu")
    policy = StepPolicy("bf16-mixed", "cpu")
    floating, integral = policy.forward(model, torch.ones(2, 2))
    assert floating.dtype == torch.float32 and integral.dtype == torch.int64
    assert StepPolicy("32", "cpu").forward(model, torch.ones(2, 2))[0].dtype == torch.bfloat16


def _regression_data(dtype=np.float32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype(dtype)
    y = np.sin(x.sum(axis=1, keepdims=True)).astype(dtype)
    return x, y


def _mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))


def test_closure_optimizer_gives_the_hand_written_lbfgs_loop():
    x, y = _regression_data(np.float64)
    reference = _mlp().double()
    optimizer = torch.optim.LBFGS(reference.parameters(), lr=0.8)
    criterion = nn.MSELoss()
    losses = []
    for _ in range(3):  # the time_sequence_prediction loop, one full batch per epoch
        def closure():
            optimizer.zero_grad()
            loss = criterion(reference(torch.from_numpy(x)), torch.from_numpy(y))
            loss.backward()
            return loss
        losses.append(float(closure().detach()))  # the loss before this step, as fit logs it
        optimizer.step(closure)
    net = _mlp().double()
    model = torchfit.Model(net, device="cpu")
    model.compile(optimizer=torch.optim.LBFGS(net.parameters(), lr=0.8), loss="mse",
                  metrics=["mae"])
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    for ours, theirs in zip(net.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-6)  # logged in float32
    assert len(history.history["mae"]) == 3


def test_closure_optimizer_in_train_on_batch_and_its_refusals():
    x, y = _regression_data()
    net = _mlp()
    model = torchfit.Model(net, device="cpu")
    model.compile(optimizer=torch.optim.LBFGS(net.parameters()), loss="mse")
    before = [p.detach().clone() for p in net.parameters()]
    model.train_on_batch(x, y)
    assert not all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    with pytest.raises(ValueError, match="LBFGS.*closure.*gradient_accumulation_steps=4"):
        model.compile(optimizer=torch.optim.LBFGS(net.parameters()), loss="mse",
                      gradient_accumulation_steps=4)


def test_a_model_without_trainable_weights_warns_once_and_keeps_its_weights():
    x, y = _regression_data()
    net = _mlp()
    net.requires_grad_(False)
    before = [p.detach().clone() for p in net.parameters()]
    model = torchfit.Model(net, device="cpu")
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    with pytest.warns(UserWarning, match="does not have any trainable weights") as record:
        history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
        model.train_on_batch(x, y)
    assert len([w for w in record if "trainable weights" in str(w.message)]) == 1
    expected = float(nn.functional.mse_loss(net(torch.from_numpy(x)), torch.from_numpy(y)))
    np.testing.assert_allclose(history.history["loss"][-1], expected, rtol=1e-6)
    assert len(history.history["mae"]) == 2
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_a_partly_frozen_model_trains_only_its_trainable_weights():
    x, y = _regression_data()
    net = _mlp()
    net[0].requires_grad_(False)
    frozen = [p.detach().clone() for p in net[0].parameters()]
    head = [p.detach().clone() for p in net[2].parameters()]
    model = torchfit.Model(net, device="cpu")
    model.compile(optimizer="adam", loss="mse")
    held = [p for group in model.optimizer.param_groups for p in group["params"]]
    assert {id(p) for p in held} == {id(p) for p in net[2].parameters()}
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert all(torch.equal(a, b) for a, b in zip(frozen, net[0].parameters()))
    assert not any(torch.equal(a, b) for a, b in zip(head, net[2].parameters()))


def _hand_written_clipped_loop(clip, epochs=3, batch_size=8, precision="32"):
    """word_language_model's loop: backward, clip, SGD at lr=20, on make_model's network."""
    net = make_model().module
    optimizer = torch.optim.SGD(net.parameters(), lr=20.0)
    scaler = torch.amp.GradScaler("cpu") if precision == "16-mixed" else None
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.float16, enabled=scaler is not None):
                logits = net(x[start:start + batch_size])
            loss = nn.functional.cross_entropy(logits.float(), y[start:start + batch_size])
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            clip(list(net.parameters()))
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
    return net


def _compiled_clipped_fit(epochs=3, batch_size=8, **compile_kwargs):
    model = make_model()
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=20.0),
                  loss=nn.CrossEntropyLoss(), **compile_kwargs)
    model.fit(X, Y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    return model.module


@pytest.mark.parametrize("kwargs,clip", [
    ({"global_clipnorm": 0.25}, lambda p: torch.nn.utils.clip_grad_norm_(p, 0.25)),
    ({"clipvalue": 0.01}, lambda p: torch.nn.utils.clip_grad_value_(p, 0.01)),
    ({"clipnorm": 0.1}, lambda p: [g.mul_(0.1 / g.norm().clamp(min=0.1))
                                   for g in (q.grad for q in p)]),
], ids=["global_clipnorm", "clipvalue", "clipnorm"])
def test_compile_clipping_applies_to_a_torch_optimizer_as_the_hand_written_loop(kwargs, clip):
    theirs = _hand_written_clipped_loop(clip)
    ours = _compiled_clipped_fit(**kwargs)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12 if "global_clipnorm" in kwargs
                                   else 1e-6)


def test_compile_clipping_sees_unscaled_gradients_under_the_grad_scaler():
    theirs = _hand_written_clipped_loop(lambda p: torch.nn.utils.clip_grad_norm_(p, 0.25),
                                        epochs=1, precision="16-mixed")
    ours = _compiled_clipped_fit(epochs=1, global_clipnorm=0.25, precision="16-mixed")
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_compile_clipping_refusals():
    model = make_model()
    with pytest.raises(ValueError, match=r"Only one of `clipnorm` and `global_clipnorm`.*"
                                         r"Received: clipnorm=1.0, global_clipnorm=2.0"):
        model.compile(optimizer="sgd", loss="mse", clipnorm=1.0, global_clipnorm=2.0)
    with pytest.raises(ValueError, match=r"clipvalue=0.5 in compile\(\) and clipnorm=1.0 on the "
                                         r"SGD optimizer.*Set clipping in one place"):
        model.compile(optimizer=torchfit.optimizers.SGD(clipnorm=1.0), loss="mse", clipvalue=0.5)
    with pytest.raises(ValueError, match=r"`global_clipnorm` must be > 0"):
        model.compile(optimizer="sgd", loss="mse", global_clipnorm=0)


def test_no_clipping_keeps_the_plain_step():
    model = make_model()
    model.compile(optimizer="sgd", loss="mse")
    assert model._step._plain and model._step._clipping is None
    model.compile(optimizer="sgd", loss="mse", clipvalue=1.0)
    assert not model._step._plain


def test_compile_clipping_runs_inside_the_closure_of_a_closure_optimizer():
    x, y = _regression_data(np.float64)
    reference = _mlp().double()
    optimizer = torch.optim.LBFGS(reference.parameters(), lr=0.8)
    for _ in range(3):
        def closure():
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(reference(torch.from_numpy(x)), torch.from_numpy(y))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.05)
            return loss
        optimizer.step(closure)
    net = _mlp().double()
    model = torchfit.Model(net, device="cpu")
    model.compile(optimizer=torch.optim.LBFGS(net.parameters(), lr=0.8), loss="mse",
                  global_clipnorm=0.05)
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    for ours, theirs in zip(net.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)


def test_a_closure_optimizer_without_a_reevaluation_says_what_to_pass():
    net = _mlp()
    optimizer = torch.optim.LBFGS(net.parameters())
    policy = StepPolicy("32", "cpu")
    policy.bind(optimizer, net.parameters())
    x, y = (torch.from_numpy(a) for a in _regression_data())
    with pytest.raises(RuntimeError, match="LBFGS optimizer evaluates the loss several times"):
        policy.backward_and_step(nn.functional.mse_loss(net(x), y), optimizer)


def test_check_loss_skips_backward_and_step_for_a_non_finite_loss():
    net = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    policy = StepPolicy("32", "cpu")
    policy.check_loss = True  # what TerminateOnNaN sets for its fit
    before = net.weight.detach().clone()
    policy.backward_and_step(net(torch.ones(1, 2)).sum() * float("inf"), optimizer)
    assert policy.last_check is False and net.weight.grad is None
    assert torch.equal(net.weight, before)
    policy.backward_and_step(net(torch.ones(1, 2)).sum(), optimizer)
    assert policy.last_check is True and not torch.equal(net.weight, before)
