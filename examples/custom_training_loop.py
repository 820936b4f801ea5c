"""Part II of the guide, "Using the GradientTape: a first end-to-end example", the PyTorch way.

`torch.autograd.grad` plays the part of the GradientTape; the torchfit optimizer applies the
gradients with Keras's `apply_gradients(zip(grads, model.trainable_weights))`.

    python examples/custom_training_loop.py
"""

import torch
from torch.utils.data import DataLoader, TensorDataset

import torchfit
from getting_started import get_uncompiled_model, load_mnist

# The guide uses SGD(1e-3) for 782 steps per epoch; the bundled sample gives 63 steps per epoch,
# so the learning rate is larger to show the same learning within 3 epochs.
LEARNING_RATE = 0.1


def mnist_loaders(batch_size=64):
    """The training DataLoader (shuffled) and the validation DataLoader (the last 1,000)."""
    (x_train, y_train), _ = load_mnist()
    x_train, y_train = torch.from_numpy(x_train), torch.from_numpy(y_train).long()
    train = DataLoader(TensorDataset(x_train[:-1000], y_train[:-1000]),
                       batch_size=batch_size, shuffle=True)
    val = DataLoader(TensorDataset(x_train[-1000:], y_train[-1000:]), batch_size=64)
    return train, val


def main(epochs=3, log_every=20):
    torchfit.utils.set_random_seed(0)
    model = get_uncompiled_model()
    # Instantiate an optimizer.
    optimizer = torchfit.optimizers.SGD(learning_rate=LEARNING_RATE)
    # Instantiate a loss function.
    loss_fn = torchfit.losses.SparseCategoricalCrossentropy()
    train_dataset, _ = mnist_loaders()

    epoch_losses = []
    for epoch in range(epochs):
        print(f"Start of epoch {epoch}")
        total = torch.zeros(())
        # Iterate over the batches of the dataset.
        for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
            logits = model(x_batch_train)  # Logits for this minibatch
            # Compute the loss value for this minibatch.
            loss_value = loss_fn(y_batch_train, logits)
            # Retrieve the gradients of the trainable weights with respect to the loss.
            grads = torch.autograd.grad(loss_value, model.trainable_weights)
            # Run one step of gradient descent by updating the weights to minimize the loss.
            optimizer.apply_gradients(zip(grads, model.trainable_weights))
            total += loss_value.detach()
            if step % log_every == 0:
                # sync: the guide prints one batch loss every `log_every` steps.
                print(f"Training loss (for one batch) at step {step}: {loss_value.item():.4f}")
                print(f"Seen so far: {(step + 1) * 64} samples")
        epoch_losses.append(float(total) / (step + 1))  # sync: once per epoch
    return epoch_losses


if __name__ == "__main__":
    main()
