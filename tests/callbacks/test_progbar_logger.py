"""ProgbarLogger: the epoch header and one progress line per epoch, evaluate and predict."""

import io
import re

from helpers import compiled_model
from torchfit.callbacks import ProgbarLogger

_LINE = r"\d+/\d+ - \d+s - \d+(s|ms|us)/step"


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
            f" - val_accuracy: {history['val_accuracy'][epoch]:.4f}", line), line
        assert line.startswith("4/4 - ")


def test_evaluate_and_predict_print_one_line(blobs):
    x, y = blobs
    model = compiled_model()
    stream = io.StringIO()
    loss, accuracy = model.evaluate(x, y, batch_size=32, verbose=2,
                                    callbacks=[ProgbarLogger(stream=stream)])
    assert re.fullmatch(_LINE + f" - loss: {loss:.4f} - accuracy: {accuracy:.4f}\n",
                        stream.getvalue())
    assert stream.getvalue().startswith("2/2 - ")
    stream = io.StringIO()
    model.predict(x, batch_size=32, verbose=2, callbacks=[ProgbarLogger(stream=stream)])
    assert re.fullmatch(_LINE + "\n", stream.getvalue())  # no values for predict


def test_batch_logs_reach_the_bar_unread():
    # The bar, not the dispatcher, decides when to read the device values.
    assert ProgbarLogger.lazy_batch_logs
