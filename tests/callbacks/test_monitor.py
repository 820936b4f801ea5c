"""Monitor: the shared monitor / mode / min_delta rules (torchfit/callbacks/monitor.py)."""

import types

import pytest

from callback_helpers import _drive
from helpers import compiled_model
from torchfit.callbacks import EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from torchfit.callbacks.monitor import Monitor


def test_mode_must_be_auto_min_or_max():
    for cls in (EarlyStopping, ReduceLROnPlateau):
        with pytest.raises(ValueError, match=r"`mode` must be one of 'auto', 'min', 'max'. "
                                             r"Received: mode='maximum'"):
            cls(mode="maximum")
    with pytest.raises(ValueError, match="`mode` must be one of"):
        ModelCheckpoint("m.pt", mode="best")


def test_auto_mode_uses_the_metric_direction_then_the_keras_name_rule():
    assert Monitor("val_accuracy").higher_is_better
    assert Monitor("acc").higher_is_better
    assert Monitor("val_auc").higher_is_better
    assert not Monitor("val_loss").higher_is_better
    assert not Monitor("val_mean_squared_error").higher_is_better
    # A metric of the model decides through higher_is_better, whatever its name says.
    model = types.SimpleNamespace(metrics=[types.SimpleNamespace(name="score",
                                                                 higher_is_better=True)])
    monitor = Monitor("val_score")
    monitor.resolve(model)
    assert monitor.higher_is_better and monitor.initial_best() == -float("inf")
    assert Monitor("val_accuracy", mode="min").higher_is_better is False


def test_min_delta_follows_the_keras_sign_convention():
    down, up = Monitor("val_loss", min_delta=-0.1), Monitor("val_accuracy", min_delta=0.1)
    assert down.is_improvement(0.85, 1.0) and not down.is_improvement(0.95, 1.0)
    assert up.is_improvement(0.75, 0.6) and not up.is_improvement(0.65, 0.6)
    assert not down.is_improvement(float("nan"), 1.0)


def test_missing_monitor_warns_once_listing_the_available_keys():
    model = compiled_model()
    stop = EarlyStopping(monitor="val_accuracy", patience=0)
    with pytest.warns(UserWarning) as record:
        _drive(stop, model, [0.5, 0.4, 0.3], monitor="accuracy")
    messages = [str(w.message) for w in record]
    assert messages == ["Early stopping conditioned on metric `val_accuracy` which is not "
                        "available. Available metrics are: loss,accuracy"]
    assert not model.stop_training


# ------------------------------------------------------------------- NaN (issue 13 item 5)
NAN = float("nan")


def test_nan_never_improves_and_anything_improves_on_a_nan_reference():
    for monitor in (Monitor("val_loss"), Monitor("val_accuracy")):
        assert not monitor.is_improvement(NAN, monitor.initial_best())
        assert not monitor.is_improvement(NAN, 0.5)
        assert monitor.is_improvement(0.5, NAN)  # a NaN `best` (say, loaded) is beaten


@pytest.mark.parametrize("name", ["min_delta", "baseline"])
def test_a_nan_min_delta_or_baseline_is_refused(name):
    with pytest.raises(ValueError, match=rf"`{name}` must be a number \(not NaN\)\. "
                                         rf"Received: {name}=nan"):
        Monitor("val_loss", **{name: NAN})


@pytest.mark.parametrize("make", [
    lambda tmp: EarlyStopping(patience=10),
    lambda tmp: ReduceLROnPlateau(patience=10),
    lambda tmp: ModelCheckpoint(str(tmp / "m.pt"), save_best_only=True),
])
def test_a_nan_monitored_value_warns_once_per_fit(tmp_path, make):
    callback, model = make(tmp_path), compiled_model()
    for _ in range(2):  # each fit warns again, once
        with pytest.warns(UserWarning, match=r"the monitored value `val_loss` is NaN") as caught:
            _drive(callback, model, [0.5, NAN, NAN, 0.4])
        assert len([w for w in caught if "is NaN" in str(w.message)]) == 1
    assert callback.best == 0.4  # the NaN epochs never became the best


def test_finite_values_do_not_warn(recwarn):
    _drive(EarlyStopping(patience=10), compiled_model(), [0.5, 0.6, 0.4])
    assert not [w for w in recwarn if "NaN" in str(w.message)]
