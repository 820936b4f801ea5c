"""Find a learning rate with `model.find_learning_rate`, then train with it.

The range test (fastai's and Lightning's `lr_find`) trains for up to 100 batches while the learning
rate grows geometrically from 1e-6 to 1, records the smoothed loss, stops once it diverges, and
suggests the rate where the loss falls fastest. The model is restored afterwards, so the real
training starts from the same weights. The sweep and the training curves are saved as images
with `finder.plot` and `torchfit.utils.plot_history` (matplotlib: `pip install "torchfit[plot]"`).

    python examples/lr_finder.py [--epochs 3] [--out-dir DIR]
"""

import argparse
import os
import tempfile

from torch import nn

import torchfit
from getting_started import load_mnist


def get_model():
    model = torchfit.Model(nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10)))
    model.compile(optimizer=torchfit.optimizers.Adam(),
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def main(out_dir, epochs=3, verbose="auto"):
    torchfit.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_mnist()
    model = get_model()

    finder = model.find_learning_rate(x_train, y_train, batch_size=64,
                                      min_learning_rate=1e-6, max_learning_rate=1.0, steps=100)
    print(f"Swept {len(finder.learning_rates)} learning rates"
          f"{' (stopped: the loss diverged)' if finder.stopped_early else ''}; "
          f"suggestion: {finder.suggestion:.3g}")
    sweep_plot = os.path.join(out_dir, "lr_finder.png")
    finder.plot(to_file=sweep_plot)

    model.optimizer.learning_rate = finder.suggestion  # the weights are as they were
    history = model.fit(x_train, y_train, batch_size=64, epochs=epochs,
                        validation_split=0.1, verbose=verbose)
    history_plot = os.path.join(out_dir, "history.png")
    torchfit.utils.plot_history(history, to_file=history_plot)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"test accuracy with learning_rate={finder.suggestion:.3g}: {accuracy:.4f}")
    print(f"plots: {sweep_plot}, {history_plot}")
    return finder, history, accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out-dir", default=None,
                        help="where to write the plots (default: a new temporary folder)")
    args = parser.parse_args()
    main(args.out_dir or tempfile.mkdtemp(prefix="torchfit-lr-finder-"), epochs=args.epochs)
