"""The constructor signature of an optimizer class, composed from what the class declares.

A torchfit optimizer class declares its learning-rate default and name (class keywords) and its own
Keras arguments, in Keras's order with Keras's defaults, as the parameters of its static
``keras_to_torch``; keyword-only parameters of ``keras_to_torch`` ask for shared arguments (in
practice ``weight_decay``, which only the torch class can apply). ``Optimizer.__init_subclass__``
calls ``keras_signature`` once per class: its constructor binds the caller's arguments to the
result, and ``inspect.signature`` / ``help()`` show it.

Example:
    >>> from torchfit.optimizers.signature import keras_signature
    >>> class Declared:
    ...     @staticmethod
    ...     def keras_to_torch(rho=0.9, *, weight_decay): ...
    >>> signature, passed = keras_signature(Declared, learning_rate=0.001, name="declared")
    >>> list(signature.parameters)  # doctest: +NORMALIZE_WHITESPACE
    ['learning_rate', 'rho', 'weight_decay', 'clipnorm', 'clipvalue', 'global_clipnorm', 'name',
     'kwargs']
    >>> signature.parameters["rho"], passed
    (<Parameter "rho=0.9">, ('rho', 'weight_decay'))
"""

import inspect

__all__ = ["SHARED_ARGUMENTS", "keras_signature"]

# The arguments every optimizer takes after its own, in Keras's order (then `name`).
SHARED_ARGUMENTS = ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm")
_P = inspect.Parameter


def keras_signature(cls, learning_rate, name):
    """(signature, names passed to ``keras_to_torch``) of a subclass's constructor.

    The signature is Keras's: ``learning_rate``, the arguments ``cls.keras_to_torch`` declares
    (with their defaults), ``weight_decay`` if it asks for it keyword-only, the clipping
    arguments, ``name`` and ``**kwargs``.
    """
    own, requested = [], []
    for param in inspect.signature(cls.keras_to_torch).parameters.values():
        if param.kind is _P.KEYWORD_ONLY and param.name in SHARED_ARGUMENTS:
            requested.append(param.name)
        elif (param.kind is _P.POSITIONAL_OR_KEYWORD and param.default is not _P.empty
              and param.name not in ("learning_rate", "name")):  # fmt: skip
            own.append(param.replace())
        else:
            raise TypeError(
                f"{cls.__name__}.keras_to_torch must declare its own Keras arguments with "
                "their defaults (not learning_rate or name: the class keywords give those), and "
                f"may ask for shared ones keyword-only ({', '.join(SHARED_ARGUMENTS)}). "
                f"Received: parameter `{param}`."
            )
    declared = [param.name for param in own]
    # weight_decay is the torch class's to apply: only offered where keras_to_torch maps it.
    shared = [_P(arg, _P.POSITIONAL_OR_KEYWORD, default=None) for arg in SHARED_ARGUMENTS
              if arg not in declared and (arg != "weight_decay" or arg in requested)]  # fmt: skip
    signature = inspect.Signature([
        _P("learning_rate", _P.POSITIONAL_OR_KEYWORD, default=learning_rate),
        *own, *shared,
        _P("name", _P.POSITIONAL_OR_KEYWORD, default=name),
        _P("kwargs", _P.VAR_KEYWORD),
    ])  # fmt: skip
    return signature, tuple(declared + requested)
