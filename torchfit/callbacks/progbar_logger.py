"""ProgbarLogger: prints Keras-style progress for fit, evaluate and predict."""

from torchfit.callbacks.callback import Callback
from torchfit.distributed import runtime
from torchfit.progress import Progbar

__all__ = ["ProgbarLogger"]

_BATCH_HOOKS = frozenset({"on_train_batch_end", "on_test_batch_end", "on_predict_batch_end"})


class ProgbarLogger(Callback):
    """Prints ``Epoch 1/3`` and a progress bar (verbose=1) or one line per epoch (verbose=2).

    ``fit``, ``evaluate`` and ``predict`` add one when ``verbose`` is not 0 (unless the
    ``callbacks`` list already holds one, e.g. to write to another ``stream``).

    When ``fit`` does not know the number of steps (an iterable of unknown length), the first
    epoch counts them and the next epochs' bars use that count as their ``target``, as Keras does.

    Batch logs are read lazily: the bar reads the device values only when it redraws (at most
    ten times a second), so a live bar never forces a synchronisation per step.

    Under ``torchrun`` every rank runs the bar but only rank 0 writes; the live bar redraws at
    fixed steps (about 20 times an epoch, on a terminal only), since each read of the logs
    reduces the metrics across ranks and so must happen at the same steps everywhere.

    Args:
        stream: where to write (``sys.stdout`` by default).

    Example:
        >>> import io
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
        >>> stream = io.StringIO()
        >>> _ = model.fit(x, y, epochs=2, verbose=2, callbacks=[ProgbarLogger(stream=stream)])
        >>> print(stream.getvalue())  # doctest: +ELLIPSIS
        Epoch 1/2
        1/1 - ...s - loss: ... - ...s/epoch - ...s/step
        Epoch 2/2
        1/1 - ...s - loss: ... - ...s/epoch - ...s/step
        <BLANKLINE>
    """

    may_stop_training = False  # never sets stop_training in a batch hook

    lazy_batch_logs = True

    @property
    def unused_hooks(self):
        """At ``verbose=2`` with a known number of steps the line is drawn once, at the end, and
        needs no batch hook (as in Keras); with an unknown number they count the steps."""
        if self.params.get("verbose") == 2 and self.params.get("steps") is not None:
            return _BATCH_HOOKS
        return frozenset()

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream
        self._progbar = None
        self._seen = 0
        self._in_fit = False
        self.target = None  # the steps of an epoch: params["steps"], else counted by epoch 1

    @property
    def _verbose(self):
        return self.params.get("verbose", 1)

    def _start(self, target):
        self._seen = 0
        every = None
        if runtime.is_distributed():
            every = max(1, target // 20) if target else 10
        self._progbar = Progbar(target, verbose=self._verbose, stream=self.stream,
                                every_steps=every, silent=not runtime.is_main_process())

    def _update(self, batch, logs):
        self._seen = batch + 1
        self._progbar.update(self._seen, logs, finalize=False)

    def _finish(self, logs):
        if not self._seen and self.unused_hooks:  # the batch hooks did not count: all steps ran
            self._seen = self._progbar.target
        self._progbar.update(self._seen, logs, finalize=True)

    def on_train_begin(self, logs=None):
        self._in_fit = True
        self.target = self.params.get("steps")

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        if runtime.is_main_process():
            print(f"Epoch {epoch + 1}/{self.params['epochs']}", file=self.stream, flush=True)
        self._start(self.target)

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)
        if self.target is None:
            self.target = self._seen

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._start(self.params.get("steps"))

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._start(self.params.get("steps"))

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)

    def on_predict_end(self, logs=None):
        self._finish(None)
