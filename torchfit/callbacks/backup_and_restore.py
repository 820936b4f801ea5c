"""BackupAndRestore: resume an interrupted ``fit`` exactly where its last backup was taken."""

import os

from torchfit import saving
from torchfit.callbacks.callback import Callback
from torchfit.utils.seed import get_rng_state, set_rng_state

__all__ = ["BackupAndRestore"]

BACKUP_FILE = "backup.pt"


class BackupAndRestore(Callback):
    """Backs up the whole training state, and restores it when the same ``fit`` is run again.

    One file, written atomically (temporary file, fsync, rename), holds the model's weights, the
    optimizer (with its step count, hence the schedule position), every random state (torch, CUDA,
    NumPy, Python, and the generator that shuffles in-memory arrays), the state of the other
    callbacks that have one (``EarlyStopping``, ``ModelCheckpoint``, ``ReduceLROnPlateau``,
    ``CSVLogger``...), and the epoch and step. After an interruption (an exception, SIGTERM,
    SIGKILL), running the same script again resumes from the last backup; on CPU the final weights
    equal those of an uninterrupted run bit for bit. The backup is kept when training fails and
    deleted when it completes (``delete_checkpoint=True``).

    Exactness holds for in-memory arrays and map-style Datasets; a generator cannot be rewound,
    and with ``steps_per_epoch`` the data restarts at a new pass on resume. The running metrics of
    an epoch resumed mid-way cover the steps after the resume.

    Args:
        backup_dir: the folder of the backup file (created if missing).
        save_freq: ``"epoch"``, or a number of batches between backups.
        delete_checkpoint: delete the backup when training completes.

    Example:
        A first run backs up after each epoch; it stops after 2 epochs (as if interrupted) and
        keeps its backup. Running again resumes after the last backed-up epoch.

        >>> import os
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
        >>> backup = BackupAndRestore(backup_dir="backup", delete_checkpoint=False)
        >>> _ = model.fit(x, y, epochs=2, verbose=0, callbacks=[backup])
        >>> history = model.fit(x, y, epochs=4, verbose=0, callbacks=[BackupAndRestore("backup")])
        >>> history.epoch
        [2, 3]
        >>> os.path.exists("backup/backup.pt")  # deleted once training completed
        False
    """

    dispatch_last = True  # it saves the other callbacks' state after their epoch-end updates
    lazy_batch_logs = True  # it never reads batch logs: no per-batch sync

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)
                                     or save_freq <= 0):
            raise ValueError(
                f"`save_freq` must be 'epoch' or a positive number of batches. "
                f"Received: save_freq={save_freq!r}"
            )
        if not backup_dir:
            raise ValueError("`backup_dir` must be a folder path. Received an empty value.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        self.path = os.path.join(self.backup_dir, BACKUP_FILE)
        self._epoch = 0
        self._batches = 0

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs=None):
        self._epoch = 0
        self._batches = 0
        if os.path.exists(self.path):
            self._restore()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches += 1
        if self._batches % self.save_freq == 0:
            steps = self.params.get("steps")
            if steps is not None and batch + 1 >= steps:
                self._backup(self._epoch + 1, 0)
            else:
                self._backup(self._epoch, batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._backup(epoch + 1, 0)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.path):
            os.remove(self.path)

    # ------------------------------------------------------------------ state
    def _stateful_callbacks(self):
        callbacks = self.fit_context.callbacks.callbacks
        return {f"{i}:{type(cb).__name__}": cb for i, cb in enumerate(callbacks)
                if cb is not self and callable(getattr(cb, "state_dict", None))}

    def _backup(self, epoch, step):
        model = self.model
        context = self.fit_context
        training = {
            "epoch": epoch,
            "step": step,
            "batches": self._batches,
            "rng": get_rng_state(),
            "data": context.train_iterator.state_dict(mid_epoch=step > 0),
            "callbacks": {key: cb.state_dict() for key, cb in self._stateful_callbacks().items()},
            "optimizer_class": type(model.optimizer).__name__,
        }
        os.makedirs(self.backup_dir, exist_ok=True)
        saving.save_checkpoint(self.path, model.weights_module().state_dict(),
                               model.optimizer.state_dict(), training)

    def _restore(self):
        model = self.model
        checkpoint = saving.load_checkpoint(self.path, map_location=model.device)
        training = checkpoint["training"]
        self._check_matches(checkpoint)
        model.weights_module().load_state_dict(checkpoint["model"])
        model.optimizer.load_state_dict(checkpoint["optimizer"])
        set_rng_state(training["rng"])
        context = self.fit_context
        context.train_iterator.load_state_dict(training["data"])
        for key, callback in self._stateful_callbacks().items():
            if key in training["callbacks"]:
                callback.load_state_dict(training["callbacks"][key])
        self._batches = training["batches"]
        context.resume = {"epoch": training["epoch"], "step": training["step"]}

    def _check_matches(self, checkpoint):
        """Refuses a backup made for another model or optimizer, naming both sides."""
        ours = {k: tuple(v.shape) for k, v in self.model.weights_module().state_dict().items()}
        theirs = {k: tuple(v.shape) for k, v in checkpoint["model"].items()}
        problems = [f"'{k}' is missing from the model" for k in theirs if k not in ours]
        problems += [f"'{k}' is missing from the backup" for k in ours if k not in theirs]
        problems += [f"'{k}' has shape {theirs[k]} in the backup and {ours[k]} in the model"
                     for k in ours if k in theirs and ours[k] != theirs[k]]
        saved_optimizer = checkpoint["training"].get("optimizer_class")
        current_optimizer = type(self.model.optimizer).__name__
        if saved_optimizer != current_optimizer:
            problems.append(f"the backup's optimizer is {saved_optimizer}, the model's is "
                            f"{current_optimizer}")
        if problems:
            raise ValueError(
                f"The backup in {self.path} does not match this model: "
                + "; ".join(problems[:8]) + ". Delete the backup folder to start afresh, or "
                "run the script that wrote it."
            )
