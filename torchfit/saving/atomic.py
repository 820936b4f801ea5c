"""Atomic writes: readers see the old file or the complete new one, never a half-written file.

Every file torchfit writes (weights, checkpoints, downloaded datasets, rendered plots) goes
through `atomic_write`. This module imports nothing from torchfit: it is the lowest layer.

Temporary files
---------------
`atomic_write` writes to `.<name>.tmp-<host>-<pid>-<random>` next to the target (`<host>`: 8 hex
digits hashed from the host name): a hidden name that never ends in the target's suffix, so nothing
that loads the target or globs `*.pt` ever sees one. A process
killed mid-save leaves its temp file behind; the next successful save of the same target on the
same host removes the temp files of that target whose writing process is gone (POSIX only; on
other platforms, and for other hosts sharing the folder, they are left for the user to delete).
"""

import contextlib
import hashlib
import os
import secrets
import signal
import socket
import threading

__all__ = ["atomic_write"]


def atomic_write(path, write_fn):
    """Write a file so that readers only ever see the old content or the complete new content.

    `write_fn(tmp_path)` writes the new content to `tmp_path`, a fresh, empty temporary file in
    the same folder as `path` (so the final rename never crosses a file system). Then the
    temporary file is flushed to disk (`os.fsync`), renamed onto `path` with `os.replace`, and
    the folder is fsynced where the platform allows, so the rename itself survives a crash.
    SIGINT (Ctrl-C) and SIGTERM arriving meanwhile wait until the file is complete and renamed,
    then are delivered (on the main thread: see `_signals_deferred`).
    If `write_fn` raises, the temporary file is removed, the exception propagates, and whatever
    was at `path` before is untouched. If the process is killed instead, `path` is still
    untouched and the temporary file stays; the next successful `atomic_write` of the same
    `path` removes it (see "Temporary files" in the module docstring). Missing parent folders
    are created.

    Args:
        path: Target file path (`str` or `os.PathLike`).
        write_fn: Callable taking the temporary file's path as a `str`.

    Example:
        >>> from torchfit.saving import atomic_write
        >>> net = nn.Linear(4, 2)
        >>> atomic_write("net.pt", lambda tmp: torch.save(net.state_dict(), tmp))
        >>> sorted(torch.load("net.pt", weights_only=True))
        ['bias', 'weight']
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    prefix = _temp_prefix(path)
    tmp_path = os.path.join(folder, f"{prefix}{_HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}")
    # O_EXCL: never clobber another writer's temp file; mode 0o666 lets the umask decide, so the
    # final file gets the same permissions a plain open() would have given it.
    with _signals_deferred():
        os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        try:
            write_fn(tmp_path)
            with open(tmp_path, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp_path, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp_path)
            raise
        _fsync_folder(folder)
    _remove_stale_temp_files(folder, prefix)


_DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _signals_deferred():
    """SIGINT and SIGTERM wait until the file is complete and renamed, then are delivered.

    A Ctrl-C raised inside a writer's C callback (h5py's) is printed as "Exception ignored" and
    lost; a SIGTERM would end the process mid-write. Here a handler that only notes them stands
    in for the write, then the previous handlers are put back and each signal noted is raised
    again, once, for them. Main thread only (Python allows handlers only there); an ignored
    signal, or a handler installed from C (which Python cannot put back), is left alone.
    """
    previous, received = {}, []
    if threading.current_thread() is threading.main_thread():
        for signum in _DEFERRED_SIGNALS:
            handler = signal.getsignal(signum)
            if handler is not None and handler is not signal.SIG_IGN:
                previous[signum] = signal.signal(signum, lambda s, frame: received.append(s))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(received):
            signal.raise_signal(signum)


# Temp files are named after the host (hashed: short, and free of characters a file name cannot
# hold) so that a process only ever judges the liveness of processes on its own machine.
_HOST_TAG = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _temp_prefix(path):
    return f".{os.path.basename(path)}.tmp-"


def _remove_stale_temp_files(folder, prefix):
    """Removes temp files of this target left by killed writers on this host (best effort)."""
    if os.name != "posix":
        return  # os.kill(pid, 0) probes liveness only on POSIX; on Windows it kills
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        fields = name[len(prefix):].split("-")
        if len(fields) != 3 or fields[0] != _HOST_TAG or not fields[1].isdigit():
            continue  # another host's, or a name torchfit did not make: leave it
        pid = int(fields[1])
        if pid == os.getpid() or _process_exists(pid):
            continue  # possibly a save still in progress
        with contextlib.suppress(OSError):
            os.remove(os.path.join(folder, name))


def _process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by someone else
        return True
    return True


def _fsync_folder(folder):
    # Makes the rename durable on POSIX; Windows cannot open a folder, and that is fine.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
