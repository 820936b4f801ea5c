"""Flatten, map and re-pack nested structures of tuples, lists and dicts.

Data, model outputs and compiled losses all come as nests: a single leaf (a tensor, an array), or
tuples/lists/dicts of nests. Dicts are traversed in insertion order, which is the order a model's
``forward`` returns its named outputs in, so flattening never reorders them.

Example:
    >>> flatten({"a": 1, "b": (2, 3)})
    [1, 2, 3]
    >>> map_structure(lambda v: v * 10, [1, {"x": 2}])
    [10, {'x': 20}]
"""

__all__ = ["is_nested", "flatten", "flatten_with_paths", "map_structure", "pack_sequence_as"]


def is_nested(structure):
    """True for the containers this module traverses: tuple, list, dict."""
    return isinstance(structure, (tuple, list, dict))


def flatten(structure):
    """Returns the leaves of ``structure`` in traversal order (a single leaf gives ``[leaf]``)."""
    if not is_nested(structure):
        return [structure]
    leaves = []
    values = structure.values() if isinstance(structure, dict) else structure
    for value in values:
        leaves.extend(flatten(value))
    return leaves


def flatten_with_paths(structure, prefix=""):
    """Returns ``[(path, leaf)]`` where a path reads like Python: ``x['ts_input'][0]``.

    Example:
        >>> flatten_with_paths({"a": [1, 2]}, "x")
        [("x['a'][0]", 1), ("x['a'][1]", 2)]
    """
    if isinstance(structure, dict):
        items = ((f"{prefix}[{key!r}]", value) for key, value in structure.items())
    elif isinstance(structure, (tuple, list)):
        items = ((f"{prefix}[{i}]", value) for i, value in enumerate(structure))
    else:
        return [(prefix, structure)]
    return [pair for path, value in items for pair in flatten_with_paths(value, path)]


def map_structure(fn, structure):
    """Applies ``fn`` to every leaf, keeping the containers (a namedtuple stays a namedtuple)."""
    if isinstance(structure, dict):
        return type(structure)((key, map_structure(fn, value)) for key, value in structure.items())
    if isinstance(structure, tuple) and hasattr(structure, "_fields"):
        return type(structure)(*(map_structure(fn, value) for value in structure))
    if isinstance(structure, (tuple, list)):
        return type(structure)(map_structure(fn, value) for value in structure)
    return fn(structure)


def pack_sequence_as(structure, leaves):
    """Inverse of :func:`flatten`: fills ``structure``'s shape with ``leaves`` in order."""
    leaves = iter(leaves)
    packed = map_structure(lambda _: next(leaves), structure)
    remaining = sum(1 for _ in leaves)
    if remaining:
        raise ValueError(
            f"pack_sequence_as received {remaining} more leaves than the structure holds."
        )
    return packed
