"""FitContext: what a ``fit`` hands to the callbacks that save and restore training.

The training loop makes one per ``fit`` call and gives it to every callback
(``callback.fit_context``) before ``on_train_begin``; it is taken back (``None``) when ``fit``
returns or raises.
"""

__all__ = ["FitContext"]


class FitContext:
    """The state of one running ``fit`` that stateful callbacks (``BackupAndRestore``) need.

    Attributes:
        callbacks: the ``CallbackList`` of this ``fit`` (``callbacks.callbacks`` is the list).
        train_iterator: the training ``EpochIterator``; its ``state_dict()`` /
            ``load_state_dict()`` save and restore the position in the data (shuffling included).
        initial_epoch: the first epoch ``fit`` was asked to run (0-based).
        epochs: the epoch count ``fit`` was asked to reach.
        resume: ``None``, or ``{"epoch": e, "step": s}`` set by a callback in ``on_train_begin``:
            training then starts at epoch ``e``, past its first ``s`` batches.

    Example:
        >>> class ResumeAtEpoch2(torchfit.callbacks.Callback):
        ...     def on_train_begin(self, logs=None):
        ...         self.fit_context.resume = {"epoch": 2, "step": 0}
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> history = model.fit(np.ones((4, 3), "float32"), np.ones((4, 1), "float32"),
        ...                     epochs=4, verbose=0, callbacks=[ResumeAtEpoch2()])
        >>> history.epoch
        [2, 3]
    """

    def __init__(self, callbacks, train_iterator, initial_epoch=0, epochs=1):
        self.callbacks = callbacks
        self.train_iterator = train_iterator
        self.initial_epoch = initial_epoch
        self.epochs = epochs
        self.resume = None

    def __repr__(self):
        return (f"FitContext(initial_epoch={self.initial_epoch}, epochs={self.epochs}, "
                f"resume={self.resume})")
