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
