"""``serialize`` / ``deserialize`` in Keras 3's format, over a registry of known classes.

Keras 3 serialises a loss, metric, optimizer or schedule as
``{"module": ..., "class_name": ..., "config": obj.get_config(), "registered_name": None}`` and a
function as ``{"module": "builtins", "class_name": "function", "config": "<name>", ...}``. The
same dicts come out of torchfit (with ``"module": "torchfit.<package>"``), and ``deserialize``
reads both torchfit's and Keras's, so a config written by Keras rebuilds the torchfit object of the
same name. Only the classes and functions of the given registry can come back: nothing is imported
or unpickled from what a config says.

No torchfit imports: every package's ``serialize`` / ``deserialize`` is built on these two.

Example:
    >>> class Doubler:
    ...     def __init__(self, factor=2):
    ...         self.factor = factor
    ...     def get_config(self):
    ...         return {"factor": self.factor}
    ...     @classmethod
    ...     def from_config(cls, config):
    ...         return cls(**config)
    >>> config = serialize_object(Doubler(3), "torchfit.examples")
    >>> config["module"], config["class_name"], config["config"]
    ('torchfit.examples', 'Doubler', {'factor': 3})
    >>> deserialize_object(config, {"Doubler": Doubler}, "example").factor
    3
"""

import inspect

from torchfit.utils.validation import unknown_identifier_error

__all__ = ["serialize_object", "deserialize_object"]

_FUNCTION = "function"


def serialize_object(obj, module):
    """Keras 3's serialised form of ``obj``: a dict for an object with ``get_config``, or a function.

    Args:
        obj: An object with ``get_config()`` (a loss, metric, optimizer, schedule), or a plain
            function (e.g. ``losses.mean_squared_error``), or ``None`` (returned as is).
        module: The public package the object comes from, e.g. ``"torchfit.losses"``.

    Raises:
        TypeError: ``obj`` has no ``get_config`` and is not a function.
    """
    if obj is None:
        return None
    if inspect.isfunction(obj):
        return {"module": "builtins", "class_name": _FUNCTION, "config": obj.__name__,
                "registered_name": _FUNCTION}  # fmt: skip
    if not callable(getattr(obj, "get_config", None)):
        raise TypeError(
            f"Cannot serialize {obj!r} of type {type(obj).__name__}: it has no get_config(). "
            "Expected an object of this package (or one with get_config/from_config) or a function."
        )
    return {"module": module, "class_name": type(obj).__name__, "config": obj.get_config(),
            "registered_name": None}  # fmt: skip


def deserialize_object(config, registry, kind, custom_objects=None):
    """Rebuild the object ``serialize_object`` (torchfit's or Keras 3's) described.

    Args:
        config: A dict with ``"class_name"`` and ``"config"`` (``"module"`` and
            ``"registered_name"`` are read but not needed), or a name (string) in ``registry``.
        registry: Names -> classes (built with ``cls.from_config(config)``, or ``cls(**config)``
            when the class has no ``from_config``) or functions (returned as they are).
        kind: What is being rebuilt, for the error messages (``"loss"``, ``"metric"``, ...).
        custom_objects: Optional extra names -> classes or functions, looked up first.

    Raises:
        ValueError: An unknown class or function name (with a "did you mean" suggestion), or a
            dict without ``"class_name"``.
        TypeError: Anything other than a dict or a string.
    """
    names = {**registry, **(custom_objects or {})}
    if isinstance(config, str):
        return _lookup(config, names, kind)
    if not isinstance(config, dict):
        raise TypeError(
            f"Could not deserialize {kind} {config!r} of type {type(config).__name__}. Expected "
            f"a dict from serialize() ({{'class_name': ..., 'config': {{...}}}}) or a {kind} name."
        )
    if "class_name" not in config:
        raise ValueError(
            f"Could not deserialize {kind}: the dict has no 'class_name'. Received: {config!r}. "
            f"Expected what serialize() returns: {{'class_name': ..., 'config': {{...}}}}."
        )
    inner = config.get("config") or {}
    if config["class_name"] == _FUNCTION:
        return _lookup(inner, names, kind)
    found = _lookup(config["class_name"], names, kind)
    if not isinstance(found, type):
        return found
    if callable(getattr(found, "from_config", None)):
        return found.from_config(dict(inner))
    return found(**inner)


def _lookup(name, names, kind):
    if name in names:
        return names[name]
    raise unknown_identifier_error(kind, name, names)
