"""The guide's "Specifying a loss, metrics, and an optimizer", the PyTorch way.

The same model compiled four ways: torchfit objects, string identifiers, plain torch objects
(a `torch.optim` class and an `nn.CrossEntropyLoss` module), and a custom loss function.

    python examples/losses_metrics_optimizers.py
"""

import torch
from torch import nn

import torchfit
from getting_started import get_uncompiled_model, load_mnist


def logits_model():
    """The guide's MLP without the final softmax: the usual PyTorch form."""
    model = get_uncompiled_model()
    model.module = model.module[:-1]
    return model


def custom_mean_squared_error(y_true, y_pred):
    """A loss is any function of (y_true, y_pred) returning per-sample values."""
    one_hot = nn.functional.one_hot(y_true.long(), y_pred.shape[-1]).float()
    return (one_hot - y_pred.softmax(-1)).pow(2).mean(-1)


def main(epochs=1, verbose="auto"):
    torchfit.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_mnist()
    configurations = {
        "objects": dict(optimizer=torchfit.optimizers.RMSprop(learning_rate=1e-3),
                        loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
                        metrics=[torchfit.metrics.SparseCategoricalAccuracy()]),
        "strings": dict(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                        metrics=["sparse_categorical_accuracy"]),
        "torch": dict(optimizer=torch.optim.Adam, loss=nn.CrossEntropyLoss(),
                      metrics=["accuracy"]),
        "custom loss": dict(optimizer="adam", loss=custom_mean_squared_error,
                            metrics=["sparse_categorical_accuracy"]),
    }
    results = {}
    for name, config in configurations.items():
        model = get_uncompiled_model() if name == "strings" else logits_model()
        model.compile(**config)
        print(f"# {name}: metrics {model.metrics_names or '(known after the first batch)'}")
        model.fit(x_train, y_train, batch_size=64, epochs=epochs, verbose=verbose)
        results[name] = model.evaluate(x_test, y_test, batch_size=128, verbose=0,
                                       return_dict=True)
        print(f"  test: {results[name]}")
    return results


if __name__ == "__main__":
    main()
