"""ModelCheckpoint: save the model (or its weights) every epoch or every N batches."""

import numbers
import os
import string
import warnings

from torchfit import saving
from torchfit.callbacks.monitor_callback import MonitorCallback
from torchfit.distributed.runtime import print_on_main
from torchfit.logs import to_floats

__all__ = ["ModelCheckpoint"]



def _check_save_freq(save_freq):
    if save_freq == "epoch":
        return save_freq
    is_int = isinstance(save_freq, numbers.Integral) and not isinstance(save_freq, bool)
    if is_int and save_freq > 0:
        return int(save_freq)
    raise ValueError(
        f"Unrecognized save_freq: {save_freq!r}. ModelCheckpoint: `save_freq` must be 'epoch' "
        f"or a positive integer (a number of batches). Received: save_freq={save_freq!r}"
    )


def _check_period(period):
    """tf.keras 2's deprecated ``period`` (epochs between saves); Keras 3 removed it."""
    if period is None:
        return 1
    is_int = isinstance(period, numbers.Integral) and not isinstance(period, bool)
    if not (is_int and period > 0):
        raise ValueError(
            "ModelCheckpoint: `period` must be a positive integer (a number of epochs). "
            f"Received: period={period!r}. Better: save_freq='epoch' or a number of batches."
        )
    warnings.warn(
        "ModelCheckpoint: the `period` argument is deprecated (tf.keras 2; removed in Keras 3). "
        "Please use `save_freq` to specify the frequency in number of batches seen.",
        DeprecationWarning,  # attributed to the caller: shown in scripts and notebooks
        stacklevel=3,
    )
    return int(period)


def _check_filepath(filepath, save_weights_only):
    try:
        filepath = os.fspath(filepath)
    except TypeError:
        raise TypeError(
            "ModelCheckpoint: `filepath` must be a path (str or os.PathLike), e.g. "
            f"'mymodel_{{epoch}}.pt'. Received: filepath={filepath!r}"
        ) from None
    try:
        list(string.Formatter().parse(filepath))
    except ValueError as err:
        raise ValueError(
            f'ModelCheckpoint: `filepath` is not a valid template: "{filepath}" ({err}). Write '
            "fields as {epoch:02d} or {val_loss:.2f}, and a literal brace as {{ or }}."
        ) from None
    suffix = os.path.splitext(filepath)[1].lower()
    if suffix not in saving.SUFFIXES:
        raise ValueError(
            f'ModelCheckpoint: cannot tell the file format from `filepath`="{filepath}". '
            f"Received suffix: {suffix!r}. Expected one of: {', '.join(saving.SUFFIXES)} "
            "(.pt/.pth: torch.save; .h5/.hdf5: HDF5; .safetensors: weights only), e.g. "
            "'mymodel_{epoch}.pt'."
        )
    if suffix not in saving.CHECKPOINT_SUFFIXES and not save_weights_only:
        raise ValueError(
            f'ModelCheckpoint: `filepath`="{filepath}" names a {suffix} file, which holds '
            "weights only, but save_weights_only=False asks for full checkpoints (optimizer "
            "state, training progress). Pass save_weights_only=True, or use one of: "
            f"{', '.join(saving.CHECKPOINT_SUFFIXES)}."
        )
    return filepath


class ModelCheckpoint(MonitorCallback):
    """Saves the model, or only its weights, at the end of every epoch or every N batches.

    ``filepath`` is a template formatted with ``epoch`` (1-based), the logs, and with
    ``save_freq=N`` also ``batch`` (1-based, within the epoch): ``"mymodel_{epoch}.pt"``,
    ``"weights.{epoch:02d}-{val_loss:.2f}.h5"``. Its suffix picks the format: ``.pt``/``.pth``
    (torch), ``.h5``/``.hdf5`` (HDF5) or, with ``save_weights_only=True`` only,
    ``.safetensors``. ``save_weights_only=True`` writes
    ``model.save_weights(path)``, otherwise ``model.save(path)`` (weights, optimizer state and
    history); ``model.load_weights`` reads either. Files are written atomically (temporary file,
    then rename), so an interrupted save never leaves a half-written checkpoint.

    With ``save_best_only=True`` a file is written only when ``monitor`` improves on ``best``
    (which starts at ``initial_value_threshold``, else ``inf``/``-inf``, and is kept across
    ``fit`` calls as in Keras); ``best`` advances only after the file is written. A NaN
    ``monitor`` never improves, so it is never saved as the best (it warns once per ``fit``). A
    missing ``monitor`` skips the save with a warning listing the available keys. With
    ``verbose=1``::

        Epoch 00001: val_loss improved from inf to 0.21655, saving model to mymodel_1.h5
        Epoch 00002: val_loss did not improve from 0.21655
        Epoch 00003: saving model to mymodel_3.h5          (save_best_only=False)

    ``save_freq=N`` saves after every N training batches, counted across epochs, with the
    running batch logs; they are read from the device only when a file is written, so this
    adds no per-step synchronisation.

    Versions: ``period`` is tf.keras 2's (Keras 3 removed it) and is accepted with a deprecation
    warning; tf.keras 2's ``load_weights_on_restart`` and ``options`` are not (Keras 3 removed
    them too): resume with ``BackupAndRestore``.

    Args:
        filepath: the template of the file path.
        monitor: the log key for ``save_best_only``.
        verbose: 1 prints a line at every save decision.
        save_best_only: save only when ``monitor`` improves.
        save_weights_only: save the weights only (``save_weights``), not the full checkpoint.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        save_freq: ``"epoch"`` or a positive number of batches.
        initial_value_threshold: the ``best`` to beat before the first save.
        period: deprecated, as in tf.keras 2 (Keras 3 removed it): with ``save_freq="epoch"``,
            save every ``period`` epochs only (ignored with an integer ``save_freq``); warns
            (``DeprecationWarning``) to use ``save_freq`` instead.

    Raises:
        ValueError: an unknown suffix (or ``.safetensors`` without ``save_weights_only``), a
            malformed template, a bad ``save_freq`` or ``mode``.
        KeyError: at save time, a template naming a key that is not in the logs (as Keras).

    Example:
        >>> import os
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
        >>> checkpoint = ModelCheckpoint("weights_{epoch:02d}.pt", save_weights_only=True)
        >>> _ = model.fit(x, y, epochs=2, verbose=0, callbacks=[checkpoint])
        >>> sorted(os.listdir())
        ['weights_01.pt', 'weights_02.pt']
        >>> model.load_weights("weights_02.pt")
        >>> best = ModelCheckpoint("best.pt", monitor="val_loss", save_best_only=True)
        >>> _ = model.fit(x, y, epochs=2, validation_data=(x, y), verbose=0, callbacks=[best])
        >>> best.best == min(model.history.history["val_loss"])
        True
    """

    may_stop_training = False  # never sets stop_training in a batch hook

    # Batch logs stay on the device: they are read (one sync) only when a batch save happens.
    lazy_batch_logs = True

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None, period=None):
        super().__init__(
            monitor, mode, 0,
            missing="Can save best model only with {monitor} available, skipping. "
                    "Available metrics are: {available}",
        )
        self.filepath = _check_filepath(filepath, save_weights_only)
        self.save_freq = _check_save_freq(save_freq)
        if initial_value_threshold is not None and (
                not isinstance(initial_value_threshold, numbers.Real)
                or isinstance(initial_value_threshold, bool)
                or initial_value_threshold != initial_value_threshold):  # NaN
            raise ValueError(
                "ModelCheckpoint: `initial_value_threshold` must be a number (not NaN) or None. "
                f"Received: initial_value_threshold={initial_value_threshold!r}"
            )
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.best = None if initial_value_threshold is None else float(initial_value_threshold)
        self.period = _check_period(period)
        self._epochs_since_last_save = 0
        self._current_epoch = 0
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        # Hooks this instance never needs (for a dispatcher that honours instance opt-outs).
        self.unused_hooks = frozenset({"on_train_batch_end"} if save_freq == "epoch" else ())

    def reset(self):
        """Keeps ``best``: as in Keras, a new ``fit`` must beat the best of the earlier ones."""

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch" and self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, to_floats(logs))  # sync: per save

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_since_last_save += 1
        if self.save_freq == "epoch" and self._epochs_since_last_save >= self.period:
            self._epochs_since_last_save = 0
            self._save_model(epoch, None, logs)

    def _should_save_on_batch(self, batch):
        if batch <= self._last_batch_seen:  # a new epoch (batches count from 0)
            add_batches = batch + 1
        else:
            add_batches = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += add_batches
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _save_model(self, epoch, batch, logs):
        logs = dict(logs or {})
        filepath = self._get_file_path(epoch, batch, logs)
        if not self.save_best_only:
            if self.verbose > 0:
                print_on_main(f"\nEpoch {epoch + 1:05d}: saving model to {filepath}", flush=True)
            self._write(filepath)
            return
        current = self.get_monitor_value(logs)
        if current is None:
            return
        if self.is_improvement(current, self.best_or_initial()):
            if self.verbose > 0:
                print_on_main(f"\nEpoch {epoch + 1:05d}: {self.monitor} improved from "
                              f"{self.best:.5f} to {current:.5f}, saving model to {filepath}",
                              flush=True)
            self._write(filepath)
            self.best = current  # only once the file is safely written
        elif self.verbose > 0:
            print_on_main(f"\nEpoch {epoch + 1:05d}: {self.monitor} did not improve from "
                          f"{self.best:.5f}", flush=True)

    def _get_file_path(self, epoch, batch, logs):
        values = dict(logs)
        values["epoch"] = epoch + 1
        if batch is not None and "batch" not in logs:
            values["batch"] = batch + 1
        try:
            return self.filepath.format(**values)
        except KeyError as err:
            # Keras's KeyError and message, then the keys the template may use.
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: {err}. '
                f"Available keys: {', '.join(values)}."
            ) from None
        except (IndexError, ValueError) as err:
            reason = f"{err} (available keys: {', '.join(values)})"
        raise ValueError(
            f'Failed to format this callback filepath: "{self.filepath}". Reason: {reason}.'
        )

    def _write(self, filepath):
        if os.path.isdir(filepath):
            raise IsADirectoryError(
                "Please specify a non-directory filepath for ModelCheckpoint: the file path is an "
                f"existing directory. Received: "
                f"filepath={filepath!r} (from the template {self.filepath!r}). Expected the path "
                "of a file: add a file name, e.g. 'checkpoints/model_{epoch}.pt'."
            )
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)

    def state_dict(self):
        """``best``, the batch counters of ``save_freq=N`` and the epoch counter of ``period``."""
        return {
            **super().state_dict(),
            "batches_seen_since_last_saving": self._batches_seen_since_last_saving,
            "last_batch_seen": self._last_batch_seen,
            "epochs_since_last_save": self._epochs_since_last_save,
        }

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self._batches_seen_since_last_saving = int(state_dict["batches_seen_since_last_saving"])
        self._last_batch_seen = int(state_dict["last_batch_seen"])
        self._epochs_since_last_save = int(state_dict.get("epochs_since_last_save", 0))
