"""ModelCheckpoint: file templates, save_best_only, save_freq and the state kept across fits."""

import os
from types import MappingProxyType

import pytest
import torch

from callback_helpers import _equal, _roundtrip, _weights
from helpers import compiled_model
from torchfit.callbacks import ModelCheckpoint, model_checkpoint


def _checkpoint_run(callback, model, logs_per_epoch):
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, logs in enumerate(logs_per_epoch):
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, MappingProxyType(logs))
    callback.on_train_end()


def test_model_checkpoint_save_best_only_lines_and_files(tmp_path, capsys):
    template = str(tmp_path / "mymodel_{epoch}.h5")
    checkpoint = ModelCheckpoint(template, save_best_only=True, monitor="val_loss", verbose=1)
    _checkpoint_run(checkpoint, compiled_model(), [
        {"loss": 0.36, "val_loss": 0.21655}, {"loss": 0.17, "val_loss": 0.3},
        {"loss": 0.12, "val_loss": 0.15663},
    ])
    first, third = tmp_path / "mymodel_1.h5", tmp_path / "mymodel_3.h5"
    assert capsys.readouterr().out == (
        f"\nEpoch 00001: val_loss improved from inf to 0.21655, saving model to {first}\n"
        "\nEpoch 00002: val_loss did not improve from 0.21655\n"
        f"\nEpoch 00003: val_loss improved from 0.21655 to 0.15663, saving model to {third}\n"
    )
    assert sorted(os.listdir(tmp_path)) == ["mymodel_1.h5", "mymodel_3.h5"]
    assert checkpoint.best == 0.15663


def test_model_checkpoint_templates_and_every_epoch_line(tmp_path, capsys):
    template = str(tmp_path / "weights.{epoch:02d}-{val_loss:.2f}.pt")
    checkpoint = ModelCheckpoint(template, verbose=1, save_weights_only=True)
    _checkpoint_run(checkpoint, compiled_model(), [{"val_loss": 0.21655}, {"val_loss": 0.3}])
    assert sorted(os.listdir(tmp_path)) == ["weights.01-0.22.pt", "weights.02-0.30.pt"]
    assert capsys.readouterr().out.splitlines()[1] == (
        f"Epoch 00001: saving model to {tmp_path / 'weights.01-0.22.pt'}")


@pytest.mark.parametrize("suffix", [".h5", ".pt"])
@pytest.mark.parametrize("weights_only", [True, False])
def test_model_checkpoint_files_load_with_load_weights(tmp_path, suffix, weights_only, blobs):
    x, y = blobs
    model = compiled_model()
    path = tmp_path / f"ckpt_{{epoch}}{suffix}"
    model.fit(x, y, epochs=2, callbacks=[ModelCheckpoint(path, save_weights_only=weights_only,
                                                         monitor="loss")], verbose=0)
    fresh = compiled_model(seed=1)
    fresh.load_weights(tmp_path / f"ckpt_2{suffix}")
    assert _equal(_weights(fresh), _weights(model))


def test_model_checkpoint_save_freq_counts_batches_across_epochs(tmp_path, blobs, monkeypatch):
    x, y = blobs
    reads = []
    real_to_floats = model_checkpoint.to_floats
    monkeypatch.setattr(model_checkpoint, "to_floats",
                        lambda logs: reads.append(1) or real_to_floats(logs))
    checkpoint = ModelCheckpoint(tmp_path / "ckpt_{epoch}_{batch}_{loss:.1f}.pt", save_freq=3,
                                 save_weights_only=True)
    assert ModelCheckpoint.lazy_batch_logs
    # 64 samples / 8 = 8 batches per epoch: saves after global batches 3, 6, 9, 12, 15.
    compiled_model().fit(x, y, batch_size=8, epochs=2, shuffle=False, callbacks=[checkpoint],
                         verbose=0)
    saved = sorted(tuple(int(p) for p in name.split("_")[1:3]) for name in os.listdir(tmp_path))
    assert saved == [(1, 3), (1, 6), (2, 1), (2, 4), (2, 7)]
    assert len(reads) == 5  # batch logs were read from the device only to save


def test_model_checkpoint_missing_template_key_raises_keras_key_error(tmp_path):
    # Keras 3's ModelCheckpoint._get_file_path: KeyError('Failed to format this callback
    # filepath: "{filepath}". Reason: {e}'), e the KeyError of str.format.
    filepath = str(tmp_path / "m_{val_los:.2f}.pt")
    checkpoint = ModelCheckpoint(filepath)
    with pytest.raises(KeyError) as info:
        _checkpoint_run(checkpoint, compiled_model(), [{"loss": 1.0, "val_loss": 0.5}])
    keras_message = f'Failed to format this callback filepath: "{filepath}". Reason: \'val_los\''
    assert info.value.args[0] == keras_message + ". Available keys: loss, val_loss, epoch."


@pytest.mark.parametrize("save_freq", [0, -2, "batch", 1.5, True])
def test_model_checkpoint_save_freq_must_be_epoch_or_positive(save_freq):
    with pytest.raises(ValueError, match=r"`save_freq` must be 'epoch' or a positive integer"):
        ModelCheckpoint("m.pt", save_freq=save_freq)


def test_model_checkpoint_path_errors():
    with pytest.raises(ValueError, match=r"cannot tell the file format.*Received suffix: '.keras'"):
        ModelCheckpoint("model_{epoch}.keras")
    with pytest.raises(ValueError, match="is not a valid template"):
        ModelCheckpoint("model_{epoch.pt")


def test_model_checkpoint_missing_monitor_skips_with_a_warning(tmp_path):
    checkpoint = ModelCheckpoint(tmp_path / "m.pt", save_best_only=True)
    with pytest.warns(UserWarning, match=r"Can save best model only with val_loss available, "
                                         r"skipping. Available metrics are: loss"):
        _checkpoint_run(checkpoint, compiled_model(), [{"loss": 1.0}, {"loss": 0.5}])
    assert os.listdir(tmp_path) == []


def test_model_checkpoint_state_dict_keeps_best_across_resume(tmp_path):
    # val_loss [3, 1, 2] then, after resuming, 2.5: the best (1) must not be overwritten.
    template = str(tmp_path / "best.pt")
    checkpoint = ModelCheckpoint(template, save_best_only=True, initial_value_threshold=10.0)
    model = compiled_model()
    _checkpoint_run(checkpoint, model, [{"val_loss": 3.0}, {"val_loss": 1.0}, {"val_loss": 2.0}])
    saved = torch.load(template, weights_only=True)
    resumed = ModelCheckpoint(template, save_best_only=True)
    resumed.load_state_dict(_roundtrip(checkpoint.state_dict(), tmp_path))
    assert resumed.best == 1.0
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    _checkpoint_run(resumed, model, [{"val_loss": 2.5}])
    assert _equal(torch.load(template, weights_only=True)["model"], saved["model"])


def test_model_checkpoint_period_saves_every_n_epochs_with_a_warning(tmp_path):
    # tf.keras 2's deprecated `period` (callbacks_test.py, ModelCheckpoint case 6).
    template = str(tmp_path / "weights_{epoch}.pt")
    with pytest.warns(DeprecationWarning, match=r"`period` argument is deprecated.*`save_freq`"):
        checkpoint = ModelCheckpoint(template, save_weights_only=True, period=2)
    _checkpoint_run(checkpoint, compiled_model(), [{"loss": 1.0}] * 5)
    assert sorted(os.listdir(tmp_path)) == ["weights_2.pt", "weights_4.pt"]
    assert checkpoint.state_dict()["epochs_since_last_save"] == 1
    with pytest.raises(ValueError, match=r"`period` must be a positive integer.*period=0"):
        ModelCheckpoint(template, period=0)


def test_save_best_only_never_saves_a_nan_epoch(tmp_path):
    nan = float("nan")
    model = compiled_model()
    checkpoint = ModelCheckpoint(str(tmp_path / "m_{epoch}.pt"), monitor="loss",
                                 save_best_only=True, save_weights_only=True)
    checkpoint.set_model(model)
    checkpoint.on_train_begin()
    with pytest.warns(UserWarning, match="the monitored value `loss` is NaN"):
        for epoch, value in enumerate([nan, 0.4, nan, 0.5]):
            checkpoint.on_epoch_begin(epoch)
            checkpoint.on_epoch_end(epoch, MappingProxyType({"loss": value}))
    assert sorted(os.listdir(tmp_path)) == ["m_2.pt"] and checkpoint.best == 0.4


def test_a_nan_initial_value_threshold_is_refused():
    with pytest.raises(ValueError, match=r"`initial_value_threshold` must be a number \(not "
                                         r"NaN\) or None\. Received: initial_value_threshold=nan"):
        ModelCheckpoint("m.pt", initial_value_threshold=float("nan"))
