"""torchfit.distributed.runtime in one process: rank 0 of 1, torchrun's variables, the group.

What these helpers do under torchrun (2 processes) is checked by test_reduce.py's launch
(reduce_script.py, check_runtime_and_sharding).
"""

import launch
import pytest
import torch
import torch.distributed as dist

from torchfit.distributed import runtime

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available in this torch build",
)

plain_process, world_of_one = launch.plain_process, launch.world_of_one  # fixtures


def test_outside_torchrun_this_is_rank_0_of_1(plain_process, capsys):
    assert runtime.world_size() == 1
    assert runtime.rank() == 0
    assert runtime.local_rank() == 0
    assert runtime.is_distributed() is False
    assert runtime.is_main_process() is True
    assert runtime.launched_world_size() == 1
    assert runtime.collective_device("cpu") == torch.device("cpu")
    runtime.barrier()  # nothing to wait for
    runtime.print_on_main("one", "line", sep="-")
    assert capsys.readouterr().out == "one-line\n"


def test_local_rank_is_torchruns(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert runtime.local_rank() == 3


def test_print_on_main_is_silent_on_other_ranks(monkeypatch, capsys):
    monkeypatch.setattr(runtime, "rank", lambda: 1)
    assert runtime.is_main_process() is False
    runtime.print_on_main("hidden")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("value", ["4", "1"])
def test_launched_world_size_reads_world_size(monkeypatch, value):
    monkeypatch.setenv("WORLD_SIZE", value)
    assert runtime.launched_world_size() == int(value)


@pytest.mark.parametrize("value", ["0", "-2", "two", "", "1.5"])
def test_launched_world_size_refuses_a_bad_world_size(monkeypatch, value):
    monkeypatch.setenv("WORLD_SIZE", value)
    with pytest.raises(ValueError, match=r"WORLD_SIZE must be a positive integer\. Received: "
                                         rf"WORLD_SIZE={value!r}\. torchrun sets it; unset it"):
        runtime.launched_world_size()


def test_ensure_process_group_names_the_missing_variables(plain_process, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match=r"missing: RANK, MASTER_ADDR, MASTER_PORT\. Launch the "
                                         r"script with `torchrun --nproc_per_node=N train\.py`"):
        runtime.ensure_process_group("cpu")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    with pytest.raises(ValueError, match=r"missing: MASTER_PORT\. "):
        runtime.ensure_process_group("cpu")
    assert not dist.is_initialized()


def test_ensure_process_group_leaves_the_users_group_alone(world_of_one):
    group = dist.group.WORLD
    assert runtime.ensure_process_group("cpu") is False
    assert dist.group.WORLD is group
    # A group of one is not a distributed run: nothing to reduce or shard.
    assert runtime.is_distributed() is False
    assert (runtime.world_size(), runtime.rank()) == (1, 0)
    runtime.barrier()


def test_ensure_process_group_starts_gloo_from_torchruns_variables(plain_process, monkeypatch):
    for name, value in (("RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1"),
                        ("MASTER_PORT", str(launch.free_port()))):
        monkeypatch.setenv(name, value)
    try:
        assert runtime.ensure_process_group("cpu") is True
        assert dist.is_initialized() and dist.get_backend() == "gloo"
        assert runtime.ensure_process_group("cpu") is False  # it runs now
    finally:
        runtime._destroy()  # what the atexit hook does for a group torchfit started
    assert not dist.is_initialized()
    runtime._destroy()  # the hook again at exit: nothing left to destroy
