"""StepPolicy and compile(gradient_accumulation_steps=...)."""

import numpy as np
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
