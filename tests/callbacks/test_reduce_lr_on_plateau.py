"""ReduceLROnPlateau: the tf.keras rules (cooldown, min_lr), every param group, state."""

from types import MappingProxyType

import pytest
import torch

import torchfit
from callback_helpers import _drive, _lr, _roundtrip
from helpers import compiled_model
from torchfit import optimizers
from torchfit.callbacks import ReduceLROnPlateau


def test_reduce_lr_on_plateau_exact_sequence_with_cooldown_and_min_lr():
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=1.0))
    reduce_lr = ReduceLROnPlateau(factor=0.5, patience=2, min_delta=0, cooldown=2, min_lr=0.2)
    reduce_lr.set_model(model)
    reduce_lr.on_train_begin()
    values = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6]
    lrs, waits = [], []
    for epoch, value in enumerate(values):
        logs = MappingProxyType({"val_loss": value})
        reduce_lr.on_epoch_end(epoch, logs)
        assert dict(logs) == {"val_loss": value}  # the logs are not written to
        lrs.append(_lr(model))
        waits.append(reduce_lr.wait)
    # Worked by hand from the tf.keras rules (cooldown counts down before the check).
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2]
    assert waits == [0, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 2]
    assert model.optimizer.learning_rate == 0.2 and reduce_lr.best == 0.5


def test_reduce_lr_on_plateau_line_and_max_mode(capsys):
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=0.001))
    reduce_lr = ReduceLROnPlateau(monitor="val_accuracy", patience=1, verbose=1)
    _drive(reduce_lr, model, [0.5, 0.6, 0.6], monitor="val_accuracy")
    assert _lr(model) == 0.001 * 0.1
    assert capsys.readouterr().out == (
        f"\nEpoch 00003: ReduceLROnPlateau reducing learning rate to {0.001 * 0.1}.\n")


def test_reduce_lr_on_plateau_sets_every_group_of_a_torch_optimizer(blobs):
    x, y = blobs
    model = compiled_model()
    first, second = list(model.module.children())[0], list(model.module.children())[2]
    model.compile(optimizer=torch.optim.SGD([{"params": first.parameters(), "lr": 0.1},
                                             {"params": second.parameters(), "lr": 0.01}]),
                  loss=torchfit.losses.SparseCategoricalCrossentropy(from_logits=True))
    # mode="max" on a falling loss: every epoch after the first is a plateau.
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[
        ReduceLROnPlateau(monitor="loss", mode="max", patience=0, factor=0.5)])
    assert [g["lr"] for g in model.optimizer.param_groups] == [0.1 * 0.25, 0.01 * 0.25]
    assert set(history.history) == {"loss"}  # no "lr" added to the logs


def test_reduce_lr_on_plateau_errors():
    with pytest.raises(ValueError, match=r"does not support a factor >= 1.0 .*factor=1.0"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'min_deltas'. Did you mean "
                                        "'min_delta'"):
        ReduceLROnPlateau(min_deltas=0.1)
    schedule = optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=schedule))
    reduce_lr = ReduceLROnPlateau()
    reduce_lr.set_model(model)
    with pytest.raises(TypeError, match="cannot set the learning rate .* is a schedule"):
        reduce_lr.on_train_begin()


def test_reduce_lr_on_plateau_state_dict_roundtrip(tmp_path):
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=1.0))
    reduce_lr = ReduceLROnPlateau(patience=3, cooldown=2)
    _drive(reduce_lr, model, [1.0, 2.0, 2.0])
    resumed = ReduceLROnPlateau(patience=3, cooldown=2)
    resumed.load_state_dict(_roundtrip(reduce_lr.state_dict(), tmp_path))
    resumed.set_model(model)
    resumed.on_train_begin()
    assert resumed.state_dict() == {"best": 1.0, "wait": 2, "cooldown_counter": 0}
    resumed.on_epoch_end(3, {"val_loss": 2.0})
    assert _lr(model) == pytest.approx(0.1) and resumed.cooldown_counter == 2


def test_a_nan_epoch_is_no_improvement_and_never_the_best():
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=1.0))
    reduce_lr = ReduceLROnPlateau(patience=1, factor=0.5)
    with pytest.warns(UserWarning, match="the monitored value `val_loss` is NaN"):
        _drive(reduce_lr, model, [0.5, float("nan")])
    assert reduce_lr.best == 0.5 and _lr(model) == 0.5  # reduced, as tf.keras 2 does on NaN
