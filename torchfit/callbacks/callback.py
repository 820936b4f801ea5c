"""The callback protocol. This base class *is* its documentation: every hook is a no-op here.

Override only the hooks you need: the training loop calls a hook only on callbacks that override
it, so an unused hook costs nothing. ``logs`` are read-only mappings. Epoch-level logs are Python
floats. Batch-level logs are Python floats computed once per batch, which costs a device
synchronisation per step, so override a batch hook only when you need per-batch values, or set
``lazy_batch_logs = True`` to receive the device-side values and read them only when needed.

Firing order of one ``fit`` with validation (see ``torchfit/trainer/loops.py``)::

    on_train_begin
      on_epoch_begin(epoch)
        on_train_batch_begin(step)  ->  on_train_batch_end(step, logs)     # per batch
        on_test_begin                                                      # validation
          on_test_batch_begin(step) ->  on_test_batch_end(step, logs)
        on_test_end(logs)
      on_epoch_end(epoch, logs)       # training and ``val_`` values
    on_train_end(logs)

Example:
    >>> class PrintKeys(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(f"epoch {epoch}: {sorted(logs)}")
    >>> model = torchfit.Sequential(nn.Linear(3, 1))
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    >>> _ = model.fit(x, y, epochs=2, verbose=0, callbacks=[PrintKeys()])
    epoch 0: ['loss']
    epoch 1: ['loss']
"""

__all__ = ["Callback"]


class Callback:
    """Base class of all callbacks.

    The last three attributes are declared on this class with their defaults; a callback
    overrides them to change how ``CallbackList`` dispatches to it.

    Attributes:
        model: the ``torchfit.Model`` being trained, set by ``set_model``.
        params: ``{"epochs", "steps", "verbose"}`` for the current run, set by ``set_params``.
        fit_context: the ``FitContext`` of the running ``fit`` (the callback list, the training
            iterator, the resume point), set by ``set_fit_context``; ``None`` outside ``fit``
            and during a standalone ``evaluate``/``predict``.
        lazy_batch_logs: ``False`` by default. ``True`` to receive batch logs as the device-side
            mapping (values are tensors, computed when read; each read may sync) instead of
            Python floats; set it when the callback reads batch logs rarely or never, so that
            overriding a batch hook costs no synchronisation per step (the progress bar,
            ``ModelCheckpoint(save_freq=N)``).
        dispatch_last: ``False`` by default. ``True`` to be called after every other callback at
            each hook, whatever the list order: for callbacks that save the others' state
            (``BackupAndRestore``).
        unused_hooks: ``frozenset()`` by default. Names of hooks this instance overrides but does
            not need in its configuration (``ModelCheckpoint`` saving per epoch has nothing to do
            per batch); they are not called at all. Usually set per instance in ``__init__``; read
            once, when the ``CallbackList`` is built.
        may_stop_training: ``True`` by default. ``False`` for a callback that never sets
            ``model.stop_training`` from a batch hook: under ``torchrun`` the ranks then need
            not agree after every step (one small collective per step) on whether to stop.

    Example:
        >>> class EveryTenthBatch(Callback):
        ...     lazy_batch_logs = True  # batch logs arrive as device tensors, read on demand
        ...     def on_train_batch_end(self, batch, logs=None):
        ...         if batch % 10 == 0:
        ...             print(f"batch {batch}: {type(logs['loss']).__name__}")
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
        >>> _ = model.fit(x, y, batch_size=4, verbose=0, callbacks=[EveryTenthBatch()])
        batch 0: Tensor
    """

    lazy_batch_logs = False
    dispatch_last = False
    unused_hooks = frozenset()
    may_stop_training = True
    fit_context = None  # also for subclasses that skip Callback.__init__

    def __init__(self):
        self.model = None
        self.params = {}
        self.fit_context = None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def set_fit_context(self, context):
        """Receives the running ``fit``'s ``FitContext`` before ``on_train_begin``, then None."""
        self.fit_context = context

    # Training.
    def on_train_begin(self, logs=None):
        """Called once at the start of ``fit``."""

    def on_train_end(self, logs=None):
        """Called once at the end of ``fit`` with the last epoch's logs."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of every epoch (``epoch`` counts from 0)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of every epoch with training and validation (``val_``) results."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before each training step; by default forwards to ``on_batch_begin``."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """Called after each training step with the running results; calls ``on_batch_end``."""
        self.on_batch_end(batch, logs=logs)

    def on_batch_begin(self, batch, logs=None):
        """Alias of ``on_train_batch_begin`` kept from Keras."""

    def on_batch_end(self, batch, logs=None):
        """Alias of ``on_train_batch_end`` kept from Keras."""

    # Evaluation (``evaluate`` and the validation inside ``fit``).
    def on_test_begin(self, logs=None):
        """Called at the start of ``evaluate`` and of each validation run."""

    def on_test_end(self, logs=None):
        """Called at the end of ``evaluate`` and of each validation run, with its results."""

    def on_test_batch_begin(self, batch, logs=None):
        """Called before each evaluation step."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after each evaluation step with the running results."""

    # Prediction.
    def on_predict_begin(self, logs=None):
        """Called at the start of ``predict``."""

    def on_predict_end(self, logs=None):
        """Called at the end of ``predict``."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before each prediction step."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after each prediction step; ``logs["outputs"]`` holds the batch's outputs."""
