"""``compile(strategy="fsdp")`` end to end on CPU/gloo (issue 12 item 7).

Two processes shard the model with FSDP2; the same script in one process (no strategy) is the
reference. Checked: History, evaluate and predict equal one process's; ``save_weights`` and
``ModelCheckpoint`` write the full state dict under the bare module's keys (rank 0 writes);
``load_weights`` and ``load`` put it back into a freshly sharded model.
"""

import json

import numpy as np
import pytest
import torch
from launch import run_script

from torchfit.saving import load_checkpoint, load_state_dict


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    one, two = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("two")
    run_script("fsdp_model_script.py", one)
    run_script("fsdp_model_script.py", two, nproc=2, timeout=240)
    return one, two


def test_fsdp_trains_evaluates_and_predicts_as_one_process(runs):
    one, two = runs
    reference = np.load(one / "rank0.npz")
    for rank in (0, 1):
        result = np.load(two / f"rank{rank}.npz")
        for key in ("history", "evaluate"):
            expected, got = json.loads(str(reference[key])), json.loads(str(result[key]))
            assert sorted(got) == sorted(expected)
            np.testing.assert_allclose(np.array(list(got.values()), dtype=object).astype(float),
                                       np.array(list(expected.values()), dtype=object)
                                       .astype(float), atol=1e-6)
        np.testing.assert_allclose(result["predict"], reference["predict"], atol=1e-6)


def test_saved_weights_are_the_full_state_under_the_bare_keys(runs):
    one, two = runs
    saved, expected = load_state_dict(two / "weights.pt"), load_state_dict(one / "weights.pt")
    assert list(saved) == ["0.weight", "0.bias", "2.weight", "2.bias"] == list(expected)
    for key, value in saved.items():
        assert type(value) is torch.Tensor and value.shape == expected[key].shape
        torch.testing.assert_close(value, expected[key], atol=1e-6, rtol=0)
    checkpoint = load_checkpoint(two / "epoch3.pt")
    assert list(checkpoint["model"]) == list(expected)
    assert checkpoint["optimizer"]["state"]  # the gathered optimizer state, by parameter name


def test_loading_into_a_freshly_sharded_model_restores_its_predictions(runs):
    one, two = runs
    reference = np.load(one / "rank0.npz")
    for rank in (0, 1):
        result = np.load(two / f"rank{rank}.npz")
        np.testing.assert_allclose(result["reloaded"], reference["predict"], atol=1e-6)
        np.testing.assert_allclose(result["restored"], reference["restored"], atol=1e-6)
