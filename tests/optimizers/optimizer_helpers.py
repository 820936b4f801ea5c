"""Shared by tests/optimizers: a tiny model and data, the hand-written torch loop, comparisons."""

import torch

X = torch.randn(16, 4, generator=torch.Generator().manual_seed(1))
Y = torch.randn(16, 2, generator=torch.Generator().manual_seed(2))


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def loss_of(model):
    return torch.nn.functional.mse_loss(model(X), Y)


def train(model, optimizer, steps=5, edit_grads=None):
    """The hand-written torch loop; ``edit_grads`` may clip the gradients in place."""
    for _ in range(steps):
        optimizer.zero_grad()
        loss_of(model).backward()
        if edit_grads is not None:
            with torch.no_grad():
                edit_grads([p.grad for p in model.parameters()])
        optimizer.step()


def train_with_apply_gradients(model, optimizer, steps=5):
    params = list(model.parameters())
    for _ in range(steps):
        grads = torch.autograd.grad(loss_of(model), params)
        optimizer.apply_gradients(zip(grads, params))


def assert_same_params(model, reference):
    for param, expected in zip(model.parameters(), reference.parameters()):
        assert torch.equal(param, expected)


def assert_close_params(model, reference):
    for param, expected in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(param, expected, rtol=1e-6, atol=1e-7)
