"""Workloads L and M of ``scripts/bench.py``: models, data, hand-written loops, torchfit, peers.

Workload L (``--workloads L``), pytorch/examples ``word_language_model`` at its default sizes
(``main.py``/``model.py``: emsize = nhid = 200, 2 LSTM layers, dropout 0.2, bptt 35, batch 20,
eval batch 10, SGD at lr 20, ``clip_grad_norm_`` 0.25; ``RNNModel`` and its helpers come from
``examples/from_pytorch/word_language_model_torch.py``) on a synthetic corpus: independent
Zipf-distributed word ids over a 10,000-word vocabulary (``zipf_tokens``), 64 chunks of 35 x 20
tokens to train on and 16 chunks of 35 x 10 to validate on each epoch. Truncated BPTT: the
stream is ``batchify``-ed into columns and cut into bptt-long chunks, in order; the hidden state
carries from one chunk to the next, detached, and starts from zeros at each epoch and each
validation. The loss is the example's: ``log_softmax`` + ``NLLLoss`` over every token (its
learning rate's division by 4 when the validation loss stops improving is left out).

- hand-written loop (the floor): the example's ``train()``/``evaluate()``, with
  ``torch.optim.SGD(lr=20)`` for its hand-written ``p.data.add_(p.grad, alpha=-lr)`` (the same
  update) and the losses summed on the device (one sync per epoch, where the example calls
  ``loss.item()`` every step).
- torchfit, the way ``docs/migrating-from-pytorch.md`` ("Stateful RNNs") writes it: the hidden
  state lives in a ``Stateful`` wrapper module, reset by a ``LambdaCallback`` at each epoch's
  start and before validation; the chunks come from ``DataLoader(Chunks(...), batch_size=None)``
  (ready batches) and ``fit(..., shuffle=False)``; ``compile(optimizer=torch.optim.SGD(...,
  lr=20), loss=nn.NLLLoss(), global_clipnorm=0.25)`` (``global_clipnorm`` is
  ``clip_grad_norm_`` over all parameters, the example's clipping).
- Lightning and Poutyne: see ``scripts/bench_models_peers.py``.

Workload M (``--workloads M``), the multi-input, multi-output model of the Keras guide
(functional API guide, "Models with multiple inputs and outputs": ranking support tickets) in
torch modules: inputs ``title`` (10 word ids) and ``body`` (100 word ids) over 10,000 words, each
through its own ``Embedding(10000, 64)`` then ``LSTM`` (128 and 32 units, the last hidden state),
and ``tags`` (12 binary features); the three concatenated feed two heads, ``priority`` (1 logit,
binary cross-entropy from logits) and ``department`` (4 logits, categorical cross-entropy from
logits against multi-hot targets), total loss ``priority + 0.2 * department``, RMSprop(1e-3) with
Keras' rho=0.9 and epsilon=1e-7. The guide's random data: 3,200 training samples, 640 for
validation each epoch, batch 32, reshuffled each epoch.

- hand-written loop (the floor): ``randperm`` + indexing per batch, ``model(title, body, tags)``,
  the weighted sum of ``binary_cross_entropy_with_logits`` and ``cross_entropy`` with
  probability targets, losses summed on the device.
- torchfit: ``fit`` on dicts of arrays keyed by ``forward``'s parameter names and the output
  names, ``compile(loss={...}, loss_weights={"priority": 1.0, "department": 0.2})``.
- Lightning and Poutyne: see ``scripts/bench_models_peers.py``.

Every contender returns ``(epoch_times, final_validation_loss)``; ``bench.py`` times them
round-robin like workloads A-C. The ``train_*`` functions return a ``Trained`` (module, times and
per-epoch losses), so that ``tests/scripts/test_bench_models.py`` can check that torchfit and the
hand-written loop, from the same seed, end with the same weights (what makes the comparison fair).
The peers are imported lazily; ``Stateful`` and ``Chunks`` are the torchfit example's own
(``examples/from_pytorch/word_language_model_torchfit.py``).
"""

import os
import sys
import time
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

import bench_peers

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples",
                        "from_pytorch")
if EXAMPLES not in sys.path:
    sys.path.append(EXAMPLES)
from word_language_model_torch import RNNModel, batchify, get_batch, repackage_hidden  # noqa: E402
from word_language_model_torchfit import Chunks, Stateful  # noqa: E402  (the example's own)


class Trained(NamedTuple):
    module: nn.Module
    times: list  # wall seconds per epoch, validation included
    losses: list  # training loss per epoch
    val_losses: list  # validation loss per epoch


def epoch_timer():
    """A torchfit callback: ``times``, the wall seconds of each epoch (validation included), and
    ``cpu_times``, this process's CPU seconds of the same epochs."""
    import torchfit

    class EpochTimer(torchfit.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times, self.cpu_times = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):  # after validation
            self.times.append(time.perf_counter() - self._start[0])
            self.cpu_times.append(time.process_time() - self._start[1])

    return EpochTimer()


# ================================================================ workload L
class LMConfig(NamedTuple):
    ntokens: int = 10000
    emsize: int = 200
    nhid: int = 200
    nlayers: int = 2
    dropout: float = 0.2
    bptt: int = 35
    batch_size: int = 20
    eval_batch_size: int = 10
    lr: float = 20.0
    clip: float = 0.25
    train_chunks: int = 64
    val_chunks: int = 16


LM_FULL = LMConfig()
LM_QUICK = LMConfig(train_chunks=8, val_chunks=4)


def zipf_tokens(count, vocab, generator):
    """``count`` independent word ids, id ``k`` drawn with probability proportional to
    ``1 / (k + 1)`` (Zipf's law, as word frequencies in text)."""
    weights = 1.0 / torch.arange(1, vocab + 1, dtype=torch.float64)
    return torch.multinomial(weights, count, replacement=True, generator=generator)


def lm_data(cfg, seed=0):
    """``(train, val)``: the token streams ``batchify``-ed into ``batch_size`` and
    ``eval_batch_size`` columns, each ``chunks * bptt + 1`` rows long (only full chunks)."""
    generator = torch.Generator().manual_seed(seed)
    streams = []
    for chunks, columns in ((cfg.train_chunks, cfg.batch_size),
                            (cfg.val_chunks, cfg.eval_batch_size)):
        ids = zipf_tokens((chunks * cfg.bptt + 1) * columns, cfg.ntokens, generator)
        streams.append(batchify(ids, columns))
    return tuple(streams)


def rnn_model(cfg):
    return RNNModel(cfg.ntokens, cfg.emsize, cfg.nhid, cfg.nlayers, cfg.dropout)


def chunk_loader(source, bptt):
    # Ready batches (batch_size=None), in order. A generator of its own: starting an epoch then
    # draws nothing from torch's global one, so the dropout masks are the hand-written loop's.
    return DataLoader(Chunks(source, bptt), batch_size=None, generator=torch.Generator())


def _lm_evaluate(model, source, criterion, cfg):
    model.eval()
    total, seen = torch.zeros(()), 0
    hidden = model.init_hidden(cfg.eval_batch_size)
    with torch.no_grad():
        for i in range(0, source.size(0) - 1, cfg.bptt):
            data, targets = get_batch(source, i, cfg.bptt)
            output, hidden = model(data, hidden)
            total += criterion(output, targets) * len(data)
            seen += len(data)
            hidden = repackage_hidden(hidden)
    return total / seen


def train_lm_hand(cfg, data, epochs):
    """The example's ``train()`` and ``evaluate()`` each epoch."""
    train, val = data
    model = rnn_model(cfg)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    criterion = nn.NLLLoss()
    times, losses, val_losses = [], [], []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        total, seen = torch.zeros(()), 0
        hidden = model.init_hidden(cfg.batch_size)
        for i in range(0, train.size(0) - 1, cfg.bptt):
            data, targets = get_batch(train, i, cfg.bptt)
            hidden = repackage_hidden(hidden)
            opt.zero_grad()
            output, hidden = model(data, hidden)
            loss = criterion(output, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            total += loss.detach() * len(data)
            seen += len(data)
        val_loss = _lm_evaluate(model, val, criterion, cfg)
        loss, val_loss = torch.stack([total / seen, val_loss]).tolist()  # sync: once per epoch
        times.append(time.perf_counter() - start)
        losses.append(loss)
        val_losses.append(val_loss)
    return Trained(model, times, losses, val_losses)


def train_lm_torchfit(cfg, data, epochs, verbose=0):
    import torchfit

    stateful = Stateful(rnn_model(cfg))
    model = torchfit.Model(stateful, device="cpu")
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=cfg.lr), loss=nn.NLLLoss(),
                  global_clipnorm=cfg.clip)
    reset = torchfit.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: stateful.reset_states(),
        on_test_begin=lambda logs: stateful.reset_states())
    timer = epoch_timer()
    history = model.fit(chunk_loader(data[0], cfg.bptt),
                        validation_data=chunk_loader(data[1], cfg.bptt), epochs=epochs,
                        shuffle=False, callbacks=[reset, timer], verbose=verbose)
    return Trained(stateful.rnn_model, timer.times, history.history["loss"],
                   history.history["val_loss"])


# ================================================================ workload M
class TicketConfig(NamedTuple):
    num_words: int = 10000
    num_tags: int = 12
    num_departments: int = 4
    title_len: int = 10
    body_len: int = 100
    samples: int = 3200
    val_samples: int = 640
    batch_size: int = 32
    loss_weights: tuple = (1.0, 0.2)  # priority, department


TICKET_FULL = TicketConfig()
TICKET_QUICK = TicketConfig(samples=640, val_samples=160)


class TicketModel(nn.Module):
    """The guide's ticket model: two text encoders and the tags, two heads (logits)."""

    def __init__(self, num_words=10000, num_tags=12, num_departments=4):
        super().__init__()
        self.title_embedding = nn.Embedding(num_words, 64)
        self.body_embedding = nn.Embedding(num_words, 64)
        self.title_lstm = nn.LSTM(64, 128, batch_first=True)
        self.body_lstm = nn.LSTM(64, 32, batch_first=True)
        self.priority = nn.Linear(128 + 32 + num_tags, 1)
        self.department = nn.Linear(128 + 32 + num_tags, num_departments)

    def forward(self, title, body, tags):
        _, (title_state, _) = self.title_lstm(self.title_embedding(title))
        _, (body_state, _) = self.body_lstm(self.body_embedding(body))
        features = torch.cat([title_state[-1], body_state[-1], tags], dim=1)
        return {"priority": self.priority(features), "department": self.department(features)}


def ticket_model(cfg):
    return TicketModel(cfg.num_words, cfg.num_tags, cfg.num_departments)


def ticket_data(cfg, seed=0):
    """``((x, y), (x_val, y_val))``, dicts of NumPy arrays as the guide draws them."""
    rng = np.random.default_rng(seed)

    def draw(n):
        x = {"title": rng.integers(cfg.num_words, size=(n, cfg.title_len)),
             "body": rng.integers(cfg.num_words, size=(n, cfg.body_len)),
             "tags": rng.integers(2, size=(n, cfg.num_tags)).astype("float32")}
        y = {"priority": rng.random((n, 1), dtype=np.float32),
             "department": rng.integers(2, size=(n, cfg.num_departments)).astype("float32")}
        return x, y

    return draw(cfg.samples), draw(cfg.val_samples)


X_NAMES, Y_NAMES = ("title", "body", "tags"), ("priority", "department")


def tensors(part):
    x, y = part
    return tuple(torch.from_numpy(x[k]) for k in X_NAMES), tuple(torch.from_numpy(y[k])
                                                               for k in Y_NAMES)


def ticket_loss(cfg, outputs, priority, department):
    """The guide's total loss: weighted binary and categorical cross-entropies from logits."""
    w_priority, w_department = cfg.loss_weights
    return (w_priority * F.binary_cross_entropy_with_logits(outputs["priority"], priority)
            + w_department * F.cross_entropy(outputs["department"], department))


def keras_rmsprop(params):
    """RMSprop(1e-3) with Keras' rho and epsilon, in torch's math (workload A's floor)."""
    return torch.optim.RMSprop(params, lr=1e-3, alpha=0.9, eps=1e-7)


def _ticket_batches(x, y, batch_size, shuffle):
    n = len(x[0])
    order = torch.randperm(n) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        yield tuple(t[idx] for t in x), tuple(t[idx] for t in y)


def train_ticket_hand(cfg, data, epochs, make_optimizer=keras_rmsprop, shuffle=True):
    (x, y), (x_val, y_val) = tensors(data[0]), tensors(data[1])
    model = ticket_model(cfg)
    opt = make_optimizer(model.parameters())
    times, losses, val_losses = [], [], []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        total = torch.zeros(())
        for xb, yb in _ticket_batches(x, y, cfg.batch_size, shuffle):
            loss = ticket_loss(cfg, model(*xb), *yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(yb[0])
        model.eval()
        val_total = torch.zeros(())
        with torch.no_grad():
            for xb, yb in _ticket_batches(x_val, y_val, cfg.batch_size, False):
                val_total += ticket_loss(cfg, model(*xb), *yb) * len(yb[0])
        loss, val_loss = torch.stack([total / len(x[0]),
                                      val_total / len(x_val[0])]).tolist()  # sync: per epoch
        times.append(time.perf_counter() - start)
        losses.append(loss)
        val_losses.append(val_loss)
    return Trained(model, times, losses, val_losses)


def train_ticket_torchfit(cfg, data, epochs, make_optimizer=None, shuffle=True, verbose=0):
    """``make_optimizer`` (params -> optimizer): by default ``torchfit.optimizers.RMSprop(1e-3)``,
    what the guide's user writes."""
    import torchfit

    module = ticket_model(cfg)
    model = torchfit.Model(module, device="cpu")
    model.compile(
        optimizer=(make_optimizer(model.parameters()) if make_optimizer
                   else torchfit.optimizers.RMSprop(1e-3)),
        loss={"priority": torchfit.losses.BinaryCrossentropy(from_logits=True),
              "department": torchfit.losses.CategoricalCrossentropy(from_logits=True)},
        loss_weights=dict(zip(Y_NAMES, cfg.loss_weights)))
    timer = epoch_timer()
    (x, y), validation = data
    history = model.fit(x, y, batch_size=cfg.batch_size, epochs=epochs, verbose=verbose,
                        validation_data=validation, shuffle=shuffle, callbacks=[timer])
    return Trained(module, timer.times, history.history["loss"], history.history["val_loss"])


# ================================================================ bench.py's hooks
def _final(train):
    def run(cfg, data, epochs):
        trained = train(cfg, data, epochs)
        return trained.times, trained.val_losses[-1]
    return run


def _peer(name):
    """``bench_models_peers.<name>``, imported when it runs (it imports this module), with an
    optional peer that breaks turned into a skip."""
    def guarded(cfg, data, epochs):
        import bench_models_peers

        try:
            return getattr(bench_models_peers, name)(cfg, data, epochs)
        except bench_peers.PeerMissing:
            raise
        except Exception as error:  # an optional peer that breaks is skipped, with the reason
            raise bench_peers.PeerMissing(f"failed: {type(error).__name__}: {error}") from error
    return guarded


# key -> (label, function(cfg, data, epochs) -> (epoch times, final val loss), module needed)
RUNS = {
    "L:raw": ("hand-written loop (the example's train/evaluate)", _final(train_lm_hand), None),
    "L:torchfit": ("torchfit verbose=0", _final(train_lm_torchfit), None),
    "L:lightning": ("PyTorch Lightning", _peer("lm_lightning"), "lightning"),
    "L:poutyne": ("Poutyne", _peer("lm_poutyne"), "poutyne"),
    "M:raw": ("minimal loop", _final(train_ticket_hand), None),
    "M:torchfit": ("torchfit verbose=0", _final(train_ticket_torchfit), None),
    "M:lightning": ("PyTorch Lightning", _peer("ticket_lightning"), "lightning"),
    "M:poutyne": ("Poutyne", _peer("ticket_poutyne"), "poutyne"),
}
TABLES = {workload: [key for key in RUNS if key[0] == workload] for workload in "LM"}
METRIC = "val loss"  # the tables' last column: the final validation loss


def configs(quick):
    return {"L": LM_QUICK if quick else LM_FULL, "M": TICKET_QUICK if quick else TICKET_FULL}


def load(workloads, quick):
    """``{workload: (config, data)}`` for the wanted ones of L and M."""
    loaders = {"L": lm_data, "M": ticket_data}
    return {w: (cfg, loaders[w](cfg)) for w, cfg in configs(quick).items() if w in workloads}


def contenders(loaded, epochs):
    """``{key: (label, run, module)}``: ``run()`` -> ``(epoch times, final val loss)``."""
    out = {}
    for key, (label, run, module) in RUNS.items():
        if key[0] in loaded:
            cfg, data = loaded[key[0]]
            out[key] = (label, lambda run=run, cfg=cfg, data=data: run(cfg, data, epochs), module)
    return out


def titles(quick):
    lm, ticket = configs(quick)["L"], configs(quick)["M"]
    return {
        "L": f"word_language_model LSTM LM (vocab {lm.ntokens:,}, emsize/nhid {lm.emsize}, "
             f"{lm.nlayers} layers), truncated BPTT {lm.bptt} x batch {lm.batch_size}, "
             f"{lm.train_chunks} chunks, SGD(20), clip 0.25, validation on {lm.val_chunks} chunks "
             f"of {lm.bptt} x {lm.eval_batch_size} each epoch",
        "M": f"the guide's multi-input, multi-output ticket model (title/body/tags -> "
             f"priority/department, 2 LSTMs), {ticket.samples:,} samples, batch "
             f"{ticket.batch_size}, RMSprop(1e-3), loss_weights 1.0/0.2, validation on "
             f"{ticket.val_samples} samples each epoch",
    }
