"""Customising what `fit` does by overriding `train_step`, `test_step` and `compute_loss`.

`GradientPenaltyModel` penalises the norm of the loss gradient with respect to the inputs (a
double-backward "input gradient penalty", a common robustness regulariser) and logs the penalty
as a metric; `evaluate` reports it too through an overridden `test_step`. `fit`, callbacks,
validation and the progress bar work unchanged.

    python examples/custom_train_step.py
"""

import torch
from torch import nn

import torchfit
from getting_started import load_mnist


class GradientPenaltyModel(torchfit.Model):
    def __init__(self, module, penalty=0.1, **kwargs):
        super().__init__(module, **kwargs)
        self.penalty = penalty
        self.penalty_tracker = torchfit.metrics.Mean(name="gradient_penalty")

    @property
    def metrics(self):
        # Listing the tracker here makes fit/evaluate reset it each epoch and log it.
        return super().metrics + [self.penalty_tracker]

    def _loss_and_penalty(self, x, y, sample_weight, create_graph):
        x = x.detach().requires_grad_(True)
        y_pred = self(x)
        loss = self.compute_loss(x, y, y_pred, sample_weight)
        (grad,) = torch.autograd.grad(loss, x, create_graph=create_graph)
        return y_pred, loss, grad.pow(2).sum(dim=1).mean()

    def train_step(self, data):
        x, y, sample_weight = torchfit.data.unpack_x_y_sample_weight(data)
        y_pred, loss, penalty = self._loss_and_penalty(x, y, sample_weight, create_graph=True)
        self.optimizer.zero_grad(set_to_none=True)
        (loss + self.penalty * penalty).backward()
        self.optimizer.step()
        self.penalty_tracker.update_state(penalty.detach())
        return self.compute_metrics(x, y, y_pred.detach(), sample_weight)

    def test_step(self, data):
        x, y, sample_weight = torchfit.data.unpack_x_y_sample_weight(data)
        with torch.enable_grad():  # evaluate runs under no_grad; the penalty needs a gradient
            y_pred, _, penalty = self._loss_and_penalty(x, y, sample_weight, create_graph=False)
        self.penalty_tracker.update_state(penalty)
        return self.compute_metrics(x, y, y_pred.detach(), sample_weight)


class SmoothedLossModel(torchfit.Model):
    """Overriding `compute_loss` alone: add a confidence penalty to whatever was compiled."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        loss = super().compute_loss(x, y, y_pred, sample_weight)
        probabilities = y_pred.softmax(dim=-1)
        negative_entropy = (probabilities * probabilities.clamp_min(1e-7).log()).sum(-1).mean()
        return loss + 0.1 * negative_entropy


def mlp():
    return nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                         nn.Linear(64, 10))


def main(epochs=3, verbose="auto"):
    torchfit.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_mnist()
    results = {}
    for model in (GradientPenaltyModel(mlp()), SmoothedLossModel(mlp())):
        model.compile(optimizer=torchfit.optimizers.RMSprop(1e-3),
                      loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        history = model.fit(x_train, y_train, batch_size=64, epochs=epochs,
                            validation_split=0.2, verbose=verbose)
        test = model.evaluate(x_test, y_test, batch_size=256, verbose=0, return_dict=True)
        print(type(model).__name__, "test:", test)
        results[type(model).__name__] = (history, test)
    return results


if __name__ == "__main__":
    main()
