"""ProgbarLogger: the epoch header and one progress line per epoch, evaluate and predict."""

import io
import re
import time

import numpy as np
import torch

import torchfit
from helpers import compiled_model
from torchfit.callbacks import ProgbarLogger

_LINE = r"\d+/\d+ - \d+s"  # then the values, then tf.keras 2's times (_END)
_END = r" - \d+(s|ms|us)/epoch - \d+(s|ms|us)/step"


class Terminal(io.StringIO):
    """A stream that says it is a terminal, so the bar is drawn live."""

    def isatty(self):
        return True


def test_fit_prints_the_epoch_header_and_one_line_per_epoch_with_validation(blobs):
    x, y = blobs
    stream = io.StringIO()
    model = compiled_model()
    model.fit(x, y, batch_size=16, epochs=2, verbose=2, validation_data=(x[:16], y[:16]),
              callbacks=[ProgbarLogger(stream=stream)])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4  # the validation inside fit draws no line of its own
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    history = model.history.history
    for epoch, line in enumerate(lines[1::2]):
        assert re.fullmatch(
            _LINE + f" - loss: {history['loss'][epoch]:.4f}"
            f" - accuracy: {history['accuracy'][epoch]:.4f}"
            f" - val_loss: {history['val_loss'][epoch]:.4f}"
            f" - val_accuracy: {history['val_accuracy'][epoch]:.4f}" + _END, line), line
        assert line.startswith("4/4 - ")


def test_evaluate_and_predict_print_one_line(blobs):
    x, y = blobs
    model = compiled_model()
    stream = io.StringIO()
    loss, accuracy = model.evaluate(x, y, batch_size=32, verbose=2,
                                    callbacks=[ProgbarLogger(stream=stream)])
    assert re.fullmatch(_LINE + f" - loss: {loss:.4f} - accuracy: {accuracy:.4f}" + _END + "\n",
                        stream.getvalue())
    assert stream.getvalue().startswith("2/2 - ")
    stream = io.StringIO()
    model.predict(x, batch_size=32, verbose=2, callbacks=[ProgbarLogger(stream=stream)])
    assert re.fullmatch(_LINE + _END + "\n", stream.getvalue())  # no values for predict


def test_batch_logs_reach_the_bar_unread():
    # The bar, not the dispatcher, decides when to read the device values.
    assert ProgbarLogger.lazy_batch_logs


def test_progress_output_verbose_1_2_0(blobs, capsys):
    x, y = blobs
    stream = Terminal()
    model = compiled_model()
    model.fit(x, y, batch_size=16, epochs=2, verbose=1, validation_data=(x, y),
              callbacks=[torchfit.callbacks.ProgbarLogger(stream=stream)])
    lines = [line.split("\r")[-1].rstrip() for line in stream.getvalue().split("\n")]
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("4/4 [==============================] - ")
    assert "ms/step - loss: " in lines[1] or "us/step - loss: " in lines[1]
    assert lines[1].endswith(f"val_accuracy: {model.history.history['val_accuracy'][0]:.4f}")

    compiled_model().fit(x, y, batch_size=16, epochs=1, verbose=2)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/1"
    assert out[1].startswith("4/4 - ") and " - loss: " in out[1] and " - accuracy: " in out[1]
    assert len(out) == 2

    compiled_model().fit(x, y, epochs=1, verbose=0)
    compiled_model().evaluate(x, y, verbose=0)
    assert capsys.readouterr().out == ""

    compiled_model().fit(x, y, batch_size=16, epochs=1)  # "auto" is 2 when not on a terminal
    assert capsys.readouterr().out.splitlines()[1].startswith("4/4 - ")

    compiled_model().evaluate(x, y, verbose=2)
    assert capsys.readouterr().out.startswith("2/2 - ")


def test_live_bar_reads_values_at_most_ten_times_a_second(blobs, monkeypatch):
    x, y = blobs
    model = compiled_model()
    drawn = []
    monkeypatch.setattr(torchfit.progress, "format_value", lambda v: drawn.append(v) or "0")
    start = time.monotonic()
    model.fit(x, y, batch_size=1, epochs=1, verbose=1,
              callbacks=[torchfit.callbacks.ProgbarLogger(stream=Terminal())])
    elapsed = time.monotonic() - start
    # 64 steps; each drawn line reads the two values (loss, accuracy). The bar draws at the first
    # step, then at most every 0.1 s, then once at the end with the epoch logs.
    lines = len(drawn) // 2
    assert lines <= 2 + elapsed / 0.1
    assert lines < 64


def test_live_lines_of_a_two_output_model_fit_a_100_column_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    class TwoHeads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.score, self.label = torch.nn.Linear(4, 1), torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.score(x), self.label(x)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (rng.normal(size=(32, 1)).astype("float32"), rng.integers(0, 3, size=32))
    model = torchfit.Model(TwoHeads(), device="cpu", output_names=["score_output", "class_output"])
    model.compile(optimizer="sgd", loss=["mse", "sparse_categorical_crossentropy"],
                  metrics=[["mae"], ["accuracy"]])
    stream = Terminal()
    model.fit(x, y, batch_size=8, epochs=1, verbose=1, callbacks=[ProgbarLogger(stream=stream)])
    lines = stream.getvalue().split("\r")
    assert len(lines) >= 3  # the header, a live line and the final one
    assert all(len(line) <= 100 for line in lines[1:-1])
    assert len(lines[-1].rstrip("\n")) > 100 and "class_output_accuracy" in lines[-1]


class _FiveBatches(torch.utils.data.IterableDataset):
    def __iter__(self):
        for _ in range(5):
            yield torch.ones(2, 4), torch.zeros(2, dtype=torch.long)


def test_unknown_steps_are_counted_by_the_first_epoch():
    # Keras's ProgbarLogger: the first epoch's step count is the target of the next epochs.
    stream = io.StringIO()
    progbar = ProgbarLogger(stream=stream)
    compiled_model().fit(torch.utils.data.DataLoader(_FiveBatches(), batch_size=None), epochs=2,
                         verbose=1, callbacks=[progbar])
    first, second = stream.getvalue().split("Epoch 2/2")
    assert "5/Unknown" in first and "5/5 [==============================]" in second
    assert progbar.target == 5


def test_verbose_2_with_known_steps_calls_no_batch_hook(blobs):
    callbacks = torchfit.callbacks.CallbackList(
        [ProgbarLogger(stream=io.StringIO())], model=compiled_model(),
        params={"verbose": 2, "epochs": 1, "steps": 4})
    assert not any(callbacks.overrides(f"on_{kind}_batch_end")
                   for kind in ("train", "test", "predict"))
    x, y = blobs
    stream = io.StringIO()
    compiled_model().fit(x, y, batch_size=16, verbose=2, callbacks=[ProgbarLogger(stream=stream)])
    assert stream.getvalue().splitlines()[1].startswith("4/4 - ")  # the count without the hooks
