"""Tests for torchfit/losses/__init__.py: the registry and get()."""

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from torchfit import losses


EXPECTED_NAMES = {
    losses.BinaryCrossentropy: ["BinaryCrossentropy", "binary_crossentropy", "bce", "BCE"],
    losses.CategoricalCrossentropy: ["CategoricalCrossentropy", "categorical_crossentropy"],
    losses.SparseCategoricalCrossentropy: ["SparseCategoricalCrossentropy",
                                           "sparse_categorical_crossentropy"],
    losses.MeanSquaredError: ["MeanSquaredError", "mean_squared_error", "mse", "MSE"],
    losses.MeanAbsoluteError: ["MeanAbsoluteError", "mean_absolute_error", "mae", "MAE"],
    losses.MeanAbsolutePercentageError: ["MeanAbsolutePercentageError",
                                         "mean_absolute_percentage_error", "mape", "MAPE"],
    losses.MeanSquaredLogarithmicError: ["MeanSquaredLogarithmicError",
                                         "mean_squared_logarithmic_error", "msle", "MSLE"],
    losses.Huber: ["Huber", "huber", "huber_loss"],
    losses.LogCosh: ["LogCosh", "log_cosh", "logcosh"],
    losses.KLDivergence: ["KLDivergence", "kl_divergence", "kld", "KLD",
                          "kullback_leibler_divergence"],
    losses.Poisson: ["Poisson", "poisson"],
    losses.Hinge: ["Hinge", "hinge"],
    losses.SquaredHinge: ["SquaredHinge", "squared_hinge"],
    losses.CategoricalHinge: ["CategoricalHinge", "categorical_hinge"],
    losses.CosineSimilarity: ["CosineSimilarity", "cosine_similarity"],
    losses.BinaryFocalCrossentropy: ["BinaryFocalCrossentropy", "binary_focal_crossentropy"],
    losses.CategoricalFocalCrossentropy: ["CategoricalFocalCrossentropy",
                                          "categorical_focal_crossentropy"],
    losses.CategoricalGeneralizedCrossEntropy: ["CategoricalGeneralizedCrossEntropy",
                                                "categorical_generalized_cross_entropy"],
    losses.Dice: ["Dice", "dice"],
    losses.Tversky: ["Tversky", "tversky"],
    losses.CTC: ["CTC", "ctc"],
    losses.Circle: ["Circle", "circle"],
}


@pytest.mark.parametrize("cls,name",
                         [(cls, name) for cls, names in EXPECTED_NAMES.items() for name in names])
def test_to_loss_resolves_every_name_to_an_instance(cls, name):
    loss = losses.to_loss(name)
    assert type(loss) is cls
    assert loss.name == cls().name
    assert type(losses.to_loss(loss.name)) is cls  # the canonical name round-trips
    if name not in ("huber_loss", "bce", "BCE"):  # Huber's name; Keras's registry-only alias
        assert callable(getattr(losses, name))  # each name is also a module attribute


@pytest.mark.parametrize("cls,name",
                         [(cls, name) for cls, names in EXPECTED_NAMES.items() for name in names])
def test_get_returns_functions_for_function_names_as_keras(cls, name):
    # Keras 3's losses.get: a class name gives an instance, a function name (or alias such as
    # "mse", "bce") gives the function itself.
    loss = losses.get(name)
    if name == cls.__name__ or name == "huber_loss":
        assert type(loss) is cls
    else:
        assert loss is getattr(losses, {"bce": "binary_crossentropy"}.get(name.lower(), name))
        assert not isinstance(loss, losses.Loss) and callable(loss)


def test_get_mse_and_bce_are_the_keras_functions():
    assert losses.get("mse") is losses.mean_squared_error
    assert losses.get("MSE") is losses.mean_squared_error
    assert losses.get("bce") is losses.binary_crossentropy
    assert losses.get("BCE") is losses.binary_crossentropy
    assert type(losses.get("MeanSquaredError")) is losses.MeanSquaredError
    y_true, y_pred = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]])
    assert torch.equal(losses.get("mse")(y_true, y_pred), ((y_true - y_pred) ** 2).mean(-1))


def test_compile_mse_string_still_trains_and_logs_loss():
    torch.manual_seed(0)
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    module = nn.Linear(3, 1)
    reference = nn.Linear(3, 1)
    reference.load_state_dict(module.state_dict())
    model = torchfit.Model(module, device="cpu")
    model.compile(optimizer=torchfit.optimizers.SGD(learning_rate=0.1), loss="mse")
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0, shuffle=False)
    assert list(history.history) == ["loss"]
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    expected = []
    for _ in range(3):
        loss = torch.nn.functional.mse_loss(reference(torch.from_numpy(x)), torch.from_numpy(y))
        expected.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-5)


def test_get_registry_has_no_unexpected_names():
    listed = {name for names in EXPECTED_NAMES.values() for name in names}
    assert set(losses._REGISTRY) == listed


def test_get_passes_through_and_wraps():
    assert losses.get(None) is None
    loss = losses.Huber(delta=2.0)
    assert losses.get(loss) is loss
    assert type(losses.get(losses.Poisson)) is losses.Poisson
    module = nn.CrossEntropyLoss()
    wrapped = losses.get(module)
    assert isinstance(wrapped, losses.TorchLossWrapper) and wrapped.module is module
    assert isinstance(losses.get(nn.MSELoss), losses.TorchLossWrapper)

    def my_loss(y_true, y_pred):
        return (y_true - y_pred).abs().mean(-1)

    wrapped = losses.get(my_loss)
    assert isinstance(wrapped, losses.LossFunctionWrapper) and wrapped.name == "my_loss"


def test_get_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError, match=r"^Unknown loss: 'sparse_categorical_crossentropyy'\. "
                                         r"Did you mean 'sparse_categorical_crossentropy'\? "
                                         r"Valid names: 'BCE', 'BinaryCrossentropy', "):
        losses.get("sparse_categorical_crossentropyy")
    with pytest.raises(ValueError, match=r"^Unknown loss: 'zzz'\. Valid names: .*'mse'"):
        losses.get("zzz")


@pytest.mark.parametrize("resolve", [losses.get, losses.to_loss], ids=["get", "to_loss"])
def test_get_rejects_other_objects_with_a_value_error(resolve):
    # Keras 3's losses.get raises ValueError("Could not interpret loss identifier: 0").
    with pytest.raises(ValueError, match=r"Received: loss=3 \(of type int\)\. Expected a loss name"):
        resolve(3)
    with pytest.raises(ValueError, match=r"Could not interpret loss identifier\. Received: loss=0 "):
        resolve(0)


class _PinballModule(nn.Module):
    """The quantile loss written the torch way: forward(input, target), no `reduction`."""

    def __init__(self, q):
        super().__init__()
        self.q = q

    def forward(self, input, target):
        error = target - input
        return torch.maximum(self.q * error, (self.q - 1) * error).mean()


def _pinball_fn(y_true, y_pred, q=0.9):
    error = y_true - y_pred
    return torch.maximum(q * error, (q - 1) * error).mean(dim=-1)


def _learned_constant(loss):
    """Fits a constant prediction to targets of known quantiles; returns it and the data."""
    torch.manual_seed(0)
    y = np.random.default_rng(0).uniform(0.0, 10.0, (64, 1)).astype("float32")
    x = np.ones((64, 1), "float32")
    model = torchfit.Model(nn.Linear(1, 1), device="cpu")
    model.compile(optimizer=torchfit.optimizers.SGD(learning_rate=0.05), loss=loss)
    model.fit(x, y, batch_size=64, epochs=400, verbose=0, shuffle=False)
    return float(model.predict(x[:1], verbose=0)[0, 0]), y


@pytest.mark.parametrize("loss", [_PinballModule(0.9), _pinball_fn], ids=["module", "function"])
def test_get_calls_modules_in_torch_order_and_functions_in_keras_order(loss):
    learned, y = _learned_constant(loss)
    assert abs(learned - np.quantile(y, 0.9)) < 0.2, (learned, np.quantile(y, 0.9))


def test_get_wraps_any_module_in_torch_order():
    module = _PinballModule(0.9)
    wrapped = losses.get(module)
    assert isinstance(wrapped, losses.TorchLossWrapper) and wrapped.module is module
    y_true, y_pred = torch.tensor([[1.0], [2.0]]), torch.tensor([[0.0], [4.0]])
    assert torch.equal(wrapped(y_true, y_pred), module(y_pred, y_true))


ALL_CLASSES = sorted(set(EXPECTED_NAMES), key=lambda cls: cls.__name__)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda cls: cls.__name__)
def test_every_class_round_trips_its_config(cls):
    loss = cls(reduction="sum", name="custom")
    config = loss.get_config()
    assert config["name"] == "custom" and config["reduction"] == "sum"
    assert cls.from_config(config).get_config() == config
    serialized = losses.serialize(loss)
    assert serialized == {"module": "torchfit.losses", "class_name": cls.__name__,
                          "config": config, "registered_name": None}
    rebuilt = losses.deserialize(serialized)
    assert type(rebuilt) is cls and rebuilt.get_config() == config
    got = losses.get(serialized)
    assert type(got) is cls and got.get_config() == config


def test_wrappers_round_trip_their_config():
    wrapper = losses.LossFunctionWrapper(losses.mean_squared_error, name="mse_w", reduction="sum")
    assert type(wrapper).from_config(wrapper.get_config()).get_config() == wrapper.get_config()
    torch_wrapper = losses.TorchLossWrapper(nn.L1Loss(), name="l1")
    rebuilt = losses.TorchLossWrapper.from_config(torch_wrapper.get_config())
    assert rebuilt.module is torch_wrapper.module and rebuilt.name == "l1"


def test_functions_serialize_in_keras_function_form():
    for name in ("mean_squared_error", "mse", "bce", "binary_focal_crossentropy", "ctc"):
        fn = getattr(losses, name) if hasattr(losses, name) else losses.get(name)
        config = losses.serialize(fn)
        assert config == {"module": "builtins", "class_name": "function",
                          "config": fn.__name__, "registered_name": "function"}
        assert losses.deserialize(config) is fn
        assert losses.get(config) is fn


def test_deserialize_reads_keras_3_dicts():
    # Dicts as keras.losses.serialize writes them (Keras 3.15).
    config = {"module": "keras.losses", "class_name": "SparseCategoricalCrossentropy",
              "config": {"name": "sparse_categorical_crossentropy",
                         "reduction": "sum_over_batch_size", "from_logits": True,
                         "ignore_class": 3}, "registered_name": None}
    loss = losses.deserialize(config)
    assert type(loss) is losses.SparseCategoricalCrossentropy
    assert loss.from_logits and loss.ignore_class == 3
    huber = losses.get({"module": "keras.losses", "class_name": "Huber",
                        "config": {"name": "huber_loss", "reduction": "sum_over_batch_size"},
                        "registered_name": None})
    assert type(huber) is losses.Huber and huber.delta == 1.0
    assert type(losses.deserialize("MeanSquaredError")) is losses.MeanSquaredError
    assert losses.deserialize("mse") is losses.mean_squared_error


def test_deserialize_custom_objects_and_errors():
    class MyLoss(losses.Loss):
        def call(self, y_true, y_pred):
            return (y_true - y_pred).abs()

    config = losses.serialize(MyLoss(name="mine"))
    assert type(losses.deserialize(config, custom_objects={"MyLoss": MyLoss})) is MyLoss
    with pytest.raises(ValueError, match="MyLoss"):
        losses.deserialize(config)
    with pytest.raises(ValueError, match="has no 'class_name'"):
        losses.get({"config": {}})
