"""Part II of the guide, "Low-level handling of metrics": metrics in a hand-written loop.

Instantiate the metric, call it (update) after each batch, read `result()` at the end of the
epoch, then `reset_states()`.

    python examples/custom_loop_metrics.py
"""

import torch

import torchfit
from custom_training_loop import LEARNING_RATE, mnist_loaders
from getting_started import get_uncompiled_model


def main(epochs=3, log_every=20):
    torchfit.utils.set_random_seed(0)
    model = get_uncompiled_model()
    optimizer = torchfit.optimizers.SGD(learning_rate=LEARNING_RATE)
    loss_fn = torchfit.losses.SparseCategoricalCrossentropy()
    # Prepare the metrics.
    train_acc_metric = torchfit.metrics.SparseCategoricalAccuracy()
    val_acc_metric = torchfit.metrics.SparseCategoricalAccuracy()
    train_dataset, val_dataset = mnist_loaders()

    history = {"train_acc": [], "val_acc": []}
    for epoch in range(epochs):
        print(f"Start of epoch {epoch}")
        for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
            logits = model(x_batch_train)
            loss_value = loss_fn(y_batch_train, logits)
            grads = torch.autograd.grad(loss_value, model.trainable_weights)
            optimizer.apply_gradients(zip(grads, model.trainable_weights))
            # Update training metric.
            train_acc_metric(y_batch_train, logits)
            if step % log_every == 0:
                # sync: the guide prints one batch loss every `log_every` steps.
                print(f"Training loss (for one batch) at step {step}: {loss_value.item():.4f}")
        # Display metrics at the end of each epoch.
        train_acc = float(train_acc_metric.result())  # sync: once per epoch
        print(f"Training acc over epoch: {train_acc:.4f}")
        # Reset training metrics at the end of each epoch.
        train_acc_metric.reset_states()
        # Run a validation loop at the end of each epoch.
        with torch.no_grad():
            for x_batch_val, y_batch_val in val_dataset:
                val_logits = model(x_batch_val)
                # Update val metrics.
                val_acc_metric(y_batch_val, val_logits)
        val_acc = float(val_acc_metric.result())  # sync: once per epoch
        val_acc_metric.reset_states()
        print(f"Validation acc: {val_acc:.4f}")
        history["train_acc"].append(train_acc)
        history["val_acc"].append(val_acc)
    return history


if __name__ == "__main__":
    main()
