"""LearningRateScheduler: function schedules and torch schedulers, its line, errors and state."""

import warnings

import pytest
import torch

from callback_helpers import _lr, _roundtrip
from helpers import compiled_model
from torchfit import optimizers
from torchfit.callbacks import LambdaCallback, LearningRateScheduler


def _lrs_during_fit(blobs, scheduler, epochs=3, lr=0.1):
    x, y = blobs
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=lr))
    if callable(scheduler) and not isinstance(scheduler, LearningRateScheduler):
        scheduler = scheduler(model)
    seen = []
    record = LambdaCallback(on_train_batch_begin=lambda batch, logs: batch == 0 and seen.append(
        _lr(model)))
    model.fit(x, y, epochs=epochs, callbacks=[scheduler, record], verbose=0)
    return seen


def test_learning_rate_scheduler_two_and_one_argument_functions(blobs):
    assert _lrs_during_fit(blobs, LearningRateScheduler(lambda epoch, lr: lr * 0.5)) == [
        0.05, 0.025, 0.0125]
    assert _lrs_during_fit(blobs, LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))) == [
        0.1, 0.05, 0.1 / 3]


def test_learning_rate_scheduler_with_torch_schedulers(blobs):
    step = lambda model: LearningRateScheduler(  # noqa: E731
        torch.optim.lr_scheduler.StepLR(model.optimizer, step_size=1, gamma=0.5))
    assert _lrs_during_fit(blobs, step) == pytest.approx([0.1, 0.05, 0.025])
    plateau = lambda model: LearningRateScheduler(  # noqa: E731
        torch.optim.lr_scheduler.ReduceLROnPlateau(model.optimizer, mode="max", patience=0),
        monitor="loss")
    # stepped on the falling loss in mode="max": epoch 2 is the first bad epoch
    assert _lrs_during_fit(blobs, plateau) == pytest.approx([0.1, 0.1, 0.01])


def test_learning_rate_scheduler_line_and_errors(blobs, capsys):
    x, y = blobs
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=0.01))
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[LearningRateScheduler(lambda epoch, lr: 0.001, verbose=1)])
    assert capsys.readouterr().out == (
        "\nEpoch 00001: LearningRateScheduler setting learning rate to 0.001.\n")
    with pytest.raises(ValueError, match="The output of the `schedule` function should be a "
                                         "float. Received: '0.1' of type str"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda e: "0.1")])
    other = torch.optim.SGD(compiled_model().parameters(), lr=0.1)
    with pytest.raises(ValueError, match="built on another optimizer than model.optimizer"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[
            LearningRateScheduler(torch.optim.lr_scheduler.StepLR(other, step_size=1))])
    with pytest.raises(TypeError, match="`schedule` must be a function"):
        LearningRateScheduler(0.1)


def test_learning_rate_scheduler_state_dict_roundtrip(tmp_path):
    model = compiled_model(optimizer=optimizers.SGD(learning_rate=0.1))
    step = torch.optim.lr_scheduler.StepLR(model.optimizer, step_size=2, gamma=0.5)
    scheduler = LearningRateScheduler(step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "lr_scheduler.step() before optimizer"
        for _ in range(3):
            step.step()
    state = _roundtrip(scheduler.state_dict(), tmp_path)
    other = torch.optim.lr_scheduler.StepLR(model.optimizer, step_size=2, gamma=0.5)
    LearningRateScheduler(other).load_state_dict(state)
    assert other.last_epoch == 3
    assert LearningRateScheduler(lambda e: 0.1).state_dict() == {}
