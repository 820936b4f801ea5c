"""run_fit / run_evaluate / run_predict on their own: a scripted model, a list iterator, and a
callback that records every hook, compared with the pseudocode at the top of loops.py."""

import numpy as np
import pytest
import torch

import torchfit
from torchfit.callbacks import Callback, CallbackList, History
from torchfit.trainer import loops


class ListIterator:
    """The part of EpochIterator the loops use: (step, batch) pairs, skip_steps, ran_out."""

    def __init__(self, batches):
        self.batches = batches
        self.ran_out_of_data = False
        self._skip = 0

    def skip_steps(self, count):
        self._skip = count

    def __iter__(self):
        skip, self._skip = self._skip, 0
        return ((step, batch) for step, batch in enumerate(self.batches) if step >= skip)


class ScriptedModel:
    """Records what the loops ask of it; the logs are a running sum of the batch values."""

    def __init__(self, stop_at=None):
        self.calls = []
        self.stop_training = False
        self.history = None
        self.stop_at = stop_at
        self.total = torch.zeros(())

    def reset_metrics(self):
        self.calls.append("reset_metrics")
        self.total = torch.zeros(())

    def train(self):
        self.calls.append("train")

    def eval(self):
        self.calls.append("eval")

    def train_step(self, batch):
        assert torch.is_grad_enabled()
        self.calls.append(("train_step", batch))
        self.total = self.total + batch
        if self.stop_at == batch:
            self.stop_training = True
        return {"loss": self.total}

    def test_step(self, batch):
        self.calls.append(("test_step", batch, torch.is_grad_enabled()))
        self.total = self.total + batch
        return {"loss": self.total}

    def predict_step(self, batch):
        return {"out": torch.full((2, 1), float(batch))}


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def __getattribute__(self, name):
        attr = object.__getattribute__(self, name)
        if name.startswith("on_") and callable(attr):
            def record(*args, logs=None):
                object.__getattribute__(self, "events").append(
                    (name, *args) if logs is None or name.endswith("begin") else
                    (name, *args, dict(logs)))
                return attr(*args, logs=logs)
            return record
        return attr


# Every hook overridden, so CallbackList calls them all (it skips the base class's no-ops).
for _hook in ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
              "on_test_begin", "on_test_end", "on_train_batch_begin", "on_train_batch_end",
              "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
              "on_predict_batch_begin", "on_predict_batch_end"):
    setattr(Recorder, _hook, lambda self, *args, logs=None: None)


def callbacks_for(model, *callbacks):
    return CallbackList(list(callbacks), model=model, params={"epochs": 2, "steps": 2})


def names(events):
    return [event[0] for event in events]


def test_fit_fires_the_hooks_in_the_documented_order():
    model, recorder = ScriptedModel(), Recorder()
    history = History()
    model.history = history
    loops.run_fit(model, ListIterator([1.0, 2.0]), callbacks_for(model, history, recorder),
                  epochs=2, val_iterator=ListIterator([10.0]))
    one_epoch = ["on_epoch_begin",
                 "on_train_batch_begin", "on_train_batch_end",
                 "on_train_batch_begin", "on_train_batch_end",
                 "on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end",
                 "on_epoch_end"]
    assert names(recorder.events) == ["on_train_begin", *one_epoch, *one_epoch, "on_train_end"]
    # Epoch logs are floats: the last running value, then the validation run's under val_.
    assert recorder.events[10] == ("on_epoch_end", 0, {"loss": 3.0, "val_loss": 10.0})
    assert history.history == {"loss": [3.0, 3.0], "val_loss": [10.0, 10.0]}
    # Metrics are reset at each epoch start and at each validation start; the model is put in
    # train mode per epoch and in eval mode for validation.
    assert [c for c in model.calls if isinstance(c, str)] == \
        ["reset_metrics", "train", "eval", "reset_metrics"] * 2


def test_evaluate_runs_without_grad_and_returns_floats():
    model = ScriptedModel()
    logs = loops.run_evaluate(model, ListIterator([1.0, 2.0, 4.0]), callbacks_for(model))
    assert logs == {"loss": 7.0}
    assert all(grad is False for _, _, grad in
               (c for c in model.calls if isinstance(c, tuple) and c[0] == "test_step"))


def test_stop_training_ends_the_epoch_after_that_batch_and_the_fit_after_that_epoch():
    model, recorder = ScriptedModel(stop_at=2.0), Recorder()
    loops.run_fit(model, ListIterator([1.0, 2.0, 3.0]), callbacks_for(model, recorder), epochs=5)
    steps = [c[1] for c in model.calls if isinstance(c, tuple)]
    assert steps == [1.0, 2.0]
    assert names(recorder.events).count("on_epoch_end") == 1
    assert recorder.events[-1] == ("on_train_end", {"loss": 3.0})


def test_a_resume_point_set_in_on_train_begin_skips_epochs_and_batches():
    class Resume(Callback):
        def on_train_begin(self, logs=None):
            self.fit_context.resume = {"epoch": 1, "step": 1}

    model, recorder = ScriptedModel(), Recorder()
    loops.run_fit(model, ListIterator([1.0, 2.0, 4.0]), callbacks_for(model, Resume(), recorder),
                  epochs=3)
    epochs = [event[1] for event in recorder.events if event[0] == "on_epoch_begin"]
    assert epochs == [1, 2]
    steps = [c[1] for c in model.calls if isinstance(c, tuple)]
    assert steps == [2.0, 4.0, 1.0, 2.0, 4.0]  # epoch 1 past its first batch, then all of 2


def test_validation_freq_as_an_interval_and_as_a_list():
    for freq, validated in ((2, [1, 3]), ([1, 4], [0, 3])):
        model, recorder = ScriptedModel(), Recorder()
        loops.run_fit(model, ListIterator([1.0]), callbacks_for(model, recorder), epochs=4,
                      val_iterator=ListIterator([5.0]), validation_freq=freq)
        ends = [event for event in recorder.events if event[0] == "on_epoch_end"]
        assert [e[1] for e in ends if "val_loss" in e[2]] == validated


def test_the_fit_context_is_cleared_when_a_callback_raises():
    seen = []

    class Boom(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.fit_context)
            raise RuntimeError("boom")

    model, boom = ScriptedModel(), Boom()
    with pytest.raises(RuntimeError, match="boom"):
        loops.run_fit(model, ListIterator([1.0]), callbacks_for(model, boom), epochs=2)
    assert seen[0] is not None and seen[0].epochs == 2
    assert boom.fit_context is None and model._fit_context is None


def test_predict_joins_the_batches_and_returns_numpy():
    model = ScriptedModel()
    outputs = loops.run_predict(model, ListIterator([1.0, 2.0]), callbacks_for(model))
    assert outputs["out"].tolist() == [[1.0], [1.0], [2.0], [2.0]]


def test_predict_without_batches_is_a_clear_error():
    model = ScriptedModel()
    with pytest.raises(ValueError, match="`predict` received no data"):
        loops.run_predict(model, ListIterator([]), callbacks_for(model))


def test_predictions_keep_the_model_dtype_low_precision_outputs_cast_up():
    half = torch.ones(2, 3, dtype=torch.float16)
    assert loops._concatenate([half, half]).dtype == np.float32  # autocast under a float32 model
    assert loops._concatenate([half], torch.float16).dtype == np.float16
    assert loops._concatenate([half], torch.float64).dtype == np.float64
    assert loops._concatenate([half.bfloat16()], torch.bfloat16).dtype == np.float32  # no NumPy
    assert loops._concatenate([torch.ones(2, dtype=torch.float64)]).dtype == np.float64


# ------------------------------------------------------------------ every fit returns its History
def test_run_fit_returns_the_history_of_its_callbacks_even_when_no_epoch_runs():
    model, history = ScriptedModel(), History()
    returned = loops.run_fit(model, ListIterator([1.0]), callbacks_for(model, history), epochs=0)
    assert returned is history and model.history is history
    assert (returned.history, returned.epoch) == ({}, [])


def tiny_model():
    torch.manual_seed(0)
    model = torchfit.Sequential(torch.nn.Linear(3, 1), device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    return model


XY = (np.ones((8, 3), "float32"), np.zeros((8, 1), "float32"))


# Keras 3 (3.15.1, checked): a fit that runs no epoch returns a new History with history == {}
# and epoch == []; a second fit returns a new History holding only its own epochs, and
# model.history is the History of the latest fit (CallbackList.set_model sets it at fit start).
@pytest.mark.parametrize("epochs, initial_epoch", [(0, 0), (2, 2), (1, 3)])
def test_a_fit_that_runs_no_epoch_returns_a_new_empty_history(epochs, initial_epoch):
    model = tiny_model()
    first = model.fit(*XY, epochs=1, verbose=0)
    history = model.fit(*XY, epochs=epochs, initial_epoch=initial_epoch, verbose=0)
    assert history is not None and history is not first and model.history is history
    assert (history.history, history.epoch) == ({}, [])
    assert first.epoch == [0] and len(first.history["loss"]) == 1  # the first is untouched


def test_a_first_fit_that_runs_no_epoch_returns_a_history_too():
    model = tiny_model()
    history = model.fit(*XY, epochs=0, verbose=0)
    assert history is model.history and (history.history, history.epoch) == ({}, [])


def test_a_second_fit_returns_its_own_history_with_only_its_epochs():
    model = tiny_model()
    first = model.fit(*XY, epochs=2, verbose=0)
    second = model.fit(*XY, epochs=3, initial_epoch=1, verbose=0)
    assert second is not first and model.history is second
    assert first.epoch == [0, 1] and second.epoch == [1, 2]
    assert len(first.history["loss"]) == 2 and len(second.history["loss"]) == 2
    assert second.history["loss"][0] < first.history["loss"][-1]  # it went on training
