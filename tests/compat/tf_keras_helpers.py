"""Stand-ins for tf-keras's ``testing_infra/test_utils.py`` helpers, shared by the ported
``test_tf_keras_callbacks*.py`` tests (imported as ``tf_keras_helpers``)."""

import numpy as np
import torch
from torch import nn

import torchfit

TRAIN_SAMPLES, TEST_SAMPLES, NUM_CLASSES, INPUT_DIM, NUM_HIDDEN, BATCH_SIZE = 10, 10, 2, 3, 5, 5


def get_test_data(train_samples, test_samples, input_shape, num_classes, seed=1337):
    """tf-keras's ``test_utils.get_test_data`` (a noisy template per class), one-hot labels."""
    rng = np.random.RandomState(seed)
    templates = 2 * num_classes * rng.random_sample((num_classes,) + input_shape)
    y = rng.randint(0, num_classes, size=(train_samples + test_samples,))
    x = (templates[y] + rng.normal(size=(len(y),) + input_shape)).astype(np.float32)
    y = np.eye(num_classes, dtype=np.float32)[y]
    return (x[:train_samples], y[:train_samples]), (x[train_samples:], y[train_samples:])


def small_mlp(num_hidden=NUM_HIDDEN, num_classes=NUM_CLASSES, input_dim=INPUT_DIM, seed=1337):
    """``get_small_sequential_mlp``: Dense(num_hidden, relu), Dense(num_classes, softmax)."""
    torch.manual_seed(seed)
    last = nn.Sigmoid() if num_classes == 1 else nn.Softmax(dim=-1)
    layers = [nn.Linear(input_dim, num_hidden), nn.Linear(num_hidden, num_classes)]
    for layer in layers:  # Keras's Dense initialisers: glorot_uniform kernel, zero bias
        nn.init.xavier_uniform_(layer.weight), nn.init.zeros_(layer.bias)
    return torchfit.Sequential(layers[0], nn.ReLU(), layers[1], last, device="cpu")


def dense(in_features=1, out_features=1):
    """``keras.Sequential([keras.layers.Dense(out_features)])``."""
    torch.manual_seed(0)
    return torchfit.Sequential(nn.Linear(in_features, out_features), device="cpu")


class Unreadable:
    """A log value whose reading fails (tf-keras's tensor with a raising ``numpy``)."""

    def _fail(self, *args):
        raise RuntimeError("If this error is seen, a callback read the logs (a blocking NumPy "
                           "conversion) even when it had nothing to do with them.")

    __float__ = __array__ = item = _fail
