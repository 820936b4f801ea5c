"""The guide's "Automatically setting apart a validation holdout set".

`validation_split=0.2` keeps the *last* 20% of the arrays for validation, before any shuffling.

    python examples/validation_split.py
"""

import torchfit
from getting_started import get_compiled_model, load_mnist


def main(epochs=3, verbose="auto"):
    torchfit.utils.set_random_seed(0)
    (x_train, y_train), _ = load_mnist()
    model = get_compiled_model()
    return model.fit(x_train, y_train, batch_size=64, validation_split=0.2, epochs=epochs,
                     verbose=verbose)


if __name__ == "__main__":
    main()
