import pytest

import helpers


@pytest.fixture
def blobs():
    return helpers.blobs()
