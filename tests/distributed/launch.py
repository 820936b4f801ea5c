"""Runs a worker script in one process or under ``torchrun``, with a timeout (a hang fails);
and the fixtures of the one-process tests (a test module takes one by naming it at module level,
``plain_process = launch.plain_process``)."""

import os
import shutil
import socket
import subprocess
import sys
import warnings

import pytest
import torch.distributed as dist

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def free_port():
    """A TCP port nobody listens on now, for torchrun's rendezvous."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def plain_process(monkeypatch):
    """A process that torchrun did not launch."""
    for name in TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert not dist.is_initialized()


@pytest.fixture
def world_of_one(plain_process):
    """A process group the user started: gloo, one process."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def environment():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    for name in TORCHRUN_VARIABLES:
        env.pop(name, None)
    return env


# torch 2.13's gloo at a process's exit, rarely (see worker.leave); not torchfit's error
GLOO_EXIT_ABORT = "terminate called without an active exception"


def run_script(script, *args, nproc=None, timeout=180, extra=()):
    """Runs ``tests/distributed/<script>`` with ``args``: in this interpreter's python when
    ``nproc`` is None, else under ``torchrun --nproc_per_node=nproc``. Returns the completed
    process (stdout and stderr together in ``stdout``); fails the test on a non-zero exit.

    A run that ends in gloo's abort (``GLOO_EXIT_ABORT``) runs once more, with a warning, after
    the directories among ``args`` are emptied: what the test asserts comes from that run."""
    path = os.path.join(HERE, script)
    if nproc is None:
        command = [sys.executable, path, *map(str, args)]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
                   f"--master_port={free_port()}", *extra, path, *map(str, args)]
    for attempt in range(2):
        result = subprocess.run(command, env=environment(), cwd=ROOT, timeout=timeout,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode == 0 or attempt or GLOO_EXIT_ABORT not in result.stdout:
            break
        warnings.warn(f"{script} ended in gloo's abort at exit; running it once more",
                      RuntimeWarning)
        for directory in filter(os.path.isdir, map(str, args)):
            for name in os.listdir(directory):
                target = os.path.join(directory, name)
                if os.path.isdir(target):
                    shutil.rmtree(target)
                else:
                    os.remove(target)
        if nproc is not None:
            command[command.index(f"--nproc_per_node={nproc}") + 1] = (
                f"--master_port={free_port()}")
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited with {result.returncode}:\n"
                             f"{result.stdout[-6000:]}")
    return result
