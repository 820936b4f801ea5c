"""The `case` fixture: every built-in loss with its inputs and NumPy reference values."""

import pytest
import torch

from torchfit import losses
from loss_references import CASES


@pytest.fixture(params=CASES, ids=[case[0] for case in CASES])
def case(request):
    _, cls, kwargs, fn_name, fn_kwargs, ref, inputs = request.param
    y, p = inputs()
    fn = getattr(losses, fn_name)
    return cls, kwargs, fn, fn_kwargs, torch.tensor(y), torch.tensor(p), ref(y, p)
