"""``OptimizerMap``: parameter paths (or patterns over them) -> optimizers, as Keras 3's.

Paths. A parameter's path is its name in the model: ``named_parameters()`` of the module a
``torchfit.Model`` wraps (the keys of ``save_weights``), e.g. ``"encoder.0.weight"``; Keras 3
writes the same path with ``"/"``: ``"encoder/0/weight"``. A key is matched against *both*
spellings of a path, so ``"encoder/.*"`` and ``r"encoder\\..*"`` select the same parameters:
first an exact key (either spelling), else every key for which ``re.fullmatch`` matches either
spelling; more than one key is a ``ValueError``, none gives the default optimizer.
"""

import re
from collections.abc import MutableMapping

from torchfit.optimizers.adafactor import Adafactor
from torchfit.optimizers.base import Optimizer
from torchfit.optimizers.catalogue import (
    SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Nadam, RMSprop,
)  # fmt: skip
from torchfit.optimizers.ftrl import Ftrl
from torchfit.optimizers.lamb import Lamb
from torchfit.optimizers.lion import Lion
from torchfit.optimizers.loss_scale import LossScaleOptimizer
from torchfit.optimizers.muon import Muon
from torchfit.optimizers.schedule_free import ScheduleFreeAdamW
from torchfit.utils.config import deserialize_object, serialize_object

__all__ = ["OptimizerMap", "ParameterPath", "parameter_paths"]

_INNER = {cls.__name__: cls for cls in (
    SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta, Adamax, Nadam, Adafactor, Ftrl, Lamb, Lion,
    Muon, ScheduleFreeAdamW,
)}  # fmt: skip
_MODULE = "torchfit.optimizers"


def _spellings(path):
    """``path`` as given, then its two spellings: torch's ``"a.b"`` and Keras's ``"a/b"``."""
    return tuple(dict.fromkeys((path, path.replace("/", "."), path.replace(".", "/"))))


def _check_inner(optimizer, what):
    """Keras's checks of an inner optimizer (``MultiOptimizer``, which imports this module, is
    recognised by its class attribute ``_routes_parameters``)."""
    if isinstance(optimizer, LossScaleOptimizer):
        raise ValueError(f"{what} cannot be LossScaleOptimizer.")
    if getattr(type(optimizer), "_routes_parameters", False):
        raise ValueError(f"{what} cannot be MultiOptimizer.")
    if not isinstance(optimizer, Optimizer):
        raise ValueError(
            f"{what} must be a torchfit optimizer instance (torchfit.optimizers.Adam(), ...). "
            f"Received: {optimizer!r}"
        )


class ParameterPath:
    """What a ``MultiOptimizer`` selector receives for one parameter (Keras's variable fields).

    Attributes:
        path: Keras's ``"/"``-separated path, e.g. ``"encoder/0/weight"``.
        torch_name: torch's name, e.g. ``"encoder.0.weight"``.
        name: The last part of the path, e.g. ``"weight"``.
        shape: The parameter's shape, a tuple.
        value: The parameter (the torch tensor) itself.
    """

    def __init__(self, torch_name, value):
        self.torch_name = torch_name.replace("/", ".")
        self.path = torch_name.replace(".", "/")
        self.name = self.path.rsplit("/", 1)[-1]
        self.shape = tuple(value.shape)
        self.value = value

    def __repr__(self):
        return f"ParameterPath(path='{self.path}', shape={self.shape})"


def parameter_paths(model):
    """The path of every tensor of ``model.parameters()``, in order: its name in the module a
    ``torchfit.Model`` wraps (``weights_module()``), else its name in ``model``.

    Example:
        >>> import torch, torchfit
        >>> model = torchfit.Model(torch.nn.Sequential(torch.nn.Linear(2, 1)), device="cpu")
        >>> parameter_paths(model)
        ['0.weight', '0.bias']
    """
    named = model.weights_module().named_parameters() if hasattr(model, "weights_module") else ()
    names = {id(param): name for name, param in named}
    return [names.get(id(param), name) for name, param in model.named_parameters()]


class OptimizerMap(MutableMapping):
    """Parameter paths (or regular expressions over them) -> optimizers, as Keras 3's.

    Lookup, ``optimizer_map[path]`` (or ``optimizer_map(parameter)``): an exact key first, else
    the one key that ``re.fullmatch``-es the path; no key: ``default_optimizer``. Each key is
    tried on both spellings of the path, torch's ``"encoder.0.weight"`` and Keras's
    ``"encoder/0/weight"`` (see the module docstring).

    Args:
        default_optimizer: The torchfit optimizer of every parameter no key matches.
        optimizer_map: Optional dict of keys -> torchfit optimizers, checked as ``__setitem__``
            checks them (Keras 3 stores the dict unchecked).

    Raises:
        TypeError: A ``default_optimizer`` that is not a torchfit optimizer, or an
            ``optimizer_map`` that is not a dict.
        ValueError: From ``__setitem__``: a duplicated or non-string key, a value that is not a
            torchfit optimizer, a ``LossScaleOptimizer`` or a ``MultiOptimizer``; from lookup: a
            path more than one key matches.

    Example:
        >>> from torchfit import optimizers
        >>> opt_map = OptimizerMap(default_optimizer=optimizers.RMSprop())
        >>> opt_map["encoder/layer_0/dense"] = optimizers.Adam()
        >>> opt_map["encoder/.*"] = optimizers.SGD()
        >>> opt_map["encoder/layer_0/dense"].name, opt_map["encoder.layer_1.weight"].name
        ('adam', 'SGD')
        >>> opt_map["decoder/layer_0/dense"].name
        'rmsprop'
    """

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(
                "default_optimizer must be a torchfit optimizer instance (a MultiOptimizer or "
                f"LossScaleOptimizer cannot be one). Received: {default_optimizer!r}"
            )
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"optimizer_map must be a dictionary. Received: {optimizer_map!r}")
        self._default_optimizer = default_optimizer
        self._optimizer_map = {}
        for key, optimizer in (optimizer_map or {}).items():
            self[key] = optimizer

    @property
    def default_optimizer(self):
        return self._default_optimizer

    def __getitem__(self, key):
        forms = _spellings(key)
        exact = [form for form in forms if form in self._optimizer_map]
        matching = exact or [
            pattern for pattern in self._optimizer_map
            if any(re.fullmatch(pattern, form) for form in forms)
        ]  # fmt: skip
        if len(matching) > 1:
            raise ValueError(
                f"Multiple optimizers assigned to variable {key}: the keys {matching} all match "
                "it. Make the keys exclusive (e.g. anchor the patterns, 'encoder/.*')."
            )
        return self._optimizer_map[matching[0]] if matching else self._default_optimizer

    def __setitem__(self, key, optimizer):
        if key in self._optimizer_map:
            raise ValueError(
                f"'{key}' already exists in the OptimizerMap with value "
                f"{self._optimizer_map[key]!r}. Please make sure to not use duplicated keys."
            )
        if not isinstance(key, str):
            raise ValueError(f"key must be a string. Received: {key!r}")
        _check_inner(optimizer, "optimizer")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key):
        del self._optimizer_map[key]

    def __len__(self):
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def values(self):
        """The mapped optimizers, in the order of their keys (not looked up again)."""
        return self._optimizer_map.values()

    def __call__(self, variable):
        """The optimizer of ``variable``: a path string, or anything with a ``.path``."""
        return self[variable if isinstance(variable, str) else variable.path]

    def get_config(self):
        """Keras 3's two keys, each optimizer serialised."""
        return {
            "default_optimizer": serialize_object(self._default_optimizer, _MODULE),
            "optimizer_map": {
                key: serialize_object(opt, _MODULE) for key, opt in self._optimizer_map.items()
            },
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild from torchfit's or Keras 3's ``get_config()`` (new optimizer instances)."""
        def load(item):
            return deserialize_object(item, _INNER, "optimizer", custom_objects)

        mapped = {key: load(item) for key, item in (config.get("optimizer_map") or {}).items()}
        return cls(load(config["default_optimizer"]), mapped)
