"""tf-keras's ``tf_keras/callbacks_test.py``, ported case by case: hooks, progress, backups and
the callback list here; ModelCheckpoint in ``test_tf_keras_callbacks_checkpoint.py``; the
monitoring and logging callbacks in ``test_tf_keras_callbacks_monitors.py``.

Each test is named after the tf-keras method it ports (``test_<method>[_<parameters>]``) and
keeps its expected values; tiny torchfit models stand in for the Keras layers (``Dense(n,
activation)`` -> ``nn.Linear`` + activation). Cases that torchfit deliberately answers otherwise
assert torchfit's documented behaviour and say so in a ``Deliberate:`` comment. Not portable
(TF internals): TensorBoard's summary tests, ``SummaryOpsTest``, ``test_change_tf_functions_
during_fit``, ``test_experimental_backup_and_restore`` (a TF namespace), the SavedModel /
``TF_CONFIG`` / ``tf.train.CheckpointOptions`` checkpoint cases, the ``_supports_tf_logs`` parts,
``MostRecentlyModifiedFileMatchingPatternTest`` (private) and ``RemoteMonitor`` (torchfit has none).
"""

import io
import re
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from tf_keras_helpers import Unreadable, dense
from torchfit import callbacks as cb

HOOKS = [
    "on_batch_begin", "on_batch_end", "on_epoch_begin", "on_epoch_end",
    "on_predict_batch_begin", "on_predict_batch_end", "on_predict_begin", "on_predict_end",
    "on_test_batch_begin", "on_test_batch_end", "on_test_begin", "on_test_end",
    "on_train_batch_begin", "on_train_batch_end", "on_train_begin", "on_train_end",
]


class Counter(cb.Callback):
    """Counts the calls of each hook, then runs the base hook (which forwards
    ``on_train_batch_*`` to ``on_batch_*``, as tf-keras's wrapped methods do)."""

    def __init__(self):
        super().__init__()
        self.method_counts = dict.fromkeys(HOOKS, 0)


def _counting(hook):
    def count(self, *args, **kwargs):
        self.method_counts[hook] += 1
        return getattr(cb.Callback, hook)(self, *args, **kwargs)
    return count


for _hook in HOOKS:
    setattr(Counter, _hook, _counting(_hook))


def _counts_model():
    torch.manual_seed(0)
    model = torchfit.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 1), nn.Sigmoid(),
                                device="cpu")
    model.compile(torchfit.optimizers.Adam(0.001), "binary_crossentropy")
    return model


def _numpy():
    return np.ones((10, 10), "float32"), np.ones((10, 1), "float32")


def _sequence():
    """A Keras ``Sequence`` of 5 batches of 2 is a DataLoader here."""
    x, y = _numpy()
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    return torch.utils.data.DataLoader(dataset, batch_size=2), None


data_kinds = pytest.mark.parametrize("data", [_numpy, _sequence],
                                     ids=["with_numpy", "with_sequence"])


@data_kinds
def test_callback_hooks_are_called_in_fit(data):
    x, y = data()
    counter = Counter()
    batching = {"batch_size": 2} if y is not None else {"validation_batch_size": 2}
    _counts_model().fit(x, y, validation_data=(np.ones((4, 10), "float32"),
                                               np.ones((4, 1), "float32")),
                        steps_per_epoch=5, epochs=5, callbacks=[counter], verbose=0, **batching)
    assert counter.method_counts == {
        "on_batch_begin": 25, "on_batch_end": 25, "on_epoch_begin": 5, "on_epoch_end": 5,
        "on_predict_batch_begin": 0, "on_predict_batch_end": 0, "on_predict_begin": 0,
        "on_predict_end": 0, "on_test_batch_begin": 10, "on_test_batch_end": 10,
        "on_test_begin": 5, "on_test_end": 5, "on_train_batch_begin": 25,
        "on_train_batch_end": 25, "on_train_begin": 1, "on_train_end": 1,
    }


@data_kinds
def test_callback_hooks_are_called_in_evaluate(data):
    x, y = data()
    counter = Counter()
    batching = {"batch_size": 2} if y is not None else {"steps": 5}
    _counts_model().evaluate(x, y, callbacks=[counter], verbose=0, **batching)
    assert {k: v for k, v in counter.method_counts.items() if v} == {
        "on_test_batch_begin": 5, "on_test_batch_end": 5, "on_test_begin": 1, "on_test_end": 1,
    }


@data_kinds
def test_callback_hooks_are_called_in_predict(data):
    x, y = data()
    counter = Counter()
    batching = {"batch_size": 2} if y is not None else {"steps": 5}
    _counts_model().predict(x, callbacks=[counter], verbose=0, **batching)
    assert {k: v for k, v in counter.method_counts.items() if v} == {
        "on_predict_batch_begin": 5, "on_predict_batch_end": 5, "on_predict_begin": 1,
        "on_predict_end": 1,
    }


def test_callback_list_methods():
    counter = Counter()
    callback_list = cb.CallbackList([counter])
    callback_list.on_test_batch_begin(0)
    callback_list.on_test_batch_end(0)
    callback_list.on_predict_batch_begin(0)
    callback_list.on_predict_batch_end(0)
    assert {k: v for k, v in counter.method_counts.items() if v} == {
        "on_test_batch_begin": 1, "on_test_batch_end": 1, "on_predict_batch_begin": 1,
        "on_predict_batch_end": 1,
    }


# KerasCallbacksTest
def _get_model(input_dim=3, additional_metrics=(), lazy=False):
    """Dense(3, relu), Dense(2, softmax); mse, rmsprop, CategoricalAccuracy(name="my_acc")."""
    torch.manual_seed(0)
    first = nn.LazyLinear(3) if lazy else nn.Linear(input_dim, 3)
    model = torchfit.Sequential(first, nn.ReLU(), nn.Linear(3, 2), nn.Softmax(-1), device="cpu")
    model.compile(loss="mse", optimizer="rmsprop",
                  metrics=[torchfit.metrics.CategoricalAccuracy(name="my_acc"),
                           *additional_metrics])
    return model


def _batches(x, y, batch_size):
    dataset = torch.utils.data.TensorDataset(torch.as_tensor(x), torch.as_tensor(y))
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size)


@pytest.mark.parametrize("lazy", [False, True], ids=["built", "deferred_model_build"])
def test_progbar_logging(capsys, lazy):  # and test_progbar_logging_deferred_model_build
    model = _get_model(lazy=lazy)
    model.fit(_batches(torch.ones(200, 3), torch.zeros(200, 2), 10), epochs=2, steps_per_epoch=10,
              verbose=1)
    assert re.search(r"(.*- loss:.*- my_acc:.*)+", capsys.readouterr().out)


class AddAllOnes(torchfit.metrics.Metric):
    """A simple metric that adds all the ones in ``y_true``."""

    def __init__(self, name="add_all_ones", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_weight(name="total", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.total.add_(torch.as_tensor(y_true, dtype=torch.float32).sum())

    def result(self):
        return self.total


def test_progbar_logging_with_stateful_metrics(capsys):
    x_train = np.array([[0, 1, 0, 1, 0, 1, 0, 1]] * 8).astype("float32")
    y_train = np.array([[1, 0], [0, 0], [1, 1], [1, 0], [0, 1], [1, 0], [1, 0], [0, 0]], "float32")
    expected_log = r"(.*- loss:.*- my_acc:.*- add_all_ones: 7.0000)+"  # 7 ones in y_train
    model = _get_model(input_dim=8, additional_metrics=[AddAllOnes()])
    model.fit(x_train, y_train, verbose=1, batch_size=4, shuffle=False)
    assert re.search(expected_log, capsys.readouterr().out)
    model = _get_model(input_dim=8, additional_metrics=[AddAllOnes()])
    model.evaluate(x_train, y_train, verbose=1, batch_size=4)
    assert re.search(expected_log, capsys.readouterr().out)


def test_trivial_backup_restore(tmp_path):
    model = dense()
    model.compile("sgd", "mse")
    model.fit(np.ones((10, 1), "float32"), np.ones((10, 1), "float32"), epochs=1, verbose=0,
              callbacks=[cb.BackupAndRestore(str(tmp_path))])


class Interrupt(cb.Callback):
    def __init__(self, epochs=(), steps=None):
        super().__init__()
        self.epochs, self.steps, self.batch_count = set(epochs), steps, 0

    def on_epoch_end(self, epoch, logs=None):
        if epoch in self.epochs:
            raise RuntimeError("EpochInterruption")

    def on_batch_end(self, batch, logs=None):
        self.batch_count += 1
        if self.batch_count == self.steps:
            raise RuntimeError("StepsInterruption")


def test_backup_restore_train_counter(tmp_path):
    # model._train_counter (steps run) is the optimizer's step count here.
    model = dense()
    model.compile("sgd", "mse")
    backup = cb.BackupAndRestore(str(tmp_path))
    x = np.ones((10, 1), "float32")
    assert model.optimizer.iterations == 0
    # Deliberate: tf-keras expects 6 then 13. torchfit's BackupAndRestore backs up after every
    # other callback's epoch end (``dispatch_last``), so an epoch whose callbacks raised is not
    # backed up: the second fit redoes epoch 5 (from the backup of epoch 4) and stops there again.
    for expected in (6, 6):
        with pytest.raises(RuntimeError, match="Interruption"):
            model.fit(x, x, epochs=20, verbose=0, callbacks=[backup, Interrupt(epochs=(5, 12))])
        assert model.optimizer.iterations == expected


def _repeated_batches():
    """``tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(2)`` of 24 random samples
    (``y`` of shape (24, 10), not (24,): torchfit's mse does not broadcast targets)."""
    generator = torch.Generator().manual_seed(0)
    x, y = torch.rand(24, 10, generator=generator), torch.rand(24, 10, generator=generator)

    def forever():
        while True:
            for start in range(0, 24, 2):
                yield x[start:start + 2], y[start:start + 2]
    return forever()


def test_backup_and_restore(tmp_path):
    model = dense(10, 10)
    model.compile(torchfit.optimizers.SGD(), loss="mse")
    backup = cb.BackupAndRestore(backup_dir=str(tmp_path))
    with pytest.raises(RuntimeError):
        model.fit(_repeated_batches(), epochs=20, steps_per_epoch=5, verbose=0,
                  callbacks=[backup, Interrupt(epochs=(15,))])
    # This continues at the epoch where it left off.
    history = model.fit(_repeated_batches(), epochs=20, steps_per_epoch=5, verbose=0,
                        callbacks=[backup])
    assert history.epoch[0] > 0 and history.epoch[-1] == 19


class VerifyRestore(cb.Callback):
    """Verify that training restored to the right epoch and step (tf-keras's, as written)."""

    def __init__(self, initial_epoch, initial_step):
        super().__init__()
        self.initial_epoch, self.initial_step, self._current_epoch = initial_epoch, initial_step, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch
        if epoch < self.initial_epoch:
            raise ValueError(f"Training did not restore at epoch ({self.initial_epoch})")

    def on_batch_begin(self, batch, logs=None):
        if batch <= self.initial_step and self._current_epoch < self.initial_epoch:
            raise ValueError(f"Training did not restore at step ({self.initial_step})")

    def on_train_begin(self, logs=None):
        if self.model.optimizer is None:
            raise ValueError("Optimizer did not restore at train begin")


def _backup_at_steps(tmp_path, epoch_int, steps_int, mode, restored_at=None):
    model = dense(10, 10)
    model.compile(torchfit.optimizers.SGD(), loss="mse")
    save_freq = "epoch" if mode == "epoch" else 7
    backup = cb.BackupAndRestore(backup_dir=str(tmp_path), save_freq=save_freq)
    if save_freq == "epoch":
        init_epoch, init_step = epoch_int, 0
    else:
        init_epoch = int(((steps_int // 7) * 7) // 5)
        init_step = int((((steps_int // 7) * 7) % 5) - 1)
    init_epoch, init_step = restored_at or (init_epoch, init_step)
    with pytest.raises(RuntimeError) as interruption:
        model.fit(_repeated_batches(), epochs=20, steps_per_epoch=5, verbose=0,
                  callbacks=[backup, Interrupt(epochs=(epoch_int,), steps=steps_int)])
    # This continues at the epoch and step where it left off.
    model.fit(_repeated_batches(), epochs=20, steps_per_epoch=5, verbose=0,
              callbacks=[backup, VerifyRestore(init_epoch, init_step)])
    return str(interruption.value)


def test_backup_and_restore_steps(tmp_path):
    assert _backup_at_steps(tmp_path / "a", 20, 3, "batch") == "StepsInterruption"
    assert _backup_at_steps(tmp_path / "b", 20, 8, "batch") == "StepsInterruption"
    assert _backup_at_steps(tmp_path / "c", 1, 12, "epoch") == "EpochInterruption"


def test_backup_and_restore_steps_last_batch(tmp_path):
    # Deliberate: tf-keras resumes at epoch 7 (the backup of step 35, taken before the
    # interruption at step 35). torchfit backs up after the other callbacks' batch end
    # (``dispatch_last``): the step that raised is not backed up, so it resumes from the backup
    # of step 28, after batch 2 of epoch 5.
    interruption = _backup_at_steps(tmp_path, 20, 35, "batch", restored_at=(5, 2))
    assert interruption == "StepsInterruption"


def test_backup_and_restore_steps_false_save_freq(tmp_path):
    assert _backup_at_steps(tmp_path / "a", 20, 3, False) == "StepsInterruption"
    assert _backup_at_steps(tmp_path / "b", 20, 8, "batch") == "StepsInterruption"
    assert _backup_at_steps(tmp_path / "c", 1, 12, "epoch") == "EpochInterruption"


def test_backup_and_restore_steps_clean_up(tmp_path):
    model = dense(10, 10)
    model.compile(torchfit.optimizers.SGD(), loss="mse")
    x, y = torch.rand(24, 10), torch.rand(24, 10)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0,
              callbacks=[cb.BackupAndRestore(str(tmp_path), delete_checkpoint=True)])
    assert list(tmp_path.iterdir()) == []
    model.fit(x, y, batch_size=2, epochs=1, verbose=0,
              callbacks=[cb.BackupAndRestore(str(tmp_path), delete_checkpoint=False)])
    assert list(tmp_path.iterdir()) != []


class SleepCallback(cb.Callback):
    def on_train_batch_end(self, batch, logs=None):
        pass  # tf-keras sleeps 0.1 s here to trigger its warning


def test_callback_warning():
    # Deliberate: tf-keras warns "Callback method `on_train_batch_end` is slow compared to the
    # batch time". torchfit times no hook (timing each would cost a device sync per batch) and
    # warns about nothing.
    model = dense()
    model.compile("sgd", loss="mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(np.ones((16, 1), "float32"), np.ones((16, 1), "float32"), batch_size=3,
                  epochs=1, verbose=0, callbacks=[SleepCallback()])
    assert not [w for w in caught if "is slow compared to the batch time" in str(w.message)]


def test_default_callbacks_no_warning():
    model = dense()
    model.compile("sgd", loss="mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(np.ones((16, 1), "float32"), np.ones((16, 1), "float32"), batch_size=3,
                  epochs=1, verbose=0)
    assert [str(w.message) for w in caught] == []


def test_progbar_logging_validation_data(capsys):
    x, y = torch.ones(50, 3), torch.zeros(50, 2)
    _get_model().fit(_batches(x, y, 10), epochs=2, validation_data=_batches(x, y, 10), verbose=1)
    assert re.search(r"(.*5/5.*- loss:.*- my_acc:.*- val_loss:.*- val_my_acc:.*)+",
                     capsys.readouterr().out)


def test_progbar_logging_validation_split(capsys):
    _get_model().fit(np.ones((100, 3), "float32"), np.zeros((100, 2), "float32"), batch_size=10,
                     epochs=2, validation_split=0.2, verbose=1)
    expected_log = (
        r"(?s).*1/2.*8/8.*- loss:.*- my_acc:.*- val_loss:.*- val_my_acc:"
        r".*2/2.*8/8.*- loss:.*- my_acc:.*- val_loss:.*- val_my_acc:.*"
    )
    assert re.search(expected_log, capsys.readouterr().out)


def _pairs(count, partial=False):
    """Batches of 2 of ``yield [1, 1], 1`` (or of random x, for the partial-batch case)."""
    def batches():
        rng = np.random.default_rng(0)
        items = [(rng.random(2) if partial else np.ones(2), 1.0) for _ in range(count)]
        for start in range(0, count, 2):
            chunk = items[start:start + 2]
            yield (np.array([x for x, _ in chunk], "float32"),
                   np.array([[y, y] for _, y in chunk], "float32"))
    return batches


def _reiterable(batches):
    """A re-iterable validation set, as a tf.data.Dataset is (a generator is used up once)."""
    x, y = zip(*batches())
    return _batches(np.concatenate(x), np.concatenate(y), 2)


def test_progbar_logging_training_validation(capsys):
    def forever():
        while True:
            yield from _pairs(100)()
    _get_model(input_dim=2).fit(forever(), validation_data=_reiterable(_pairs(100)), epochs=2,
                                steps_per_epoch=20, verbose=1)
    expected_log = (
        r"(?s).*1/2.*20/20.*- loss:.*- my_acc:.*- val_loss:.*- val_my_acc:"
        r".*2/2.*20/20.*- loss:.*- my_acc:.*- val_loss:.*- val_my_acc:.*"
    )
    assert re.search(expected_log, capsys.readouterr().out)


def test_progbar_logging_with_dataset_and_partial_batch(capsys):
    # A partial batch at the end (9 samples in batches of 2): val_ metrics are not zeros.
    _get_model(input_dim=2).fit(_pairs(9, partial=True)(),
                                validation_data=_pairs(9, partial=True)(), verbose=1)
    val_loss = re.findall(r"val_loss: (\d\.\d+)", capsys.readouterr().out)
    assert len(val_loss) == 1
    assert float(val_loss[0]) > 0.0


def test_verbose_2_logging(capsys):
    rng = np.random.default_rng(0)
    data = rng.random((100, 1)).astype("float32")
    labels = np.where(data > 0.5, 1, 0).astype("float32")
    torch.manual_seed(0)
    model = torchfit.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1), nn.Sigmoid(),
                                device="cpu")
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(data, labels, verbose=2, epochs=20)
    assert re.search(r"(.*- loss:.*- acc.*:.*epoch)+", capsys.readouterr().out)


def test_ProgbarLogger_verbose_2_nonblocking():
    # Should only cause a sync block on epoch end methods.
    callback = cb.ProgbarLogger(stream=io.StringIO())
    assert callback.lazy_batch_logs  # the equivalent of tf-keras's `_supports_tf_logs`
    cb_list = cb.CallbackList([callback], model=dense(),
                              params={"epochs": 1, "steps": 10, "verbose": 2})
    logs = {"metric": Unreadable()}
    cb_list.on_train_begin(logs)
    cb_list.on_epoch_begin(0, logs)
    cb_list.on_train_batch_begin(0, logs)
    cb_list.on_train_batch_end(0, logs)
    cb_list.on_test_begin(logs)
    cb_list.on_test_batch_begin(0, logs)
    cb_list.on_test_batch_end(0, logs)
    cb_list.on_test_end(logs)
    with pytest.raises(RuntimeError, match="NumPy conversion"):
        cb_list.on_epoch_end(0, logs)  # on_epoch_end should still block.
    cb_list.on_train_end(logs)


class _UnknownLength(torch.utils.data.IterableDataset):
    """``Dataset.batch(2).filter(...)``: 5 batches of an unknown cardinality."""

    def __iter__(self):
        for _ in range(5):
            yield torch.ones(2, 1), torch.ones(2, 1)


def test_progbar_infers_steps():
    # Deliberate: tf-keras builds ProgbarLogger("steps") (count_mode, which Keras 3 removed);
    # torchfit's counts steps only. Its first argument is the stream.
    progbar = cb.ProgbarLogger(stream=io.StringIO())
    model = dense()
    model.compile("sgd", "mse")
    assert progbar.target is None
    model.fit(torch.utils.data.DataLoader(_UnknownLength(), batch_size=None), epochs=2,
              callbacks=[progbar], verbose=1)
    assert progbar.target == 5
    assert "5/5 [" in progbar.stream.getvalue().split("Epoch 2/2")[1]


class FloatsCallback(cb.Callback):
    def on_batch_end(self, batch, logs=None):
        assert isinstance(batch, int)
        assert isinstance(logs["loss"], float)
        self.on_batch_end_called = True

    def on_epoch_end(self, batch, logs=None):
        assert isinstance(batch, int)
        assert isinstance(logs["loss"], float)
        self.on_epoch_end_called = True


def test_callback_passed_floats():
    model = dense()
    model.compile("sgd", "mse")
    callback = FloatsCallback()
    model.fit(np.ones((10, 1), "float32"), np.ones((10, 1), "float32"), epochs=2, verbose=0,
              callbacks=[callback])
    assert callback.on_batch_end_called and callback.on_epoch_end_called


class BatchHooks(cb.Callback):
    def __init__(self, should_run=True):
        super().__init__()
        self.train_batches = self.test_batches = self.predict_batches = 0
        if not should_run:  # torchfit's opt-out (tf-keras: `_implements_*_batch_hooks()`)
            self.unused_hooks = frozenset(
                {"on_train_batch_end", "on_test_batch_end", "on_predict_batch_end"})

    def on_train_batch_end(self, batch, logs=None):
        self.train_batches += 1

    def on_test_batch_end(self, batch, logs=None):
        self.test_batches += 1

    def on_predict_batch_end(self, batch, logs=None):
        self.predict_batches += 1


class EpochsOnly(cb.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


def _batch_hook_runs(callback):
    x = np.ones((10, 1), "float32")
    model = dense()
    model.compile("sgd", "mse")
    model.fit(x, x, epochs=2, batch_size=10, callbacks=[callback], verbose=0)
    model.evaluate(x, x, batch_size=10, callbacks=[callback], verbose=0)
    model.predict(x, batch_size=10, callbacks=[callback], verbose=0)


def _calls_batch_hooks(cb_list):
    return [cb_list.overrides(f"on_{kind}_batch_end") for kind in ("train", "test", "predict")]


def test_implements_batch_hooks():
    my_cb = BatchHooks()
    assert _calls_batch_hooks(cb.CallbackList([my_cb])) == [True, True, True]
    _batch_hook_runs(my_cb)
    assert (my_cb.train_batches, my_cb.test_batches, my_cb.predict_batches) == (2, 1, 1)
    my_cb = EpochsOnly()
    cb_list = cb.CallbackList([my_cb])
    assert len(cb_list.callbacks) == 1
    assert _calls_batch_hooks(cb_list) == [False, False, False]
    _batch_hook_runs(my_cb)
    assert my_cb.epochs == 2


class MutateLogs(cb.Callback):
    def on_epoch_end(self, epoch, logs=None):
        logs["numpy"] = 1


def test_logs_conversion():
    # Deliberate: in tf-keras a callback writes into the logs the next callbacks receive
    # ({"all": 0, "numpy": 1, "tf": 2}). torchfit's logs are read-only to callbacks, so that no
    # callback's output depends on the callbacks' order.
    cb_list = cb.CallbackList([MutateLogs()])
    with pytest.raises(TypeError, match="does not support item assignment"):
        cb_list.on_epoch_end(0, logs={"all": 0})


@pytest.mark.parametrize("should_run", [True, False])
def test_implements_batch_hooks_override(should_run):
    my_cb = BatchHooks(should_run=should_run)
    assert _calls_batch_hooks(cb.CallbackList([my_cb])) == [should_run] * 3
    _batch_hook_runs(my_cb)
    expected = (2, 1, 1) if should_run else (0, 0, 0)
    assert (my_cb.train_batches, my_cb.test_batches, my_cb.predict_batches) == expected


@pytest.mark.parametrize("steps", [10, None], ids=["known_steps", "unknown_steps"])
def test_default_callbacks_do_not_call_batch_hooks(tmp_path, steps):
    cb_list = cb.CallbackList(
        [cb.TensorBoard(str(tmp_path), profile_batch=0),
         cb.ModelCheckpoint(str(tmp_path / "model.pt"))],
        add_progbar=True, model=dense(), params={"verbose": 2, "epochs": 3, "steps": steps})
    assert len(cb_list.callbacks) == 3
    # Deliberate, without a number of steps (tf-keras's case): tf-keras reads the model's step
    # counter at the epoch end; torchfit's ProgbarLogger counts the steps in its batch hooks.
    assert _calls_batch_hooks(cb_list) == [steps is None] * 3


class StopAtBatch2(cb.Callback):
    def __init__(self):
        super().__init__()
        self.batch_counter = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batch_counter += 1
        if batch == 2:
            self.model.stop_training = True


def test_stop_training_batch_level():
    model = dense(10, 1)
    model.compile("sgd", "mse")
    my_cb = StopAtBatch2()
    # Will run 5 batches if `stop_training` doesn't work.
    model.fit(np.ones((10, 10), "float32"), np.ones((10, 1), "float32"), batch_size=2,
              callbacks=[my_cb], verbose=0)
    assert my_cb.batch_counter == 3


def test_built_in_callback_order():
    # Deliberate: tf-keras (and Keras 3) order [custom, History, ProgbarLogger]. torchfit puts
    # History and ProgbarLogger first, so the epoch's progress line is printed before what the
    # user's callbacks print for that epoch (the guide's output), and model.history already
    # holds the epoch when they run.
    custom_callback = cb.Callback()
    cb_list = cb.CallbackList([custom_callback], add_history=True, add_progbar=True,
                              model=dense())
    assert [type(c) for c in cb_list.callbacks] == [cb.History, cb.ProgbarLogger, cb.Callback]
