"""Hinge metrics: the running means of the hinge losses (Keras names and default names).

Named `hinge_metrics.py` (as in Keras) so that the module never shadows the function `hinge`.

The per-sample functions are the losses' own (`torchfit.losses.hinge`, ...), so a hinge logged
as a metric equals the same hinge used as the loss. Labels in {0, 1} are mapped to {-1, 1} by
`hinge` and `squared_hinge`, as in both tf.keras 2 and Keras 3.
"""

from torchfit.losses import categorical_hinge, hinge, squared_hinge
from torchfit.metrics.reduction import MeanMetricWrapper

__all__ = ["CategoricalHinge", "Hinge", "SquaredHinge"]


class Hinge(MeanMetricWrapper):
    """Running mean of `hinge`: `mean(max(1 - y_true * y_pred, 0), axis=-1)`.

    Example:
        >>> m = torchfit.metrics.Hinge()
        >>> m.update_state(torch.tensor([[0.0, 1.0], [0.0, 0.0]]),
        ...                torch.tensor([[0.6, 0.4], [0.4, 0.6]]))
        >>> m.result()  # Keras's own docstring example
        tensor(1.3000)
    """

    higher_is_better = False

    def __init__(self, name="hinge", dtype=None):
        super().__init__(hinge, name=name, dtype=dtype)


class SquaredHinge(MeanMetricWrapper):
    """Running mean of `squared_hinge`: `mean(max(1 - y_true * y_pred, 0) ** 2, axis=-1)`.

    Example:
        >>> m = torchfit.metrics.SquaredHinge()
        >>> m.update_state(torch.tensor([[0.0, 1.0], [0.0, 0.0]]),
        ...                torch.tensor([[0.6, 0.4], [0.4, 0.6]]))
        >>> m.result()  # Keras's own docstring example
        tensor(1.8600)
    """

    higher_is_better = False

    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, name=name, dtype=dtype)


class CategoricalHinge(MeanMetricWrapper):
    """Running mean of `categorical_hinge` (one-hot labels): `max(neg - pos + 1, 0)`.

    Example:
        >>> m = torchfit.metrics.CategoricalHinge()
        >>> m.update_state(torch.tensor([[0.0, 1.0], [0.0, 0.0]]),
        ...                torch.tensor([[0.6, 0.4], [0.4, 0.6]]))
        >>> m.result()  # Keras's own docstring example
        tensor(1.4000)
    """

    higher_is_better = False

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, name=name, dtype=dtype)
