"""TerminateOnNaN: stop training as soon as the loss becomes NaN or infinite."""

import math

from torchfit.callbacks.callback import Callback

__all__ = ["TerminateOnNaN"]


class TerminateOnNaN(Callback):
    """Stops training at the first training batch whose loss is NaN or infinite.

    After each training batch it reads ``logs["loss"]`` (the running mean of the epoch, so it
    turns NaN at the first bad batch) and, if it is not finite, prints
    ``Batch 3: Invalid loss, terminating training`` and sets ``model.stop_training``; the loop then
    stops after that batch, and ``on_epoch_end`` / ``on_train_end`` still run. The optimizer step
    of the bad batch has already been applied, as in Keras.

    Cost: checking every batch means reading the loss from the device every batch, one
    synchronisation per step. That is what adding this callback asks for; only the loss is read,
    not the other metrics.

    Args:
        raise_error: raise ``RuntimeError`` instead of stopping gracefully (Keras 3's option;
            ``on_train_end`` is then not called).

    Example:
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> x, y = np.full((8, 3), np.nan, "float32"), np.ones((8, 1), "float32")
        >>> history = model.fit(x, y, batch_size=4, epochs=5, verbose=0,
        ...                     callbacks=[TerminateOnNaN()])
        Batch 0: Invalid loss, terminating training
        >>> history.epoch
        [0]
    """

    # Read only the loss, not every metric, from the device-side batch logs.
    lazy_batch_logs = True

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = bool(raise_error)

    def on_batch_end(self, batch, logs=None):
        loss = None if logs is None else logs.get("loss")
        if loss is None:
            return
        loss = float(loss)  # sync: one per batch, the price of checking every batch
        if math.isnan(loss) or math.isinf(loss):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. Training terminated."
                )
            print(f"Batch {batch}: Invalid loss, terminating training", flush=True)
            self.model.stop_training = True
