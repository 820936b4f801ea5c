"""CallbackList: a synchronous fan-out that calls each hook only on the callbacks overriding it."""

from types import MappingProxyType

from torchfit.callbacks.callback import Callback
from torchfit.callbacks.history import History
from torchfit.callbacks.progbar_logger import ProgbarLogger
from torchfit.logs import to_floats

__all__ = ["CallbackList"]

_HOOKS = (
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end",
    "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end",
    "on_predict_batch_begin", "on_predict_batch_end",
)
_BATCH_HOOKS = tuple(hook for hook in _HOOKS if "_batch_" in hook)
# The Keras aliases: overriding on_batch_end means overriding on_train_batch_end.
_ALIASES = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


def _overrides(callback, hook):
    # A callback may declare hooks its configuration leaves idle (ModelCheckpoint saving per
    # epoch has nothing to do per batch): they are not called at all.
    if hook in callback.unused_hooks:
        return False
    cls = type(callback)
    names = (hook, _ALIASES[hook]) if hook in _ALIASES else (hook,)
    return any(getattr(cls, name) is not getattr(Callback, name) for name in names)


class CallbackList:
    """Holds the callbacks of one ``fit``/``evaluate``/``predict`` call and dispatches hooks.

    Batch logs arrive as device-side mappings. They are turned into Python floats (one sync) only
    when a callback that overrides that batch hook wants plain values; callbacks that declare
    ``lazy_batch_logs = True`` (the progress bar) receive the device-side mapping and decide
    themselves when to read it. Callbacks are called in list order, except that those declaring
    ``dispatch_last = True`` (``BackupAndRestore``, which saves the others' state) come last.
    Hooks listed in a callback's ``unused_hooks`` are not called (see ``Callback``).

    Args:
        callbacks: a list of ``Callback`` instances.
        add_history: put a ``History`` first (``fit`` does).
        add_progbar: put a ``ProgbarLogger`` first, unless the list has one.
        model: set on every callback.
        params: ``{"epochs", "steps", "verbose"}``, set on every callback.

    Raises:
        TypeError: an element of ``callbacks`` is not a ``Callback``.

    Example:
        >>> class PrintEpoch(Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(f"epoch {epoch}: loss {logs['loss']}")
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> callbacks = CallbackList([PrintEpoch()], add_history=True, model=model)
        >>> [type(callback).__name__ for callback in callbacks.callbacks]
        ['History', 'PrintEpoch']
        >>> callbacks.overrides("on_epoch_end"), callbacks.overrides("on_train_batch_end")
        (True, False)
        >>> callbacks.on_epoch_end(0, {"loss": 0.5})
        epoch 0: loss 0.5
        >>> model.history.history
        {'loss': [0.5]}
    """

    def __init__(self, callbacks=(), add_history=False, add_progbar=False, model=None,
                 params=None):
        callbacks = list(callbacks or ())
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(
                    "`callbacks` must be a list of torchfit.callbacks.Callback instances. "
                    f"Received: {callback!r} of type {type(callback).__name__}."
                )
        if add_progbar and not any(isinstance(cb, ProgbarLogger) for cb in callbacks):
            callbacks.insert(0, ProgbarLogger())
        if add_history:
            callbacks.insert(0, History())
        # Callbacks that save the others' state (BackupAndRestore) run after them.
        callbacks.sort(key=lambda cb: cb.dispatch_last)
        self.callbacks = callbacks
        self.model = model
        self.params = dict(params or {})
        for callback in callbacks:
            callback.set_model(model)
            callback.set_params(self.params)
        self._dispatch = {
            hook: [(getattr(cb, hook), cb.lazy_batch_logs)
                   for cb in callbacks if _overrides(cb, hook)]
            for hook in _HOOKS
        }

    @property
    def may_stop_on_batch(self):
        """Whether a callback may set ``stop_training`` in a training batch hook (then, under
        ``torchrun``, the ranks agree on it after every step)."""
        return any(callback.may_stop_training and (
            _overrides(callback, "on_train_batch_end") or _overrides(callback,
                                                                      "on_train_batch_begin"))
            for callback in self.callbacks)

    def set_fit_context(self, context):
        """Hands ``context`` (a ``FitContext``, or None when ``fit`` ends) to every callback."""
        for callback in self.callbacks:
            callback.set_fit_context(context)

    def overrides(self, hook):
        """True when at least one callback overrides ``hook``."""
        return bool(self._dispatch[hook])

    def _call(self, hook, *args, logs=None):
        targets = self._dispatch[hook]
        if not targets:
            return
        if hook in _BATCH_HOOKS:
            eager = None
            for fn, lazy in targets:
                if lazy:
                    fn(*args, logs=logs)
                else:
                    if eager is None:
                        eager = MappingProxyType(to_floats(logs))
                    fn(*args, logs=eager)
            return
        logs = MappingProxyType(dict(logs)) if logs is not None else MappingProxyType({})
        for fn, _ in targets:
            fn(*args, logs=logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs=logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs=logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs=logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs=logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs=logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs=logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs=logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs=logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs=logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs=logs)
