"""tf-keras's ``tf_keras/callbacks_test.py``, ported: the ModelCheckpoint cases (see
``test_tf_keras_callbacks.py`` for the conventions).

The ``.keras`` format is ``.pt`` here (torchfit's full checkpoint). Not portable: the SavedModel
cases (``test_ModelCheckpoint_subclass_SavedModel_save_weights_false``, directories without a
suffix), ``options=`` (``tf.train.CheckpointOptions`` / ``tf.saved_model.SaveOptions``,
``test_ModelCheckpoint_KerasV3_save_options_error``), ``TF_CONFIG``, ``steps_per_execution``.
"""

import os

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from tf_keras_helpers import (
    BATCH_SIZE,
    INPUT_DIM,
    NUM_CLASSES,
    NUM_HIDDEN,
    TEST_SAMPLES,
    TRAIN_SAMPLES,
    Unreadable,
    dense,
    get_test_data,
    small_mlp,
)
from torchfit import callbacks as cb


def _fit(model, data, callback, **kwargs):
    x_train, y_train, x_test, y_test = data
    options = dict(batch_size=BATCH_SIZE, validation_data=(x_test, y_test), epochs=1, verbose=0)
    model.fit(x_train, y_train, callbacks=[callback], **{**options, **kwargs})


@pytest.mark.parametrize("save_format", [".h5", ".pt"], ids=["h5", "keras"])
def test_ModelCheckpoint(tmp_path, save_format):
    model = small_mlp()
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["acc"])
    # Saved into a subdir, to test the automatic creation of directories.
    filepath = str(tmp_path / "subdir" / ("checkpoint" + save_format))
    (x_train, y_train), (x_test, y_test) = get_test_data(
        TRAIN_SAMPLES, TEST_SAMPLES, (INPUT_DIM,), NUM_CLASSES)
    data = (x_train, y_train, x_test, y_test)

    # Cases 1-4: mode auto/min (val_loss), max (val_acc), then save_best_only
    for monitor, mode, save_best_only in [("val_loss", "auto", False), ("val_loss", "min", False),
                                          ("val_acc", "max", False), ("val_acc", "max", True)]:
        _fit(model, data, cb.ModelCheckpoint(filepath, monitor=monitor,
                                             save_best_only=save_best_only, mode=mode))
        assert os.path.exists(filepath)
        os.remove(filepath)
    # Case 5: metric not available: the file is not written.
    with pytest.warns(UserWarning, match="Can save best model only with unknown available"):
        _fit(model, data, cb.ModelCheckpoint(filepath, monitor="unknown", save_best_only=True))
    assert not os.path.exists(filepath)
    # Case 6: the deprecated `period` (tf.keras 2): every 2 epochs.
    filepath = str(tmp_path / ("checkpoint.{epoch:02d}" + save_format))
    with pytest.warns(DeprecationWarning, match="use `save_freq`"):
        checkpoint = cb.ModelCheckpoint(filepath, monitor="val_acc", save_best_only=False,
                                        mode="auto", period=2)
    _fit(model, data, checkpoint, epochs=4, verbose=1)
    assert [os.path.exists(filepath.format(epoch=e)) for e in (1, 2, 3, 4)] == [
        False, True, False, True]
    for epoch in (2, 4):
        os.remove(filepath.format(epoch=epoch))
    # Deliberate: an invalid mode is a warning in tf-keras ("unknown", falls back to "auto");
    # torchfit raises where the callback is built.
    with pytest.raises(ValueError, match="`mode` must be one of"):
        cb.ModelCheckpoint(filepath, monitor="val_acc", save_best_only=False, mode="unknown")
    # Case 7: save_freq="epoch" with period=5.
    filepath = str(tmp_path / ("checkpoint.epoch{epoch:02d}" + save_format))
    with pytest.warns(DeprecationWarning):
        checkpoint = cb.ModelCheckpoint(filepath, monitor="val_acc", mode="auto",
                                        save_freq="epoch", period=5)
    assert not os.path.exists(filepath.format(epoch=0))
    _fit(model, data, checkpoint, batch_size=2, epochs=10, verbose=1)
    saved = [e for e in range(1, 11) if os.path.exists(filepath.format(epoch=e))]
    assert saved == [5, 10]
    for epoch in saved:
        os.remove(filepath.format(epoch=epoch))
    # Case 8: an integer save_freq (15 batches of 2 samples); the period is ignored.
    with pytest.warns(DeprecationWarning):
        checkpoint = cb.ModelCheckpoint(filepath, monitor="val_acc", save_best_only=False,
                                        mode="auto", save_freq=15, period=100)
    _fit(model, data, checkpoint, batch_size=2, epochs=10, verbose=1)
    saved = [e for e in range(1, 11) if os.path.exists(filepath.format(epoch=e))]
    assert saved == [3, 6, 9]
    for epoch in saved:
        os.remove(filepath.format(epoch=epoch))
    # Case 9: valid and invalid save_freq.
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        cb.ModelCheckpoint(filepath, monitor="val_acc", save_freq="invalid_save_freq")
    cb.ModelCheckpoint(filepath, monitor="val_acc", save_freq="epoch")
    cb.ModelCheckpoint(filepath, monitor="val_acc", save_freq=3)
    # (Case 10, `options=`, is TF's.) Case 11: the batch number in the file name.
    filepath = str(tmp_path / ("checkpoint.epoch{epoch:02d}batch{batch:02d}" + save_format))
    _fit(model, data, cb.ModelCheckpoint(filepath, monitor="val_acc", save_freq=1), epochs=5,
         verbose=1)
    for epoch in range(1, 6):
        for batch in (1, 2):
            assert os.path.exists(filepath.format(epoch=epoch, batch=batch))
            os.remove(filepath.format(epoch=epoch, batch=batch))
    # Cases 12-15: initial_value_threshold.
    filepath = str(tmp_path / ("checkpoint" + save_format))
    for monitor, mode, threshold, written in [("val_acc", "max", 0, True),
                                              ("val_loss", "auto", None, True),
                                              ("val_loss", "min", 0, False),
                                              ("val_loss", "auto", 0, False)]:
        _fit(model, data, cb.ModelCheckpoint(filepath, monitor=monitor, save_best_only=True,
                                             initial_value_threshold=threshold, mode=mode))
        assert os.path.exists(filepath) == written
        if written:
            os.remove(filepath)


class SmallSubclassMLP(torchfit.Model):
    def __init__(self, num_hidden, num_classes):
        super().__init__(device="cpu")
        self.layer_a = nn.Linear(INPUT_DIM, num_hidden)
        self.layer_b = nn.Linear(num_hidden, num_classes)

    def forward(self, inputs):
        return torch.softmax(self.layer_b(torch.relu(self.layer_a(inputs))), dim=-1)


def test_ModelCheckpoint_subclass_KerasV3(tmp_path):
    model = SmallSubclassMLP(NUM_HIDDEN, NUM_CLASSES)
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["acc"])
    filepath = str(tmp_path / "checkpoint.pt")
    (x_train, y_train), _ = get_test_data(TRAIN_SAMPLES, TEST_SAMPLES, (INPUT_DIM,), NUM_CLASSES)
    model.fit(x_train, y_train, callbacks=[cb.ModelCheckpoint(filepath, save_weights_only=False)],
              epochs=1, verbose=0)
    assert os.path.exists(filepath)


class Bias(nn.Module):
    """tf-keras's ``test_utils.Bias``: inputs + a bias initialised to zeros."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, inputs):
        return inputs + self.bias


def _dummy_resource(tmp_path):
    """A bias model (no randomness), SGD(0.1), mae, 2 batches of 8 ones -> zeros."""
    model = torchfit.Sequential(Bias(), device="cpu")
    model.compile(loss="mae", optimizer=torchfit.optimizers.SGD(0.1), metrics=["mae"])
    x, y = torch.ones(16, 1), torch.zeros(16, 1)
    train_ds = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8,
                                           drop_last=True)
    filepath = str(tmp_path / "checkpoint.epoch{epoch:02d}.h5")
    assert not os.path.exists(filepath)
    callback = cb.ModelCheckpoint(filepath=filepath, save_weights_only=True)
    return model, train_ds, callback, filepath


def _weights(model):
    return [p.detach().clone().numpy() for p in model.module.parameters()]


def _run_load_weights_on_restart_test_common_iterations(tmp_path):
    model, train_ds, callback, filepath = _dummy_resource(tmp_path)
    model.fit(train_ds, epochs=3, callbacks=[callback], verbose=0)
    # The files exist after fitting with the callback.
    for epoch in range(3):
        assert os.path.exists(filepath.format(epoch=epoch + 1))
    assert not os.path.exists(filepath.format(epoch=4))
    model.fit(train_ds, epochs=1, verbose=0)
    weights_after_one_more_epoch = _weights(model)
    # The files still exist after fitting without the callback.
    for epoch in range(3):
        assert os.path.exists(filepath.format(epoch=epoch + 1))
    return model, train_ds, filepath, weights_after_one_more_epoch


@pytest.mark.parametrize("save_weights_only", [True, False])
def test_model_checkpoint_load_weights_on_restart_true(tmp_path, save_weights_only):
    # Deliberate: tf.keras 2's `load_weights_on_restart` (removed in Keras 3) is not supported:
    # torchfit resumes with BackupAndRestore, and ModelCheckpoint refuses the argument.
    _, _, filepath, _ = _run_load_weights_on_restart_test_common_iterations(tmp_path)
    with pytest.raises(TypeError, match="load_weights_on_restart"):
        cb.ModelCheckpoint(filepath=filepath, save_weights_only=save_weights_only,
                           load_weights_on_restart=True)


@pytest.mark.parametrize("save_weights_only", [True, False])
def test_model_checkpoint_load_weights_on_restart_false(tmp_path, save_weights_only):
    model, train_ds, filepath, weights_after_one_more_epoch = (
        _run_load_weights_on_restart_test_common_iterations(tmp_path))
    model.fit(train_ds, epochs=1, verbose=0, callbacks=[
        cb.ModelCheckpoint(filepath=filepath, save_weights_only=save_weights_only)])
    # Without a restore at the start of training, the weights moved on by one more epoch.
    assert not np.allclose(weights_after_one_more_epoch, _weights(model))


def test_ModelCheckpoint_override_if_file_exist(tmp_path):
    model, train_ds, filepath, _ = _run_load_weights_on_restart_test_common_iterations(tmp_path)
    # tf-keras loads the most recently modified file matching the pattern: epoch 3, then the
    # epoch-1 file that the new fit overwrites.
    callback = cb.ModelCheckpoint(filepath=filepath, save_weights_only=True)
    model.load_weights(filepath.format(epoch=3))
    weights_before_additional_fit = _weights(model)
    model.fit(train_ds, epochs=1, callbacks=[callback], verbose=0)
    model.load_weights(filepath.format(epoch=1))
    assert not np.allclose(weights_before_additional_fit, _weights(model))


def test_fit_with_ModelCheckpoint_with_dir_as_h5_filepath(tmp_path):
    model, train_ds, _, _ = _dummy_resource(tmp_path)
    filepath = tmp_path / "temp.h5"
    os.mkdir(filepath)
    callback = cb.ModelCheckpoint(filepath=str(filepath))
    message = "Please specify a non-directory filepath for ModelCheckpoint"
    with pytest.raises(IOError, match=message):
        model.fit(train_ds, epochs=1, callbacks=[callback], verbose=0)


def test_ModelCheckpoint_with_bad_path_placeholders(tmp_path):
    model, train_ds, _, _ = _dummy_resource(tmp_path)
    callback = cb.ModelCheckpoint(filepath=str(tmp_path / "chkpt_{epoch:02d}_{mape:.2f}.h5"))
    with pytest.raises(KeyError, match="Failed to format this callback filepath.*"):
        model.fit(train_ds, epochs=1, callbacks=[callback], verbose=0)


def test_ModelCheckpoint_nonblocking(tmp_path):
    # Should only cause a sync block when saving is actually performed.
    callback = cb.ModelCheckpoint(filepath=str(tmp_path / "ckpt.pt"), save_freq=100)
    assert callback.lazy_batch_logs  # tf-keras's `_supports_tf_logs`
    cb_list = cb.CallbackList([callback], model=dense(),
                              params={"epochs": 1, "steps": 10, "verbose": 0})
    logs = {"metric": Unreadable()}
    cb_list.on_train_begin(logs)
    cb_list.on_epoch_begin(0, logs)
    cb_list.on_train_batch_begin(0, logs)
    cb_list.on_train_batch_end(0, logs)
    cb_list.on_epoch_end(0, logs)
    cb_list.on_train_end(logs)
    cb_list.on_test_begin(logs)
    cb_list.on_test_batch_begin(0, logs)
    cb_list.on_test_batch_end(0, logs)
    cb_list.on_test_end(logs)
    cb_list.on_predict_begin(logs)
    cb_list.on_predict_batch_begin(0, logs)
    cb_list.on_predict_batch_end(0, logs)
    cb_list.on_predict_end(logs)


@pytest.mark.parametrize(
    "save_freq, train_samples, epochs, expected",
    [(7, 7, 1, [(1, 7)]), (7, 7, 2, [(1, 7), (2, 7)]), (14, 7, 2, [(2, 7)]),
     (7, 14, 2, [(1, 7), (1, 14), (2, 7), (2, 14)])],
)
def test_fit_with_ModelCheckpoint_with_steps_per_execution(tmp_path, save_freq, train_samples,
                                                           epochs, expected):
    # steps_per_execution=None only (TF's); ".pt" files instead of SavedModel directories.
    model = small_mlp()
    (x_train, y_train), _ = get_test_data(train_samples, 0, (INPUT_DIM,), NUM_CLASSES)
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop")
    savepath = tmp_path / "checkpoint"
    callback = cb.ModelCheckpoint(filepath=str(savepath / "ckpt_{epoch}_{batch}.pt"),
                                  save_freq=save_freq)
    model.fit(x_train, y_train, batch_size=1, epochs=epochs, verbose=0, callbacks=[callback])
    assert sorted(os.listdir(savepath)) == sorted(f"ckpt_{e}_{b}.pt" for e, b in expected)
