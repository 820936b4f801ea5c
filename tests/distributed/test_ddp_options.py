"""torch.compile, mixed precision and SyncBatchNorm under DDP (issue 12 item 8).

One launch of ``options_script.py`` with two CPU processes runs every case; the same script in
one process is the reference: the trained weights and History must match.
"""

import json

import numpy as np
import pytest
from launch import run_script
from options_script import CASES

# bfloat16 rounds each half batch's forward separately, so the weights differ at its precision.
TOLERANCE = {"jit_compile": 1e-6, "bf16_mixed": 1e-4, "float16_mixed": 2e-5}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    one, two = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("two")
    run_script("options_script.py", one)
    run_script("options_script.py", two, nproc=2, timeout=300)
    return one, two


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(TOLERANCE))
def test_option_trains_under_ddp_as_in_one_process(outputs, case):
    assert case in CASES
    one, two = outputs
    reference = np.load(one / f"{case}-rank0.npz")
    for rank in (0, 1):
        result = np.load(two / f"{case}-rank{rank}.npz")
        for key in reference.files:
            if key == "history":
                expected, got = json.loads(str(reference[key])), json.loads(str(result[key]))
                assert sorted(got) == sorted(expected)
                for name in expected:
                    np.testing.assert_allclose(got[name], expected[name], atol=TOLERANCE[case])
            else:
                np.testing.assert_allclose(result[key], reference[key], atol=TOLERANCE[case])


@pytest.mark.slow
def test_sync_batchnorm_on_cpu_is_refused_before_training(outputs):
    one, two = outputs
    assert not (one / "sync_batchnorm_on_cpu-rank0.txt").exists()  # ignored in one process
    for rank in (0, 1):
        message = (two / f"sync_batchnorm_on_cpu-rank{rank}.txt").read_text()
        assert "sync_batchnorm=True needs CUDA" in message and "model is on cpu" in message
