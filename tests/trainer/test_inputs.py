"""Routing inputs to forward: the keyword names of a forward, and the error for wrong ones."""

import pytest
from torch import nn

from torchfit.trainer.inputs import check_input_names, forward_keywords


class TwoInputs(nn.Module):
    def forward(self, image, series, *, mask=None):
        return image


def test_forward_keywords():
    assert forward_keywords(TwoInputs().forward) == ["image", "series", "mask"]
    assert forward_keywords(lambda *args, **kwargs: None) is None
    assert forward_keywords(lambda *args: None) == []  # takes no keyword: every key is wrong


def test_check_input_names():
    names = forward_keywords(TwoInputs().forward)
    check_input_names({"image": 1, "series": 2}, names, "TwoInputs")
    check_input_names({"anything": 1}, None, "Free")
    with pytest.raises(ValueError, match=r"Input dict keys \['img'\] do not match the parameters "
                                         r"of TwoInputs.forward: \['image', 'series', 'mask'\]"):
        check_input_names({"img": 1, "series": 2}, names, "TwoInputs")
