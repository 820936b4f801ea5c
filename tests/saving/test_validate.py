"""saving/validate.py: a file is compared with the model as a whole before anything is copied."""

import pytest
import torch
from torch import nn

from torchfit.saving.validate import check_loadable, optimizer_problems, state_problems


def test_state_problems_lists_missing_unexpected_and_mismatched_keys_like_torch():
    ours = nn.Linear(4, 2).state_dict()
    theirs = {"weight": torch.zeros(2, 4, dtype=torch.float16), "extra": torch.zeros(1)}
    problems = state_problems(ours, theirs)
    assert problems == {
        "missing": ["'bias' float32 (2,)"],
        "unexpected": ["'extra' float32 (1,)"],
        "mismatched": ["'weight' has float16 (2, 4) in the file, float32 (2, 4) in the model"],
    }
    # The same keys torch reports (it would copy 'weight', casting it, before raising).
    result = nn.Linear(4, 2).load_state_dict(theirs, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]


def test_strict_false_ignores_missing_and_unexpected_keys_but_not_mismatches():
    ours = nn.Linear(4, 2).state_dict()
    problems = state_problems(ours, {"weight": torch.zeros(3, 4), "extra": torch.zeros(1)},
                              strict=False)
    assert problems["missing"] == problems["unexpected"] == []
    assert problems["mismatched"] == [
        "'weight' has float32 (3, 4) in the file, float32 (2, 4) in the model"]


def test_lazy_parameters_and_extra_state_are_left_to_the_module():
    lazy = nn.LazyLinear(2).state_dict()
    assert state_problems(lazy, {"weight": torch.zeros(2, 7), "bias": torch.zeros(2)}) == {
        "missing": [], "unexpected": [], "mismatched": []}
    assert state_problems({"_extra_state": {"a": 1}}, {"_extra_state": "anything"}) == {
        "missing": [], "unexpected": [], "mismatched": []}


def test_a_non_tensor_in_place_of_a_tensor_is_a_mismatch():
    problems = state_problems(nn.Linear(1, 1).state_dict(), {"weight": [1.0], "bias": 0.0})
    assert problems["mismatched"] == [
        "'weight' has list in the file, float32 (1, 1) in the model",
        "'bias' has float in the file, float32 (1,) in the model"]


def test_optimizer_problems_makes_torchs_checks_before_anything_is_copied():
    net = nn.Linear(4, 2)
    adam = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 4)).sum().backward()
    adam.step()
    saved = adam.state_dict()
    assert optimizer_problems(adam, saved) == []
    assert optimizer_problems(adam, {"state": {}}) == [
        "the file's optimizer state is not an optimizer `state_dict()` (it needs 'state' and "
        "'param_groups')"]
    two = torch.optim.Adam([{"params": [net.weight]}, {"params": [net.bias]}])
    with pytest.raises(ValueError, match="different number of parameter groups"):
        two.load_state_dict(saved)  # what torch says, once it got there
    assert optimizer_problems(two, saved) == [
        "the file's optimizer has 1 parameter groups, this optimizer 2"]


def test_a_state_of_the_wrong_shape_is_found_though_torch_would_load_it():
    net = nn.Linear(4, 2)
    adam = torch.optim.Adam(net.parameters())
    saved = adam.state_dict()
    saved["state"] = {1: {"step": torch.tensor(1.0), "exp_avg": torch.zeros(3),
                          "exp_avg_sq": torch.zeros(2)}}
    torch.optim.Adam(net.parameters()).load_state_dict(saved)  # torch accepts it
    assert optimizer_problems(adam, saved) == [
        "optimizer state 'exp_avg' of parameter 1 (group 0) has shape (3,) in the file, the "
        "parameter (2,)"]


def test_check_loadable_counts_what_it_does_not_list():
    module = nn.Sequential(*[nn.Linear(1, 1) for _ in range(6)])  # 12 keys
    with pytest.raises(ValueError, match=r"Missing from the file \(12\): '0.weight' float32 "
                                         r"\(1, 1\);.*; and 2 more\. To load it"):
        check_loadable("empty.pt", module, {})
    with pytest.raises(ValueError, match=r"into Sequential: .* Optimizer \(1\): parameter "
                                         r"group 0 holds 0 parameters in the file and 12"):
        check_loadable("f.pt", module, module.state_dict(),
                       optimizer=torch.optim.SGD(module.parameters(), lr=1.0),
                       optimizer_state={"state": {}, "param_groups": [{"params": []}]})
