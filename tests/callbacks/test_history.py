"""History: the per-epoch record that fit returns."""

from types import MappingProxyType

from helpers import compiled_model
from torchfit.callbacks import History


def test_fit_returns_a_history_of_floats_per_epoch(blobs):
    x, y = blobs
    model = compiled_model()
    history = model.fit(x, y, batch_size=16, epochs=3, initial_epoch=1,
                        validation_data=(x[:16], y[:16]), verbose=0)
    assert isinstance(history, History) and model.history is history
    assert history.epoch == [1, 2]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 2 and all(type(v) is float for v in values)
               for values in history.history.values())
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 4}


def test_each_fit_returns_a_new_history(blobs):
    x, y = blobs
    model = compiled_model()
    first = model.fit(x, y, epochs=2, verbose=0)
    second = model.fit(x, y, epochs=1, verbose=0)
    assert second is not first and model.history is second
    assert (first.epoch, len(first.history["loss"])) == ([0, 1], 2)
    assert (second.epoch, len(second.history["loss"])) == ([0], 1)


def test_history_records_the_epoch_logs_it_is_given():
    model = compiled_model()
    history = History()
    history.set_model(model)
    history.on_train_begin()
    history.on_epoch_end(0, MappingProxyType({"loss": 0.5}))
    history.on_epoch_end(1, MappingProxyType({"loss": 0.25, "val_loss": 0.75}))
    assert history.epoch == [0, 1]
    assert history.history == {"loss": [0.5, 0.25], "val_loss": [0.75]}
    assert model.history is history
