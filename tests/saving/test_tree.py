"""Tests of torchfit/saving/tree.py: the values a checkpoint may hold, and their JSON encoding."""

import enum
import json
import os
from collections import OrderedDict, namedtuple

import numpy as np
import pytest
import torch

from saving_helpers import assert_tree_equal
from torchfit import saving
from torchfit.saving import tree


def test_save_refuses_what_weights_only_cannot_load(tmp_path):
    with pytest.raises(TypeError, match=r"state_dict\['best'\].*numpy.float64.*float\(x\)"):
        saving.save_state_dict({"w": torch.ones(1), "best": np.float64(0.5)}, tmp_path / "w.pt")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("suffix", [".pt", ".h5"])
def test_checkpoint_names_the_value_it_cannot_save(tmp_path, net, suffix):
    with pytest.raises(TypeError, match=r"training_state\['best'\].*numpy.float32"):
        saving.save_checkpoint(tmp_path / f"c{suffix}", net.state_dict(),
                               training_state={"best": np.float32(0.1)})
    assert os.listdir(tmp_path) == []



# ---------------------------------------------------------------------------------------------
# encode_tree / decode_tree directly


def _json_round_trip(value):
    """What an .h5 checkpoint group stores and reads back: JSON text plus the tensors apart."""
    tensors = []
    text = json.dumps(tree.encode_tree(value, tensors, "value"))
    return tree.decode_tree(json.loads(text), tensors), tensors


def test_round_trip_of_every_allowed_value():
    value = {
        "none": None, "flag": True, "count": 3, "rate": 0.5, "inf": float("inf"),
        "nan": float("nan"), "name": "adam",
        "tensor": torch.arange(3), "param": torch.nn.Parameter(torch.ones(2)),
        "dtype": torch.bfloat16, "device": torch.device("cpu"),
        "list": [1, [2, "x"]], "tuple": (1, (2.0, None)), "empty": ([], (), {}),
        "nested": {"state": {0: {"step": torch.tensor(4.0)}}, 1.5: "float key", None: False},
    }
    decoded, tensors = _json_round_trip(value)
    assert len(tensors) == 3 and tensors[1] is value["param"]
    assert_tree_equal(decoded, value)  # exact types: tuples stay tuples, int keys stay ints
    assert list(decoded["nested"]) == ["state", 1.5, None]  # key types and order kept


def test_encoding_uses_one_key_markers():
    tensors = []
    encoded = tree.encode_tree({"t": (torch.zeros(1), torch.float16)}, tensors, "value")
    assert encoded == {"__dict__": [["t", {"__tuple__": [{"__tensor__": 0},
                                                         {"__dtype__": "float16"}]}]]}
    assert encoded == json.loads(json.dumps(encoded))


def test_ordered_dict_and_size_are_allowed():
    decoded, _ = _json_round_trip(OrderedDict(b=torch.Size([2, 3]), a=1))
    assert decoded == {"b": (2, 3), "a": 1} and list(decoded) == ["b", "a"]


class _Color(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize("value, type_name", [
    (np.float64(0.5), "numpy.float64"),
    (np.ones(2), "numpy.ndarray"),
    ({1, 2}, "builtins.set"),
    (namedtuple("Pair", "a b")(1, 2), "Pair"),
    (_Color.RED, "_Color"),
    (b"raw", "builtins.bytes"),
])
def test_refused_value_names_its_place_and_the_fix(value, type_name):
    with pytest.raises(TypeError, match=rf"^Cannot save training_state\['history'\]\[1\]: a "
                                        rf"\S*{type_name} could not be loaded back safely "
                                        r"\(torchfit loads with weights_only=True\)\. Allowed: "
                                        r"tensors, None, .*float\(x\) for a NumPy scalar"):
        tree.encode_tree({"history": [0.1, value]}, [], "training_state")


def test_refused_dict_key():
    with pytest.raises(TypeError, match=r"^Cannot save optimizer_state\['state'\]: its key "
                                        r"\(0, 1\) is a tuple\. Dict keys must be str, int, "
                                        r"float, bool or None\."):
        tree.encode_tree({"state": {(0, 1): 1.0}}, [], "optimizer_state")


def test_decode_refuses_unknown_markers_and_dtypes():
    with pytest.raises(ValueError, match=r"Unknown marker '__set__' in a torchfit \.h5 file"):
        tree.decode_tree({"__set__": [1]}, [])
    with pytest.raises(ValueError, match=r"Unknown torch dtype 'float99' in a torchfit \.h5"):
        tree.decode_tree({"__dtype__": "float99"}, [])
    with pytest.raises(ValueError, match=r"Unknown torch dtype 'nn'"):
        tree.torch_dtype("nn")  # an attribute of torch, but not a dtype
