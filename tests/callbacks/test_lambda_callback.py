"""LambdaCallback: the given functions run on their hooks; argument errors."""

import pytest

from helpers import compiled_model
from torchfit.callbacks import LambdaCallback


def test_lambda_callback_calls_the_given_functions(blobs):
    x, y = blobs
    events = []
    callback = LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: events.append(("epoch_begin", epoch)),
        on_batch_end=lambda batch, logs: events.append(("batch_end", batch,
                                                        type(logs["loss"]).__name__)),
        on_epoch_end=lambda epoch, logs: events.append(("epoch_end", epoch, sorted(logs))),
        on_test_end=lambda logs: events.append(("test_end", sorted(logs))),
        on_train_end=lambda logs: events.append("train_end"),
    )
    compiled_model().fit(x, y, batch_size=32, epochs=1, validation_data=(x[:8], y[:8]),
                         callbacks=[callback], verbose=0)
    assert events == [
        "train_begin", ("epoch_begin", 0), ("batch_end", 0, "float"), ("batch_end", 1, "float"),
        ("test_end", ["accuracy", "loss"]),
        ("epoch_end", 0, ["accuracy", "loss", "val_accuracy", "val_loss"]), "train_end",
    ]
    assert "on_test_batch_end" in callback.unused_hooks
    assert "on_train_batch_end" not in callback.unused_hooks


def test_lambda_callback_argument_errors():
    with pytest.raises(TypeError, match="unexpected keyword argument 'on_epochend'. Did you mean "
                                        "'on_epoch_end'"):
        LambdaCallback(on_epochend=print)
    with pytest.raises(TypeError, match="`on_epoch_end` must be a function or None"):
        LambdaCallback(on_epoch_end="print")
