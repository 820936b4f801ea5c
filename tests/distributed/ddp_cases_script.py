"""Worker script of tests/distributed/test_ddp_training.py: what a run under torchrun does beyond
the numbers (DataLoader sharding, streams the user shards, rank-0-only files and output, agreed
stopping, bad setups).

``python ddp_cases_script.py OUT NAMES [TRAIN_NAMES]``: runs the cases named (comma separated, or
``all``) one after the other; each writes ``OUT/<name>_rank<r>.json`` with what this rank saw. A
case that raises writes the error's type and message instead (``pytest.raises`` cannot reach into
the workers); the cases that must raise do so on every rank, before any collective that could
hang. ``TRAIN_NAMES``: ``train_script``'s cases to run first, in the same launch (a launch costs
seconds of imports; the cases, a fraction of one).
"""

import importlib.util
import json
import os
import sys
import traceback

import numpy as np
import torch
from torch import nn

import torchfit
import train_script
from worker import leave

HAVE_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


class Indexed(torch.utils.data.Dataset):
    """Item ``i`` is ``([i, features...], label)``: the model can tell which samples it got."""

    def __init__(self, size):
        rng = np.random.default_rng(0)
        features = rng.normal(size=(size, 3)).astype("float32")
        index = np.arange(size, dtype="float32")[:, None]
        self.x = torch.from_numpy(np.concatenate([index, features], axis=1))
        self.y = torch.from_numpy((features[:, 0] > 0).astype("int64"))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


class Recorder(nn.Module):
    """A linear classifier of the features that records the indices (column 0) it trains on:
    ``seen[epoch]`` is the list of its training batches' indices in that epoch."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.seen = []

    def forward(self, x):
        if self.training:
            self.seen[-1].append(x[:, 0].long().tolist())
        return self.linear(x[:, 1:])


class NewEpoch(torchfit.callbacks.Callback):
    may_stop_training = False

    def __init__(self, recorder):
        super().__init__()
        self.recorder = recorder

    def on_epoch_begin(self, epoch, logs=None):
        self.recorder.seen.append([])


class CountSteps(torchfit.callbacks.Callback):
    """``steps[epoch]``: the training steps this rank ran in that epoch."""

    may_stop_training = False

    def __init__(self):
        super().__init__()
        self.steps = []

    def on_epoch_begin(self, epoch, logs=None):
        self.steps.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.steps[-1] += 1


class StopOnRankOne(torchfit.callbacks.Callback):
    """Sets ``stop_training`` on rank 1 only, at the end of epoch ``epoch`` or of step ``step``
    (of the first epoch)."""

    def __init__(self, epoch=None, step=None):
        super().__init__()
        self.epoch, self.step = epoch, step

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch and torchfit.distributed.rank() == 1:
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.step and torchfit.distributed.rank() == 1:
            self.model.stop_training = True


def classifier(module=None, optimizer="adam"):
    torch.manual_seed(0)
    module = module if module is not None else nn.Sequential(nn.Linear(3, 8), nn.Tanh(),
                                                             nn.Linear(8, 2))
    model = torchfit.Model(module, device="cpu")
    if callable(optimizer):
        optimizer = optimizer(module.parameters())
    model.compile(optimizer=optimizer, loss=nn.CrossEntropyLoss(), metrics=["accuracy"])
    return model


def arrays(size=32, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(size, 3)).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("int64")


def loader_case(size, epochs=3, batch_size=4):
    """A user DataLoader(shuffle=True): the indices each rank trained on, per epoch and batch,
    and predict's outputs (over a DataLoader in order) against the module's own."""
    dataset = Indexed(size)
    recorder = Recorder()
    model = classifier(recorder)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
    model.fit(loader, epochs=epochs, verbose=0, callbacks=[NewEpoch(recorder)])
    predicted = model.predict(torch.utils.data.DataLoader(dataset, batch_size=batch_size),
                              verbose=0)
    with torch.no_grad():
        expected = recorder.eval()(dataset.x).numpy()
    return {"seen": recorder.seen, "predict": predicted.tolist(), "expected": expected.tolist()}


class OneByOne(torch.utils.data.Sampler):
    def __init__(self, size):
        super().__init__()
        self.size = size

    def __len__(self):
        return self.size

    def __iter__(self):
        return iter(range(self.size))


class Began(torchfit.callbacks.Callback):
    may_stop_training = False
    began = False

    def on_train_begin(self, logs=None):
        self.began = True


def _fit_must_raise(*args, **kwargs):
    """``classifier().fit(...)``'s ValueError, and whether training had begun when it came."""
    began = Began()
    try:
        classifier().fit(*args, verbose=0, callbacks=[began], **kwargs)
    except ValueError as error:
        return {"error": "ValueError", "message": str(error), "began": began.began}
    return {"error": None, "began": began.began}


def custom_sampler():
    dataset = Indexed(16)
    return _fit_must_raise(torch.utils.data.DataLoader(dataset, batch_size=4,
                                                       sampler=OneByOne(len(dataset))))


class MyBatchSampler(torch.utils.data.BatchSampler):
    pass


def custom_batch_sampler():
    dataset = Indexed(16)
    sampler = MyBatchSampler(torch.utils.data.SequentialSampler(dataset), 4, False)
    return _fit_must_raise(torch.utils.data.DataLoader(dataset, batch_sampler=sampler))


def _rank_batches(count, batch_size=4):
    """``count`` batches of this rank's own samples (the ranks' logs differ unless reduced)."""
    x, y = arrays(count * batch_size, seed=10 + torchfit.distributed.rank())
    return [(torch.from_numpy(x[i:i + batch_size]), torch.from_numpy(y[i:i + batch_size]))
            for i in range(0, len(x), batch_size)]


def generator():
    """The user shards a generator unevenly: rank 0 yields 5 batches, rank 1 3."""
    batches = _rank_batches(5 if torchfit.distributed.rank() == 0 else 3)
    counter = CountSteps()
    history = classifier().fit((batch for batch in batches), epochs=1, verbose=0,
                               callbacks=[counter])
    return {"history": history.history, "steps": counter.steps}


class RankStream(torch.utils.data.IterableDataset):
    """Samples of 5 batches of 4 on rank 0, of 3 on rank 1."""

    def __iter__(self):
        for x, y in _rank_batches(5 if torchfit.distributed.rank() == 0 else 3):
            yield from zip(x, y)


def iterable_dataset():
    counter = CountSteps()
    history = classifier().fit(RankStream(), batch_size=4, epochs=2, verbose=0,
                               callbacks=[counter])
    return {"history": history.history, "steps": counter.steps}


def _file_callbacks(folder):
    callbacks = torchfit.callbacks
    chosen = [
        callbacks.CSVLogger(os.path.join(folder, "log.csv")),
        callbacks.ModelCheckpoint(os.path.join(folder, "weights_{epoch}.pt"),
                                  save_weights_only=True),
        callbacks.ModelCheckpoint(os.path.join(folder, "model_{epoch}.pt")),
        callbacks.BackupAndRestore(os.path.join(folder, "backup"), delete_checkpoint=False),
    ]
    if HAVE_TENSORBOARD:
        chosen.append(callbacks.TensorBoard(os.path.join(folder, "tensorboard")))
    return chosen


def _files(folder, verbose):
    model = classifier()
    x, y = arrays()
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=verbose,
                        callbacks=_file_callbacks(folder))
    weights = {k: v.tolist() for k, v in model.module.state_dict().items()}
    return {"history": history.history, "weights": weights, "tensorboard": HAVE_TENSORBOARD}


def files_shared(out):
    """Every rank's callbacks write into one folder, with verbose=2 ("Epoch 1/2" once)."""
    return _files(os.path.join(out, "files_shared"), verbose=2)


def files_per_rank(out):
    """Each rank's callbacks write into a folder of its own: rank 1's must stay empty."""
    return _files(os.path.join(out, f"files_rank{torchfit.distributed.rank()}"), verbose=0)


def verbose_one():
    x, y = arrays()
    history = classifier().fit(x, y, batch_size=8, epochs=3, verbose=1)
    return {"history": history.history}


def stop_at_epoch():
    x, y = arrays()
    history = classifier().fit(x, y, batch_size=8, epochs=5, verbose=0,
                               callbacks=[StopOnRankOne(epoch=1)])
    return {"history": history.history}


def stop_at_step():
    x, y = arrays()
    counter = CountSteps()
    history = classifier().fit(x, y, batch_size=4, epochs=3, verbose=0,
                               callbacks=[StopOnRankOne(step=2), counter])
    return {"history": history.history, "steps": counter.steps}


def early_stopping():
    """patience=0 with a min_delta no epoch can beat: it stops at the second epoch."""
    x, y = arrays()
    stopper = torchfit.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    history = classifier().fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[stopper])
    return {"history": history.history, "stopped_epoch": stopper.stopped_epoch}


def batch_size_one():
    return _fit_must_raise(*arrays(), batch_size=1, epochs=1)


def lbfgs():
    classifier(optimizer=torch.optim.LBFGS)


CASES = {
    "loader_even": lambda out: loader_case(24),
    "loader_uneven": lambda out: loader_case(25),
    "custom_sampler": lambda out: custom_sampler(),
    "custom_batch_sampler": lambda out: custom_batch_sampler(),
    "generator": lambda out: generator(),
    "iterable_dataset": lambda out: iterable_dataset(),
    "files_shared": files_shared,
    "files_per_rank": files_per_rank,
    "verbose_one": lambda out: verbose_one(),
    "stop_at_epoch": lambda out: stop_at_epoch(),
    "stop_at_step": lambda out: stop_at_step(),
    "early_stopping": lambda out: early_stopping(),
    "batch_size_one": lambda out: batch_size_one(),
    "lbfgs": lambda out: lbfgs(),
}


def main(out, names, train_names=None):
    if train_names:
        train_script.main(out, train_names)
    for name in CASES if names == "all" else names.split(","):
        try:
            result = CASES[name](out) or {}
        except Exception as error:  # written for the test to assert on
            result = {"error": type(error).__name__, "message": str(error),
                      "traceback": traceback.format_exc()}
        result["world_size"] = torchfit.distributed.world_size()
        path = os.path.join(out, f"{name}_rank{torchfit.distributed.rank()}.json")
        with open(path, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
    leave()
