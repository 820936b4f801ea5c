"""Tests for torchfit/utils/naming.py: to_snake_case follows Keras 3 exactly."""

import re

import pytest

from torchfit.utils.naming import to_snake_case


def keras_to_snake_case(name):
    """keras/src/utils/naming.py's to_snake_case, transcribed as the reference."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name


@pytest.mark.parametrize("name, expected", [
    ("MSE2Loss", "mse2_loss"),  # the old metrics rule gave "ms_e2loss"
    ("TopKCategoricalAccuracy", "top_k_categorical_accuracy"),
    ("AUC", "auc"),
    ("BCEWithLogitsLoss", "bce_with_logits_loss"),
    ("MulticlassF1Score", "multiclass_f1_score"),  # the old metrics rule: "multiclass_f1score"
    ("SmoothL1Loss", "smooth_l1_loss"),
    ("HTTPResponse", "http_response"),
    ("Conv2D", "conv2d"),  # the old losses rule: "conv2_d"
    ("<lambda>", "lambda"),
    ("already_snake", "already_snake"),
])
def test_to_snake_case_matches_keras(name, expected):
    assert to_snake_case(name) == expected
    assert keras_to_snake_case(name) == expected
