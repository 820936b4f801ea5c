"""pytorch/examples word_language_model ported to torchfit: a stateful LSTM.

* Stateful RNN: ``Stateful`` wraps the original ``RNNModel`` and keeps its hidden state between
  calls, detached (the original's ``repackage_hidden``); ``reset_states()`` starts it again from
  zeros. A ``LambdaCallback`` calls it at each epoch's start and before each validation, where
  the original calls ``init_hidden`` at the start of ``train()`` and ``evaluate()``.
* Ready-made batches: the chunks of ``batchify``/``get_batch`` are already batches (inputs
  ``(seq_len, batch)``, targets flattened to ``(seq_len * batch,)``), so they come from a
  ``DataLoader(batch_size=None)`` over a Dataset of chunks, in order (``shuffle=False``: the
  hidden state flows from one chunk to the next).
* Clipping: ``torch.nn.utils.clip_grad_norm_(params, 0.25)`` becomes
  ``compile(..., global_clipnorm=0.25)``, which works with any optimizer, here the original's
  plain SGD at lr 20.

    python examples/from_pytorch/word_language_model_torchfit.py
"""

import torch
from torch import nn

import torchfit
from word_language_model_torch import batchify, build, get_batch, repackage_hidden


class Stateful(nn.Module):
    """Carries ``rnn_model``'s hidden state from one call to the next (truncated BPTT).

    Each call starts from the state the previous call ended with, detached from its graph, so
    backpropagation stops at the chunk's start. The state is sized on the first call after
    ``reset_states()`` (by ``rnn_model.init_hidden(batch)``), so training and validation may use
    different batch sizes as long as the state is reset in between (call it before ``predict``
    too, unless the text to predict continues the last one).
    """

    def __init__(self, rnn_model):
        super().__init__()
        self.rnn_model = rnn_model
        self.hidden = None

    def reset_states(self):
        self.hidden = None

    def forward(self, input):
        if self.hidden is None:
            self.hidden = self.rnn_model.init_hidden(input.size(1))  # (seq_len, batch)
        output, hidden = self.rnn_model(input, self.hidden)
        self.hidden = repackage_hidden(hidden)
        return output


class Chunks(torch.utils.data.Dataset):
    """The original's ``get_batch(source, i)`` chunks, one item per chunk."""

    def __init__(self, source, bptt):
        self.source, self.bptt = source, bptt
        self.starts = range(0, source.size(0) - 1, bptt)

    def __len__(self):
        return len(self.starts)

    def __getitem__(self, index):
        return get_batch(self.source, self.starts[index], self.bptt)


def main(epochs=3, batch_size=10, eval_batch_size=5, bptt=8, lr=20.0, clip=0.25, verbose=0):
    """Returns (final state_dict, per-epoch train loss, per-epoch validation loss)."""
    rnn_model, train_ids, val_ids = build()
    train_chunks = Chunks(batchify(train_ids, batch_size), bptt)
    val_chunks = Chunks(batchify(val_ids, eval_batch_size), bptt)
    stateful = Stateful(rnn_model)
    model = torchfit.Model(stateful, device="cpu")
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=lr), loss=nn.NLLLoss(),
                  global_clipnorm=clip)
    reset = torchfit.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: stateful.reset_states(),
        on_test_begin=lambda logs: stateful.reset_states())
    # Each DataLoader gets its own generator, so that starting an epoch does not draw from torch's
    # global one (the dropout masks then match the hand-written loop's).
    loaders = [torch.utils.data.DataLoader(chunks, batch_size=None, generator=torch.Generator())
               for chunks in (train_chunks, val_chunks)]
    history = model.fit(
        loaders[0], validation_data=loaders[1],
        epochs=epochs, shuffle=False, callbacks=[reset], verbose=verbose)
    return rnn_model.state_dict(), history.history["loss"], history.history["val_loss"]


if __name__ == "__main__":
    state, losses, val_losses = main(verbose="auto")
    print("losses:", losses, "validation losses:", val_losses)
