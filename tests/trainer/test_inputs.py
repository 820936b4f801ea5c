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


def test_floating_dtype_and_positional_arity():
    import torch

    from torchfit.trainer.inputs import floating_dtype, positional_arity

    assert floating_dtype(nn.Linear(2, 1).double()) == torch.float64
    assert floating_dtype(nn.BatchNorm1d(2).half()) == torch.float16
    assert floating_dtype(nn.Embedding(3, 2).to(torch.bfloat16)) == torch.bfloat16
    assert floating_dtype(nn.ReLU()) == torch.float32  # no floating weight: Keras's floatx
    assert positional_arity(TwoInputs().forward) == (2, 2)
    assert positional_arity(nn.Linear(2, 1).forward) == (1, 1)
    assert positional_arity(lambda x, *rest: x) == (1, None)


def test_check_first_batch_accepts_the_sample_weight_shapes_keras_does():
    import torch

    from torchfit.trainer.inputs import check_first_batch

    forward = nn.Linear(2, 1).forward
    x, y = torch.zeros(4, 2), torch.zeros(4, 5)
    for weight in (torch.ones(4), torch.ones(4, 1), torch.ones(4, 5)):  # per sample, per step
        check_first_batch((x, y, weight), "The DataLoader", forward, "Linear")
    with pytest.raises(ValueError, match=r"third item is a tensor of dtype float32 and shape "
                                         r"\(3,\), not float per-sample weights of the batch's "
                                         r"length \(4\)"):
        check_first_batch((x, y, torch.ones(3)), "The DataLoader", forward, "Linear")
    with pytest.raises(ValueError, match=r"The generator yielded batches of 2 items, read as "
                                         r"`\(x, y\)`.*TwoInputs.forward would receive 1"):
        check_first_batch((x, y), "The generator", TwoInputs().forward, "TwoInputs")
