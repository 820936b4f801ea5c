"""TensorBoard: scalars, histograms and graph read back from the event files."""

import subprocess
import sys

import pytest

from helpers import compiled_model
from torchfit.callbacks import TensorBoard


def _events(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(path), size_guidance={"histograms": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


def test_tensorboard_writes_train_and_validation_scalars(tmp_path, blobs):
    x, y = blobs
    model = compiled_model()
    history = model.fit(x, y, batch_size=16, epochs=2, validation_data=(x[:16], y[:16]),
                        callbacks=[TensorBoard(log_dir=tmp_path)], verbose=0)
    train, validation = _events(tmp_path / "train"), _events(tmp_path / "validation")
    assert set(train.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy",
                                            "epoch_learning_rate"}
    assert set(validation.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy"}
    for accumulator, prefix in ((train, ""), (validation, "val_")):
        for name in ("loss", "accuracy"):
            events = accumulator.Scalars(f"epoch_{name}")
            assert [e.step for e in events] == [0, 1]
            assert [e.value for e in events] == pytest.approx(history.history[prefix + name],
                                                             rel=1e-6)
    assert [e.value for e in train.Scalars("epoch_learning_rate")] == pytest.approx([0.01] * 2)
    assert "tensorflow" not in sys.modules


def test_tensorboard_batch_scalars_histograms_and_graph(tmp_path, blobs):
    x, y = blobs
    callback = TensorBoard(log_dir=tmp_path, update_freq=2, histogram_freq=1, write_graph=True)
    compiled_model().fit(x, y, batch_size=16, epochs=2, callbacks=[callback], verbose=0)
    train = _events(tmp_path / "train")
    # 4 batches per epoch, written every 2nd: steps 2, 4, 6, 8.
    assert [e.step for e in train.Scalars("batch_loss")] == [2, 4, 6, 8]
    assert "batch_accuracy" in train.Tags()["scalars"]
    assert set(train.Tags()["histograms"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert [e.step for e in train.Histograms("0.weight")] == [0, 1]
    assert train.Tags()["graph"]
    assert not (tmp_path / "validation").exists()  # no validation data, no validation writer
    assert callback.state_dict() == {"global_step": 8}
    assert TensorBoard.lazy_batch_logs


def test_tensorboard_argument_errors():
    with pytest.raises(ValueError, match=r"`update_freq` must be 'epoch', 'batch' or a positive"):
        TensorBoard(update_freq="step")
    with pytest.raises(ValueError, match=r"`embeddings_freq` is not supported.*embeddings_freq=0"):
        TensorBoard(embeddings_freq=1)
    TensorBoard(log_dir="logs", histogram_freq=0, embeddings_freq=0, update_freq="epoch")


def test_importing_torchfit_does_not_import_tensorboard():
    code = ("import sys, torchfit; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorboard', 'tensorflow') "
            "or m.startswith('torch.utils.tensorboard')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
