"""Keras losses for PyTorch: Keras names, `(y_true, y_pred)` order, tf.keras 2.x formulas.

Every loss is a `Loss` object called as `loss(y_true, y_pred, sample_weight=None)`, returning a
scalar tensor (or per-sample losses with `reduction="none"`), and has a snake_case function
counterpart returning per-sample losses (`mean_squared_error(y_true, y_pred)`). `get(identifier)`
resolves what `Model.compile(loss=...)` receives: a name, a `Loss`, any `nn.Module` (torch's
loss modules and your own, called in torch order, `module(y_pred, y_true)`) or any other callable
`fn(y_true, y_pred)` (Keras order). As in Keras 3, `get` returns the function for a function name
or alias (`get("mse") is mean_squared_error`) and an instance for a class name;
`to_loss(identifier)` always returns a `Loss` (what `compile` uses).

The package: `loss.py` (the `Loss` base class, sample weighting and reductions), `functions.py`
(the per-sample functions and their shared input checks), `classes.py` (one `Loss` class per
function), `wrappers.py` (`LossFunctionWrapper`, `TorchLossWrapper`) and, here, the registry.
"""

import torch as _torch

from torchfit.losses.classes import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    Huber,
    KLDivergence,
    LogCosh,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)
from torchfit.losses.functions import (
    KLD,
    MAE,
    MAPE,
    MSE,
    MSLE,
    binary_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    cosine_similarity,
    hinge,
    huber,
    kl_divergence,
    kld,
    kullback_leibler_divergence,
    log_cosh,
    logcosh,
    mae,
    mape,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    mse,
    msle,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from torchfit.losses.loss import Loss
from torchfit.losses.wrappers import LossFunctionWrapper, TorchLossWrapper
from torchfit.utils.validation import unknown_identifier_error as _unknown_identifier_error

__all__ = [
    "Loss",
    "LossFunctionWrapper",
    "TorchLossWrapper",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "Huber",
    "LogCosh",
    "KLDivergence",
    "Poisson",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "CosineSimilarity",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "huber",
    "log_cosh",
    "kl_divergence",
    "poisson",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "cosine_similarity",
    "mse",
    "mae",
    "mape",
    "msle",
    "kld",
    "kullback_leibler_divergence",
    "logcosh",
    "MSE",
    "MAE",
    "MAPE",
    "MSLE",
    "KLD",
    "get",
    "to_loss",
]

_REGISTRY = {
    "BinaryCrossentropy": BinaryCrossentropy,
    "CategoricalCrossentropy": CategoricalCrossentropy,
    "SparseCategoricalCrossentropy": SparseCategoricalCrossentropy,
    "MeanSquaredError": MeanSquaredError,
    "MeanAbsoluteError": MeanAbsoluteError,
    "MeanAbsolutePercentageError": MeanAbsolutePercentageError,
    "MeanSquaredLogarithmicError": MeanSquaredLogarithmicError,
    "Huber": Huber,
    "LogCosh": LogCosh,
    "KLDivergence": KLDivergence,
    "Poisson": Poisson,
    "Hinge": Hinge,
    "SquaredHinge": SquaredHinge,
    "CategoricalHinge": CategoricalHinge,
    "CosineSimilarity": CosineSimilarity,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "BCE": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "MSLE": MeanSquaredLogarithmicError,
    "huber": Huber,
    "huber_loss": Huber,
    "log_cosh": LogCosh,
    "logcosh": LogCosh,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "KLD": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "poisson": Poisson,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "cosine_similarity": CosineSimilarity,
}


# Names (and aliases) of loss functions: `get` returns the function itself, as Keras 3 does.
# "huber_loss" is only the default name of `Huber`, not a function: it stays a class name.
_FUNCTIONS = {
    name: globals()[name]
    for name, cls in _REGISTRY.items()
    if name not in (cls.__name__, "huber_loss", "bce", "BCE")
}
_FUNCTIONS.update(bce=binary_crossentropy, BCE=binary_crossentropy)


def get(identifier):
    """Retrieve a loss the Keras 3 way: a function for a function name, else as `to_loss`.

    Args:
        identifier: A function name or alias such as `"mean_squared_error"`, `"mse"` or `"bce"`
            (the function itself, `fn(y_true, y_pred)` returning per-sample losses); anything
            else as `to_loss` (a class name such as `"MeanSquaredError"` gives a new instance).

    Returns:
        A loss function, a `Loss`, or `None`.

    Raises:
        ValueError: For an unknown name, listing the closest and all valid names, and for
            anything that is not a loss.

    Example:
        >>> torchfit.losses.get("mse") is torchfit.losses.mean_squared_error
        True
        >>> torchfit.losses.get("MeanSquaredError")
        MeanSquaredError(name='mean_squared_error', reduction='sum_over_batch_size')
    """
    if isinstance(identifier, str) and identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]
    return to_loss(identifier)


def to_loss(identifier):
    """Resolve a loss identifier, as `Model.compile(loss=...)` receives it, to a `Loss`.

    Args:
        identifier: `None` (returned as is); a `Loss` instance (as is) or subclass (instantiated);
            a name such as `"sparse_categorical_crossentropy"`, `"mse"` or `"Huber"` (a new
            instance of that class, named with the canonical snake_case name); any `nn.Module`
            that is not a `Loss`, instance or class: torch's loss modules and your own
            `forward(input, target)` (wrapped in `TorchLossWrapper`, called in torch order
            `module(y_pred, y_true)`); or any other callable, called in Keras order
            `fn(y_true, y_pred)` (wrapped in `LossFunctionWrapper`).

    Returns:
        A `Loss`, or `None`.

    Raises:
        ValueError: For an unknown name, listing the closest and all valid names, and for
            anything else (as Keras's `losses.get`).

    Example:
        >>> torchfit.losses.to_loss("mse")
        MeanSquaredError(name='mean_squared_error', reduction='sum_over_batch_size')
        >>> torchfit.losses.to_loss(nn.L1Loss()).name
        'l1_loss'
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _REGISTRY.get(identifier)
        if cls is None:
            raise ValueError(_unknown_name_message(identifier))
        return cls()
    if isinstance(identifier, type):
        if issubclass(identifier, Loss):
            return identifier()
        if issubclass(identifier, _torch.nn.Module):
            return TorchLossWrapper(identifier())
    if isinstance(identifier, _torch.nn.Module):
        return TorchLossWrapper(identifier)
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise ValueError(
        f"Could not interpret loss identifier. Received: loss={identifier!r} "
        f"(of type {type(identifier).__name__}). Expected a loss name such as "
        f"'sparse_categorical_crossentropy', a torchfit.losses.Loss, an nn.Module called "
        f"module(y_pred, y_true), or a callable fn(y_true, y_pred)."
    )


def _unknown_name_message(name):
    return str(_unknown_identifier_error("loss", name, _REGISTRY))
