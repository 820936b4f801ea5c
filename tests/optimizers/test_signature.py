"""torchfit.optimizers.signature: a class's constructor signature from what it declares."""

import inspect

import pytest
import torch

from torchfit import optimizers
from torchfit.optimizers.signature import SHARED_ARGUMENTS, keras_signature
from optimizer_helpers import make_model


def declared(keras_to_torch):
    return type("Declared", (), {"keras_to_torch": staticmethod(keras_to_torch)})


def names(signature):
    return list(signature.parameters)


def test_own_arguments_come_between_learning_rate_and_the_shared_ones():
    signature, passed = keras_signature(
        declared(lambda rho=0.9, epsilon=1e-7, *, weight_decay: {}), 0.001, "mine"
    )
    assert names(signature) == [
        "learning_rate", "rho", "epsilon", *SHARED_ARGUMENTS, "name", "kwargs"
    ]  # fmt: skip
    assert signature.parameters["rho"].default == 0.9
    assert signature.parameters["name"].default == "mine"
    assert passed == ("rho", "epsilon", "weight_decay")


def test_weight_decay_declared_as_an_own_argument_keeps_its_place_and_default():
    signature, passed = keras_signature(declared(lambda weight_decay=0.004, beta=0.9: {}), 0.1, "w")
    assert names(signature)[:3] == ["learning_rate", "weight_decay", "beta"]
    assert names(signature).count("weight_decay") == 1
    assert signature.parameters["weight_decay"].default == 0.004
    assert passed == ("weight_decay", "beta")


def test_weight_decay_is_offered_only_where_it_is_mapped():
    signature, passed = keras_signature(declared(lambda eta=0.5: {}), 0.01, "rprop")
    assert names(signature) == [
        "learning_rate", "eta", "clipnorm", "clipvalue", "global_clipnorm", "name", "kwargs"
    ]  # fmt: skip
    assert passed == ("eta",)


@pytest.mark.parametrize(
    "keras_to_torch",
    [lambda rho: {}, lambda *args: {}, lambda learning_rate=0.1: {}, lambda *, other: {}],
    ids=["no-default", "var-positional", "learning_rate", "unknown-keyword-only"],
)
def test_bad_declarations_are_type_errors_at_class_creation(keras_to_torch):
    with pytest.raises(TypeError, match=r"Declared\.keras_to_torch must declare its own Keras"):
        keras_signature(declared(keras_to_torch), 0.001, "x")


def test_subclasses_inherit_or_override_the_class_keywords():
    class Inherited(optimizers.Adam):
        pass

    class Faster(optimizers.Adam, learning_rate=0.01, name="faster"):
        pass

    assert inspect.signature(Inherited) == inspect.signature(optimizers.Adam)
    assert inspect.signature(Faster).parameters["learning_rate"].default == 0.01
    assert Faster().name == "faster" and Faster().learning_rate == 0.01


def test_a_subclass_with_its_own_init_shows_that_signature():
    class Tuned(optimizers.SGD):
        def __init__(self, learning_rate=0.5, **kwargs):
            super().__init__(learning_rate, momentum=0.9, **kwargs)

    assert names(inspect.signature(Tuned)) == ["learning_rate", "kwargs"]
    optimizer = Tuned(name="tuned").build(make_model().parameters())
    assert optimizer.param_groups[0]["momentum"] == 0.9 and optimizer.name == "tuned"


def test_a_new_optimizer_declares_only_its_own_arguments():
    class Rprop(optimizers.Optimizer, torch.optim.Rprop, learning_rate=0.01, name="rprop"):
        @staticmethod
        def keras_to_torch(eta_minus=0.5, eta_plus=1.2):
            return dict(etas=(eta_minus, eta_plus))

    optimizer = Rprop(0.02, 0.4, clipvalue=1.0).build(make_model().parameters())
    assert optimizer.param_groups[0]["etas"] == (0.4, 1.2) and optimizer.name == "rprop"
    assert isinstance(optimizer, torch.optim.Rprop) and optimizer.learning_rate == 0.02
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'weight_decay'"):
        Rprop(weight_decay=0.1)  # torch's Rprop has none


def test_the_base_class_alone_is_not_an_optimizer():
    with pytest.raises(TypeError, match="no torch.optim optimizer"):
        optimizers.Optimizer()
