"""LambdaCallback: a callback made of plain functions."""

from types import MappingProxyType

from torchfit.callbacks.callback import Callback
from torchfit.logs import to_floats
from torchfit.utils.validation import check_kwargs

__all__ = ["LambdaCallback"]

_EPOCH_HOOKS = ("on_epoch_begin", "on_epoch_end")
_RUN_HOOKS = ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end",
              "on_predict_begin", "on_predict_end")
_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
                "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end")
_ALIASES = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}
_ALL = _EPOCH_HOOKS + _RUN_HOOKS + _BATCH_HOOKS + tuple(_ALIASES.values())


class LambdaCallback(Callback):
    """Calls the functions you give on the matching hooks (Keras's ``LambdaCallback``).

    Epoch hooks take ``(epoch, logs)``, batch hooks ``(batch, logs)``, the others ``(logs)``.
    ``on_batch_begin`` / ``on_batch_end`` run on training batches unless ``on_train_batch_begin``
    / ``on_train_batch_end`` are given too. Any other hook (``on_test_end=...``,
    ``on_predict_batch_end=...``) can be passed by keyword.

    Batch logs are turned into Python floats (one device synchronisation) only for the batch
    hooks you gave a function for; the other hooks cost a no-op call.

    Args:
        on_epoch_begin, on_epoch_end, on_batch_begin, on_batch_end, on_train_begin,
        on_train_end: functions, or None.
        **kwargs: functions for the other hooks, by hook name.

    Raises:
        TypeError: an unknown hook name (with a "did you mean"), or a value that is not callable.

    Example:
        >>> import json
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
        >>> json_log = open("loss_log.json", mode="wt", buffering=1)
        >>> log_loss = LambdaCallback(
        ...     on_epoch_end=lambda epoch, logs: json_log.write(
        ...         json.dumps({"epoch": epoch, "loss": logs["loss"]}) + "\\n"),
        ...     on_train_end=lambda logs: json_log.close())
        >>> _ = model.fit(x, y, epochs=3, verbose=0, callbacks=[log_loss])
        >>> with open("loss_log.json") as f:
        ...     [json.loads(line)["epoch"] for line in f]
        [0, 1, 2]
    """

    # Batch logs are materialized here, only for the batch hooks that have a function.
    lazy_batch_logs = True

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None,
                 on_batch_end=None, on_train_begin=None, on_train_end=None, **kwargs):
        super().__init__()
        check_kwargs("LambdaCallback", {k: v for k, v in kwargs.items() if k not in _ALL},
                     list(_ALL))
        functions = dict(kwargs, on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                         on_batch_begin=on_batch_begin, on_batch_end=on_batch_end,
                         on_train_begin=on_train_begin, on_train_end=on_train_end)
        for name, fn in functions.items():
            if fn is not None and not callable(fn):
                raise TypeError(
                    f"LambdaCallback: `{name}` must be a function or None. "
                    f"Received: {name}={fn!r} of type {type(fn).__name__}."
                )
        for hook, alias in _ALIASES.items():  # the specific hook wins over the Keras alias
            if functions.get(hook) is None:
                functions[hook] = functions[alias]
        self._functions = {hook: fn for hook, fn in functions.items() if fn is not None}
        # Hooks this instance never needs (for a dispatcher that honours instance opt-outs).
        dispatched = _EPOCH_HOOKS + _RUN_HOOKS + _BATCH_HOOKS
        self.unused_hooks = frozenset(h for h in dispatched if h not in self._functions)

    def _run(self, hook, *args, logs):
        fn = self._functions.get(hook)
        if fn is not None:
            fn(*args, logs)

    def _run_batch(self, hook, batch, logs):
        fn = self._functions.get(hook)
        if fn is not None:
            fn(batch, MappingProxyType(to_floats(logs)))  # sync: only for a given batch function

    def on_train_begin(self, logs=None):
        self._run("on_train_begin", logs=logs)

    def on_train_end(self, logs=None):
        self._run("on_train_end", logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._run("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        self._run("on_epoch_end", epoch, logs=logs)

    def on_test_begin(self, logs=None):
        self._run("on_test_begin", logs=logs)

    def on_test_end(self, logs=None):
        self._run("on_test_end", logs=logs)

    def on_predict_begin(self, logs=None):
        self._run("on_predict_begin", logs=logs)

    def on_predict_end(self, logs=None):
        self._run("on_predict_end", logs=logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._run_batch("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._run_batch("on_train_batch_end", batch, logs)

    def on_batch_begin(self, batch, logs=None):
        self._run_batch("on_batch_begin", batch, logs)

    def on_batch_end(self, batch, logs=None):
        self._run_batch("on_batch_end", batch, logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._run_batch("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._run_batch("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._run_batch("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._run_batch("on_predict_batch_end", batch, logs)
