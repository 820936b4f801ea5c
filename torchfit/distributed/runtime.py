"""Where this process stands in a ``torchrun`` job, and the process group torchfit may start.

``torchrun`` sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``
for every worker. These helpers read the initialised process group first (a user may start one
with other settings), then those variables; outside ``torchrun`` this is rank 0 of 1.
"""

import atexit
import os

import torch
import torch.distributed as dist

__all__ = [
    "barrier",
    "collective_device",
    "ensure_process_group",
    "is_distributed",
    "is_main_process",
    "launched_world_size",
    "local_rank",
    "print_on_main",
    "rank",
    "world_size",
]


def _initialized():
    return dist.is_available() and dist.is_initialized()


def is_distributed():
    """True when a process group of more than one process is running.

    Example:
        >>> is_distributed()  # a plain python process
        False
    """
    return _initialized() and dist.get_world_size() > 1


def world_size():
    """The number of processes: the process group's, else ``torchrun``'s ``WORLD_SIZE`` (before
    ``compile`` starts the group), else 1.

    Example:
        >>> world_size()  # a plain python process
        1
    """
    return dist.get_world_size() if _initialized() else int(os.environ.get("WORLD_SIZE", 1))


def rank():
    """This process's global rank: the process group's, else ``torchrun``'s ``RANK`` (before
    ``compile`` starts the group), else 0.

    Example:
        >>> rank()  # a plain python process
        0
    """
    return dist.get_rank() if _initialized() else int(os.environ.get("RANK", 0))


def local_rank():
    """This process's rank on its machine: ``LOCAL_RANK`` as ``torchrun`` sets it, else 0.

    Example:
        >>> local_rank()  # a plain python process
        0
    """
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main_process():
    """True on rank 0, the process that prints and writes files.

    Example:
        >>> is_main_process()
        True
    """
    return rank() == 0


def barrier():
    """Waits for every process (nothing to wait for in a single process).

    Example:
        >>> barrier()  # one process: returns at once
    """
    if is_distributed():
        dist.barrier()


def launched_world_size():
    """The world size ``torchrun`` launched (``WORLD_SIZE``), before any process group exists.

    Raises:
        ValueError: ``WORLD_SIZE`` is not a positive integer.

    Example:
        >>> launched_world_size()  # not launched by torchrun: WORLD_SIZE is unset
        1
    """
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size < 1:
        raise ValueError(f"The environment variable WORLD_SIZE must be a positive integer. "
                         f"Received: WORLD_SIZE={value!r}. torchrun sets it; unset it to train "
                         "in one process.")
    return size


def ensure_process_group(device):
    """Starts the default process group from ``torchrun``'s environment unless one runs.

    NCCL for a CUDA ``device``, gloo otherwise. Returns whether torchfit started it; a group
    torchfit started is destroyed when the interpreter exits, one the user started never is.

    Raises:
        ValueError: ``WORLD_SIZE > 1`` but ``torchrun``'s rendezvous variables are missing.

    Example:
        >>> import torch.distributed as dist
        >>> dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
        >>> ensure_process_group("cpu")  # the user's group runs: torchfit starts none
        False
        >>> dist.destroy_process_group()
    """
    if _initialized():
        return False
    missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise ValueError(
            f"Distributed training needs the variables torchrun sets; missing: "
            f"{', '.join(missing)}. Launch the script with `torchrun --nproc_per_node=N "
            "train.py`, or call torch.distributed.init_process_group() yourself before "
            "compile().")
    device = torch.device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    kwargs = {}
    if backend == "nccl":  # NCCL wants the GPU's index ("cuda" alone: one process, the current)
        device = device if device.index is not None else torch.device(
            "cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)  # collectives on "the current GPU" then use this one
        kwargs["device_id"] = device
    dist.init_process_group(backend=backend, **kwargs, **_attempt_store())
    atexit.register(_destroy)
    return True


def _attempt_store():
    """``init_process_group``'s store for this attempt of a restarting ``torchrun`` on one node.

    torchrun's agent keeps one TCPStore for every attempt of a job (``--max-restarts``), and the
    keys a new process group publishes there (gloo's addresses, NCCL's unique id) are the same
    each time: a restarted worker may read a dead peer's, then fails to connect or hangs
    (torch 2.13; pytorch/pytorch#135712). On one node every worker has the same
    ``TORCHELASTIC_RESTART_COUNT``, so a prefix of it keeps the attempts apart; across nodes the
    agents count restarts each their own, so there the default store is kept.
    """
    if (os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True"
            or os.environ.get("GROUP_WORLD_SIZE") != "1"
            or "TORCHELASTIC_RESTART_COUNT" not in os.environ):
        return {}
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]),
                          is_master=False, timeout=dist.constants.default_pg_timeout)
    attempt = os.environ["TORCHELASTIC_RESTART_COUNT"]
    return {"store": dist.PrefixStore(f"torchfit/attempt_{attempt}", store),
            "rank": int(os.environ["RANK"]), "world_size": int(os.environ["WORLD_SIZE"])}


def _destroy():
    if _initialized():
        dist.destroy_process_group()


def collective_device(device):
    """Where tensors for a collective must live: a CUDA device under NCCL (``device`` when it is
    one, else the current one), the CPU otherwise.

    Example:
        >>> collective_device("cpu")  # no NCCL group
        device(type='cpu')
    """
    if _initialized() and dist.get_backend() == "nccl":
        device = torch.device(device)
        return device if device.type == "cuda" else torch.device("cuda",
                                                                  torch.cuda.current_device())
    return torch.device("cpu")


def print_on_main(*args, **kwargs):
    """``print`` on rank 0 only (a callback's messages appear once per job, not per rank).

    Example:
        >>> print_on_main("Epoch 1: saving model")  # one process is rank 0
        Epoch 1: saving model
    """
    if is_main_process():
        print(*args, **kwargs)
