"""torchfit.data.get_adapter: the one table that picks an adapter, and its one error."""

import pytest

from torchfit import data


def test_get_adapter_rejects_unsupported_types_with_the_accepted_list():
    with pytest.raises(TypeError, match="Unsupported data type for `x`: str. Expected NumPy"):
        data.get_adapter("not data")


def test_a_non_array_value_in_an_input_dict_is_named_with_the_fix():
    import numpy as np
    from torch import nn

    import torchfit

    class Forecaster(nn.Module):
        def forward(self, input, future=0):
            return input

    model = torchfit.Model(Forecaster(), device="cpu")
    inputs = {"input": np.zeros((4, 2), "float32"), "future": 1000}
    message = (r"`x\['future'\]` is an int \(1000\), not an array.*constant argument to "
               r"`forward`.*def forward\(self, input, future=1000\).*functools.partial")
    with pytest.raises(TypeError, match=message):
        model.predict(inputs, verbose=0)
    with pytest.raises(TypeError, match=message):
        model.predict_on_batch(inputs)
    with pytest.raises(TypeError, match="Unsupported data type for `x`: list"):
        data.get_adapter([1.0, 2.0])  # no array at all: the general error
