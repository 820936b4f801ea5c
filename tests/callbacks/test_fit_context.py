"""FitContext: what run_fit hands to every callback, for the length of one fit and no longer."""

import pytest

from helpers import compiled_model
from torchfit.callbacks import Callback, CallbackList, FitContext
from torchfit.trainer.epoch_iterator import EpochIterator


class Peek(Callback):
    """Records ``self.fit_context`` at the hooks it overrides."""

    def __init__(self):
        super().__init__()
        self.seen = {}

    def on_train_begin(self, logs=None):
        self.seen["train_begin"] = self.fit_context

    def on_epoch_end(self, epoch, logs=None):
        self.seen[f"epoch_end_{epoch}"] = self.fit_context

    def on_test_begin(self, logs=None):
        self.seen["test_begin"] = self.fit_context


def test_callbacks_see_the_fit_context_during_fit(blobs):
    x, y = blobs
    peek = Peek()
    model = compiled_model()
    model.fit(x, y, batch_size=16, epochs=3, initial_epoch=1, callbacks=[peek], verbose=0)
    context = peek.seen["train_begin"]
    assert isinstance(context, FitContext)
    assert peek.seen["epoch_end_1"] is context and peek.seen["epoch_end_2"] is context
    assert isinstance(context.callbacks, CallbackList) and peek in context.callbacks.callbacks
    assert isinstance(context.train_iterator, EpochIterator)
    assert (context.initial_epoch, context.epochs, context.resume) == (1, 3, None)
    assert repr(context) == "FitContext(initial_epoch=1, epochs=3, resume=None)"
    # Taken back when fit returns.
    assert peek.fit_context is None and model._fit_context is None


def test_no_fit_context_in_a_standalone_evaluate(blobs):
    x, y = blobs
    peek = Peek()
    model = compiled_model()
    model.evaluate(x, y, batch_size=32, callbacks=[peek], verbose=0)
    assert "test_begin" in peek.seen and peek.seen["test_begin"] is None
    assert peek.fit_context is None


def test_the_fit_context_is_cleared_when_fit_raises(blobs):
    x, y = blobs

    class Boom(Peek):
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            raise RuntimeError("boom")

    boom, other = Boom(), Peek()
    model = compiled_model()
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(x, y, batch_size=32, epochs=2, callbacks=[other, boom], verbose=0)
    assert isinstance(boom.seen["epoch_end_0"], FitContext)
    assert boom.fit_context is None and other.fit_context is None
    assert model._fit_context is None


def test_setting_resume_in_on_train_begin_starts_there(blobs):
    x, y = blobs
    batches = []

    class Resume(Callback):
        def on_train_begin(self, logs=None):
            self.fit_context.resume = {"epoch": 2, "step": 3}

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            batches.append(self.epoch)

    # 64 samples, batch_size=16: 4 batches per epoch; epoch 2 resumes past its first 3.
    history = compiled_model().fit(x, y, batch_size=16, epochs=4, callbacks=[Resume()],
                                   verbose=0)
    assert history.epoch == [2, 3]
    assert batches == [2] + [3] * 4
