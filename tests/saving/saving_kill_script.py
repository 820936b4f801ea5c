"""Saves killed on purpose, for the crash-safety tests in tests/saving/test_atomic.py.

    python saving_kill_script.py PATH POINT [PATH POINT ...]

For each PATH (`.pt` or `.h5`) and POINT: saves version 1 of a state dict to PATH with
`save_state_dict`, then forks a process that starts saving version 2 and SIGKILLs itself at POINT:

    created   the temp file exists, nothing written to it yet
    half      half of the bytes (.pt) or of the datasets (.h5) written and flushed to disk
    synced    the temp file is complete and fsynced, os.replace not yet called
    replaced  right after os.replace, before the folder fsync

Prints one JSON object: for each "PATH POINT", the signal that ended the forked writer (9 when it
died at POINT) or, if it was never killed, its negated exit status. Forking from this process, which
has already imported torch, keeps each kill point at milliseconds instead of a fresh interpreter.
"""

import io
import json
import os
import signal
import sys
import traceback

import torch

from torchfit import saving
from torchfit.saving import atomic, hdf5

POINTS = ("created", "half", "synced", "replaced")


def make_state(version):
    """2 MB of float32 in four tensors; the same `version` always gives the same values."""
    generator = torch.Generator().manual_seed(version)
    return {f"layer{i}.weight": torch.randn(256, 512, generator=generator) for i in range(4)}


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point, h5):
    """Patches the writer so that this process dies at `point` of its next save."""
    if point == "created":  # write_fn is the first thing atomic_write calls after creating it
        if h5:
            hdf5.write_weights_file = lambda tmp, state: die()
        else:
            torch.save = lambda obj, tmp: die()
    elif point == "half" and h5:
        real_write_tensor, written = hdf5._write_tensor, []

        def write_tensor(group, name, tensor):
            if len(written) == 2:
                group.file.flush()  # the first two datasets really are in the temp file
                die()
            written.append(name)
            real_write_tensor(group, name, tensor)

        hdf5._write_tensor = write_tensor
    elif point == "half":
        real_save = torch.save

        def half_save(obj, tmp):
            buffer = io.BytesIO()
            real_save(obj, buffer)
            data = buffer.getvalue()
            with open(tmp, "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                os.fsync(f.fileno())
            die()

        torch.save = half_save
    elif point == "synced":
        os.replace = lambda src, dst: die()
    elif point == "replaced":
        atomic._fsync_folder = lambda folder: die()
    else:
        raise ValueError(f"unknown kill point {point!r}; expected one of {POINTS}")


def killed_save(path, point):
    """Saves version 1, then version 2 in a forked writer killed at `point`; returns its end."""
    saving.save_state_dict(make_state(1), path)
    pid = os.fork()
    if pid == 0:
        try:
            arm(point, path.endswith(".h5"))
            saving.save_state_dict(make_state(2), path)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(3)  # never reached when the kill point fired
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else -os.WEXITSTATUS(status)


def main():
    torch.set_num_threads(1)
    args = sys.argv[1:]
    results = {f"{path} {point}": killed_save(path, point)
               for path, point in zip(args[::2], args[1::2])}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
