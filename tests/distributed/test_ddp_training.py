"""DDP training under torchrun (2 CPU processes, gloo) against the same script in one process.

Each module fixture launches one worker script once (under ``torch.distributed.run``, with a
timeout so that a hang fails instead of blocking) and the tests read what every rank wrote:

- ``train_script.py`` runs all its cases (arrays with an even last batch, an uneven one, a last
  batch of one sample; map-style Datasets; sample and class weights; validation data; gradient
  accumulation with clipping) in plain ``python`` (the reference), on 2 processes, and on a
  2-node job simulated on localhost: History, trained weights, evaluate and predict of rank 0 and
  of rank 1 must equal the single process's.
- ``ddp_cases_script.py`` runs the behaviours that have no one-process twin: DataLoader sharding
  (torch's ``DistributedSampler``), streams the user shards unevenly, rank-0-only files and
  output, stopping agreed across ranks, and the setups that must raise.

The 2-process run of both scripts is one launch (``ddp_cases_script.py`` runs
``train_script``'s cases first): a launch costs seconds of imports on every process.
"""

import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch import nn

import ddp_cases_script
import torchfit
import train_script
from torchfit.saving import load_state_dict

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available in this torch build",
)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TRAIN = os.path.join(HERE, "train_script.py")
CASES = os.path.join(HERE, "ddp_cases_script.py")
TIMEOUT = 150  # seconds a launch may take before it counts as a hang
ATOL = 1e-5
TWO_NODE_CASES = ["uneven", "dataset_last_one"]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(args):
    """Starts ``python args...`` in a session of its own (a hang is killed with its workers)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _finish(proc):
    """``proc``'s stdout once it exits with 0; a failure or a hang fails the test."""
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and the workers it started
        stdout, stderr = proc.communicate()
        pytest.fail(f"the launch hung for {TIMEOUT} s:\n{stdout[-2000:]}\n{stderr[-4000:]}")
    assert proc.returncode == 0, f"{proc.args}\n{stdout[-2000:]}\n{stderr[-6000:]}"
    return stdout


def _finish_all(procs):
    """``_finish`` of every launch; when one fails, the others are killed, not left behind."""
    try:
        return [_finish(proc) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()


def _torchrun(script, *args, launcher=None):
    """``torchrun`` of ``script``: 2 processes on this machine unless ``launcher`` says."""
    launcher = launcher or ["--nproc_per_node=2", f"--master_port={_free_port()}"]
    return _start(["-m", "torch.distributed.run", *launcher, script, *args])


def _npz(folder, case, rank):
    with np.load(os.path.join(folder, f"{case}_rank{rank}.npz")) as data:
        return {key: data[key] for key in data.files}


def _json(folder, case, rank):
    with open(os.path.join(folder, f"{case}_rank{rank}.json")) as f:
        return json.load(f)


def _assert_same_run(result, reference):
    """History, trained weights, evaluate and predict equal within float rounding."""
    assert (int(result["world_size"]), int(reference["world_size"])) == (2, 1)
    history, expected = json.loads(str(result["history"])), json.loads(str(reference["history"]))
    assert sorted(history) == sorted(expected)
    for key, values in expected.items():
        np.testing.assert_allclose(history[key], values, rtol=0, atol=ATOL, err_msg=key)
    results, expected = json.loads(str(result["evaluate"])), json.loads(str(reference["evaluate"]))
    assert sorted(results) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(results[key], value, rtol=0, atol=ATOL, err_msg=key)
    assert result["predict"].shape == reference["predict"].shape
    np.testing.assert_allclose(result["predict"], reference["predict"], rtol=0, atol=ATOL)
    weights = sorted(key for key in reference if key.startswith("weight:"))
    assert sorted(key for key in result if key.startswith("weight:")) == weights
    for key in weights:
        np.testing.assert_allclose(result[key], reference[key], rtol=0, atol=ATOL, err_msg=key)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """Every ``train_script`` case in plain python (world size 1), started first so that it runs
    while the torchrun launch imports."""
    out = str(tmp_path_factory.mktemp("one_process"))
    proc = _start([TRAIN, out, "all"])
    yield out, proc
    _finish_all([proc])  # also when no test asked for the reference


@pytest.fixture(scope="module")
def reference(one_process):
    out, proc = one_process
    if proc.returncode is None:
        _finish(proc)
    return out


@pytest.fixture(scope="module")
def cases(tmp_path_factory, one_process):
    """Every case of both scripts on 2 processes: the folder and the launch's stdout."""
    out = str(tmp_path_factory.mktemp("two_processes"))
    stdout = _finish(_torchrun(CASES, out, "all", "all"))
    return out, stdout


@pytest.fixture(scope="module")
def two_processes(cases):
    return cases[0]


def _both(folder, case):
    """The two ranks' results of ``case``, checked to come from a 2-process run."""
    results = [_json(folder, case, rank) for rank in (0, 1)]
    assert [r["world_size"] for r in results] == [2, 2], results
    return results


def _error(folder, case):
    """The message of the ValueError that ``case`` raised, the same on both ranks (and before
    ``on_train_begin``, for a ``fit``)."""
    results = _both(folder, case)
    for result in results:
        assert result.get("error") == "ValueError", result
        assert not result.get("began"), result
    assert results[0]["message"] == results[1]["message"]
    return results[0]["message"]


# ---------------------------------------------------------------- 1. equality with one process
@pytest.mark.parametrize("case", list(train_script.CASES))
def test_two_processes_equal_one_process(case, two_processes, reference):
    expected = _npz(reference, case, 0)
    for rank in (0, 1):
        _assert_same_run(_npz(two_processes, case, rank), expected)


def test_reference_cases_cover_the_uneven_shares():
    """The cases hold what the equality test claims: an even last batch, one that splits 3/2,
    and one of a single sample (rank 1 gets nothing)."""
    last = {name: case["samples"] % 16 for name, case in train_script.CASES.items()}
    assert last["even"] == 0 and last["uneven"] == 5
    assert last["last_one"] == last["dataset_last_one"] == 1
    assert train_script.CASES["accumulation"]["clipnorm"] is not None


# ---------------------------------------------------------------- 2. DataLoader sharding
def _epochs(result):
    """Per epoch: the flat list of indices this rank trained on, and its batch sizes."""
    return ([[i for batch in epoch for i in batch] for epoch in result["seen"]],
            [[len(batch) for batch in epoch] for epoch in result["seen"]])


def _interleaved(rank0, rank1):
    """The order a DistributedSampler dealt: rank r takes positions r, r + 2, ..."""
    return [i for pair in zip(rank0, rank1) for i in pair]


def test_dataloader_even_length_each_sample_once_per_epoch(cases):
    results = _both(cases[0], "loader_even")
    (seen0, sizes0), (seen1, sizes1) = _epochs(results[0]), _epochs(results[1])
    assert len(seen0) == len(seen1) == 3
    assert sizes0 == sizes1 == [[4, 4, 4]] * 3  # the loader's batch_size, per process
    orders = []
    for epoch0, epoch1 in zip(seen0, seen1):
        assert not set(epoch0) & set(epoch1)
        order = _interleaved(epoch0, epoch1)
        assert sorted(order) == list(range(24))  # together: every sample exactly once
        orders.append(order)
    assert len({tuple(order) for order in orders}) == 3  # set_epoch: a new order each epoch
    assert all(order != list(range(24)) for order in orders)  # shuffled


def test_dataloader_uneven_length_pads_as_distributed_sampler(cases):
    """25 samples on 2 ranks: 13 each, the first sample of the permutation dealt again last
    (torch's DistributedSampler with drop_last=False)."""
    results = _both(cases[0], "loader_uneven")
    (seen0, sizes0), (seen1, sizes1) = _epochs(results[0]), _epochs(results[1])
    assert sizes0 == sizes1 == [[4, 4, 4, 1]] * 3
    orders = []
    for epoch0, epoch1 in zip(seen0, seen1):
        order = _interleaved(epoch0, epoch1)
        assert sorted(order[:25]) == list(range(25))
        assert order[25] == order[0]  # the padding
        orders.append(order)
    assert len({tuple(order) for order in orders}) == 3


def test_predict_over_dataloader_returns_every_row_in_order(cases):
    """predict over a DataLoader of 25 samples on 2 ranks: 25 rows (the padding dropped), in
    input order, equal to the module's own outputs, on both ranks."""
    for name in ("loader_even", "loader_uneven"):
        for result in _both(cases[0], name):
            predicted, expected = np.array(result["predict"]), np.array(result["expected"])
            assert predicted.shape == expected.shape == (24 if name == "loader_even" else 25, 2)
            np.testing.assert_allclose(predicted, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("case, name", [("custom_sampler", "OneByOne"),
                                        ("custom_batch_sampler", "MyBatchSampler")])
def test_dataloader_with_custom_sampler_raises(cases, case, name):
    message = _error(cases[0], case)
    assert f"custom sampler ({name})" in message
    assert "Shard it yourself" in message and "DistributedSampler" in message


# ---------------------------------------------------------------- 3. streams the user shards
@pytest.mark.parametrize("case, epochs", [("generator", 1), ("iterable_dataset", 2)])
def test_unevenly_sharded_stream_stops_together(cases, case, epochs):
    """Rank 0 yields 5 batches, rank 1 yields 3: both ranks run 3 steps an epoch, no hang."""
    results = _both(cases[0], case)
    assert results[0]["steps"] == results[1]["steps"] == [3] * epochs
    assert results[0]["history"] == results[1]["history"]
    assert len(results[0]["history"]["loss"]) == epochs


# ---------------------------------------------------------------- 4. rank 0 alone writes, prints
def _file_names(folder):
    names = []
    for directory, _, files in os.walk(folder):
        names += [os.path.relpath(os.path.join(directory, name), folder) for name in files]
    return sorted(names)


def _expected_files(folder, tensorboard):
    names = ["backup/backup.pt", "log.csv", "model_1.pt", "model_2.pt", "weights_1.pt",
             "weights_2.pt"]
    if tensorboard:
        events = [name for name in _file_names(folder) if name.startswith("tensorboard")]
        assert len(events) == 1, events  # one event file: rank 0's (its pid in the name)
        names += events
    return sorted(names)


@pytest.mark.parametrize("case", ["files_shared", "files_per_rank"])
def test_rank_zero_alone_writes_the_files(cases, case):
    out = cases[0]
    results = _both(out, case)
    tensorboard = results[0]["tensorboard"]
    if case == "files_shared":
        folder = os.path.join(out, "files_shared")
    else:  # each rank wrote into a folder of its own: rank 1's does not even exist
        folder = os.path.join(out, "files_rank0")
        assert not os.path.exists(os.path.join(out, "files_rank1"))
    assert _file_names(folder) == _expected_files(folder, tensorboard)
    with open(os.path.join(folder, "log.csv")) as f:
        rows = f.read().splitlines()
    assert rows[0].split(",")[0] == "epoch" and len(rows) == 1 + 2  # a header, one row an epoch
    assert results[0]["history"] == results[1]["history"]


def _plain_module():
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))


@pytest.mark.parametrize("name", ["weights_2.pt", "model_2.pt", "backup/backup.pt"])
def test_saved_weights_have_the_bare_module_keys(cases, name):
    """The files hold the user's module's keys (no DDP "module." prefix) and its trained
    weights, and load into a plain nn.Module."""
    out = cases[0]
    path = os.path.join(out, "files_shared", name)
    if name.startswith("weights"):
        state = torch.load(path, weights_only=True)
    else:
        state = load_state_dict(path)
    module = _plain_module()
    assert list(state) == list(module.state_dict())
    module.load_state_dict(state)
    trained = _json(out, "files_shared", 0)["weights"]
    for key, value in module.state_dict().items():
        np.testing.assert_allclose(value.numpy(), np.array(trained[key]), rtol=0, atol=0)


def test_progress_printed_once(cases):
    """verbose=2 (2 epochs) and verbose=1 (3 epochs) ran on both ranks; one rank printed."""
    stdout = cases[1]
    assert stdout.count("Epoch 1/2") == 1 and stdout.count("Epoch 2/2") == 1
    assert stdout.count("/epoch - ") == 2  # verbose=2: one line an epoch
    assert stdout.count("Epoch 1/3") == stdout.count("Epoch 3/3") == 1
    assert len(_both(cases[0], "verbose_one")[0]["history"]["loss"]) == 3


# ---------------------------------------------------------------- 5. agreed stopping
def test_stop_training_on_one_rank_at_epoch_end_stops_both(cases):
    results = _both(cases[0], "stop_at_epoch")
    assert len(results[0]["history"]["loss"]) == len(results[1]["history"]["loss"]) == 2
    assert results[0]["history"] == results[1]["history"]


def test_stop_training_on_one_rank_at_a_step_stops_both_there(cases):
    results = _both(cases[0], "stop_at_step")
    assert results[0]["steps"] == results[1]["steps"] == [3]  # steps 0, 1, 2 of epoch 1
    assert len(results[0]["history"]["loss"]) == 1
    assert results[0]["history"] == results[1]["history"]


def test_early_stopping_stops_both_ranks_at_the_same_epoch(cases):
    results = _both(cases[0], "early_stopping")
    assert [r["stopped_epoch"] for r in results] == [1, 1]
    assert len(results[0]["history"]["loss"]) == len(results[1]["history"]["loss"]) == 2


# ---------------------------------------------------------------- 6. bad setups
def test_batch_size_smaller_than_world_size_raises(cases):
    message = _error(cases[0], "batch_size_one")
    assert "batch_size=1" in message and "2 processes" in message


def test_closure_optimizer_raises_under_ddp(cases):
    message = _error(cases[0], "lbfgs")
    assert "LBFGS" in message and "does not run data parallel" in message


def test_unknown_strategy_raises():
    model = torchfit.Model(nn.Linear(2, 1), device="cpu")
    with pytest.raises(ValueError, match=r"Unknown strategy 'bogus'\. Expected 'auto'"):
        model.compile(optimizer="sgd", loss="mse", strategy="bogus")


def test_cases_script_covers_every_case(cases):
    assert sorted(name for name in os.listdir(cases[0]) if name.endswith("_rank0.json")) == \
        sorted(f"{name}_rank0.json" for name in ddp_cases_script.CASES)


# ---------------------------------------------------------------- 7. two nodes on localhost
def test_two_nodes_on_localhost_equal_one_process(tmp_path, reference):
    """Two torchrun launches of one process each (--nnodes=2, a static rendezvous on
    127.0.0.1), started together: one job of world size 2."""
    out = str(tmp_path)
    port = _free_port()
    _finish_all([_torchrun(TRAIN, out, ",".join(TWO_NODE_CASES), launcher=[
        "--nnodes=2", "--nproc_per_node=1", f"--node_rank={node}", "--master_addr=127.0.0.1",
        f"--master_port={port}"]) for node in (0, 1)])
    for case in TWO_NODE_CASES:
        expected = _npz(reference, case, 0)
        for rank in (0, 1):
            _assert_same_run(_npz(out, case, rank), expected)
