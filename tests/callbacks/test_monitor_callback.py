"""MonitorCallback: the base of EarlyStopping, ReduceLROnPlateau and ModelCheckpoint."""

import math
import os

import pytest

from callback_helpers import _roundtrip
from helpers import compiled_model
from torchfit import optimizers
from torchfit.callbacks import EarlyStopping, ModelCheckpoint, MonitorCallback, ReduceLROnPlateau


class KeepBest(MonitorCallback):
    """A user subclass: records improvements, and ``best`` as each fit starts."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.improved = []
        self.best_at_train_begin = []

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.best_at_train_begin.append(self.best)

    def on_epoch_end(self, epoch, logs=None):
        current = self.get_monitor_value(logs)
        if current is not None and self.is_improvement(current, self.best_or_initial()):
            self.best = current
            self.improved.append(epoch)


def test_best_starts_none_then_inf_or_minus_inf_by_mode():
    for kwargs, initial in (({"monitor": "val_loss"}, math.inf),
                            ({"monitor": "val_accuracy"}, -math.inf),
                            ({"monitor": "val_loss", "mode": "max"}, -math.inf),
                            ({"monitor": "val_accuracy", "mode": "min"}, math.inf)):
        callback = KeepBest(**kwargs)
        assert callback.best is None
        assert callback.best_or_initial() == initial and callback.best == initial


def test_is_improvement_with_min_delta():
    down = KeepBest(monitor="val_loss", min_delta=-0.1)  # the sign is ignored
    assert down.min_delta == 0.1
    assert down.is_improvement(0.85, 1.0) and not down.is_improvement(0.95, 1.0)
    up = KeepBest(monitor="val_accuracy", min_delta=0.1)
    assert up.is_improvement(0.75, 0.6) and not up.is_improvement(0.65, 0.6)
    assert not up.is_improvement(float("nan"), 0.6)
    baseline = KeepBest(monitor="val_loss", baseline=0.5)
    assert baseline.beats_baseline(0.4) and not baseline.beats_baseline(0.6)
    assert KeepBest().beats_baseline(100.0)  # no baseline


def test_a_subclass_tracks_best_through_the_logs():
    callback = KeepBest(monitor="loss")
    callback.on_train_begin()
    for epoch, loss in enumerate([0.5, 0.7, 0.4, 0.4]):
        callback.on_epoch_end(epoch, {"loss": loss})
    assert callback.improved == [0, 2] and callback.best == 0.4
    with pytest.warns(UserWarning, match=r"KeepBest is conditioned on metric `loss` which is not "
                                         r"available. Available metrics are: val_loss"):
        assert callback.get_monitor_value({"val_loss": 1.0}) is None


def test_a_loaded_state_survives_the_next_fit_a_plain_fit_resets(tmp_path, blobs):
    x, y = blobs
    model = compiled_model()
    first = KeepBest(monitor="loss")
    model.fit(x, y, batch_size=16, epochs=2, callbacks=[first], verbose=0)
    assert first.best_at_train_begin == [None] and first.best == min(model.history.history["loss"])
    state = _roundtrip(first.state_dict(), tmp_path)
    assert state == {"best": first.best}

    resumed = KeepBest(monitor="loss")
    resumed.load_state_dict(state)
    model.fit(x, y, batch_size=16, epochs=1, callbacks=[resumed], verbose=0)
    assert resumed.best_at_train_begin == [first.best]  # kept across on_train_begin
    model.fit(x, y, batch_size=16, epochs=1, callbacks=[resumed], verbose=0)
    assert resumed.best_at_train_begin == [first.best, None]  # a plain new fit starts afresh


def test_the_built_in_monitors_are_monitor_callbacks_with_best_in_their_state(tmp_path):
    for callback in (EarlyStopping(), ReduceLROnPlateau(), ModelCheckpoint(tmp_path / "m.pt")):
        assert isinstance(callback, MonitorCallback)
        assert callback.best is None and "best" in callback.state_dict()


def test_model_checkpoint_keeps_best_across_fits_early_stopping_does_not(tmp_path, blobs):
    x, y = blobs
    path = tmp_path / "best.pt"
    checkpoint = ModelCheckpoint(path, save_best_only=True, monitor="loss")
    stop = EarlyStopping(monitor="loss", patience=10)
    trained = compiled_model(optimizer=optimizers.SGD(learning_rate=0.5))
    trained.fit(x, y, batch_size=16, epochs=3, callbacks=[checkpoint, stop], verbose=0)
    best = min(trained.history.history["loss"])
    assert checkpoint.best == best and stop.best == best and path.exists()
    os.remove(path)
    # An untrained model that does not learn: its loss is worse than the best of the first fit.
    frozen = compiled_model(seed=1, optimizer=optimizers.SGD(learning_rate=0.0))
    frozen.fit(x, y, batch_size=16, epochs=2, callbacks=[checkpoint, stop], verbose=0)
    assert frozen.history.history["loss"][0] > best
    assert checkpoint.best == best and not path.exists()  # Keras: beat the earlier fits' best
    assert stop.best == frozen.history.history["loss"][0]  # EarlyStopping starts afresh
