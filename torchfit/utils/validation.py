"""Argument checks shared by the public entry points, so every error speaks in one voice."""

import difflib
import inspect

__all__ = ["did_you_mean", "check_kwargs", "unknown_identifier_error"]


def did_you_mean(name, options):
    """Returns ``" Did you mean 'x'?"`` for the closest of ``options``, or ``""``."""
    matches = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=0.6)
    return f" Did you mean '{matches[0]}'?" if matches else ""


def check_kwargs(fn_name, kwargs, valid):
    """Raises ``TypeError`` for the first keyword of ``kwargs`` that ``fn_name`` does not take.

    ``valid``: the accepted names, or the method whose named parameters they are (between
    ``self`` and ``**kwargs``; its signature is read only for the error).

    Example:
        >>> check_kwargs("compile", {"loss_weight": 1}, ["loss", "loss_weights"])
        Traceback (most recent call last):
        TypeError: compile() got an unexpected keyword argument 'loss_weight'. Did you mean ...
    """
    if kwargs and callable(valid):
        valid = list(inspect.signature(valid).parameters)[1:-1]
    for name in kwargs:
        raise TypeError(
            f"{fn_name}() got an unexpected keyword argument '{name}'."
            f"{did_you_mean(name, valid)} Valid arguments: {', '.join(map(repr, valid))}."
        )


def unknown_identifier_error(kind, identifier, valid):
    """The ``ValueError`` for an unknown string identifier (loss, metric, optimizer...)."""
    return ValueError(
        f"Unknown {kind}: '{identifier}'.{did_you_mean(identifier, valid)} "
        f"Valid names: {', '.join(repr(v) for v in sorted(valid))}."
    )
