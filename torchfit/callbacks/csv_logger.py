"""CSVLogger: stream the epoch results to a CSV file."""

import collections.abc
import csv
import os

from torchfit.callbacks.callback import Callback
from torchfit.distributed import runtime

__all__ = ["CSVLogger"]


def _cell(value):
    if isinstance(value, str):
        return value
    if isinstance(value, collections.abc.Iterable):
        return f"\"[{', '.join(map(str, value))}]\""
    return value


class CSVLogger(Callback):
    """Writes one CSV row per epoch: ``epoch`` (0-based, as Keras writes it), then every log key
    in sorted order.

    The columns are fixed by the first epoch's logs. As in tf.keras, when those logs hold no
    ``val_`` key (no validation yet, e.g. ``validation_freq=2``) a ``val_`` column is added for
    each key so that later validation results have a place; missing values are written ``NA``.
    The file is flushed after every row.

    ``append=False`` overwrites the file and writes the header; ``append=True`` appends, and
    writes no second header when the file already has a first line (its header's columns are
    then reused, so appended rows line up). The file is opened at the first epoch end of each
    ``fit`` and closed at its end.

    Resuming: ``state_dict()`` records the columns and the byte offset after the last complete
    row. After ``load_state_dict`` (before ``fit``, or during its ``on_train_begin`` as
    ``BackupAndRestore`` does), the file is truncated back to that offset, dropping rows written
    after the state was saved, and continued from there without a second header.

    Args:
        filename: the CSV file path.
        separator: the field separator.
        append: append to an existing file instead of overwriting it.

    Example:
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
        >>> _ = model.fit(x, y, epochs=2, validation_data=(x, y), verbose=0,
        ...               callbacks=[CSVLogger("training.log")])
        >>> with open("training.log") as f:
        ...     rows = f.read().splitlines()
        >>> rows[0], len(rows)
        ('epoch,loss,val_loss', 3)
    """

    may_stop_training = False  # never sets stop_training in a batch hook

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        try:
            self.filename = os.fspath(filename)
        except TypeError:
            raise TypeError(
                f"CSVLogger: `filename` must be a path. Received: filename={filename!r}"
            ) from None
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(
                "CSVLogger: `separator` must be a single character, e.g. ',' or '\\t'. "
                f"Received: separator={separator!r}"
            )
        self.sep = separator
        self.append = bool(append)
        self.keys = None
        self._file = None
        self._writer = None
        self._write_header = True
        self._position = None  # byte offset after the last complete row
        self._resume_position = None

    def on_train_begin(self, logs=None):
        # The file is opened at the first epoch end, so that a state loaded at the start of
        # this fit (BackupAndRestore restores it in on_train_begin) is honoured before anything
        # is truncated.
        self._close()

    def _open(self):
        write_header = True
        if self._resume_position is not None:
            position, self._resume_position = self._resume_position, None
            if os.path.exists(self.filename):
                if os.path.getsize(self.filename) > position:
                    os.truncate(self.filename, position)  # rows written after the saved state
                write_header = position == 0
            mode = "a"
        elif self.append:
            header = self._existing_header()
            write_header = not header
            if header and header[0] == "epoch":
                self.keys = header[1:]
            mode = "a"
        else:
            mode = "w"
        folder = os.path.dirname(self.filename)
        if folder:
            os.makedirs(folder, exist_ok=True)
        self._file = open(self.filename, mode, newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.writer(self._file, delimiter=self.sep)
        self._write_header = write_header

    def _existing_header(self):
        if not os.path.exists(self.filename):
            return []
        with open(self.filename, newline="", encoding="utf-8") as f:
            first = f.readline()
        if not first:
            return []
        return next(csv.reader([first], delimiter=self.sep), [])

    def on_epoch_end(self, epoch, logs=None):
        if not runtime.is_main_process():  # under torchrun rank 0 alone writes
            return
        if self._file is None:
            self._open()
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if not any(key.startswith("val_") for key in self.keys):
                self.keys.extend([f"val_{key}" for key in self.keys])
        if self._write_header:
            self._writer.writerow(["epoch"] + self.keys)
            self._write_header = False
        self._writer.writerow([epoch] + [_cell(logs.get(key, "NA")) for key in self.keys])
        self._file.flush()
        self._position = self._file.tell()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        if self._file is not None:
            self._file.close()
        self._file = None
        self._writer = None

    def state_dict(self):
        """The columns and the byte offset after the last row written."""
        return {"keys": None if self.keys is None else list(self.keys),
                "position": self._position}

    def load_state_dict(self, state_dict):
        """Restores ``state_dict()``; the file continues from that row at the next epoch end."""
        self._close()
        keys = state_dict["keys"]
        self.keys = None if keys is None else list(keys)
        self._position = state_dict["position"]
        self._resume_position = self._position if self._position is not None else None
