"""The peers of workloads L and M (``scripts/bench_models.py``): Lightning and Poutyne.

Each trains the workload's model (``bench_models``' own, from the same seed) the way that
framework documents it and returns ``(epoch_times, final_validation_loss)``; epochs are timed by
the framework's own epoch hooks (validation included, setup excluded).

- L, Lightning: a ``LightningModule`` holding the hidden state, reset in ``on_train_epoch_start``
  and ``on_validation_epoch_start``; ``Trainer(gradient_clip_val=0.25)`` (norm clipping, as
  ``clip_grad_norm_``); the chunks from ``DataLoader(batch_size=None)``.
- L, Poutyne: ``Model(Stateful(...), SGD, NLLLoss()).fit_generator(...)`` with its ``ClipNorm``
  callback and a callback that resets the state at each epoch and each validation.
- M, Lightning: ``training_step`` computes the weighted sum of the two losses over a
  ``DataLoader(TensorDataset, shuffle=True)``.
- M, Poutyne: ``Model(network, optimizer, loss_function)``, the loss function taking the output
  dict and the tuple of targets; ``fit`` on lists of arrays.

A framework that cannot be imported raises ``bench_peers.PeerMissing``; it is imported lazily.
"""

import logging
import warnings

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import bench_peers
from bench_models import (
    Stateful,
    chunk_loader,
    keras_rmsprop,
    repackage_hidden,
    rnn_model,
    tensors,
    ticket_loss,
    ticket_model,
    X_NAMES,
    Y_NAMES,
)


def _lightning_trainer(pl, epochs, timer, **kwargs):
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)  # "GPU available: False ..." banners
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False,
                      enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=[timer], **kwargs)


def _quiet(fit, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's "does not have many workers", etc.
        fit(*args)



# ---------------------------------------------------------------- workload L
def lm_lightning(cfg, data, epochs):
    pl = bench_peers._import("lightning.pytorch")

    class LanguageModel(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.rnn_model = rnn_model(cfg)
            self.criterion = nn.NLLLoss()
            self.hidden = None

        def on_train_epoch_start(self):
            self.hidden = None

        def on_validation_epoch_start(self):
            self.hidden = None

        def _step(self, batch, name):
            data, targets = batch
            if self.hidden is None:
                self.hidden = self.rnn_model.init_hidden(data.size(1))
            output, hidden = self.rnn_model(data, self.hidden)
            self.hidden = repackage_hidden(hidden)
            loss = self.criterion(output, targets)
            self.log(name, loss, on_step=False, on_epoch=True, batch_size=len(data))
            return loss

        def training_step(self, batch, batch_idx):
            return self._step(batch, "loss")

        def validation_step(self, batch, batch_idx):
            self._step(batch, "val_loss")

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=cfg.lr)

    timer = bench_peers.lightning_timer(pl)
    trainer = _lightning_trainer(pl, epochs, timer, gradient_clip_val=cfg.clip)
    _quiet(trainer.fit, LanguageModel(), chunk_loader(data[0], cfg.bptt),
           chunk_loader(data[1], cfg.bptt))
    return timer.times, float(trainer.callback_metrics["val_loss"])


def lm_poutyne(cfg, data, epochs):
    poutyne = bench_peers._import("poutyne")
    network = Stateful(rnn_model(cfg))

    class ResetStates(poutyne.Callback):
        def on_epoch_begin(self, epoch_number, logs):
            network.reset_states()

        def on_valid_begin(self, logs):
            network.reset_states()

    model = poutyne.Model(network, torch.optim.SGD(network.parameters(), lr=cfg.lr),
                          nn.NLLLoss())
    timer = bench_peers.poutyne_timer(poutyne)
    history = model.fit_generator(
        chunk_loader(data[0], cfg.bptt), chunk_loader(data[1], cfg.bptt), epochs=epochs,
        verbose=False,
        callbacks=[ResetStates(), poutyne.ClipNorm(network.parameters(), cfg.clip), timer])
    return timer.times, history[-1]["val_loss"]


# ---------------------------------------------------------------- workload M
def ticket_lightning(cfg, data, epochs):
    pl = bench_peers._import("lightning.pytorch")
    (x, y), (x_val, y_val) = tensors(data[0]), tensors(data[1])

    class Tickets(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = ticket_model(cfg)

        def _step(self, batch, name):
            title, body, tags, priority, department = batch
            loss = ticket_loss(cfg, self.net(title, body, tags), priority, department)
            self.log(name, loss, on_step=False, on_epoch=True, batch_size=len(title))
            return loss

        def training_step(self, batch, batch_idx):
            return self._step(batch, "loss")

        def validation_step(self, batch, batch_idx):
            self._step(batch, "val_loss")

        def configure_optimizers(self):
            return keras_rmsprop(self.parameters())

    train = DataLoader(TensorDataset(*x, *y), batch_size=cfg.batch_size, shuffle=True)
    val = DataLoader(TensorDataset(*x_val, *y_val), batch_size=cfg.batch_size)
    timer = bench_peers.lightning_timer(pl)
    trainer = _lightning_trainer(pl, epochs, timer)
    _quiet(trainer.fit, Tickets(), train, val)
    return timer.times, float(trainer.callback_metrics["val_loss"])


def ticket_poutyne(cfg, data, epochs):
    poutyne = bench_peers._import("poutyne")
    (x, y), (x_val, y_val) = data
    network = ticket_model(cfg)

    def loss_function(outputs, targets):
        return ticket_loss(cfg, outputs, *targets)

    model = poutyne.Model(network, keras_rmsprop(network.parameters()), loss_function)
    timer = bench_peers.poutyne_timer(poutyne)
    history = model.fit([x[k] for k in X_NAMES], [y[k] for k in Y_NAMES],
                        validation_data=([x_val[k] for k in X_NAMES], [y_val[k] for k in Y_NAMES]),
                        batch_size=cfg.batch_size, epochs=epochs, verbose=False,
                        callbacks=[timer])
    return timer.times, history[-1]["val_loss"]
