"""Utilities: `set_random_seed`, `summary` (model.summary's table) and `plot_model`.

`plot_model` imports pydot only when called, so importing torchfit never needs it.
"""

from torchfit.utils.plot import plot_model
from torchfit.utils.seed import set_random_seed
from torchfit.utils.summary import summary

__all__ = ["set_random_seed", "summary", "plot_model"]
