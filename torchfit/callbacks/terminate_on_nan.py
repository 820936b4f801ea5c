"""TerminateOnNaN: stop training as soon as the loss becomes NaN or infinite."""

import math

from torchfit.callbacks.callback import Callback
from torchfit.distributed.runtime import print_on_main

__all__ = ["TerminateOnNaN"]


class TerminateOnNaN(Callback):
    """Stops training at the first training batch whose loss is NaN or infinite.

    The bad batch is never applied. During a ``fit`` that has this callback, the model's step
    (``Model.backward_and_step``, see ``torchfit.trainer.step.StepPolicy.check_loss``) reads the
    batch's loss before backward and the optimizer step, and skips both when it is NaN or
    infinite: the weights and the optimizer state stay those of the last finite batch. This
    differs from Keras (tf.keras 2 and Keras 3), which apply the bad step and stop after it,
    with NaN weights. After the batch the callback prints
    ``Batch 3: Invalid loss, terminating training`` and sets ``model.stop_training``; the loop
    then stops, and ``on_epoch_end`` / ``on_train_end`` still run. A custom ``train_step`` that
    calls ``optimizer.step()`` itself is checked after its step, on ``logs["loss"]`` (the
    epoch's running mean, which turns NaN at the first bad batch), as in Keras.

    Cost: one synchronisation per step (reading the loss), what adding this callback asks for;
    the step's reading is reused, the other metrics are not read. Without this callback, nothing
    is checked and nothing is paid.

    Args:
        raise_error: raise ``RuntimeError`` instead of stopping gracefully (Keras 3's option;
            ``on_train_end`` is then not called).

    Example:
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> x, y = np.full((8, 3), 1e30, "float32"), np.ones((8, 1), "float32")  # loss: inf
        >>> history = model.fit(x, y, batch_size=4, epochs=5, verbose=0,
        ...                     callbacks=[TerminateOnNaN()])
        Batch 0: Invalid loss, terminating training
        >>> history.epoch
        [0]
        >>> bool(torch.isfinite(model.module[0].weight).all())  # the inf step was not applied
        True
    """

    # Read only the loss, not every metric, from the device-side batch logs.
    lazy_batch_logs = True

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = bool(raise_error)

    def set_fit_context(self, context):
        """Turns the step's loss check on for the running fit, and off when it ends."""
        super().set_fit_context(context)
        step = getattr(self.model, "_step", None)
        if step is not None:
            step.check_loss = context is not None
            step.last_check = None

    def on_batch_end(self, batch, logs=None):
        step = getattr(self.model, "_step", None)
        finite = getattr(step, "last_check", None)
        if finite is not None:  # the step read this batch's loss before applying it
            step.last_check = None
        else:
            loss = None if logs is None else logs.get("loss")
            if loss is None:
                return
            loss = float(loss)  # sync: one per batch, the price of checking every batch
            finite = not (math.isnan(loss) or math.isinf(loss))
        if not finite:
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. Training terminated."
                )
            print_on_main(f"Batch {batch}: Invalid loss, terminating training", flush=True)
            self.model.stop_training = True
