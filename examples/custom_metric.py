"""The guide's "Writing custom losses and metrics": a stateful CategoricalTruePositives metric.

    python examples/custom_metric.py
"""

import torch

import torchfit
from getting_started import get_uncompiled_model, load_mnist


class CategoricalTruePositives(torchfit.metrics.Metric):
    """Counts the samples whose predicted class is the true class."""

    higher_is_better = True

    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_weight(name="tp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = (y_pred.argmax(dim=-1) == y_true.reshape(-1)).float()
        if sample_weight is not None:
            values = values * sample_weight.reshape(-1)
        self.true_positives += values.sum()

    def result(self):
        return self.true_positives

    def reset_states(self):
        # The state of the metric will be reset at the start of each epoch.
        self.true_positives.zero_()


def main(epochs=3, verbose="auto"):
    torchfit.utils.set_random_seed(0)
    (x_train, y_train), _ = load_mnist()
    model = get_uncompiled_model()
    model.compile(optimizer=torchfit.optimizers.RMSprop(learning_rate=1e-3),
                  loss=torchfit.losses.SparseCategoricalCrossentropy(),
                  metrics=[CategoricalTruePositives()])
    return model.fit(x_train, y_train, batch_size=64, epochs=epochs, verbose=verbose)


if __name__ == "__main__":
    main()
