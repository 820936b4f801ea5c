"""Small datasets with Keras's `load_data()` API: `torchfit.datasets.mnist.load_data()`."""

from torchfit.datasets import mnist

__all__ = ["mnist"]
