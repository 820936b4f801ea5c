"""Utilities: `set_random_seed`, `summary` (model.summary's table), `plot_model` and
`plot_history`.

`plot_model` imports pydot, and `plot_history` matplotlib, only when called, so importing
torchfit never needs them.
"""

from torchfit.utils.history_plot import plot_history
from torchfit.utils.plot import plot_model
from torchfit.utils.seed import set_random_seed
from torchfit.utils.summary import summary

__all__ = ["set_random_seed", "summary", "plot_model", "plot_history"]
