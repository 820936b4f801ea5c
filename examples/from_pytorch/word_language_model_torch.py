"""pytorch/examples word_language_model (main.py + model.py), shortened: a 2-layer LSTM language
model trained with truncated backpropagation through time, the hidden state carried from one
chunk to the next (``repackage_hidden``), gradients clipped to norm 0.25, SGD at lr 20.

The corpus is a tiny generated one (a few "sentences" over a 30-word vocabulary), not Wikitext-2.

    python examples/from_pytorch/word_language_model_torch.py
"""

import torch
import torch.nn.functional as F
from torch import nn


def corpus(n_words=5000, vocab=30, seed=0):
    """Token ids of a toy language: runs of consecutive words, each starting at a random word."""
    generator = torch.Generator().manual_seed(seed)
    ids, word = [], 0
    while len(ids) < n_words:
        if torch.rand(1, generator=generator).item() < 0.2:
            word = int(torch.randint(vocab, (1,), generator=generator))
        ids.append(word)
        word = (word + 1) % vocab
    return torch.tensor(ids[:n_words], dtype=torch.long)


def batchify(data, bsz):
    """(tokens,) -> (tokens // bsz, bsz): bsz independent streams, one per column."""
    nbatch = data.size(0) // bsz
    return data.narrow(0, 0, nbatch * bsz).view(bsz, -1).t().contiguous()


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].reshape(-1)


class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder (LSTM only here)."""

    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.5):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        self.nhid = nhid
        self.nlayers = nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                weight.new_zeros(self.nlayers, bsz, self.nhid))


def repackage_hidden(h):
    """Wraps hidden states in new Tensors, to detach them from their history."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def build(seed=1111, ntokens=30, emsize=16, nhid=16, nlayers=2, dropout=0.2):
    torch.manual_seed(seed)
    ids = corpus(vocab=ntokens)
    return RNNModel(ntokens, emsize, nhid, nlayers, dropout), ids[:4000], ids[4000:]


def train(model, train_data, criterion, batch_size, bptt, lr, clip):
    """One epoch of truncated BPTT; returns the mean loss, chunks weighted by their length."""
    model.train()
    total_loss, seen = 0.0, 0
    hidden = model.init_hidden(batch_size)
    for i in range(0, train_data.size(0) - 1, bptt):
        data, targets = get_batch(train_data, i, bptt)
        # Starting each batch, we detach the hidden state from how it was previously produced.
        # If we didn't, the model would try backpropagating all the way to start of the dataset.
        hidden = repackage_hidden(hidden)
        model.zero_grad()
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        # `clip_grad_norm` helps prevent the exploding gradient problem in RNNs / LSTMs.
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        total_loss += len(data) * loss.item()
        seen += len(data)
    return total_loss / seen


def evaluate(model, data_source, criterion, eval_batch_size, bptt):
    model.eval()  # turn on evaluation mode, which disables dropout
    total_loss, seen = 0.0, 0
    hidden = model.init_hidden(eval_batch_size)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, bptt):
            data, targets = get_batch(data_source, i, bptt)
            output, hidden = model(data, hidden)
            total_loss += len(data) * criterion(output, targets).item()
            seen += len(data)
            hidden = repackage_hidden(hidden)
    return total_loss / seen


def main(epochs=3, batch_size=10, eval_batch_size=5, bptt=8, lr=20.0, clip=0.25):
    """Returns (final state_dict, per-epoch train loss, per-epoch validation loss); each loss is
    the mean over chunks of the chunk's NLL weighted by its length (the original's evaluate)."""
    model, train_ids, val_ids = build()
    train_data, val_data = batchify(train_ids, batch_size), batchify(val_ids, eval_batch_size)
    criterion = nn.NLLLoss()
    losses, val_losses = [], []
    for epoch in range(1, epochs + 1):
        losses.append(train(model, train_data, criterion, batch_size, bptt, lr, clip))
        val_losses.append(evaluate(model, val_data, criterion, eval_batch_size, bptt))
        print(f"| end of epoch {epoch:3d} | loss {losses[-1]:5.2f} "
              f"| valid loss {val_losses[-1]:5.2f}")
    return model.state_dict(), losses, val_losses


if __name__ == "__main__":
    main()
