"""serialize_object / deserialize_object: Keras 3's dict format, registry-only lookups."""

import pytest

from torchfit.utils.config import deserialize_object, serialize_object


class Scaled:
    def __init__(self, factor=1.0, name="scaled"):
        self.factor, self.name = factor, name

    def get_config(self):
        return {"factor": self.factor, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Plain:
    def __init__(self, size=1):
        self.size = size


def doubled(x):
    return 2 * x


REGISTRY = {"Scaled": Scaled, "Plain": Plain, "doubled": doubled}


def test_round_trip_of_an_object():
    config = serialize_object(Scaled(3.0, name="s"), "torchfit.things")
    assert config == {"module": "torchfit.things", "class_name": "Scaled",
                      "config": {"factor": 3.0, "name": "s"}, "registered_name": None}
    rebuilt = deserialize_object(config, REGISTRY, "thing")
    assert isinstance(rebuilt, Scaled) and (rebuilt.factor, rebuilt.name) == (3.0, "s")


def test_function_uses_keras_function_form():
    config = serialize_object(doubled, "torchfit.things")
    assert config == {"module": "builtins", "class_name": "function", "config": "doubled",
                      "registered_name": "function"}
    assert deserialize_object(config, REGISTRY, "thing") is doubled


def test_keras_written_dict_and_plain_name_are_read():
    keras_dict = {"module": "keras.things", "class_name": "Scaled", "config": {"factor": 2.0},
                  "registered_name": None}
    assert deserialize_object(keras_dict, REGISTRY, "thing").factor == 2.0
    assert deserialize_object("doubled", REGISTRY, "thing") is doubled


def test_class_without_from_config_is_called_with_the_config():
    assert deserialize_object({"class_name": "Plain", "config": {"size": 4}}, REGISTRY, "x").size == 4


def test_custom_objects_are_looked_up_first():
    class Mine(Scaled):
        pass

    rebuilt = deserialize_object({"class_name": "Scaled", "config": {}}, REGISTRY, "thing",
                                 custom_objects={"Scaled": Mine})
    assert type(rebuilt) is Mine


def test_unknown_names_and_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="Unknown thing: 'Scalde'.*Did you mean 'Scaled'"):
        deserialize_object({"class_name": "Scalde", "config": {}}, REGISTRY, "thing")
    with pytest.raises(ValueError, match="no 'class_name'"):
        deserialize_object({"config": {}}, REGISTRY, "thing")
    with pytest.raises(TypeError, match="Could not deserialize thing 3 of type int"):
        deserialize_object(3, REGISTRY, "thing")
    with pytest.raises(TypeError, match="has no get_config"):
        serialize_object(object(), "torchfit.things")
    assert serialize_object(None, "torchfit.things") is None
