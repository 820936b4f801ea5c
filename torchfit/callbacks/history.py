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
        >>> history = model.fit(x, y, epochs=3)                    # doctest: +SKIP
        >>> history.history["loss"]                                # doctest: +SKIP
        [0.33, 0.16, 0.11]
    """

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
