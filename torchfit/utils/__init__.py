"""Utilities: `set_random_seed`."""

from torchfit.utils.seed import set_random_seed

__all__ = ["set_random_seed"]
