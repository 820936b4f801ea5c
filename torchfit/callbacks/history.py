"""History: the record ``fit`` returns."""

from torchfit.callbacks.callback import Callback

__all__ = ["History"]


class History(Callback):
    """Records the epoch logs of ``fit``; ``fit`` returns it and sets ``model.history`` to it.

    Attributes:
        history: ``{"loss": [...], "val_loss": [...], ...}``, one float per epoch.
        epoch: the epoch indices that ran.
        params: ``{"verbose", "epochs", "steps"}`` of the run.

    Example:
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
        >>> history = model.fit(x, y, epochs=3, validation_data=(x, y), verbose=0)
        >>> history.epoch
        [0, 1, 2]
        >>> sorted(history.history), len(history.history["loss"])
        (['loss', 'val_loss'], 3)
        >>> model.history is history
        True
    """

    may_stop_training = False  # never sets stop_training in a batch hook

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self
