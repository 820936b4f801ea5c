import collections

import pytest

from torchfit import nest


def test_flatten_order_follows_dict_insertion_and_positions():
    structure = {"b": 1, "a": (2, [3, {"z": 4, "y": 5}])}
    assert nest.flatten(structure) == [1, 2, 3, 4, 5]
    assert nest.flatten(7) == [7]


def test_map_structure_keeps_containers_and_namedtuples():
    Point = collections.namedtuple("Point", "x y")
    out = nest.map_structure(lambda v: v * 2, [Point(1, 2), {"k": (3,)}])
    assert out == [Point(2, 4), {"k": (6,)}]
    assert isinstance(out[0], Point)


def test_pack_sequence_as_inverts_flatten():
    structure = {"a": [1, 2], "b": 3}
    assert nest.pack_sequence_as(structure, [10, 20, 30]) == {"a": [10, 20], "b": 30}
    with pytest.raises(ValueError, match="more leaves"):
        nest.pack_sequence_as(structure, [1, 2, 3, 4])
