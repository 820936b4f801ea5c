"""The callback protocol (torchfit/callbacks/callback.py): hook order, and the dispatch flags."""

import pytest
import torch

import torchfit
from helpers import compiled_model
from torchfit.callbacks import Callback, CallbackList


class Recorder(torchfit.callbacks.Callback):
    """Records every hook with its argument; overrides them all."""

    def __init__(self):
        super().__init__()
        self.events = []


def _recording(hook):
    def record(self, *args, logs=None):
        self.events.append((hook,) + args)
    return record


for _hook in ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
              "on_test_begin", "on_test_end", "on_train_batch_begin", "on_train_batch_end",
              "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
              "on_predict_batch_begin", "on_predict_batch_end"):
    setattr(Recorder, _hook, _recording(_hook))


def test_hook_sequence_of_a_fit_with_validation(blobs):
    x, y = blobs
    recorder = Recorder()
    compiled_model().fit(x[:8], y[:8], batch_size=4, epochs=2, validation_data=(x[:4], y[:4]),
                         callbacks=[recorder], verbose=0)
    epoch = lambda e: [  # noqa: E731
        ("on_epoch_begin", e),
        ("on_train_batch_begin", 0), ("on_train_batch_end", 0),
        ("on_train_batch_begin", 1), ("on_train_batch_end", 1),
        ("on_test_begin",), ("on_test_batch_begin", 0), ("on_test_batch_end", 0), ("on_test_end",),
        ("on_epoch_end", e),
    ]
    assert recorder.events == [("on_train_begin",)] + epoch(0) + epoch(1) + [("on_train_end",)]


def test_evaluate_and_predict_hooks(blobs):
    x, y = blobs
    model = compiled_model()
    recorder = Recorder()
    model.evaluate(x[:8], y[:8], batch_size=4, callbacks=[recorder], verbose=0)
    model.predict(x[:4], batch_size=4, callbacks=[recorder], verbose=0)
    assert recorder.events == [
        ("on_test_begin",), ("on_test_batch_begin", 0), ("on_test_batch_end", 0),
        ("on_test_batch_begin", 1), ("on_test_batch_end", 1), ("on_test_end",),
        ("on_predict_begin",), ("on_predict_batch_begin", 0), ("on_predict_batch_end", 0),
        ("on_predict_end",),
    ]


def test_a_schedule_sets_the_lr_of_step_s_before_on_train_batch_begin(blobs):
    x, y = blobs
    schedule = torchfit.schedules.PiecewiseConstantDecay([2, 5], [0.1, 0.05, 0.01])
    seen = []

    class RecordLR(torchfit.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(self.model.optimizer.param_groups[0]["lr"])

    model = compiled_model(optimizer=torchfit.optimizers.SGD(learning_rate=schedule))
    model.fit(x, y, batch_size=16, epochs=2, callbacks=[RecordLR()], verbose=0)
    assert seen == [schedule(step) for step in range(8)]


def test_params_and_loss_history_example(blobs):
    from callbacks import LossHistory  # examples/callbacks.py

    x, y = blobs
    history = LossHistory()
    model = compiled_model()
    model.fit(x, y, batch_size=16, epochs=2, callbacks=[history], verbose=0)
    assert history.params == {"verbose": 0, "epochs": 2, "steps": 4}
    assert len(history.losses) == 8 and all(isinstance(v, float) for v in history.losses)
    # The last batch of each epoch carries the epoch's running loss, as History records it.
    assert history.losses[3] == pytest.approx(model.history.history["loss"][0])
    assert history.losses[7] == pytest.approx(model.history.history["loss"][1])


# ------------------------------------------------------------------------ the dispatch flags
def test_the_dispatch_flags_are_declared_on_callback_and_documented():
    assert Callback.lazy_batch_logs is False
    assert Callback.dispatch_last is False
    assert Callback.unused_hooks == frozenset() and isinstance(Callback.unused_hooks, frozenset)
    callback = Callback()
    assert (callback.model, callback.params, callback.fit_context) == (None, {}, None)
    for name in ("lazy_batch_logs", "dispatch_last", "unused_hooks", "fit_context"):
        assert f"{name}:" in Callback.__doc__, name


def test_lazy_batch_logs_gets_device_values_the_others_get_floats(blobs):
    x, y = blobs
    seen = {}

    class Eager(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen["eager"] = {key: logs[key] for key in logs}

    class Lazy(Callback):
        lazy_batch_logs = True

        def on_train_batch_end(self, batch, logs=None):
            seen["lazy"] = {key: logs[key] for key in logs}

    compiled_model().fit(x, y, batch_size=16, epochs=1, callbacks=[Lazy(), Eager()], verbose=0)
    assert set(seen["lazy"]) == set(seen["eager"]) == {"loss", "accuracy"}
    assert all(isinstance(v, torch.Tensor) for v in seen["lazy"].values())
    assert all(type(v) is float for v in seen["eager"].values())
    # Both read the same running values of the last batch.
    assert {k: float(v) for k, v in seen["lazy"].items()} == pytest.approx(seen["eager"])


def test_dispatch_last_callbacks_run_after_the_others_whatever_the_order(blobs):
    x, y = blobs
    events = []

    class Named(Callback):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def on_train_begin(self, logs=None):
            events.append(("train_begin", self.name))

        def on_train_batch_end(self, batch, logs=None):
            events.append(("batch_end", self.name))

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", self.name))

    class Last(Named):
        dispatch_last = True

    last, first, second = Last("last"), Named("first"), Named("second")
    callbacks = CallbackList([last, first, second])
    assert callbacks.callbacks == [first, second, last]
    compiled_model().fit(x, y, batch_size=32, epochs=1, callbacks=[last, first, second],
                         verbose=0)
    order = ["first", "second", "last"]
    assert events == ([("train_begin", name) for name in order]
                      + [("batch_end", name) for name in order] * 2
                      + [("epoch_end", name) for name in order])


def test_unused_hooks_are_not_called(blobs):
    x, y = blobs
    calls = []

    class EpochsOnly(Callback):
        def __init__(self, per_batch):
            super().__init__()
            if not per_batch:  # an instance opt-out, as ModelCheckpoint(save_freq="epoch")
                self.unused_hooks = frozenset({"on_train_batch_end"})

        def on_train_batch_end(self, batch, logs=None):
            calls.append("batch")

        def on_epoch_end(self, epoch, logs=None):
            calls.append("epoch")

    quiet = EpochsOnly(per_batch=False)
    assert not CallbackList([quiet]).overrides("on_train_batch_end")
    assert CallbackList([quiet]).overrides("on_epoch_end")
    compiled_model().fit(x, y, batch_size=32, epochs=2, callbacks=[quiet], verbose=0)
    assert calls == ["epoch", "epoch"]
    calls.clear()
    compiled_model().fit(x, y, batch_size=32, epochs=1, callbacks=[EpochsOnly(per_batch=True)],
                         verbose=0)
    assert calls == ["batch", "batch", "epoch"]
