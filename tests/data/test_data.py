"""torchfit.data.get_adapter: the one table that picks an adapter, and its one error."""

import pytest

from torchfit import data


def test_get_adapter_rejects_unsupported_types_with_the_accepted_list():
    with pytest.raises(TypeError, match="Unsupported data type for `x`: str. Expected NumPy"):
        data.get_adapter("not data")
