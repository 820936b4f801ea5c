import pytest

import torchfit
from helpers import compiled_model


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


def test_only_overridden_hooks_are_called_and_aliases_count():
    class EpochOnly(torchfit.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            pass

    class Alias(torchfit.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            pass

    callbacks = torchfit.callbacks.CallbackList([EpochOnly()])
    assert callbacks.overrides("on_epoch_end")
    assert not callbacks.overrides("on_train_batch_end")
    assert torchfit.callbacks.CallbackList([Alias()]).overrides("on_train_batch_end")


def test_batch_logs_are_read_only_floats_and_epoch_logs_too(blobs):
    x, y = blobs
    seen = {}

    class Reader(torchfit.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen["batch"] = logs
            with pytest.raises(TypeError):
                logs["loss"] = 0.0

        def on_epoch_end(self, epoch, logs=None):
            seen["epoch"] = logs
            with pytest.raises(TypeError):
                logs["extra"] = 1.0

    compiled_model().fit(x, y, epochs=1, callbacks=[Reader()], verbose=0)
    assert all(isinstance(v, float) for v in seen["batch"].values())
    assert set(seen["batch"]) == {"loss", "accuracy"}
    assert set(seen["epoch"]) == {"loss", "accuracy"}


def test_callbacks_must_be_callback_instances(blobs):
    x, y = blobs
    with pytest.raises(TypeError, match="must be a list of torchfit.callbacks.Callback"):
        compiled_model().fit(x, y, callbacks=[print], verbose=0)


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
