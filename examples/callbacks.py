"""The guide's callback sections: "Using callbacks", "Writing your own callback", "Checkpointing
models", "Using learning rate schedules" and "Visualizing loss and metrics during training".

    python examples/callbacks.py [--workdir DIR]
"""

import argparse
import os
import tempfile

import torchfit
from getting_started import get_compiled_model, get_uncompiled_model, load_mnist


class LossHistory(torchfit.callbacks.Callback):
    """The guide's custom callback: keeps the loss after every batch.

    Overriding a batch hook asks for per-batch values, so each batch's logs arrive as Python
    floats (the running mean of the epoch so far, as in Keras 2.2+ and Keras 3).
    """

    def on_train_begin(self, logs=None):
        self.losses = []

    def on_batch_end(self, batch, logs=None):
        self.losses.append(logs.get("loss"))


def main(workdir, epochs=20, verbose="auto"):
    torchfit.utils.set_random_seed(0)
    (x_train, y_train), _ = load_mnist()
    results = {}

    # Using callbacks: stop when `val_loss` is no longer improving by at least 1e-2 for 2 epochs.
    model = get_compiled_model()
    callbacks = [
        torchfit.callbacks.EarlyStopping(
            # Stop training when `val_loss` is no longer improving
            monitor="val_loss",
            # "no longer improving" being defined as "no better than 1e-2 less"
            min_delta=1e-2,
            # "no longer improving" being further defined as "for at least 2 epochs"
            patience=2,
            verbose=1),
    ]
    results["early_stopping"] = model.fit(x_train, y_train, epochs=epochs, batch_size=64,
                                          callbacks=callbacks, validation_split=0.2,
                                          verbose=verbose)

    # Writing your own callback.
    loss_history = LossHistory()
    get_compiled_model().fit(x_train, y_train, epochs=1, batch_size=64,
                             callbacks=[loss_history], verbose=0)
    results["loss_history"] = loss_history

    # Checkpointing models: overwrite only when `val_loss` improves.
    model = get_compiled_model()
    checkpoint = torchfit.callbacks.ModelCheckpoint(
        filepath=os.path.join(workdir, "mymodel_{epoch}.h5"),
        save_best_only=True, monitor="val_loss", verbose=1)
    model.fit(x_train, y_train, epochs=3, batch_size=64, callbacks=[checkpoint],
              validation_split=0.2, verbose=verbose)
    results["checkpoints"] = sorted(f for f in os.listdir(workdir) if f.startswith("mymodel_"))

    # Passing a schedule to an optimizer (applied at every step).
    lr_schedule = torchfit.optimizers.schedules.ExponentialDecay(
        0.1, decay_steps=100000, decay_rate=0.96, staircase=True)
    model = get_uncompiled_model()
    model.compile(optimizer=torchfit.optimizers.RMSprop(learning_rate=lr_schedule),
                  loss="sparse_categorical_crossentropy")

    # A dynamic schedule: ReduceLROnPlateau, and TensorBoard logs (no TensorFlow needed).
    model = get_compiled_model()
    log_dir = os.path.join(workdir, "logs")
    model.fit(x_train, y_train, epochs=3, batch_size=64, validation_split=0.2, verbose=verbose,
              callbacks=[torchfit.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=1),
                         torchfit.callbacks.TensorBoard(log_dir=log_dir, histogram_freq=1,
                                                        update_freq="epoch")])
    results["tensorboard_runs"] = sorted(os.listdir(log_dir))
    print("TensorBoard logs in", log_dir, "- view with: tensorboard --logdir", log_dir)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    main(args.workdir or tempfile.mkdtemp(prefix="torchfit-callbacks-"))
