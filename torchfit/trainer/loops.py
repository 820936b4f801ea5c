"""The only epoch and batch loops of torchfit: ``run_fit``, ``run_evaluate``, ``run_predict``.

Who owns what:
- ``Model.fit`` / ``evaluate`` / ``predict`` validate arguments and build the iterators and the
  ``CallbackList``; they never loop.
- ``EpochIterator`` (``epoch_iterator.py``) decides how many steps an epoch has and hands out
  device-ready batches.
- ``Model.train_step`` / ``test_step`` / ``predict_step`` do the work of one batch; they are the
  override points.
- These functions order the calls. Stopping happens only through ``model.stop_training``, checked
  after each batch and each epoch.

One ``fit``, with every callback hook in firing order::

    model.history = the History in callbacks            # a new one per fit (Keras 3)
    callbacks.set_fit_context(FitContext(...))          # callback.fit_context, until fit ends
    callbacks.on_train_begin()                          # may ask to resume (BackupAndRestore)
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        model.train()
        for step, batch in train_iterator:
            callbacks.on_train_batch_begin(step)
            logs = model.train_step(batch)              # device tensors, no sync
            callbacks.on_train_batch_end(step, logs)
            if model.stop_training or signals.pending: break
        if signals.pending and steps remain:            # SIGTERM: back up, exit 143;
            signals.stop(epoch, step + 1)               # SIGINT: KeyboardInterrupt
        epoch_logs = to_floats(logs)                    # sync: once per epoch
        if validating this epoch:
            callbacks.on_test_begin()
            for step, batch in val_iterator:            # model.eval(), no_grad
                callbacks.on_test_batch_begin(step)
                logs = model.test_step(batch)
                callbacks.on_test_batch_end(step, logs)
            callbacks.on_test_end(val_logs)
            epoch_logs.update(val_ + val_logs)
        callbacks.on_epoch_end(epoch, epoch_logs)
        if signals.pending: signals.stop(epoch + 1, 0)  # at the epoch boundary
        if model.stop_training: break
    callbacks.on_train_end(epoch_logs)                  # not after a signal
    callbacks.set_fit_context(None)                     # also when fit raises
    return that History                                 # also when no epoch ran: empty

``evaluate`` and ``predict`` run their first batch through ``test_step`` / ``predict_step``;
a model that overrides and hooks none of it runs the others through ``lean_step``'s steps: the
same calls on the same tensors, fewer Python layers.

Distributed (``model._strategy``, see ``torchfit.distributed``): the same loop on every rank.
Before each step the rank's share of the batch sets the loss scale; logs are read reduced across
ranks (the same floats everywhere); ``stop_training`` is agreed at each epoch end, and after each
step when a callback that may stop training has batch hooks; ``predict`` gathers every rank's
rows in input order.

Signals (``signals.py``): during ``fit`` SIGTERM and SIGINT only set ``signals.pending``,
checked with ``stop_training`` after each step; the last step of an epoch lets validation and
``on_epoch_end`` run first, so the stop lands on the epoch boundary.
"""

import torch

from torchfit import nest
from torchfit.callbacks.fit_context import FitContext
from torchfit.callbacks.history import History
from torchfit.distributed import reduce
from torchfit.logs import to_floats
from torchfit.trainer import inputs, lean_step
from torchfit.trainer.signals import FitSignals

__all__ = ["run_fit", "run_evaluate", "run_predict"]


def _should_validate(epoch, validation_freq):
    if isinstance(validation_freq, int):
        return (epoch + 1) % validation_freq == 0
    return epoch + 1 in validation_freq


def run_fit(model, train_iterator, callbacks, epochs, initial_epoch=0, val_iterator=None,
            validation_freq=1):
    """Trains ``model`` for ``epochs - initial_epoch`` epochs; returns this fit's ``History``.

    As in Keras 3, the ``History`` among ``callbacks`` (``Model.fit`` always adds a new one)
    becomes ``model.history`` when the fit starts, and is returned even when no epoch runs
    (``epochs=0``, ``initial_epoch >= epochs``, a resume with nothing left): then its
    ``history`` is ``{}`` and its ``epoch`` ``[]``. Without a ``History`` among the callbacks,
    ``model.history`` is returned.

    The callbacks hold this fit's ``FitContext`` (``callback.fit_context``, and
    ``model._fit_context``) from before ``on_train_begin`` until the fit returns or raises.
    """
    history = next((cb for cb in callbacks.callbacks if isinstance(cb, History)), None)
    if history is not None:
        model.history = history
    context = model._fit_context = FitContext(callbacks, train_iterator, initial_epoch, epochs)
    callbacks.set_fit_context(context)
    strategy = getattr(model, "_strategy", None)
    floats = to_floats if strategy is None else strategy.floats
    agree_per_step = strategy is not None and callbacks.may_stop_on_batch
    try:
        with FitSignals() as signals:
            model.stop_training = False
            callbacks.on_train_begin()
            if context.resume is not None:
                initial_epoch = context.resume["epoch"]
                train_iterator.skip_steps(context.resume["step"])
            epoch_logs = {}
            for epoch in range(initial_epoch, epochs):
                model.reset_metrics()
                callbacks.on_epoch_begin(epoch)
                model.train()
                logs = None
                for step, batch in train_iterator:
                    if strategy is not None:
                        strategy.prepare_step(model, batch)
                    callbacks.on_train_batch_begin(step)
                    logs = model.train_step(batch)
                    callbacks.on_train_batch_end(step, logs)
                    if agree_per_step:
                        model.stop_training = strategy.agree(model.stop_training)
                    if model.stop_training or signals.pending:
                        break
                if logs is None:  # The data ran out before this epoch's first step.
                    break
                if signals.pending and step + 1 != train_iterator.num_steps:
                    signals.stop(callbacks, epoch, step + 1)  # raises
                epoch_logs = floats(logs)
                if val_iterator is not None and _should_validate(epoch, validation_freq):
                    val_logs = run_evaluate(model, val_iterator, callbacks)
                    epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
                callbacks.on_epoch_end(epoch, epoch_logs)
                if strategy is not None:  # every rank stops at the same epoch
                    model.stop_training = strategy.agree(model.stop_training)
                if signals.pending:
                    signals.stop(callbacks, epoch + 1, 0)  # raises
                if model.stop_training or train_iterator.ran_out_of_data:
                    break
            callbacks.on_train_end(epoch_logs)
    finally:
        model._fit_context = None
        callbacks.set_fit_context(None)
        if strategy is not None:  # train_on_batch and custom loops use their batch as it is
            model._step.loss_scale = 1.0
    return history if history is not None else model.history


def run_evaluate(model, iterator, callbacks):
    """Runs ``test_step`` over one epoch of ``iterator``; returns ``{name: float}``."""
    model.eval()
    model.reset_metrics()
    callbacks.on_test_begin()
    logs = None
    batch_hooks = (callbacks.overrides("on_test_batch_begin")
                   or callbacks.overrides("on_test_batch_end"))
    test_step, first = model.test_step, not batch_hooks
    with torch.no_grad():
        for step, batch in iterator:
            if batch_hooks:
                callbacks.on_test_batch_begin(step)
            logs = test_step(batch)
            if batch_hooks:
                callbacks.on_test_batch_end(step, logs)
            elif first:  # checked and built by the full step: the rest may take the lean one
                test_step, first = lean_step.lean_test_step(model) or test_step, False
    strategy = getattr(model, "_strategy", None)
    logs = to_floats(logs) if strategy is None else strategy.floats(logs)
    callbacks.on_test_end(logs)
    return logs


def run_predict(model, iterator, callbacks):
    """Runs ``predict_step`` over one epoch of ``iterator``; returns the outputs as NumPy."""
    model.eval()
    callbacks.on_predict_begin()
    outputs = []
    positions = [] if getattr(model, "_strategy", None) is not None else None
    batch_hooks = (callbacks.overrides("on_predict_batch_begin")
                   or callbacks.overrides("on_predict_batch_end"))
    predict_step, first = model.predict_step, not batch_hooks
    with torch.no_grad():
        for step, batch in iterator:
            if batch_hooks:
                callbacks.on_predict_batch_begin(step)
            batch_outputs = predict_step(batch)
            if first:  # checked by the full step: the rest may take the lean one
                predict_step, first = lean_step.lean_predict_step(model) or predict_step, False
            outputs.append(batch_outputs)
            if positions is not None:
                positions.append(getattr(batch, "positions", None))
            if batch_hooks:
                callbacks.on_predict_batch_end(step, {"outputs": batch_outputs})
    callbacks.on_predict_end()
    if not outputs:
        raise ValueError("`predict` received no data: the input produced no batch.")
    return _concatenate(outputs, inputs.floating_dtype(model), positions)


def _to_numpy(tensor, dtype=torch.float32):
    """Low-precision floating outputs (autocast's) come back in the model's dtype ``dtype``;
    bfloat16, which NumPy lacks, as float32."""
    tensor = tensor.detach()
    if tensor.dtype in (torch.bfloat16, torch.float16) and tensor.dtype != dtype:
        tensor = tensor.to(torch.float32 if dtype == torch.bfloat16 else dtype)
    elif tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.cpu().numpy()  # sync: the one copy of the joined outputs to the host


def _concatenate(batches, dtype=torch.float32, positions=None):
    """Joins per-batch output nests along the sample axis, then copies to the host once.

    ``dtype`` is the model's floating dtype (``trainer.inputs.floating_dtype``): see ``_to_numpy``.
    ``positions`` (distributed): each batch's place in the input; every rank's rows are then
    gathered, in input order (``torchfit.distributed.reduce.gather_outputs``).
    """
    single = type(batches[0]) is torch.Tensor  # one output: no nest to walk per batch
    leaves = [[batch] if single else nest.flatten(batch) for batch in batches]
    joined = [torch.cat(parts) if len(parts) > 1 else parts[0] for parts in zip(*leaves)]
    if positions is not None:
        sizes = [len(parts[0]) for parts in leaves]
        joined = reduce.gather_outputs(
            joined, reduce.output_positions(positions, sizes, joined[0].device))
    outputs = nest.pack_sequence_as(batches[0], [_to_numpy(t, dtype) for t in joined])
    # Like Keras, several outputs come back as a list (a dict stays a dict).
    return list(outputs) if isinstance(outputs, tuple) else outputs
