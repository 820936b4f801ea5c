"""Part II of the guide, "Low-level handling of extra losses": `sum(model.losses)` in a loop.

A layer adds an activity-regularisation loss in its `forward`; calling the model fills
`model.losses` with exactly the losses of that call, and the loop adds them to the loss.

    python examples/custom_loop_extra_losses.py
"""

import torch
from torch import nn

import torchfit
from custom_training_loop import LEARNING_RATE, mnist_loaders


class ActivityRegularizationLayer(torchfit.Layer):
    def forward(self, inputs):
        self.add_loss(1e-2 * inputs.sum())
        return inputs


def get_model():
    return torchfit.Model(nn.Sequential(
        nn.Linear(784, 64), nn.ReLU(),          # dense_1
        ActivityRegularizationLayer(),          # insert activity regularization as a layer
        nn.Linear(64, 64), nn.ReLU(),           # dense_2
        nn.Linear(64, 10), nn.Softmax(dim=-1),  # predictions
    ))


def main(epochs=3, log_every=20):
    torchfit.utils.set_random_seed(0)
    model = get_model()
    train_dataset, val_dataset = mnist_loaders()
    x_train = train_dataset.dataset.tensors[0]

    # The losses a call creates are in model.losses, cleared at the start of each call.
    model(x_train[:64])
    model(x_train[64:128])
    model(x_train[128:192])
    print(model.losses)  # only the losses of the last call
    assert len(model.losses) == 1

    optimizer = torchfit.optimizers.SGD(learning_rate=LEARNING_RATE)
    loss_fn = torchfit.losses.SparseCategoricalCrossentropy()
    val_acc_metric = torchfit.metrics.SparseCategoricalAccuracy()
    val_accuracy = []
    for epoch in range(epochs):
        print(f"Start of epoch {epoch}")
        for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
            logits = model(x_batch_train)
            loss_value = loss_fn(y_batch_train, logits)
            # Add extra losses created during this forward pass:
            loss_value = loss_value + sum(model.losses)
            grads = torch.autograd.grad(loss_value, model.trainable_weights)
            optimizer.apply_gradients(zip(grads, model.trainable_weights))
            if step % log_every == 0:
                # sync: the guide prints one batch loss every `log_every` steps.
                print(f"Training loss (for one batch) at step {step}: {loss_value.item():.4f}")
        with torch.no_grad():
            for x_batch_val, y_batch_val in val_dataset:
                val_acc_metric(y_batch_val, model(x_batch_val))
        val_accuracy.append(float(val_acc_metric.result()))  # sync: once per epoch
        val_acc_metric.reset_states()
        print(f"Validation acc: {val_accuracy[-1]:.4f}")
    return val_accuracy


if __name__ == "__main__":
    main()
