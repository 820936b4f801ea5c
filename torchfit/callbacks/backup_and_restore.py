"""BackupAndRestore: resume an interrupted ``fit`` exactly where its last backup was taken."""

import os
import warnings

from torchfit import saving
from torchfit.callbacks.callback import Callback
from torchfit.distributed import reduce, runtime
from torchfit.saving.validate import optimizer_problems, state_problems
from torchfit.callbacks.metric_states import load_metric_states, metric_states
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
    and with ``steps_per_epoch`` the data restarts at a new pass on resume. A backup taken inside
    an epoch (``save_freq=N``) also holds the running state of every torchfit metric (the loss
    trackers and compiled metrics, see ``torchfit.callbacks.metric_states``): the resumed epoch's
    logs cover all of its batches and equal an uninterrupted run's (under ``torchrun``, every
    rank's running state, gathered to rank 0 at each such backup), so callbacks monitoring a
    training metric (``ReduceLROnPlateau(monitor="loss")``) see the same values. Metrics
    without declared state (torchmetrics, ``add_metric``'s trackers) and backups written before
    metric states were saved cover the batches after the resume only.

    Resuming on another setup is never silent. A different number of samples, ``batch_size`` or
    steps per epoch warns, naming what changed, and the remaining epochs run on the new setup
    (an epoch interrupted mid-way restarts from its first batch): the result no longer equals an
    uninterrupted run. A different ``epochs`` is no change: training goes on to the new count,
    as an uninterrupted run with that count would. Fewer ``epochs`` than the backup holds is
    refused with a ``ValueError`` (the backup is kept); exactly as many warns that nothing is
    left to train, restores the backed-up state and returns an empty ``History``.

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

    may_stop_training = False  # never sets stop_training in a batch hook

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
        self._metric_states = None  # a mid-epoch backup's running metrics, until its epoch starts

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs=None):
        self._epoch = 0
        self._batches = 0
        self._metric_states = None
        if os.path.exists(self.path):
            self._restore()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self._metric_states is not None:  # the resumed epoch, after its reset_metrics
            self._load_metric_states(self._metric_states)
            self._metric_states = None

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
        if self.delete_checkpoint and runtime.is_main_process() and os.path.exists(self.path):
            os.remove(self.path)

    def backup_at(self, epoch, step):
        """Backs up now, to resume before batch ``step`` of ``epoch`` (0-based).

        ``fit`` calls it when SIGTERM stops training at a step boundary
        (``torchfit.trainer.signals``), so a resumed run continues from that very step.

        Under ``torchrun`` it backs up nothing: the signal reaches each rank at its own step (or
        a peer has died, which is why torchrun sends it), so the collectives of a backup (each
        rank's running metrics; FSDP's gathered weights) could not complete. The last backup
        every rank took together stays the one to resume from, exactly.
        """
        if runtime.is_distributed():
            return
        self._backup(epoch, step)

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
            "setup": _setup(context),
        }
        if step:  # inside an epoch: its running metrics, to resume the epoch's logs exactly
            training["metrics"] = metric_states(model.metrics)
            if runtime.is_distributed():  # each rank's own (a collective: every rank backs up)
                training["metrics"] = reduce.gather_objects(
                    _on_cpu(training["metrics"]), model.device)
        model_state, optimizer_state = model._states_to_save()  # FSDP: gathered, every rank
        if runtime.is_main_process():
            os.makedirs(self.backup_dir, exist_ok=True)
        saving.save_checkpoint(self.path, model_state, optimizer_state, training)

    def _restore(self):
        model = self.model
        checkpoint = saving.load_checkpoint(self.path, map_location=model.device)
        training = checkpoint["training"]
        self._check_matches(checkpoint)
        resume = self._resume_point(training)
        model._load_states(checkpoint["model"], checkpoint["optimizer"])
        set_rng_state(training["rng"])
        context = self.fit_context
        context.train_iterator.load_state_dict(training["data"])
        for key, callback in self._stateful_callbacks().items():
            if key in training["callbacks"]:
                callback.load_state_dict(training["callbacks"][key])
        self._batches = training["batches"]
        if resume["step"]:  # absent from older backups: those resume the metrics from zero
            self._metric_states = _own_metric_states(training.get("metrics"), self.path)
        context.resume = resume

    def _load_metric_states(self, states):
        """Loads the metrics that exist; the others wait until their first batch builds them."""
        states = dict(states)
        load_metric_states(self.model.metrics, states)
        if states:
            self.model.compiled_loss.pending_states = states
            self.model.compiled_metrics.pending_states = states

    def _resume_point(self, training):
        """Where to resume on this fit's setup; refuses a fit that asks for fewer epochs."""
        epoch, step, epochs = training["epoch"], training["step"], self.fit_context.epochs
        done = _plural(epoch, "epoch") + (f" and {_plural(step, 'batch')} of epoch {epoch}"
                                          if step else "")
        if epochs < epoch + bool(step):
            raise ValueError(
                f"The backup in {self.path} holds {done}, more than this fit asks for "
                f"(epochs={epochs}). Pass epochs={epoch + bool(step)} or more to finish the "
                f"training from the backup, or delete the folder {self.backup_dir} to start "
                "afresh."
            )
        if epochs == epoch:
            deleted = "; the backup is deleted, as training is complete" * bool(
                self.delete_checkpoint)
            warnings.warn(
                f"The backup in {self.path} holds all {epochs} epochs: nothing is left to train. "
                "The model gets the backed-up weights and optimizer state, and `fit` returns an "
                f"empty History{deleted}.", stacklevel=2)
        changes = _setup_changes(training.get("setup"), _setup(self.fit_context))
        if changes:
            where = "from its first batch" if step else "at its start"
            warnings.warn(
                f"Resuming from the backup in {self.path} with a different setup: "
                f"{'; '.join(changes)}. Training resumes at epoch {epoch} {where} "
                "(0-based), on the new setup: the result will not equal an uninterrupted run "
                "(exactness is lost).", stacklevel=2)
            step = 0  # the batch position of the old setup means nothing on the new one
        return {"epoch": epoch, "step": step}

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
        elif not problems:  # nothing is copied before the optimizer state is known to fit
            problems += state_problems(self.model.weights_module().state_dict(),
                                       checkpoint["model"])["mismatched"]
            problems += optimizer_problems(self.model.optimizer, checkpoint["optimizer"])
        if problems:
            raise ValueError(
                f"The backup in {self.path} does not match this model: "
                + "; ".join(problems[:8]) + ". Delete the backup folder to start afresh, or "
                "run the script that wrote it."
            )


def _on_cpu(states):
    """Metric states with their tensors on the CPU (to travel between ranks)."""
    return {name: {key: value.cpu() for key, value in state.items()}
            for name, state in states.items()}


def _own_metric_states(saved, path):
    """This rank's running metric states in a backup's ``"metrics"``: one dict (one process)
    or a list of every rank's (``torchrun``). Another number of processes than the backup's
    restarts the metrics from zero, with a warning (the rank states cannot be shared out)."""
    if saved is None or not isinstance(saved, list) and not runtime.is_distributed():
        return saved
    processes = len(saved) if isinstance(saved, list) else 1
    if processes == runtime.world_size() > 1:
        return saved[runtime.rank()]
    warnings.warn(
        f"The backup in {path} was taken inside an epoch by {processes} process(es), and "
        f"{runtime.world_size()} resume it: the running metrics of that epoch restart from "
        "zero, so its logs cover only the batches after the resume.", stacklevel=3)
    return None


def _plural(count, noun):
    return f"{count} {noun}" + ("" if count == 1 else ("es" if noun.endswith("ch") else "s"))


def _setup(context):
    """The sizes that place a batch in an epoch: samples, batch size, steps per epoch, epochs."""
    iterator = context.train_iterator
    adapter = getattr(iterator, "adapter", None)
    loader = getattr(adapter, "loader", None)
    samples = getattr(adapter, "num_samples", None)
    if samples is None and loader is not None:
        try:
            samples = len(loader.dataset)
        except TypeError:  # an IterableDataset without a length
            samples = None
    return {"samples": samples,
            "batch_size": getattr(adapter, "batch_size", None) or getattr(loader, "batch_size",
                                                                           None),
            "steps": getattr(iterator, "num_steps", None), "epochs": context.epochs}


def _setup_changes(saved, current):
    """What differs between the backed-up run's setup and this one (a new ``epochs`` is not a
    change: the remaining epochs run as they would have)."""
    if not saved:
        return []  # a backup from before the setup was recorded
    changes = []
    if None not in (saved["samples"], current["samples"]) and saved["samples"] != current[
            "samples"]:
        changes.append(f"the training data has {current['samples']} samples "
                       f"({saved['samples']} in the backed-up run)")
    if None not in (saved["batch_size"], current["batch_size"]) and (
            saved["batch_size"] != current["batch_size"]):
        changes.append(f"batch_size={current['batch_size']} ({saved['batch_size']} in the "
                       "backed-up run)")
    if not changes and None not in (saved["steps"], current["steps"]) and (
            saved["steps"] != current["steps"]):
        changes.append(f"{current['steps']} steps per epoch ({saved['steps']} in the "
                       "backed-up run)")
    return changes
