"""trainer/outputs.py: output names, and per-output configs and targets matched to them."""

import pytest
import torch

from torchfit.trainer.outputs import by_output, output_names_of, preds_by_name, targets_by_output


def test_output_names_follow_tf_keras():
    assert output_names_of(torch.zeros(1)) == [None]
    assert output_names_of({"b": 1, "a": 2}) == ["b", "a"]
    assert output_names_of((1, 2)) == ["output_1", "output_2"]
    assert output_names_of([1, 2], ["x", "y"]) == ["x", "y"]
    with pytest.raises(ValueError, match="returned 2 outputs but `output_names` has 1 names"):
        output_names_of((1, 2), ["x"])


def test_by_output_spreads_one_value_a_list_or_a_dict():
    names = ["a", "b"]
    assert by_output(2.0, names, "loss_weights") == {"a": 2.0, "b": 2.0}
    assert by_output([1.0, 0.5], names, "loss_weights") == {"a": 1.0, "b": 0.5}
    assert by_output({"b": 0.5}, names, "loss_weights") == {"a": None, "b": 0.5}
    with pytest.raises(ValueError, match=r"Unknown output name\(s\) \['c'\] in `loss_weights`"):
        by_output({"c": 1.0}, names, "loss_weights")
    with pytest.raises(ValueError, match="`loss` has 3 entries but the model has 2 outputs"):
        by_output(["mse"] * 3, names, "loss")


def test_targets_and_predictions_by_name():
    names = ["a", "b"]
    has_loss = {"a": True, "b": False}
    assert targets_by_output(1, names, has_loss) == {"a": 1}
    assert targets_by_output([1, 2], names, has_loss) == {"a": 1, "b": 2}
    assert targets_by_output([1], names, has_loss) == {"a": 1}
    with pytest.raises(ValueError, match="Received 3 targets for a model with 2 outputs"):
        targets_by_output([1, 2, 3], names, has_loss)
    assert preds_by_name((5, 6), names) == {"a": 5, "b": 6}
    assert preds_by_name(7, [None]) == {None: 7}
