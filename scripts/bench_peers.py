"""Peer trainers for ``scripts/bench.py``, workload A: Keras 3 (torch backend), Lightning, Poutyne.

Each function trains the guide's MLP (784-64-64-10 logits, cross-entropy from logits, RMSprop(1e-3)
with Keras' rho=0.9 and epsilon=1e-7, accuracy, batch 64, validation on ``x_val`` every epoch) the
way that framework's documentation does it, and returns ``(epoch_times, final_val_accuracy)``.
Epochs are timed by each framework's own epoch hooks, so that the times include validation and
exclude setup. A framework that cannot be imported raises ``PeerMissing`` (the caller prints one
"skipped" line). Frameworks are imported lazily, so a process measuring one peer's memory loads
only that peer.
"""

import importlib.util
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

BATCH_SIZE = 64


class PeerMissing(Exception):
    """The peer framework is not installed (or cannot be used in this process)."""


def available(module):
    """Whether ``module`` could be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _import(module):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise PeerMissing(f"not installed ({error})") from error


def _rmsprop(params):
    return torch.optim.RMSprop(params, lr=1e-3, alpha=0.9, eps=1e-7)


def lightning_timer(pl):
    """A Lightning callback keeping each epoch's wall time (validation included) in ``times``."""
    class EpochTimer(pl.Callback):
        def __init__(self):
            self.times = []

        def on_train_epoch_start(self, trainer, module):
            self._start = self._end = time.perf_counter()

        def on_validation_epoch_end(self, trainer, module):
            self._end = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            # Lightning 2.x validates before on_train_epoch_end; take the later of the two anyway.
            self.times.append(max(self._end, time.perf_counter()) - self._start)

    return EpochTimer()


def poutyne_timer(poutyne):
    """A Poutyne callback keeping each epoch's wall time (validation included) in ``times``."""
    class EpochTimer(poutyne.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch_number, logs):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch_number, logs):  # after validation
            self.times.append(time.perf_counter() - self._start)

    return EpochTimer()


# ---------------------------------------------------------------- Keras 3, torch backend
def keras_epochs(data, epochs):
    """``keras.Sequential`` of Dense layers, ``fit(numpy, validation_data=...)``, silent."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "torch"  # read once, when keras is first imported
    keras = _import("keras")
    if keras.backend.backend() != "torch":
        raise PeerMissing(f"keras was already imported with backend {keras.backend.backend()!r}")
    x, y, x_val, y_val = data

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # after validation
            self.times.append(time.perf_counter() - self._start)

    model = keras.Sequential([
        keras.Input(shape=(784,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    timer = EpochTimer()
    history = model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, validation_data=(x_val, y_val),
                        verbose=0, callbacks=[timer])
    return timer.times, history.history["val_accuracy"][-1]


# ---------------------------------------------------------------- PyTorch Lightning
def lightning_epochs(data, epochs, make_model):
    """A ``LightningModule`` around the torch MLP, ``Trainer.fit`` on DataLoaders, silent."""
    pl = _import("lightning.pytorch")
    import logging
    import warnings

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)  # "GPU available: False ..." banners
    x, y, x_val, y_val = (torch.from_numpy(a) for a in data)

    class Classifier(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = make_model()

        def forward(self, inputs):
            return self.net(inputs)

        def _step(self, batch, prefix):
            inputs, targets = batch
            logits = self.net(inputs)
            loss = F.cross_entropy(logits, targets)
            accuracy = (logits.argmax(1) == targets).float().mean()
            # Epoch-level means, accumulated on the device by Lightning; no per-step sync.
            self.log(prefix + "loss", loss, on_step=False, on_epoch=True, batch_size=len(targets))
            self.log(prefix + "acc", accuracy, on_step=False, on_epoch=True,
                     batch_size=len(targets))
            return loss

        def training_step(self, batch, batch_idx):
            return self._step(batch, "")

        def validation_step(self, batch, batch_idx):
            self._step(batch, "val_")

        def configure_optimizers(self):
            return _rmsprop(self.parameters())

    train = DataLoader(TensorDataset(x, y), batch_size=BATCH_SIZE, shuffle=True)
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=BATCH_SIZE)
    timer = lightning_timer(pl)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[timer])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "does not have many workers", etc.
        trainer.fit(Classifier(), train, val)
    return timer.times, float(trainer.callback_metrics["val_acc"])


# ---------------------------------------------------------------- Poutyne
def poutyne_epochs(data, epochs, make_model):
    """``poutyne.Model(net, torch optimizer, "cross_entropy")``, ``fit(numpy, ...)``, silent."""
    poutyne = _import("poutyne")
    x, y, x_val, y_val = data

    network = make_model()
    model = poutyne.Model(network, _rmsprop(network.parameters()), "cross_entropy",
                          batch_metrics=["accuracy"])
    timer = poutyne_timer(poutyne)
    history = model.fit(x, y, validation_data=(x_val, y_val), batch_size=BATCH_SIZE,
                        epochs=epochs, verbose=False, callbacks=[timer])
    return timer.times, history[-1]["val_acc"] / 100  # Poutyne's accuracy is in percent


# key -> (label, module to look for, function(data, epochs, make_model))
PEERS = {
    "keras": ("Keras 3 (torch backend)", "keras", lambda data, epochs, make_model:
              keras_epochs(data, epochs)),
    "lightning": ("PyTorch Lightning", "lightning", lightning_epochs),
    "poutyne": ("Poutyne", "poutyne", poutyne_epochs),
}
