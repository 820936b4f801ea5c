"""A DataLoader's worker processes: one clear error when one fails, and no process left behind.

torch already re-raises a worker's exception in the main process, as the worker's exception type
with "Caught ValueError in DataLoader worker process 1." and the original traceback: that error is
kept as it is. What torch leaves to the caller, and ``loader_batches`` adds:

- The other workers are shut down as soon as the error leaves the DataLoader. torch stops them
  only when its iterator is garbage-collected, and the traceback of the error (kept by a
  notebook, a ``try``/``except`` that retries, or ``sys.last_traceback``) keeps the iterator
  alive: its workers lived on as orphans until the interpreter exited.
- A worker that dies (killed by the out-of-memory killer, a segfault in a C extension,
  ``os._exit``) is named: its worker index and pid, and how it ended (its exit code or signal),
  in one ``RuntimeError`` instead of torch's two chained ones ("DataLoader worker (pid 123) is
  killed by signal: Killed." raised from a broken pipe deep in ``multiprocessing``, then "exited
  unexpectedly"), whose text the message keeps.

It uses two attributes of torch's multi-process iterator, ``_workers`` (the worker processes, in
worker-index order) and ``_shutdown_workers()`` (torch's own clean shutdown), when they exist; a
single-process DataLoader (``num_workers=0``) has neither and passes through untouched.
"""

import signal
import threading
import time

__all__ = ["loader_batches"]


def loader_batches(loader):
    """Yields ``loader``'s batches; when it fails, stops its workers and names the failed one.

    Example:
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> loader = DataLoader(TensorDataset(torch.arange(6.0)), batch_size=4)
        >>> [batch[0].tolist() for batch in loader_batches(loader)]
        [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0]]
    """
    iterator = iter(loader)
    child_signals = _ChildSignals(iterator)
    try:
        while True:
            child_signals.deliver()
            try:
                batch = next(iterator)
            except StopIteration:
                return
            yield batch
    except (RuntimeError, ConnectionError, EOFError) as error:
        # A dead worker surfaces as torch's RuntimeError, or first as the broken pipe to it.
        from_pipe = not isinstance(error, RuntimeError)
        dead = _dead_workers(iterator, wait=1.0 if from_pipe else 0.0)
        _shut_down(loader, iterator)
        if not dead or not (from_pipe or str(error).startswith("DataLoader worker")):
            raise
        raise RuntimeError(_dead_message(dead, error)) from None
    except BaseException:
        _shut_down(loader, iterator)
        raise
    finally:
        child_signals.restore()


class _ChildSignals:
    """Moves torch's SIGCHLD handler (it raises when a worker dies) to the next batch fetch.

    torch's handler raises its ``RuntimeError`` wherever the main thread happens to be: inside
    the backward pass or an optimizer step. While the batches are drawn, a handler that only
    notes the signal stands in, and torch's own runs at the next fetch. Main thread and POSIX
    only, as torch's; nothing changes when the iterator has no worker processes.
    """

    def __init__(self, iterator):
        self.fired = False
        self._torch_handler = None
        if not getattr(iterator, "_workers", None) or not hasattr(signal, "SIGCHLD"):
            return
        if threading.current_thread() is not threading.main_thread():
            return
        handler = signal.getsignal(signal.SIGCHLD)
        if callable(handler):
            self._torch_handler = signal.signal(signal.SIGCHLD, self._note)

    def _note(self, signum, frame):
        self.fired = True

    def deliver(self):
        if self.fired:
            self.fired = False
            self._torch_handler(signal.SIGCHLD, None)

    def restore(self):
        if self._torch_handler is not None:
            signal.signal(signal.SIGCHLD, self._torch_handler)
            self._torch_handler = None


def _shut_down(loader, iterator):
    shutdown = getattr(iterator, "_shutdown_workers", None)
    if shutdown is None:
        return
    shutdown()
    if getattr(loader, "_iterator", None) is iterator:  # persistent_workers: do not reuse it
        loader._iterator = None


def _dead_workers(iterator, wait=0.0):
    """``[(worker index, pid, exit code)]`` of the workers that are no longer running, waiting up
    to ``wait`` seconds for one to be reaped (a broken pipe can be seen before the exit)."""
    workers = getattr(iterator, "_workers", None) or []
    deadline = time.monotonic() + wait
    while True:
        dead = [(index, worker.pid, worker.exitcode) for index, worker in enumerate(workers)
                if worker.exitcode is not None]
        if dead or time.monotonic() >= deadline:
            return dead
        time.sleep(0.02)


def _how(exitcode):
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (often the out-of-memory killer)" if -exitcode == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {exitcode}"


def _dead_message(dead, error):
    torch_says = [str(error).strip()]
    if error.__cause__ is not None:
        torch_says.insert(0, str(error.__cause__).strip())
    lines = [f"DataLoader worker process {index} (pid {pid}) {_how(code)} while loading a "
             "batch, so it has no traceback to show." for index, pid, code in dead]
    return (" ".join(lines) + " The other workers were shut down. If a worker ran out of "
            "memory, lower `num_workers`, `batch_size` or `prefetch_factor`; "
            "`num_workers=0` loads in the main process, where an error shows its traceback. "
            f"(torch: {' '.join(torch_says)})")
