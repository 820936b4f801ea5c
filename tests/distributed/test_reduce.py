"""torchfit.distributed.reduce: in one process the identity; under torchrun (2 processes, gloo)
what one process holding all of the data gives.

The torchrun checks run in one launch of tests/distributed/reduce_script.py (a module fixture,
with a timeout so that a hang fails); each check there writes what torchfit gave (``got``) and
the reference computed without torchfit.distributed (``expected``: one metric updated with all
of the data, or an order written by hand), and a test here compares them on both ranks.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist

import reduce_script
import torchfit
from torchfit.distributed import reduce
from torchfit.logs import MetricLogs, to_floats

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available in this torch build",
)

SCRIPT = os.path.abspath(reduce_script.__file__)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(SCRIPT)))


# -- one process: the identity ------------------------------------------------------------

def _updated_metrics():
    mean = torchfit.metrics.Mean(name="mean")
    mean.update_state(torch.tensor([1.0, 2.0, 6.0]), sample_weight=torch.tensor([1.0, 1.0, 2.0]))
    auc = torchfit.metrics.AUC(name="auc")
    auc.update_state(torch.tensor([0, 1, 1, 0]), torch.tensor([0.1, 0.8, 0.4, 0.5]))
    rows = reduce_script.ConcatState()
    rows.update_state(torch.tensor([[1.0, 2.0]]))
    return [mean, auc, rows]


def test_reduced_states_in_one_process_are_the_states():
    metrics = _updated_metrics()
    before = [metric.state_dict() for metric in metrics]
    own = [metric.result() for metric in metrics]
    with reduce.reduced_states(metrics):
        inside = [metric.result() for metric in metrics]
    for metric, states, value, seen in zip(metrics, before, own, inside):
        torch.testing.assert_close(seen, value)
        for name, state in states.items():
            torch.testing.assert_close(getattr(metric, name), state)
    torch.testing.assert_close(inside[0], torch.tensor((1 + 2 + 12) / 4))


def test_reduced_states_pass_over_metrics_without_declared_states():
    class Plain:  # e.g. a torchmetrics object: it syncs itself in compute()
        value = torch.tensor(3.0)

    with reduce.reduced_states([Plain()]):
        pass
    with reduce.reduced_states([]):
        pass


def test_distributed_metric_logs_in_one_process_are_metric_logs():
    metrics = _updated_metrics()[:2]
    logs = reduce.DistributedMetricLogs(metrics)
    assert list(logs) == ["mean", "auc"] and len(logs) == 2
    assert to_floats(logs) == to_floats(MetricLogs(metrics))
    assert reduce.distributed_to_floats(logs) == to_floats(MetricLogs(metrics))
    metrics[0].update_state(torch.tensor([100.0]))
    assert float(logs["mean"]) == pytest.approx(15 / 4)  # read once per step: kept
    logs.invalidate()  # a step ran
    assert float(logs["mean"]) == pytest.approx(115 / 5)


def test_distributed_to_floats_in_one_process_is_to_floats():
    logs = {"loss": torch.tensor(0.5), "accuracy": torch.tensor([0.25]), "steps": 3,
            "note": "text", "vector": torch.tensor([1.0, 2.0])}
    got = reduce.distributed_to_floats(logs)
    assert got.keys() == logs.keys()
    assert (got["loss"], got["accuracy"], got["steps"], got["note"]) == (0.5, 0.25, 3, "text")
    assert reduce.distributed_to_floats(None) == {}


@pytest.mark.parametrize("flag, expected", [(True, True), (False, False), (0, False),
                                            (2, True), (torch.tensor(True), True)])
def test_agree_in_one_process_is_the_flag(flag, expected):
    assert reduce.agree(flag) is expected


def test_gather_objects_in_one_process():
    assert reduce.gather_objects({"step": 3}) == [{"step": 3}]


def test_gather_rows_in_one_process_are_the_rows():
    rows = torch.arange(6).reshape(3, 2)
    assert reduce.gather_rows(rows) is rows
    empty = torch.zeros(0, 4)
    assert reduce.gather_rows(empty).shape == (0, 4)


def test_output_positions_in_one_process():
    got = reduce.output_positions([range(2, 4), [0, 1], range(4, 5)], [2, 2, 1])
    assert got.tolist() == [2, 3, 0, 1, 4] and got.dtype == torch.int64
    assert reduce.output_positions([], []).tolist() == []
    # A stream (positions None): batch after batch.
    stream = reduce.output_positions([None, None], [3, 2])
    assert torch.equal(torch.argsort(stream, stable=True), torch.arange(5))


def test_gather_outputs_in_one_process_puts_rows_in_input_order():
    values = torch.tensor([20.0, 30.0, 0.0, 10.0, 40.0])
    pairs = torch.stack([values, -values], 1)
    positions = reduce.output_positions([range(2, 4), [0, 1], range(4, 5)], [2, 2, 1])
    got = reduce.gather_outputs([values, pairs], positions)
    assert got[0].tolist() == [0.0, 10.0, 20.0, 30.0, 40.0]
    assert got[1].tolist() == [[10.0 * i, -10.0 * i] for i in range(5)]


# -- torchrun, 2 processes ----------------------------------------------------------------

def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Both ranks' reports of one torchrun launch of reduce_script.py."""
    out = tmp_path_factory.mktemp("reduce")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               f"--master_port={_free_port()}", SCRIPT, str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    loaded = []
    for rank in range(reduce_script.WORLD):
        with open(out / f"report_{rank}.json") as f:
            loaded.append(json.load(f))
    return loaded


METRIC_CASES = [case[0] for case in reduce_script._metric_cases()]


def _check(reports, name, rtol=0.0, atol=0.0):
    """``got == expected`` on every rank (within rtol/atol for numbers)."""
    for rank, report in enumerate(reports):
        entry = report[name]
        got, expected = entry["got"], entry["expected"]
        if rtol or atol:
            if isinstance(expected, dict):
                assert got.keys() == expected.keys(), (rank, name)
                got, expected = list(got.values()), list(expected.values())
            np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol,
                                       err_msg=f"rank {rank}: {name}")
        else:
            assert got == expected, (rank, name)


def test_torchrun_started_the_group_and_runtime_sees_it(reports):
    _check(reports, "started_group")
    _check(reports, "runtime")
    _check(reports, "print_on_main")
    _check(reports, "strategy_auto")


def test_rank_0s_seed_reaches_every_rank(reports):
    _check(reports, "shared_seed")
    # Each rank seeded torch differently; the slices still make rank 0's one-process batches.
    _check(reports, "sharded_sampler")


@pytest.mark.parametrize("case", METRIC_CASES)
def test_reduced_metric_equals_one_metric_over_all_the_data(reports, case):
    # float32 sums in another order: rounding only.
    _check(reports, f"metric:{case}", rtol=1e-6, atol=1e-6)
    assert reports[0][f"metric:{case}"]["got"] == reports[1][f"metric:{case}"]["got"]


@pytest.mark.parametrize("case", METRIC_CASES)
def test_the_local_states_are_unchanged_after_the_block(reports, case):
    _check(reports, f"local_unchanged:{case}")


def test_distributed_metric_logs_are_reduced_and_identical(reports):
    _check(reports, "metric_logs", rtol=1e-6, atol=1e-6)
    assert reports[0]["metric_logs"]["got"] == reports[1]["metric_logs"]["got"]


@pytest.mark.parametrize("case", ["3_and_5", "0_and_3", "0_and_0"])
def test_gather_rows_with_different_row_counts(reports, case):
    _check(reports, f"gather_rows:{case}")


def test_gather_objects_of_different_sizes(reports):
    _check(reports, "gather_objects")


@pytest.mark.parametrize("case", ["padded", "ranges", "stream"])
def test_gather_outputs_in_input_order(reports, case):
    _check(reports, f"gather_outputs:{case}")


@pytest.mark.parametrize("case", ["rank1_only", "none", "all"])
def test_agree(reports, case):
    _check(reports, f"agree:{case}")


def test_distributed_to_floats_averages_a_plain_dict(reports):
    _check(reports, "distributed_to_floats")
