"""The guide's "Using sample weighting and class weighting", with NumPy data.

Class "5" is made twice as important, once through `class_weight` and once through the equivalent
`sample_weight`; both give the same training.

    python examples/sample_and_class_weights.py
"""

import numpy as np

import torchfit
from getting_started import get_compiled_model, load_mnist


def main(epochs=4, verbose="auto"):
    (x_train, y_train), _ = load_mnist()
    class_weight = {0: 1., 1: 1., 2: 1., 3: 1., 4: 1.,
                    # Set weight "2" for class "5", making this class 2x more important.
                    5: 2.,
                    6: 1., 7: 1., 8: 1., 9: 1.}
    torchfit.utils.set_random_seed(0)
    model = get_compiled_model()
    by_class = model.fit(x_train, y_train, class_weight=class_weight, batch_size=64,
                         epochs=epochs, verbose=verbose)

    # Here's the same example using `sample_weight` instead:
    sample_weight = np.ones(shape=(len(y_train),))
    sample_weight[y_train == 5] = 2.
    torchfit.utils.set_random_seed(0)
    model = get_compiled_model()
    by_sample = model.fit(x_train, y_train, sample_weight=sample_weight, batch_size=64,
                          epochs=epochs, verbose=verbose)
    return by_class, by_sample


if __name__ == "__main__":
    main()
