"""TensorBoard: write losses, metrics, the learning rate and weight histograms for TensorBoard."""

import numbers
import os
import warnings

from torchfit.callbacks.callback import Callback
from torchfit.callbacks.learning_rate import get_learning_rate
from torchfit.logs import to_floats
from torchfit.distributed import runtime

__all__ = ["TensorBoard"]


def _check_freq(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(
            f"TensorBoard: `{name}` must be an integer >= 0. Received: {name}={value!r}"
        )
    return int(value)


def _check_update_freq(update_freq):
    if update_freq == "epoch":
        return None
    if update_freq == "batch":
        return 1
    if isinstance(update_freq, numbers.Integral) and not isinstance(update_freq, bool) \
            and update_freq > 0:
        return int(update_freq)
    raise ValueError(
        "TensorBoard: `update_freq` must be 'epoch', 'batch' or a positive integer (write the "
        f"batch logs every N batches). Received: update_freq={update_freq!r}"
    )


def _refuse(name, value, default, hint):
    if value != default:
        raise ValueError(
            f"TensorBoard: `{name}` is not supported by torchfit. Received: {name}={value!r}. "
            f"Pass {name}={default!r}; {hint}"
        )


class TensorBoard(Callback):
    """Writes event files for TensorBoard with ``torch.utils.tensorboard.SummaryWriter``.

    Layout as in Keras: ``log_dir/train`` and ``log_dir/validation``. At each epoch end, every
    training log ``name`` is written as the scalar ``epoch_<name>`` to ``train`` and every
    ``val_<name>`` as ``epoch_<name>`` to ``validation`` (so that TensorBoard draws ``loss`` and
    ``val_loss`` on one chart), with the 0-based epoch as the step; the learning rate of the first
    parameter group goes to ``train`` as ``epoch_learning_rate``. With ``update_freq="batch"`` or
    an integer N, the running batch logs are also written every N training batches as
    ``batch_<name>``, the step being the number of batches seen by this callback; they are read
    from the device only then. ``histogram_freq=N`` writes a histogram of every parameter (named
    as in ``state_dict``) every N epochs. ``write_graph=True`` traces the module on the first
    training batch's inputs and writes its graph (a module that cannot be traced gives a warning,
    not an error); it defaults to False, unlike Keras, because tracing runs the model once more
    and fails on data-dependent control flow.

    Each writer is opened when it first has something to write (so ``validation`` appears only
    with validation data), flushed at each epoch end and closed at the end of ``fit``.
    ``tensorboard`` is imported only then: importing torchfit never imports it, and TensorFlow is
    never needed.

    Args:
        log_dir: the folder of the event files.
        histogram_freq: write weight histograms every this many epochs (0: never).
        write_graph: write the module's graph.
        write_images, write_steps_per_second, profile_batch, embeddings_freq,
        embeddings_metadata: accepted for Keras compatibility at their default values only.
        update_freq: ``"epoch"``, ``"batch"`` or an integer N (every N batches).

    Example:
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
        >>> tensorboard_cbk = TensorBoard(log_dir="logs", histogram_freq=1)
        >>> _ = model.fit(x, y, epochs=2, verbose=0, callbacks=[tensorboard_cbk])
        >>> import os
        >>> sorted(os.listdir("logs"))
        ['train']
    """

    may_stop_training = False  # never sets stop_training in a batch hook

    # Batch logs stay on the device: they are read (one sync) only when they are written.
    lazy_batch_logs = True

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=False, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        try:
            self.log_dir = os.fspath(log_dir)
        except TypeError:
            raise TypeError(
                f"TensorBoard: `log_dir` must be a path. Received: log_dir={log_dir!r}"
            ) from None
        self.histogram_freq = _check_freq("histogram_freq", histogram_freq)
        self.write_graph = bool(write_graph)
        self.update_freq = update_freq
        self._batch_every = _check_update_freq(update_freq)
        _refuse("write_images", write_images, False,
                "log images yourself with SummaryWriter.add_image.")
        _refuse("write_steps_per_second", write_steps_per_second, False,
                "the progress bar shows the time per step.")
        _refuse("profile_batch", profile_batch, 0, "profile with torch.profiler instead.")
        _refuse("embeddings_freq", embeddings_freq, 0,
                "log embeddings yourself with SummaryWriter.add_embedding.")
        _refuse("embeddings_metadata", embeddings_metadata, None,
                "log embeddings yourself with SummaryWriter.add_embedding.")
        self.global_step = 0  # training batches seen, across epochs and fits
        self._writers = {}
        self._graph_inputs = None
        self._graph_hook = None
        self._graph_written = False
        # Hooks this instance never needs (for a dispatcher that honours instance opt-outs).
        self.unused_hooks = frozenset(() if self._batch_every else {"on_train_batch_end"})

    # ------------------------------------------------------------------ writers
    def _writer(self, name):
        """The writer of ``log_dir/<name>``, created on first use (as Keras does); under
        ``torchrun``, on rank 0 only (the others get one that writes nothing)."""
        if not runtime.is_main_process():
            return _NULL_WRITER
        if name not in self._writers:
            from torch.utils.tensorboard import SummaryWriter  # lazy: only when writing

            self._writers[name] = SummaryWriter(log_dir=os.path.join(self.log_dir, name))
        return self._writers[name]

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs=None):
        self._close_writers()  # a previous fit that raised may have left them open
        if self.write_graph and not self._graph_written:
            self._graph_hook = self.model.weights_module().register_forward_pre_hook(
                self._capture_inputs, with_kwargs=True)

    def on_train_batch_end(self, batch, logs=None):
        self.global_step += 1
        if self._batch_every and self.global_step % self._batch_every == 0 and logs is not None:
            writer = self._writer("train")
            for name, value in to_floats(logs).items():  # sync: once per written batch
                if isinstance(value, numbers.Real):
                    writer.add_scalar(f"batch_{name}", value, self.global_step)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = self._writer("train")
        for name, value in logs.items():
            if not isinstance(value, numbers.Real):
                continue
            if name.startswith("val_"):
                self._writer("validation").add_scalar(f"epoch_{name[4:]}", value, epoch)
            else:
                train.add_scalar(f"epoch_{name}", value, epoch)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            train.add_scalar("epoch_learning_rate", get_learning_rate(optimizer), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._write_histograms(epoch)
        if self.write_graph and not self._graph_written:
            self._write_graph()
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        self._remove_graph_hook()
        self._close_writers()

    # ------------------------------------------------------------------ histograms and graph
    def _write_histograms(self, epoch):
        writer = self._writer("train")
        for name, param in self.model.weights_module().named_parameters():
            # sync: copies each parameter to the host, every histogram_freq epochs only
            writer.add_histogram(name, param.detach(), epoch)

    def _capture_inputs(self, module, args, kwargs):
        self._graph_inputs = (args, kwargs)
        self._remove_graph_hook()

    def _remove_graph_hook(self):
        if self._graph_hook is not None:
            self._graph_hook.remove()
            self._graph_hook = None

    def _write_graph(self):
        self._graph_written = True  # one attempt per callback
        if self._graph_inputs is None:
            return
        args, kwargs = self._graph_inputs
        self._graph_inputs = None
        if kwargs:
            warnings.warn("TensorBoard(write_graph=True): the model is called with keyword "
                          "inputs, which graph tracing does not support; no graph was written.",
                          UserWarning, stacklevel=2)
            return
        module = self.model.weights_module()
        training = module.training
        try:
            module.eval()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.trace's notice
                self._writer("train").add_graph(module, args)
        except Exception as err:  # tracing fails on some modules; the graph is optional
            warnings.warn(f"TensorBoard(write_graph=True) could not trace the model, so no graph "
                          f"was written: {type(err).__name__}: {err}", UserWarning, stacklevel=2)
        finally:
            module.train(training)

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """``global_step``: the batch counter used as the step of batch-level scalars."""
        return {"global_step": self.global_step}

    def load_state_dict(self, state_dict):
        self.global_step = int(state_dict["global_step"])


class _NullWriter:
    """Takes every ``SummaryWriter`` call and writes nothing (ranks other than 0)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


_NULL_WRITER = _NullWriter()
