"""CSVLogger: rows match History, append, separator, and resuming the file from a state."""

from callback_helpers import _read_csv, _roundtrip
from helpers import compiled_model
from torchfit.callbacks import CSVLogger


def test_csv_logger_rows_match_history_and_append_writes_one_header(tmp_path, blobs):
    x, y = blobs
    path = tmp_path / "training.log"
    model = compiled_model()
    history = model.fit(x, y, epochs=2, validation_data=(x[:16], y[:16]),
                        callbacks=[CSVLogger(path)], verbose=0)
    rows = _read_csv(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    for epoch, row in enumerate(rows[1:]):
        assert row[0] == str(epoch)
        values = dict(zip(rows[0][1:], map(float, row[1:])))
        assert values == {key: history.history[key][epoch] for key in values}
    model.fit(x, y, epochs=1, validation_data=(x[:16], y[:16]),
              callbacks=[CSVLogger(path, append=True)], verbose=0)
    rows = _read_csv(path)
    assert len(rows) == 4 and sum(row[0] == "epoch" for row in rows) == 1
    model.fit(x, y, epochs=1, callbacks=[CSVLogger(path, separator=";")], verbose=0)
    rows = _read_csv(path)  # overwritten; without validation the val_ columns read NA
    assert rows[0] == ["epoch;accuracy;loss;val_accuracy;val_loss"]
    assert rows[1][0].endswith(";NA;NA")


def test_csv_logger_state_dict_resumes_the_file(tmp_path, blobs):
    x, y = blobs
    path = tmp_path / "log.csv"
    model = compiled_model()
    logger = CSVLogger(path)
    model.fit(x, y, epochs=2, callbacks=[logger], verbose=0)
    state = _roundtrip(logger.state_dict(), tmp_path)
    model.fit(x, y, epochs=3, initial_epoch=2, callbacks=[CSVLogger(path, append=True)],
              verbose=0)  # a row written after the state was saved (lost on interruption)
    assert len(_read_csv(path)) == 4
    resumed = CSVLogger(path)
    resumed.load_state_dict(state)
    model.fit(x, y, epochs=4, initial_epoch=2, callbacks=[resumed], verbose=0)
    rows = _read_csv(path)
    assert [row[0] for row in rows] == ["epoch", "0", "1", "2", "3"]
