"""Routing a batch's inputs to ``forward`` by structure, with one clear error for wrong names.

A single array/tensor is one positional argument, a list/tuple gives positional arguments in
order, a dict gives keyword arguments, whose names must be parameters of ``forward``.
"""

import inspect

__all__ = ["forward_keywords", "check_input_names"]


def forward_keywords(forward):
    """The names ``forward`` takes by keyword, or ``None`` when it takes ``**kwargs`` (or has no
    signature to read), i.e. when any name may be right.

    Example:
        >>> forward_keywords(lambda image, *, mask=None: image)
        ['image', 'mask']
        >>> forward_keywords(lambda **inputs: inputs) is None
        True
    """
    try:
        params = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError):
        params = ()
    if not params or any(p.kind == p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def check_input_names(x, names, owner):
    """Raises ``ValueError`` when a key of the input dict ``x`` is not one of ``names``.

    Args:
        x: the input dict.
        names: ``forward_keywords(...)`` of the module (``None``: anything goes).
        owner: the module's class name, for the message.
    """
    unknown = [key for key in x if key not in names] if names is not None else []
    if unknown:
        raise ValueError(
            f"Input dict keys {unknown} do not match the parameters of {owner}.forward: "
            f"{names}. Name the inputs after them."
        )
