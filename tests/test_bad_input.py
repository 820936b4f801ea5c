"""Bad input, refused clearly before the first optimizer step (issue 13, item 8).

One table: each case is a call a user gets wrong, the exception type (``ValueError`` /
``TypeError``) and a pattern naming the argument. Every case also checks that the model's
weights are bit-for-bit unchanged after the refusal: nothing was trained on the bad input.
"""

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from torchfit import callbacks as cbs

N_CLASSES = 10


def _model():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, N_CLASSES))
    return torchfit.Model(net, device="cpu")


def _compiled(**kwargs):
    model = _model()
    kwargs.setdefault("loss", torchfit.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.compile(optimizer="adam", **kwargs)
    return model


def _data(n=16):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, N_CLASSES, size=n)


def _with(array, index, value):
    array = array.astype(np.float32 if isinstance(value, float) else array.dtype, copy=True)
    array[index] = value
    return array


X, Y = _data()
SW = np.ones(len(X), np.float32)


def _loader(x, y, batch_size=8):
    dataset = torch.utils.data.TensorDataset(torch.as_tensor(x), torch.as_tensor(y))
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size)


def _fit(**kwargs):
    def action(model, tmp_path):
        args = {"x": X, "y": Y, "verbose": 0, "epochs": 1, **kwargs}
        model.fit(**args)
    return action


def _evaluate(**kwargs):
    return lambda model, tmp_path: model.evaluate(**{"x": X, "y": Y, "verbose": 0, **kwargs})


def _predict(**kwargs):
    return lambda model, tmp_path: model.predict(**{"x": X, "verbose": 0, **kwargs})


def _compile(**kwargs):
    return lambda model, tmp_path: model.compile(**kwargs)


def _fit_compiled(compile_kwargs, **fit_kwargs):
    """Compiles with ``compile_kwargs`` (accepted), then fits: the refusal comes from fit."""
    def action(model, tmp_path):
        model.compile(**{"optimizer": "adam", **compile_kwargs})
        _fit(**fit_kwargs)(model, tmp_path)
    return action


def _fit_callbacks(make):
    return lambda model, tmp_path: _fit(callbacks=make(tmp_path))(model, tmp_path)


def _h5_with_dtype(model, tmp_path, dtype):
    import h5py

    path = str(tmp_path / "weights.h5")
    model.save_weights(path)
    with h5py.File(path, "r+") as f:
        for name in list(f.keys()):
            values = f[name][()].astype(dtype)
            attrs = dict(f[name].attrs)
            del f[name]
            f[name] = values
            for key, value in attrs.items():
                f[name].attrs[key] = np.dtype(dtype).name if key == "torch_dtype" else value
    return path


def _load_h5(dtype):
    def action(model, tmp_path):
        path = _h5_with_dtype(_model(), tmp_path, dtype)
        model.load_weights(path)
    return action


def _load_pt(change):
    def action(model, tmp_path):
        state = {k: v.clone() for k, v in model.weights_module().state_dict().items()}
        path = str(tmp_path / "weights.pt")
        torch.save(change(state), path)
        model.load_weights(path)
    return action


def _resized(state):
    state["0.weight"] = torch.zeros(8, 5)
    return state


def _extra(state):
    state["extra.weight"] = torch.zeros(2)
    return state


def _missing(state):
    del state["2.bias"]
    return state


def _with_folder(method):
    def action(model, tmp_path):
        folder = tmp_path / "folder.pt"
        folder.mkdir()
        getattr(model, method)(str(folder))
    return action


def _no_module_predict(model, tmp_path):
    torchfit.Model(device="cpu").predict(X, verbose=0)


def _device_cuda(model, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: device='cuda' is valid here")
    torchfit.Model(nn.Linear(4, 2), device="cuda")


def _uncompiled(action):
    """Marks a case that runs on a model ``compile`` has not seen."""
    action.uncompiled = True
    return action


def _on_batch(method, *args, **kwargs):
    return lambda model, tmp_path: getattr(model, method)(*args, **kwargs)


CASES = [
    # ---------------------------------------------------------------- construction
    ("model_module_not_a_module", lambda m, t: torchfit.Model(5), TypeError, "nn.Module"),
    ("model_device_unknown", lambda m, t: torchfit.Model(nn.Linear(4, 2), device="tpu"),
     ValueError, "device"),
    ("model_device_number_type", lambda m, t: torchfit.Model(nn.Linear(4, 2), device=[0]),
     ValueError, "device"),
    ("model_device_cuda_without_gpu", _device_cuda, ValueError, "device='cuda'"),
    # ---------------------------------------------------------------- compile
    ("compile_optimizer_unknown", _compile(optimizer="adamm", loss="mse"), ValueError,
     "optimizer"),
    ("compile_optimizer_number", _compile(optimizer=3, loss="mse"), (ValueError, TypeError),
     "optimizer"),
    ("compile_loss_unknown", _compile(loss="msee"), ValueError, "loss"),
    ("compile_loss_number", _compile(loss=3), (ValueError, TypeError), "loss"),
    ("compile_metric_unknown", _compile(loss="mse", metrics=["accuracyy"]), ValueError,
     "metric"),
    ("compile_metric_number", _compile(loss="mse", metrics=[3]), (ValueError, TypeError),
     "metric"),
    ("compile_unknown_kwarg", _compile(loss="mse", lr=0.1), (ValueError, TypeError), "lr"),
    ("compile_precision_unknown", _compile(loss="mse", precision="64"), ValueError,
     "precision"),
    ("compile_accumulation_zero", _compile(loss="mse", gradient_accumulation_steps=0),
     ValueError, "gradient_accumulation_steps"),
    ("compile_clipnorm_negative", _compile(loss="mse", clipnorm=-1.0), ValueError, "clipnorm"),
    ("compile_clipvalue_negative", _compile(loss="mse", clipvalue=-1.0), ValueError,
     "clipvalue"),
    ("compile_jit_compile_string", _compile(loss="mse", jit_compile="yes"),
     (ValueError, TypeError), "jit_compile"),
    ("compile_loss_weights_string", _compile(loss="mse", loss_weights="heavy"),
     (ValueError, TypeError), "loss_weights"),
    ("fit_loss_weights_two_for_one_output", _fit_compiled(
        {"loss": "sparse_categorical_crossentropy", "loss_weights": [1, 2]}),
     ValueError, "loss_weights"),
    ("fit_loss_list_two_for_one_output", _fit_compiled(
        {"loss": ["sparse_categorical_crossentropy", "mse"]}), ValueError, "loss"),
    ("fit_torch_cross_entropy_label_out_of_range", _fit_compiled(
        {"loss": nn.CrossEntropyLoss()}, y=_with(Y, 5, N_CLASSES)), ValueError, "label"),
    ("fit_nll_loss_label_negative", _fit_compiled(
        {"loss": nn.NLLLoss()}, y=_with(Y, 0, -2)), ValueError, "label"),
    ("fit_loss_dict_unknown_output", _fit_compiled(
        {"loss": {"scores": "sparse_categorical_crossentropy"}}), ValueError, "loss"),
    # ---------------------------------------------------------------- fit: not ready
    ("fit_before_compile", _uncompiled(lambda m, t: m.fit(X, Y, verbose=0)), ValueError,
     "compile"),
    ("evaluate_before_compile", _uncompiled(lambda m, t: m.evaluate(X, Y, verbose=0)),
     ValueError, "compile"),
    ("train_on_batch_before_compile", _uncompiled(_on_batch("train_on_batch", X, Y)),
     ValueError, "compile"),
    ("test_on_batch_before_compile", _uncompiled(_on_batch("test_on_batch", X, Y)),
     ValueError, "compile"),
    ("predict_without_module", _no_module_predict, (ValueError, TypeError), "forward"),
]

FIT_CASES = [
    # ---------------------------------------------------------------- fit: numbers
    ("fit_epochs_string", {"epochs": "3"}, ValueError, "epochs"),
    ("fit_epochs_negative", {"epochs": -1}, ValueError, "epochs"),
    ("fit_epochs_float", {"epochs": 1.5}, ValueError, "epochs"),
    ("fit_epochs_bool", {"epochs": True}, ValueError, "epochs"),
    ("fit_batch_size_zero", {"batch_size": 0}, ValueError, "batch_size"),
    ("fit_batch_size_string", {"batch_size": "32"}, ValueError, "batch_size"),
    ("fit_batch_size_float", {"batch_size": 2.5}, ValueError, "batch_size"),
    ("fit_batch_size_negative", {"batch_size": -8}, ValueError, "batch_size"),
    ("fit_verbose_three", {"verbose": 3}, ValueError, "verbose"),
    ("fit_verbose_string", {"verbose": "loud"}, ValueError, "verbose"),
    ("fit_validation_split_one", {"validation_split": 1.0}, ValueError, "validation_split"),
    ("fit_validation_split_negative", {"validation_split": -0.1}, ValueError,
     "validation_split"),
    ("fit_validation_split_string", {"validation_split": "0.2"}, ValueError,
     "validation_split"),
    ("fit_steps_per_epoch_zero", {"steps_per_epoch": 0}, ValueError, "steps_per_epoch"),
    ("fit_steps_per_epoch_negative", {"steps_per_epoch": -1}, ValueError, "steps_per_epoch"),
    ("fit_steps_per_epoch_float", {"steps_per_epoch": 1.5}, ValueError, "steps_per_epoch"),
    ("fit_validation_steps_zero", {"validation_steps": 0}, ValueError, "validation_steps"),
    ("fit_validation_batch_size_zero", {"validation_batch_size": 0}, ValueError,
     "validation_batch_size"),
    ("fit_validation_freq_zero", {"validation_freq": 0}, ValueError, "validation_freq"),
    ("fit_validation_freq_string", {"validation_freq": "1"}, ValueError, "validation_freq"),
    ("fit_initial_epoch_negative", {"initial_epoch": -1}, ValueError, "initial_epoch"),
    ("fit_initial_epoch_float", {"initial_epoch": 0.5}, ValueError, "initial_epoch"),
    ("fit_unknown_kwarg", {"nb_epoch": 3}, (ValueError, TypeError), "nb_epoch"),
    ("fit_shuffle_string", {"shuffle": "yes"}, (ValueError, TypeError), "shuffle"),
    # ---------------------------------------------------------------- fit: data
    ("fit_x_y_length_mismatch", {"y": Y[:10]}, ValueError, "x"),
    ("fit_x_string", {"x": "data.csv"}, (ValueError, TypeError), "x"),
    ("fit_x_none", {"x": None, "y": None}, (ValueError, TypeError), "x"),
    ("fit_y_string", {"y": "labels"}, (ValueError, TypeError), "y"),
    ("fit_x_nan", {"x": _with(X, (3, 1), np.nan)}, ValueError, "`x`"),
    ("fit_x_inf", {"x": _with(X, (5, 0), np.inf)}, ValueError, "`x`"),
    ("fit_x_minus_inf", {"x": _with(X, (15, 3), -np.inf)}, ValueError, "`x`"),
    ("fit_x_nan_tensor", {"x": torch.as_tensor(_with(X, (0, 0), np.nan))}, ValueError, "`x`"),
    ("fit_x_nan_in_list", {"x": [_with(X, (2, 2), np.nan)]}, ValueError, "`x`"),
    ("fit_y_nan", {"y": _with(Y, 4, np.nan), "batch_size": 4}, ValueError, "`y`"),
    ("fit_y_inf_regression", {"y": _with(X[:, :1], (7, 0), np.inf)}, ValueError, "`y`"),
    ("fit_sample_weight_nan", {"sample_weight": _with(SW, 9, np.nan)}, ValueError,
     "sample_weight"),
    ("fit_sample_weight_inf", {"sample_weight": _with(SW, 0, np.inf)}, ValueError,
     "sample_weight"),
    ("fit_sample_weight_length", {"sample_weight": SW[:5]}, ValueError, "sample_weight"),
    ("fit_sample_weight_string", {"sample_weight": "uniform"}, (ValueError, TypeError),
     "sample_weight"),
    ("fit_validation_x_nan", {"validation_data": (_with(X, (1, 1), np.nan), Y)}, ValueError,
     "`validation x`"),
    ("fit_label_equal_to_classes", {"y": _with(Y, 2, N_CLASSES)}, ValueError,
     "label"),
    ("fit_label_far_out_of_range", {"y": _with(Y, 0, 99)}, ValueError, "label"),
    ("fit_label_negative", {"y": _with(Y, 1, -1)}, ValueError, "label"),
    ("fit_label_fractional", {"y": _with(Y, 3, 2.5)}, ValueError, "label"),
    ("fit_label_out_of_range_loader", {"x": _loader(X, _with(Y, 0, N_CLASSES)), "y": None},
     ValueError, "label"),
    ("fit_label_negative_generator",
     {"x": iter([(torch.as_tensor(X), torch.as_tensor(_with(Y, 0, -3)))]), "y": None},
     ValueError, "label"),
    ("fit_features_too_many", {"x": np.ones((16, 5), np.float32)}, ValueError,
     r"\(16, 5\)|\(N, 5\).*Linear"),
    ("fit_features_too_few", {"x": np.ones((16, 3), np.float32)}, ValueError, "Linear"),
    ("fit_features_loader", {"x": _loader(np.ones((16, 6), np.float32), Y), "y": None},
     ValueError, "Linear"),
    # ---------------------------------------------------------------- fit: validation_data
    ("fit_validation_data_one_item", {"validation_data": (X,)}, ValueError,
     "validation_data"),
    ("fit_validation_data_four_items", {"validation_data": (X, Y, SW, SW)}, ValueError,
     "validation_data"),
    ("fit_validation_data_array", {"validation_data": X}, ValueError, "validation_data"),
    ("fit_validation_data_number", {"validation_data": 0.2}, ValueError, "validation_data"),
    ("fit_validation_data_lengths", {"validation_data": (X, Y[:3])}, ValueError, "x"),
    ("fit_validation_split_generator",
     {"x": iter([(torch.as_tensor(X), torch.as_tensor(Y))]), "y": None,
      "validation_split": 0.5}, ValueError, "validation_split"),
    # ---------------------------------------------------------------- fit: class_weight
    ("fit_class_weight_negative", {"class_weight": {0: -1.0, 1: 1.0}}, ValueError,
     "class_weight"),
    ("fit_class_weight_nan", {"class_weight": {0: float("nan")}}, ValueError, "class_weight"),
    ("fit_class_weight_key_out_of_range", {"class_weight": {N_CLASSES: 2.0}}, ValueError,
     "class_weight"),
    ("fit_class_weight_key_negative", {"class_weight": {-1: 2.0}}, ValueError,
     "class_weight"),
    ("fit_class_weight_key_string", {"class_weight": {"cat": 2.0}}, ValueError,
     "class_weight"),
    ("fit_class_weight_list", {"class_weight": [1.0, 2.0]}, (ValueError, TypeError),
     "class_weight"),
    ("fit_class_weight_value_string", {"class_weight": {0: "high"}}, (ValueError, TypeError),
     "class_weight"),
    # ---------------------------------------------------------------- fit: callbacks
    ("fit_callbacks_number", {"callbacks": 5}, (ValueError, TypeError), "callbacks"),
    ("fit_callbacks_list_of_string", {"callbacks": ["early_stopping"]},
     (ValueError, TypeError), "callbacks"),
    ("fit_callbacks_class_not_instance", {"callbacks": [cbs.EarlyStopping]},
     (ValueError, TypeError), "callbacks"),
]

EVALUATE_PREDICT_CASES = [
    ("evaluate_batch_size_zero", _evaluate(batch_size=0), ValueError, "batch_size"),
    ("evaluate_batch_size_string", _evaluate(batch_size="8"), ValueError, "batch_size"),
    ("evaluate_steps_zero", _evaluate(steps=0), ValueError, "steps"),
    ("evaluate_verbose_five", _evaluate(verbose=5), ValueError, "verbose"),
    ("evaluate_unknown_kwarg", _evaluate(validation_split=0.1), (ValueError, TypeError),
     "validation_split"),
    ("evaluate_x_y_length_mismatch", _evaluate(y=Y[:3]), ValueError, "x"),
    ("evaluate_y_nan", _evaluate(y=_with(Y, 0, np.nan)), ValueError, "`y`"),
    ("evaluate_label_out_of_range", _evaluate(y=_with(Y, 0, N_CLASSES)), ValueError, "label"),
    ("evaluate_features", _evaluate(x=np.ones((16, 7), np.float32)), ValueError, "Linear"),
    ("evaluate_callbacks_number", _evaluate(callbacks=3), (ValueError, TypeError),
     "callbacks"),
    ("predict_batch_size_zero", _predict(batch_size=0), ValueError, "batch_size"),
    ("predict_steps_negative", _predict(steps=-2), ValueError, "steps"),
    ("predict_verbose_string", _predict(verbose="quiet"), ValueError, "verbose"),
    ("predict_unknown_kwarg", _predict(y=Y), (ValueError, TypeError), "y"),
    ("predict_x_string", _predict(x="images/"), (ValueError, TypeError), "x"),
    ("predict_x_none", _predict(x=None), (ValueError, TypeError), "x"),
    ("predict_features", _predict(x=np.ones((16, 2), np.float32)), ValueError, "Linear"),
    ("predict_callbacks_number", _predict(callbacks=1.0), (ValueError, TypeError),
     "callbacks"),
    ("train_on_batch_x_string", _on_batch("train_on_batch", "x", Y), TypeError, "x"),
    ("train_on_batch_label_out_of_range",
     _on_batch("train_on_batch", X, _with(Y, 0, N_CLASSES)), ValueError, "label"),
    ("train_on_batch_features", _on_batch("train_on_batch", np.ones((4, 5), np.float32),
                                          Y[:4]), ValueError, "Linear"),
    ("predict_on_batch_x_string", _on_batch("predict_on_batch", "x"), TypeError, "x"),
]

CALLBACK_CASES = [
    ("early_stopping_mode", lambda t: [cbs.EarlyStopping(mode="biggest")], ValueError, "mode"),
    ("early_stopping_patience_negative", lambda t: [cbs.EarlyStopping(patience=-1)],
     ValueError, "patience"),
    ("model_checkpoint_mode", lambda t: [cbs.ModelCheckpoint(str(t / "m.pt"), mode="up")],
     ValueError, "mode"),
    ("model_checkpoint_save_freq", lambda t: [cbs.ModelCheckpoint(str(t / "m.pt"),
                                                                  save_freq="often")],
     ValueError, "save_freq"),
    ("reduce_lr_factor_one", lambda t: [cbs.ReduceLROnPlateau(factor=1.0)], ValueError,
     "factor"),
    ("reduce_lr_factor_two", lambda t: [cbs.ReduceLROnPlateau(factor=2.0)], ValueError,
     "factor"),
    ("reduce_lr_mode", lambda t: [cbs.ReduceLROnPlateau(mode="lowest")], ValueError, "mode"),
    ("lr_scheduler_not_callable", lambda t: [cbs.LearningRateScheduler(0.1)],
     (ValueError, TypeError), "schedule"),
    ("backup_dir_none", lambda t: [cbs.BackupAndRestore(None)], (ValueError, TypeError),
     "backup_dir"),
]

SAVING_CASES = [
    ("save_weights_onto_folder", _with_folder("save_weights"), ValueError, "filepath|folder"),
    ("save_onto_folder", _with_folder("save"), ValueError, "filepath|folder"),
    ("load_weights_h5_float64", _load_h5(np.float64), ValueError, "float64"),
    ("load_weights_h5_int32", _load_h5(np.int32), ValueError, "int32"),
    ("load_weights_pt_shape", _load_pt(_resized), ValueError, "0.weight"),
    ("load_weights_pt_extra_key", _load_pt(_extra), ValueError, "extra.weight"),
    ("load_weights_pt_missing_key", _load_pt(_missing), ValueError, "2.bias"),
    ("save_weights_unknown_suffix", lambda m, t: m.save_weights(str(t / "w.txt")),
     ValueError, r"\.txt|suffix"),
    ("load_weights_unknown_suffix", lambda m, t: m.load_weights(str(t / "w.bin")),
     ValueError, r"\.bin|suffix"),
]


def _table():
    for name, action, error, match in CASES + EVALUATE_PREDICT_CASES + SAVING_CASES:
        yield pytest.param(action, error, match, id=name)
    for name, kwargs, error, match in FIT_CASES:
        yield pytest.param(_fit(**kwargs), error, match, id=name)
    for name, make, error, match in CALLBACK_CASES:
        yield pytest.param(_fit_callbacks(make), error, match, id=name)


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.weights_module().state_dict().items()}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("action, error, match", list(_table()))
def test_bad_input_is_refused_before_any_step(action, error, match, tmp_path):
    model = _model() if getattr(action, "uncompiled", False) else _compiled()
    before = _snapshot(model)
    with pytest.raises(error, match=match):
        action(model, tmp_path)
    after = _snapshot(model)
    assert list(after) == list(before)
    for key, value in before.items():  # bit for bit, NaN included
        assert torch.equal(after[key].view(torch.uint8), value.view(torch.uint8)), key


def test_table_has_at_least_90_cases():
    assert len(list(_table())) >= 90


def test_one_callback_not_in_a_list_is_accepted():
    model = _compiled()
    stopper = cbs.EarlyStopping(monitor="loss", patience=0)
    history = model.fit(X, Y, epochs=2, verbose=0, callbacks=stopper)
    assert stopper.model is model
    assert len(history.epoch) >= 1


def test_nonfinite_check_can_be_turned_off():
    model = _compiled()
    x = _with(X, (0, 0), np.nan)
    history = model.fit(x, Y, epochs=1, verbose=0, check_finite=False)
    assert np.isnan(history.history["loss"][0])


def test_evaluate_names_nan_in_x_only_when_a_result_is_not_finite(monkeypatch):
    from torchfit import data as data_module

    model = _compiled()
    with pytest.raises(ValueError, match=r"`x` holds 1 NaN or infinite value\(s\)"):
        model.evaluate(_with(X, (2, 1), np.nan), Y, verbose=0)
    loss = model.evaluate(_with(X, (2, 1), np.nan), Y, verbose=0, check_finite=False)
    assert np.isnan(loss)
    checked = []
    monkeypatch.setattr(data_module, "check_finite",
                        lambda value, argument, method: checked.append(argument))
    model.evaluate(X, Y, verbose=0)
    assert checked == ["y"]  # finite results: x is not read twice


def test_good_data_still_trains():
    model = _compiled()
    before = _snapshot(model)
    model.fit(X, Y, epochs=1, verbose=0, batch_size=8)
    assert not torch.equal(before["0.weight"], model.weights_module().state_dict()["0.weight"])
