"""SIGTERM and SIGINT during ``fit``: stop at a step boundary, never inside a step or a file write.

What schedulers and launchers send (SLURM before its time limit, Kubernetes on eviction, torchrun
when it shuts its workers down) is SIGTERM, followed by SIGKILL after a grace period. During
``fit`` (see ``FitSignals``):

- SIGTERM only sets a flag. The step in progress finishes (forward, backward, optimizer step and
  its ``on_train_batch_end`` callbacks); then a ``BackupAndRestore`` among the callbacks, if any,
  writes a backup of that exact step boundary, and ``fit`` raises ``TrainingTerminated``, a
  ``SystemExit`` with code 143 (128 + 15, what a shell, Kubernetes or SLURM reports for a process
  ended by SIGTERM). ``on_train_end`` is not called: training did not end. ``SystemExit`` rather
  than re-killing the process with the default handler, so that ``finally`` blocks, context
  managers and ``atexit`` handlers (log files, TensorBoard writers, a piped stdout) still run.
  Running the script again with the same ``BackupAndRestore`` resumes from that step. (Under
  ``torchrun`` that backup is not taken: the run resumes from the last backup all ranks took
  together; see ``BackupAndRestore.backup_at``.)
- SIGINT (Ctrl-C) raises ``KeyboardInterrupt`` at the next step boundary, so no optimizer step is
  half applied. A SIGINT while a signal is already pending raises at once (so a step or a data
  loader that hangs can still be interrupted: press Ctrl-C twice).

Only the default handlers are replaced (``SIG_DFL`` for SIGTERM, Python's
``default_int_handler`` for SIGINT): a handler the user installed, or an ignored signal, is left
alone. Nothing is installed off the main thread (Python allows handlers only there). The handlers
that were there are put back when ``fit`` returns or raises; a signal that arrived too late for a
step boundary (during the last ``on_train_end``) is delivered then. While a file is written
(``torchfit.saving.atomic_write``) both signals wait until the file is complete and renamed.

The cost per step is one attribute check.
"""

import signal
import threading

from torchfit.callbacks.backup_and_restore import BackupAndRestore

__all__ = ["FitSignals", "TrainingTerminated", "EXIT_CODE"]

EXIT_CODE = 128 + signal.SIGTERM  # 143: what shells and schedulers report for SIGTERM

_DEFAULTS = {signal.SIGTERM: signal.SIG_DFL, signal.SIGINT: signal.default_int_handler}


class TrainingTerminated(SystemExit):
    """Raised by ``fit`` after SIGTERM, at a step boundary and after the backup (exit code 143).

    Example:
        >>> error = TrainingTerminated()
        >>> error.code, isinstance(error, SystemExit)
        (143, True)
    """

    def __init__(self, code=EXIT_CODE):
        super().__init__(code)


def _on_main_thread():
    return threading.current_thread() is threading.main_thread()


class FitSignals:
    """The context of one ``fit``: handlers that turn SIGTERM and SIGINT into a ``pending`` flag.

    The loop checks ``pending`` after each step and each epoch, and calls ``stop`` when it is set.

    Example:
        >>> import os, signal
        >>> with FitSignals() as signals:
        ...     os.kill(os.getpid(), signal.SIGINT)  # a Ctrl-C in the middle of a step
        ...     print("the step goes on;", signal.Signals(signals.pending).name, "is pending")
        ...     signals.pending = None  # (at the step boundary the loop raises KeyboardInterrupt)
        the step goes on; SIGINT is pending
        >>> signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
        True
    """

    def __init__(self):
        self.pending = None
        self._previous = {}

    def __enter__(self):
        if _on_main_thread():
            for signum, default in _DEFAULTS.items():
                if signal.getsignal(signum) is default:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if signum == signal.SIGINT and self.pending is not None:
            raise KeyboardInterrupt  # a second signal: the user does not want to wait
        self.pending = signum

    def stop(self, callbacks, epoch, step):
        """Acts on the pending signal at the boundary before batch ``step`` of ``epoch``.

        On SIGTERM, each ``BackupAndRestore`` in ``callbacks`` backs up this boundary, then
        ``TrainingTerminated`` is raised; on SIGINT, ``KeyboardInterrupt``.
        """
        signum, self.pending = self.pending, None
        if signum != signal.SIGTERM:
            raise KeyboardInterrupt
        for callback in callbacks.callbacks:
            if isinstance(callback, BackupAndRestore):
                callback.backup_at(epoch, step)
        raise TrainingTerminated()

    def __exit__(self, exc_type, exc, tb):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
        signum, self.pending = self.pending, None
        if signum is None:
            return
        if exc_type is not None:  # the error wins; the signal goes to the restored handler
            signal.raise_signal(signum)
        elif signum == signal.SIGTERM:
            raise TrainingTerminated()
        else:
            raise KeyboardInterrupt
