"""TerminateOnNaN: stops (or raises) at the first NaN batch."""

import numpy as np
import pytest

from helpers import compiled_model
from torchfit.callbacks import LambdaCallback, TerminateOnNaN


def test_terminate_on_nan_stops_at_the_first_nan_batch(blobs, capsys):
    x, y = blobs
    x = x.copy()
    x[24:32] = np.nan  # batch 3 with batch_size=8 and no shuffling
    batches = []
    count = LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    history = compiled_model().fit(x, y, batch_size=8, epochs=3, shuffle=False,
                                   callbacks=[TerminateOnNaN(), count], verbose=0)
    assert capsys.readouterr().out == "Batch 3: Invalid loss, terminating training\n"
    assert batches == [0, 1, 2, 3] and len(history.history["loss"]) == 1
    assert TerminateOnNaN.lazy_batch_logs
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 3"):
        compiled_model().fit(x, y, batch_size=8, shuffle=False, verbose=0,
                             callbacks=[TerminateOnNaN(raise_error=True)])
