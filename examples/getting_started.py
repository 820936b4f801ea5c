"""The guide's "API overview: a first end-to-end example", the PyTorch way.

Trains the guide's MLP (784-64-64-10) on the bundled MNIST sample with a holdout validation set,
evaluates on the official 10,000 test images and predicts three samples.

    python examples/getting_started.py [--epochs 3] [--verbose 1]
"""

import argparse

from torch import nn

import torchfit


def get_uncompiled_model():
    # The guide's functional model; named submodules play the role of Keras layer names.
    return torchfit.Model(nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 64), nn.ReLU(),   # dense_1
        nn.Linear(64, 64), nn.ReLU(),    # dense_2
        nn.Linear(64, 10), nn.Softmax(dim=-1),  # predictions
    ))


def get_compiled_model():
    model = get_uncompiled_model()
    model.compile(optimizer=torchfit.optimizers.RMSprop(learning_rate=1e-3),
                  loss="sparse_categorical_crossentropy",
                  metrics=["sparse_categorical_accuracy"])
    return model


def load_mnist():
    """The bundled sample as float32 vectors in [0, 1], as in the guide."""
    (x_train, y_train), (x_test, y_test) = torchfit.datasets.mnist.load_data(sample=True)
    x_train = x_train.reshape(-1, 784).astype("float32") / 255
    x_test = x_test.reshape(-1, 784).astype("float32") / 255
    return (x_train, y_train), (x_test, y_test)


def main(epochs=3, verbose="auto"):
    torchfit.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_mnist()
    # Reserve the last 1,000 samples for validation (the guide reserves 10,000 of 60,000).
    x_val, y_val = x_train[-1000:], y_train[-1000:]
    x_train, y_train = x_train[:-1000], y_train[:-1000]

    model = get_uncompiled_model()
    model.compile(optimizer=torchfit.optimizers.RMSprop(),  # Optimizer
                  # Loss function to minimize
                  loss=torchfit.losses.SparseCategoricalCrossentropy(),
                  # List of metrics to monitor
                  metrics=[torchfit.metrics.SparseCategoricalAccuracy()])

    print("# Fit model on training data")
    history = model.fit(x_train, y_train, batch_size=64, epochs=epochs,
                        validation_data=(x_val, y_val), verbose=verbose)
    print("\nhistory dict:", history.history)

    print("\n# Evaluate on test data")
    results = model.evaluate(x_test, y_test, batch_size=128, verbose=verbose)
    print("test loss, test acc:", results)

    print("\n# Generate predictions for 3 samples")
    predictions = model.predict(x_test[:3], verbose=0)
    print("predictions shape:", predictions.shape)
    return history, results, predictions


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--verbose", default="auto",
                        type=lambda v: v if v == "auto" else int(v))
    args = parser.parse_args()
    main(args.epochs, args.verbose)
