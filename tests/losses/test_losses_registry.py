"""Tests for torchfit/losses/__init__.py: the registry and get()."""

import pytest
from torch import nn

from torchfit import losses


EXPECTED_NAMES = {
    losses.BinaryCrossentropy: ["BinaryCrossentropy", "binary_crossentropy"],
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
def test_get_every_name(cls, name):
    loss = losses.get(name)
    assert type(loss) is cls
    assert loss.name == cls().name
    assert type(losses.get(loss.name)) is cls  # the canonical name round-trips
    if name != "huber_loss":  # Huber's default name, not a Keras function
        assert callable(getattr(losses, name))  # each name is also a module attribute


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
                                         r"Valid names: 'BinaryCrossentropy', "):
        losses.get("sparse_categorical_crossentropyy")
    with pytest.raises(ValueError, match=r"^Unknown loss: 'zzz'\. Valid names: .*'mse'"):
        losses.get("zzz")


def test_get_rejects_other_objects():
    with pytest.raises(TypeError, match=r"Received: loss=3 \(of type int\)\. Expected a loss name"):
        losses.get(3)
