"""torchfit/utils/validation.py: the one wording of unknown keywords and identifiers."""

import pytest

from torchfit.utils.validation import check_kwargs, did_you_mean, unknown_identifier_error


def test_did_you_mean_suggests_the_closest_name_or_nothing():
    assert did_you_mean("loss_weight", ["loss", "loss_weights"]) == " Did you mean 'loss_weights'?"
    assert did_you_mean("zzz", ["loss", "metrics"]) == ""


def test_check_kwargs_names_the_function_the_keyword_and_the_valid_ones():
    check_kwargs("fit", {}, ["x", "y"])
    with pytest.raises(TypeError, match=r"^fit\(\) got an unexpected keyword argument 'epoch'\. "
                                        r"Did you mean 'epochs'\? Valid arguments: 'x', 'epochs'"):
        check_kwargs("fit", {"epoch": 3}, ["x", "epochs"])


def test_unknown_identifier_error_lists_the_sorted_valid_names():
    error = unknown_identifier_error("loss", "mse2", ["mse", "mae", "huber"])
    assert isinstance(error, ValueError)
    assert str(error) == ("Unknown loss: 'mse2'. Did you mean 'mse'? "
                          "Valid names: 'huber', 'mae', 'mse'.")
