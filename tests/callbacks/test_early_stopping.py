"""EarlyStopping: Keras rules on scripted metric sequences, then through fit."""

import numpy as np
import pytest
import torch

from callback_helpers import _drive, _equal, _roundtrip, _weights
from helpers import compiled_model
from torchfit import optimizers
from torchfit.callbacks import EarlyStopping, LambdaCallback


def test_early_stopping_follows_the_guide_example(capsys):
    # The guide's run: min_delta=1e-2, patience=2 stops after epoch 6.
    stop = EarlyStopping(monitor="val_loss", min_delta=1e-2, patience=2, verbose=1)
    ran = _drive(stop, compiled_model(), [0.2237, 0.1784, 0.1583, 0.1404, 0.1332, 0.1341, 0.1])
    assert ran == 6 and stop.stopped_epoch == 5 and stop.best == 0.1404 and stop.wait == 2
    assert capsys.readouterr().out == "Epoch 00006: early stopping\n"


@pytest.mark.parametrize("kwargs, values, ran, best", [
    ({"patience": 0}, [1.0, 0.9, 0.95, 0.5], 3, 0.9),
    ({"patience": 1}, [1.0, 0.9, 0.95, 0.5], 3, 0.9),
    ({"patience": 2}, [1.0, 0.9, 0.95, 0.5], 4, 0.5),
    ({"patience": 2, "min_delta": 0.1}, [1.0, 0.95, 0.91, 0.85], 3, 1.0),
    ({"patience": 2, "min_delta": 0.1}, [1.0, 0.95, 0.89, 0.85], 4, 0.89),
    # auto mode: "acc" in the name -> max
    ({"patience": 2, "monitor": "val_accuracy"}, [0.5, 0.6, 0.55, 0.58, 0.9], 4, 0.6),
    # baseline: improvements that do not beat it do not reset the patience
    ({"patience": 2, "baseline": 0.5}, [0.9, 0.8, 0.85, 0.6], 3, 0.8),
    ({"patience": 2, "baseline": 0.5}, [0.4, 0.45, 0.46, 0.3], 3, 0.4),
    # warm-up epochs are not monitored
    ({"patience": 1, "start_from_epoch": 2}, [5.0, 6.0, 3.0, 3.0, 2.0], 4, 3.0),
])
def test_early_stopping_rules(kwargs, values, ran, best):
    monitor = kwargs.get("monitor", "val_loss")
    stop = EarlyStopping(**kwargs)
    assert _drive(stop, compiled_model(), values, monitor=monitor) == ran
    assert stop.best == best
    assert stop.stopped_epoch == (ran - 1 if ran < len(values) else 0)


def test_early_stopping_restores_an_exact_copy_of_the_best_weights(capsys):
    model = compiled_model()
    stop = EarlyStopping(patience=10, restore_best_weights=True, verbose=1)
    stop.set_model(model)
    stop.on_train_begin()
    snapshots = []
    for epoch, value in enumerate([0.9, 0.5, 0.7, 0.8]):
        with torch.no_grad():
            for param in model.parameters():
                param.add_(1.0)  # in place: a state_dict() that aliased them would follow
        snapshots.append(_weights(model))
        stop.on_epoch_end(epoch, {"val_loss": value})
    assert _equal(stop.best_weights, snapshots[1])  # a real copy, not the live tensors
    stop.on_train_end()  # restores although training did not stop early (Keras 3)
    assert _equal(_weights(model), snapshots[1])
    assert capsys.readouterr().out == "Restoring model weights from the end of the best epoch: 2.\n"


def test_early_stopping_restore_best_weights_in_fit(blobs):
    x, y = blobs
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=0.5))
    per_epoch = []
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: per_epoch.append(_weights(model)))
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    # Validation labels that disagree with training: val_loss is best early, then worsens.
    history = model.fit(x, y, batch_size=16, epochs=8, validation_data=(x, (y + 1) % 3),
                        callbacks=[record, stop], verbose=0)
    val_loss = history.history["val_loss"]
    best = int(np.argmin(val_loss))
    assert len(val_loss) < 8 and best < len(val_loss) - 1 and model.stop_training
    assert _equal(_weights(model), per_epoch[best])


def test_early_stopping_state_dict_roundtrip_and_resume(tmp_path):
    model = compiled_model()
    stop = EarlyStopping(patience=3, restore_best_weights=True)
    _drive(stop, model, [1.0, 0.5, 0.6])
    state = _roundtrip(stop.state_dict(), tmp_path)
    resumed = EarlyStopping(patience=3, restore_best_weights=True)
    resumed.load_state_dict(state)
    resumed.set_model(model)
    resumed.on_train_begin()  # a loaded state survives the next train begin
    assert (resumed.best, resumed.wait, resumed.best_epoch) == (0.5, 1, 1)
    assert _equal(resumed.best_weights, stop.best_weights)
    for epoch, value in ((3, 0.7), (4, 0.8)):
        resumed.on_epoch_end(epoch, {"val_loss": value})
    assert model.stop_training and resumed.stopped_epoch == 4


def test_early_stopping_argument_errors():
    with pytest.raises(ValueError, match=r"`patience` must be an integer >= 0. Received: "
                                         r"patience=-1"):
        EarlyStopping(patience=-1)
    with pytest.raises(TypeError, match="`monitor` must be the name of a log key"):
        EarlyStopping(monitor=None)


def test_a_nan_epoch_never_stands_as_best_for_restore_best_weights():
    nan = float("nan")
    stop = EarlyStopping(patience=10, restore_best_weights=True)
    with pytest.warns(UserWarning, match="is NaN"):
        _drive(stop, compiled_model(), [nan, nan])
    assert stop.best_weights is None  # Keras 3 would keep (and restore) epoch 0's weights
    stop = EarlyStopping(patience=10, restore_best_weights=True)
    with pytest.warns(UserWarning, match="is NaN"):
        _drive(stop, compiled_model(), [nan, 0.7, nan, 0.9])
    assert (stop.best, stop.best_epoch, stop.wait) == (0.7, 1, 2)


def test_nan_counts_as_an_epoch_without_improvement():
    nan = float("nan")
    with pytest.warns(UserWarning, match="is NaN"):
        ran = _drive(EarlyStopping(patience=2), compiled_model(), [0.5, nan, nan, 0.1])
    assert ran == 3  # stopped by the two NaN epochs, as Keras's np.less(nan, best) is False
