"""Keras-named optimizers that *are* ``torch.optim`` optimizers, and ``get`` / ``build``.

Each class takes Keras's argument names and defaults and no parameters, e.g.
``RMSprop(learning_rate=1e-3)``, subclasses the matching ``torch.optim`` class (where torch has
one) and updates the weights with Keras 3's formula (``step()`` over torch's foreach kernels;
equal to ``keras.optimizers.X`` to float32 rounding). A ``torch.optim`` optimizer passed to
``compile`` keeps torch's own formula. The torch side is initialised by ``build(params)``:
``model.compile`` calls it, and so does the first ``apply_gradients``. From then on the object is
a plain ``torch.optim.Optimizer`` (``param_groups``, ``state``, ``step()``, ``zero_grad()``,
``state_dict()``, step hooks, ``torch.optim.lr_scheduler``), plus:

- ``iterations``: the number of steps taken (a Python int, saved in ``state_dict()``);
- ``learning_rate``: a float (read from and written to every ``param_groups[i]["lr"]``) or a
  schedule, i.e. any callable ``step -> float`` such as ``schedules.ExponentialDecay``: step ``s``
  (counting from 0) then uses ``schedule(s)``;
- ``clipvalue`` / ``clipnorm`` / ``global_clipnorm``: Keras gradient clipping, applied inside
  ``step()`` on the device (no synchronisation), in tf.keras 2.x's order: values first, then norms;
- ``apply_gradients(zip(grads, vars))``: the Keras custom-loop API;
- ``get_config()`` / ``from_config()``, ``serialize`` / ``deserialize``: Keras 3's dicts, key for
  key (``keras.optimizers.deserialize`` reads them, schedules included);
- ``variables``: Keras 3's list (``iterations``, the learning rate, then the slots: torch's state).

Cost: without a schedule or clipping, ``step()`` is the update plus one step post-hook (one
attribute check and one integer increment). ``base`` says in which order the hooks fire.

Modules: ``base`` (``Optimizer``: construction, learning rate, clipping, ``iterations``, state,
the step hooks), ``keras_api`` (Keras 3's config dict and ``variables`` list), ``catalogue`` (the
eight classic Keras optimizers), ``rules`` (their Keras 3 update rules), ``keras_update`` (the
step of a Keras rule as a torch optimizer),
``signature`` (a class's constructor signature from its declaration), ``clipping`` (the clipping
kernels), ``optimizer_map`` (``OptimizerMap``: parameter paths -> optimizers) and
``multi_optimizer`` (``MultiOptimizer``: one optimizer per parameter, by path); ``schedules``
is ``torchfit.schedules``.

Example:
    >>> import torch
    >>> from torchfit import optimizers
    >>> net = torch.nn.Linear(3, 1)
    >>> opt = optimizers.Adam(learning_rate=1e-3, clipnorm=1.0)
    >>> loss = net(torch.ones(2, 3)).sum()
    >>> grads = torch.autograd.grad(loss, list(net.parameters()))
    >>> opt.apply_gradients(zip(grads, net.parameters()))
    >>> opt.iterations, isinstance(opt, torch.optim.Adam)
    (1, True)
"""

import inspect as _inspect

import torch as _torch

from torchfit import schedules
from torchfit.optimizers.base import Optimizer, _flatten_params
from torchfit.optimizers.catalogue import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Nadam,
    RMSprop,
)
from torchfit.optimizers.adafactor import Adafactor
from torchfit.optimizers.ftrl import Ftrl
from torchfit.optimizers.lamb import Lamb
from torchfit.optimizers.lion import Lion
from torchfit.optimizers.loss_scale import LossScaleOptimizer
from torchfit.optimizers.multi_optimizer import MultiOptimizer, build_multi as _build_multi
from torchfit.optimizers.muon import Muon
from torchfit.optimizers.optimizer_map import OptimizerMap, parameter_paths
from torchfit.optimizers.schedule_free import ScheduleFreeAdamW
from torchfit.utils.config import deserialize_object as _deserialize_object
from torchfit.utils.config import serialize_object as _serialize_object
from torchfit.utils.validation import unknown_identifier_error as _unknown_identifier_error

__all__ = [
    "Optimizer",
    "SGD",
    "RMSprop",
    "Adam",
    "AdamW",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "Nadam",
    "Adafactor",
    "Ftrl",
    "Lamb",
    "Lion",
    "LossScaleOptimizer",
    "Muon",
    "MultiOptimizer",
    "OptimizerMap",
    "ScheduleFreeAdamW",
    "get",
    "build",
    "parameter_paths",
    "serialize",
    "deserialize",
    "schedules",
]


def _quoted(names):
    return ", ".join(f"'{name}'" for name in names)


_OPTIMIZERS = {
    "sgd": SGD,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
    "adagrad": Adagrad,
    "adadelta": Adadelta,
    "adamax": Adamax,
    "nadam": Nadam,
    "adafactor": Adafactor,
    "ftrl": Ftrl,
    "lamb": Lamb,
    "lion": Lion,
    "muon": Muon,
    "schedulefreeadamw": ScheduleFreeAdamW,
}

_EXPECTED = (
    "Expected an optimizer name such as 'rmsprop', a torchfit optimizer (class or instance), or a "
    "torch.optim.Optimizer (class or instance)."
)


def serialize(optimizer):
    """Keras 3's dict for a torchfit optimizer: ``{"module", "class_name", "config",
    "registered_name"}``, ``config`` being ``optimizer.get_config()`` (its schedule serialised).

    Example:
        >>> serialize(SGD(0.1))["class_name"], serialize(SGD(0.1))["config"]["learning_rate"]
        ('SGD', 0.1)
    """
    return _serialize_object(optimizer, "torchfit.optimizers")


def deserialize(config, custom_objects=None):
    """The optimizer ``serialize`` (torchfit's, or ``keras.optimizers.serialize``) described.

    Args:
        config: A dict from ``serialize`` or from Keras 3, or an optimizer name.
        custom_objects: Optional names -> user classes (optimizers or schedules).

    Raises:
        ValueError: An unknown class name, or a Keras-only option (EMA, ...) that is on.

    Example:
        >>> keras_dict = {"module": "keras.optimizers", "class_name": "Adam", "config": {
        ...     "name": "adam", "learning_rate": 0.01, "use_ema": False}, "registered_name": None}
        >>> deserialize(keras_dict).learning_rate
        0.01
    """
    registry = {**{cls.__name__: cls for cls in (*_OPTIMIZERS.values(), MultiOptimizer)},
                **_OPTIMIZERS}
    if isinstance(config, dict) and isinstance(config.get("class_name"), str):
        cls = registry.get(config["class_name"], registry.get(config["class_name"].lower()))
        if cls is not None and isinstance(config.get("config"), dict):
            return cls.from_config(config["config"], custom_objects)
    return _deserialize_object(config, registry, "optimizer", custom_objects)


def get(identifier, **kwargs):
    """Resolve an optimizer identifier as ``compile(optimizer=...)`` accepts it.

    Args:
        identifier: A name (``"rmsprop"``, ``"Adam"``, ... case-insensitive) -> a new optimizer with
            Keras defaults; a ``serialize`` dict (torchfit's or Keras 3's) -> ``deserialize``;
            a torchfit optimizer class -> a new instance; a torchfit or
            ``torch.optim.Optimizer`` instance -> itself; a ``torch.optim.Optimizer`` class -> the
            class (it needs the parameters: see ``build``).
        **kwargs: Constructor arguments, when ``get`` creates the optimizer (from a name or a
            torchfit class).

    Raises:
        ValueError: ``None`` or an unknown name (with a "did you mean" suggestion).
        TypeError: Anything else, or ``kwargs`` with an identifier that is not created here.

    Example:
        >>> get("adam", learning_rate=1e-2).learning_rate
        0.01
    """
    if identifier is None:
        raise ValueError(
            f"Received optimizer=None. {_EXPECTED} The compile() default is 'rmsprop'."
        )
    if isinstance(identifier, dict):
        if kwargs:
            raise TypeError(
                f"get() arguments {sorted(kwargs)} apply only when get() creates the optimizer "
                "from a name or a torchfit optimizer class, not from a serialized dict."
            )
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _OPTIMIZERS.get(identifier.lower())
        if cls is None:
            raise _unknown_identifier_error("optimizer", identifier, _OPTIMIZERS)
        return cls(**kwargs)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier(**kwargs)
    is_torch_class = isinstance(identifier, type) and issubclass(identifier, _torch.optim.Optimizer)
    if isinstance(identifier, _torch.optim.Optimizer) or is_torch_class:
        if kwargs:
            raise TypeError(
                f"get() arguments {sorted(kwargs)} apply only when get() creates the optimizer "
                f"from a name or a torchfit optimizer class. Received: {identifier!r}."
            )
        return identifier
    raise TypeError(f"Could not interpret optimizer identifier: {identifier!r}. {_EXPECTED}")


def build(identifier, params, paths=None):
    """A ready ``torch.optim.Optimizer`` over ``params`` for any identifier ``get`` accepts.

    Names, torchfit classes and instances are built on ``params``; a ``torch.optim.Optimizer``
    class is called as ``cls(params)``; a ``torch.optim.Optimizer`` instance is returned as is,
    after checking that every tensor it optimizes is in ``params`` (it may hold fewer, e.g. when
    fine-tuning only a head).

    Args:
        identifier: See ``get``.
        params: The model's parameters, e.g. ``list(model.parameters())``. An optimizer built
            here holds only those that require a gradient (the trainable ones); a model with
            none gets an optimizer with one empty parameter group.
        paths: The parameters' names, one per tensor of ``params`` (``compile`` passes
            ``parameter_paths(model)``): a ``MultiOptimizer`` routes the parameters by them; the
            other optimizers ignore them.

    Example:
        >>> net = torch.nn.Linear(2, 1)
        >>> opt = build("sgd", net.parameters())
        >>> opt.param_groups[0]["lr"]
        0.01
    """
    params = list(params)
    optimizer = get(identifier)
    if isinstance(optimizer, MultiOptimizer):
        return _build_multi(optimizer, params, paths)
    if isinstance(optimizer, _torch.optim.Optimizer) and not isinstance(optimizer, Optimizer):
        _check_torch_optimizer_params(optimizer, params)
        return optimizer
    trainable = _trainable(params)
    if isinstance(optimizer, Optimizer):
        return optimizer.build(trainable)
    required = [
        p.name
        for p in list(_inspect.signature(optimizer).parameters.values())[1:]
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if required:
        name = f"{optimizer.__module__}.{optimizer.__qualname__}"
        raise TypeError(
            f"{name} cannot be created from the parameters alone: it requires "
            f"{_quoted(required)}. Pass an instance instead, e.g. "
            f"compile(optimizer={optimizer.__name__}(model.parameters(), "
            f"{', '.join(f'{r}=...' for r in required)})), or a torchfit optimizer such as 'sgd'."
        )
    return optimizer(trainable)


def _trainable(params):
    """The tensors of ``params`` that require a gradient (frozen ones stay out of the optimizer's
    state); one empty group when there is none, which torch accepts (its step then does nothing).
    """
    kept = []
    for item in params:
        if isinstance(item, dict):  # a param group keeps its options
            group = dict(item, params=[p for p in _flatten_params([item]) if p.requires_grad])
            if group["params"]:
                kept.append(group)
        elif _flatten_params([item])[0].requires_grad:
            kept.append(item)
    return kept if kept else [{"params": []}]


def _check_torch_optimizer_params(optimizer, params):
    model_ids = {id(p) for p in _flatten_params(params)}
    held = [p for group in optimizer.param_groups for p in group["params"]]
    foreign = sum(id(p) not in model_ids for p in held)
    if foreign:
        raise ValueError(
            f"The {type(optimizer).__name__} optimizer was created for other parameters: {foreign} "
            f"of the {len(held)} tensors it optimizes are not parameters of this model. Create it "
            f"from this model's parameters, e.g. {type(optimizer).__name__}(model.parameters(), "
            "lr=...), or pass a name such as 'sgd'."
        )
