"""Progbar: Keras-style progress text. Rendering and throttling only; it computes nothing.

Values are passed as a mapping and read only when a line is drawn (at most every ``interval``
seconds, and once at the end). Each drawn line reads every value of the mapping once, with
``float()``: for a mapping of device tensors that is one sync per value per drawn line (the values
are not stacked into one copy as ``torchfit.logs.to_floats`` does), and none for the lines that
are not drawn. ``ProgbarLogger`` hands its bar the epoch's final logs as Python floats, so the
last line of an epoch costs no sync.

Line formats are tf.keras 2's, as the guide shows them: ``verbose=1`` draws
``782/782 [==============================] - 5s 7ms/step - loss: 0.3432`` (Keras 3 draws a
coloured ``━━━━`` bar and no `` - `` before the time); ``verbose=2`` prints
``782/782 - 2s - loss: 0.3432 - val_loss: 0.1949 - 2s/epoch - 3ms/step`` (Keras 3:
``782/782 - 2s - 3ms/step - loss: 0.3432 - val_loss: 0.1949``).

On a terminal a live line is cut to the terminal's width (ending in ``...``), so that redrawing
it with ``\r`` never wraps onto a new line; the epoch's final line is printed whole.
"""

import os
import sys
import time

__all__ = ["Progbar", "format_value", "format_time_per_unit", "terminal_width"]


def format_value(value, verbose=1):
    """Keras's number format: 4 decimals above 1e-3, scientific notation otherwise.

    As Keras's ``Progbar``: at ``verbose=1`` the test is ``abs(value) > 1e-3``; at ``verbose=2`` it
    is ``value > 1e-3``, so zero and every negative value print in scientific notation there.

    Example:
        >>> format_value(0.25), format_value(0), format_value(-0.25), format_value(-0.25, 2)
        ('0.2500', '0.0000e+00', '-0.2500', '-2.5000e-01')
    """
    value = float(value)  # sync: one per device value, only when a line is drawn
    big = abs(value) > 1e-3 if verbose == 1 else value > 1e-3
    return f"{value:.4f}" if big else f"{value:.4e}"


def format_time_per_unit(seconds, unit="step"):
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


def _format_eta(eta):
    if eta > 3600:
        return f"{eta // 3600:.0f}:{(eta % 3600) // 60:02.0f}:{eta % 60:02.0f}"
    if eta > 60:
        return f"{eta // 60:.0f}:{eta % 60:02.0f}"
    return f"{eta:.0f}s"


def is_interactive(stream=None):
    """True on a terminal or in a notebook (where a live, redrawn bar makes sense)."""
    stream = stream or sys.stdout
    return (hasattr(stream, "isatty") and stream.isatty()) or "ipykernel" in sys.modules


def terminal_width(stream):
    """The columns of the terminal behind ``stream``: ``$COLUMNS`` when set (as
    ``shutil.get_terminal_size`` reads it), else the stream's own terminal, else 80.

    Example:
        >>> import io
        >>> terminal_width(io.StringIO()) > 0  # 80, unless $COLUMNS says otherwise
        True
    """
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):  # no file descriptor, or not a terminal
        return 80


class _NullStream:
    """A stream that keeps nothing (what a rank other than 0 prints to)."""

    def write(self, text):
        return len(text)

    def flush(self):
        pass


class Progbar:
    """A progress bar for ``target`` steps (``None`` when unknown).

    Args:
        target: total steps, or ``None``.
        width: bar width in characters.
        verbose: 1 for the live bar, 2 for one line at the end.
        interval: minimum seconds between two redraws of the live bar.
        unit_name: ``"step"`` or ``"sample"``.
        stream: where to write (``sys.stdout`` by default).
        every_steps: redraw the live bar every that many steps (only on a terminal) instead of
            by time: every rank of a distributed run then reads the values at the same steps.
        silent: decide as if drawing to ``stream``, but write nothing (ranks other than 0).

    Example:
        Without a terminal the live bar draws only its final line:

        >>> bar = Progbar(10)
        >>> for step in range(10):
        ...     bar.update(step + 1, {"loss": 0.25})  # doctest: +ELLIPSIS
        10/10 [==============================] - ...s/step - loss: 0.2500

        At ``verbose=2`` one line at the end, as tf.keras 2 prints it (the guide's output): the
        elapsed seconds, the values, then the time of the epoch and per step:

        >>> Progbar(10, verbose=2).update(10, {"loss": 0.25})  # doctest: +ELLIPSIS
        10/10 - ...s - loss: 0.2500 - ...s/epoch - ...s/step
    """

    def __init__(self, target, width=30, verbose=1, interval=0.1, unit_name="step", stream=None,
                 every_steps=None, silent=False):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.unit_name = unit_name
        self.stream = stream or sys.stdout
        self.dynamic = is_interactive(self.stream)
        self.every_steps = every_steps
        if silent:
            self.stream = _NullStream()
        # A terminal wraps a line wider than itself (a notebook redraws any line in place).
        self._cut = self.dynamic and hasattr(self.stream, "isatty") and self.stream.isatty()
        # Without a terminal, a redrawn bar would print a new line each time: draw rarely.
        self.interval = interval if self.dynamic else 10.0
        self._start = time.monotonic()
        # Without a terminal the first line waits for the interval too: short epochs print one line.
        self._last_draw = 0.0 if self.dynamic else self._start
        self._prev_width = 0

    def update(self, current, values=None, finalize=None):
        """Redraws the bar at ``current`` steps if ``interval`` has passed (always to finalize)."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        now = time.monotonic()
        if not finalize and not self._due(current, now):
            return
        self._last_draw = now
        elapsed = now - self._start
        per_unit = elapsed / current if current else 0.0
        if self.verbose == 1:
            line = self._bar(current)
            if finalize:
                line += f" - {elapsed:.0f}s {format_time_per_unit(per_unit, self.unit_name)}"
            elif self.target is not None:
                line += f" - ETA: {_format_eta(per_unit * (self.target - current))}"
            else:
                line += f" - {elapsed:.0f}s {format_time_per_unit(per_unit, self.unit_name)}"
        else:
            total = self.target if self.target is not None else current
            line = f"{current:{len(str(total))}d}/{total} - {elapsed:.0f}s"
        for key, value in (values or {}).items():
            text = format_value(value) if self.verbose == 1 else format_value(value, self.verbose)
            line += f" - {key}: {text}"
        if self.verbose != 1:  # tf.keras 2's ending (Keras 3 puts the step time after "- 2s")
            line += (f" - {format_time_per_unit(elapsed, 'epoch')}"
                     f" - {format_time_per_unit(per_unit, self.unit_name)}")
        if self._cut and not finalize:
            columns = terminal_width(self.stream)  # read per drawn line: terminals get resized
            if len(line) > columns:
                line = line[:max(columns - 3, 0)] + "..."
        self._write(line, finalize)

    def _due(self, current, now):
        """Whether the live bar redraws at ``current`` (then it reads the values)."""
        if self.verbose != 1:
            return False
        if self.every_steps is not None:
            return self.dynamic and current % self.every_steps == 0
        return now - self._last_draw >= self.interval

    def _bar(self, current):
        if self.target is None:
            return f"{current:7d}/Unknown"
        digits = len(str(self.target))
        bar = f"{current:{digits}d}/{self.target} ["
        done = int(self.width * min(current, self.target) / self.target) if self.target else 0
        if done > 0:
            bar += "=" * (done - 1) + (">" if current < self.target else "=")
        bar += "." * (self.width - done) + "]"
        return bar

    def _write(self, line, finalize):
        if self.dynamic and self.verbose == 1:
            padding = " " * max(self._prev_width - len(line), 0)
            self._prev_width = len(line)
            self.stream.write("\r" + line + padding + ("\n" if finalize else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
