"""Fixtures shared by the tests of torchfit.saving."""

import pytest
import torch

from saving_helpers import _net


@pytest.fixture
def net():
    torch.manual_seed(0)
    module = _net()
    module.train()
    module(torch.randn(16, 4))  # non-trivial running stats and num_batches_tracked
    return module.eval()

