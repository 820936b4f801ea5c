"""Keras losses for PyTorch: Keras 3's names and formulas, `(y_true, y_pred)` order.

Every loss of Keras 3's `keras.losses` is here, with Keras 3's formulas (where tf.keras 2's
differ, e.g. binary crossentropy of saturated probabilities, the function's docstring says so).

Every loss is a `Loss` object called as `loss(y_true, y_pred, sample_weight=None)`, returning a
scalar tensor (or per-sample losses with `reduction="none"`), and has a snake_case function
counterpart returning per-sample losses (`mean_squared_error(y_true, y_pred)`). `get(identifier)`
resolves what `Model.compile(loss=...)` receives: a name, a `Loss`, any `nn.Module` (torch's
loss modules and your own, called in torch order, `module(y_pred, y_true)`) or any other callable
`fn(y_true, y_pred)` (Keras order). As in Keras 3, `get` returns the function for a function name
or alias (`get("mse") is mean_squared_error`) and an instance for a class name;
`to_loss(identifier)` always returns a `Loss` (what `compile` uses). `serialize(loss)` and
`deserialize(config)` write and read Keras 3's dicts (`{"module", "class_name", "config",
"registered_name"}`; a function as `{"class_name": "function", "config": "<name>"}`), and
`get` also accepts such a dict, as Keras's does.

The package: `loss.py` (the `Loss` base class, sample weighting, masks and reductions),
`functions.py` (the per-sample functions and their shared input checks), `classes.py` (one
`Loss` class per function), `focal.py` (focal and generalized crossentropies), `segmentation.py`
(Dice, Tversky), `sequence.py` (CTC), `similarity.py` (Circle), `wrappers.py`
(`LossFunctionWrapper`, `TorchLossWrapper`) and, here, the registry.
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
from torchfit.losses.focal import (
    BinaryFocalCrossentropy,
    CategoricalFocalCrossentropy,
    CategoricalGeneralizedCrossEntropy,
    binary_focal_crossentropy,
    categorical_focal_crossentropy,
    categorical_generalized_cross_entropy,
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
from torchfit.losses.segmentation import Dice, Tversky, dice, tversky
from torchfit.losses.sequence import CTC, ctc
from torchfit.losses.similarity import Circle, circle
from torchfit.losses.wrappers import LossFunctionWrapper, TorchLossWrapper
from torchfit.utils.config import deserialize_object as _deserialize_object
from torchfit.utils.config import serialize_object as _serialize_object
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
    "BinaryFocalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalGeneralizedCrossEntropy",
    "Dice",
    "Tversky",
    "CTC",
    "Circle",
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
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_generalized_cross_entropy",
    "dice",
    "tversky",
    "ctc",
    "circle",
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
    "serialize",
    "deserialize",
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
    "BinaryFocalCrossentropy": BinaryFocalCrossentropy,
    "CategoricalFocalCrossentropy": CategoricalFocalCrossentropy,
    "CategoricalGeneralizedCrossEntropy": CategoricalGeneralizedCrossEntropy,
    "Dice": Dice,
    "Tversky": Tversky,
    "CTC": CTC,
    "Circle": Circle,
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
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "categorical_generalized_cross_entropy": CategoricalGeneralizedCrossEntropy,
    "dice": Dice,
    "tversky": Tversky,
    "ctc": CTC,
    "circle": Circle,
}


# Names (and aliases) of loss functions: `get` returns the function itself, as Keras 3 does.
# "huber_loss" is only the default name of `Huber`, not a function: it stays a class name.
_FUNCTIONS = {
    name: globals()[name]
    for name, cls in _REGISTRY.items()
    if name not in (cls.__name__, "huber_loss", "bce", "BCE")
}
_FUNCTIONS.update(bce=binary_crossentropy, BCE=binary_crossentropy)

# What `deserialize` can rebuild: the classes by class name, the functions by name and alias
# (Keras 3's `ALL_OBJECTS_DICT`, plus the base and wrapper classes' own names).
_OBJECTS = {
    **{cls.__name__: cls for cls in set(_REGISTRY.values())},
    "Loss": Loss,
    "LossFunctionWrapper": LossFunctionWrapper,
    "TorchLossWrapper": TorchLossWrapper,
    **_FUNCTIONS,
}


def serialize(loss):
    """Keras 3's serialised form of a loss: a dict for a `Loss`, the function form for a function.

    Args:
        loss: A `Loss` (its `get_config()` becomes `"config"`) or a loss function.

    Returns:
        `{"module": "torchfit.losses", "class_name": ..., "config": {...}, "registered_name":
        None}`, or for a function `{"module": "builtins", "class_name": "function", "config":
        "<name>", "registered_name": "function"}` as Keras writes it.

    Example:
        >>> torchfit.losses.serialize(torchfit.losses.Huber(delta=2.0))["config"]
        {'delta': 2.0, 'name': 'huber_loss', 'reduction': 'sum_over_batch_size'}
        >>> torchfit.losses.serialize(torchfit.losses.mse)["config"]
        'mean_squared_error'
    """
    return _serialize_object(loss, "torchfit.losses")


def deserialize(name, custom_objects=None):
    """Rebuild a loss from `serialize`'s dict (torchfit's or Keras 3's) or a name.

    Args:
        name: A dict from `serialize` (also one written by Keras 3's
            `keras.losses.serialize`), or a class or function name.
        custom_objects: Optional extra names -> classes or functions, looked up first.

    Returns:
        A `Loss` instance (a class name alone gives a default instance) or a loss function.

    Raises:
        ValueError: For an unknown class or function name, or a dict without `"class_name"`.

    Example:
        >>> config = {"module": "keras.losses", "class_name": "BinaryCrossentropy",
        ...           "config": {"from_logits": True, "name": "bce"}, "registered_name": None}
        >>> loss = torchfit.losses.deserialize(config)
        >>> type(loss).__name__, loss.from_logits, loss.name
        ('BinaryCrossentropy', True, 'bce')
    """
    if isinstance(name, dict) and name.get("class_name") == "LossFunctionWrapper":
        # Its function may be the user's: from_config looks it up in custom_objects too.
        return LossFunctionWrapper.from_config(name.get("config") or {}, custom_objects)
    obj = _deserialize_object(name, _OBJECTS, "loss", custom_objects)
    return obj() if isinstance(obj, type) else obj


def get(identifier):
    """Retrieve a loss the Keras 3 way: a function for a function name, else as `to_loss`.

    Args:
        identifier: A function name or alias such as `"mean_squared_error"`, `"mse"` or `"bce"`
            (the function itself, `fn(y_true, y_pred)` returning per-sample losses); a dict
            from `serialize` (as `deserialize`); anything else as `to_loss` (a class name such
            as `"MeanSquaredError"` gives a new instance).

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
    if isinstance(identifier, dict):
        return deserialize(identifier)
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
