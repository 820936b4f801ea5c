"""CallbackList: dispatch only to overriding callbacks, read-only logs, History and progress bar."""

import io

import pytest

import torchfit
from helpers import compiled_model
from torchfit.callbacks import Callback, CallbackList, History, ProgbarLogger


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


# --------------------------------------------------------------- add_history / add_progbar
def test_add_history_and_add_progbar_put_them_first():
    class User(Callback):
        pass

    user = User()
    model = compiled_model()
    params = {"epochs": 2, "steps": 4, "verbose": 1}
    callbacks = CallbackList([user], add_history=True, add_progbar=True, model=model,
                             params=params).callbacks
    assert [type(cb) for cb in callbacks] == [History, ProgbarLogger, User]
    assert all(cb.model is model and cb.params == params for cb in callbacks)
    assert CallbackList([user]).callbacks == [user]
    assert [type(cb) for cb in CallbackList([user], add_history=True).callbacks] == [History, User]
    assert [type(cb) for cb in CallbackList([user], add_progbar=True).callbacks] == [
        ProgbarLogger, User]


def test_a_user_progbar_logger_is_not_doubled():
    mine = ProgbarLogger(stream=io.StringIO())
    callbacks = CallbackList([mine], add_history=True, add_progbar=True).callbacks
    assert [type(cb) for cb in callbacks] == [History, ProgbarLogger]
    assert callbacks[1] is mine


def test_fit_adds_history_and_one_progress_bar(blobs):
    x, y = blobs
    seen = {}

    class Peek(Callback):
        def on_train_begin(self, logs=None):
            seen["callbacks"] = list(self.fit_context.callbacks.callbacks)

    stream = io.StringIO()
    mine, peek = ProgbarLogger(stream=stream), Peek()
    history = compiled_model().fit(x, y, batch_size=32, epochs=1, verbose=2,
                                   callbacks=[mine, peek])
    assert seen["callbacks"] == [history, mine, peek]
    assert stream.getvalue().splitlines()[0] == "Epoch 1/1"
    compiled_model().fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[peek])
    assert [type(cb) for cb in seen["callbacks"]] == [History, Peek]  # verbose=0: no bar
