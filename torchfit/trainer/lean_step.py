"""``test_step`` and ``predict_step`` with fewer Python layers, for models that override nothing.

``Model.test_step`` goes through about a dozen calls per batch (``unpack_x_y_sample_weight``,
``StepPolicy.forward``, ``call_with_inputs``, ``Model.__call__``, ``compute_loss``,
``CompiledLoss.__call__``, ``Loss.__call__``, ``compute_metrics``, ...), each with the checks
that its general case needs. On a small model they cost as much as a kernel or two per batch.
Once the first batch has run through the full step (its checks done, the metrics built), a
model that changes none of it gets a step that makes the same calls to its ``forward``, its
loss, the loss tracker and its metrics, in the same order, on the same tensors, and so returns
the same values bit for bit; a batch of another form goes through the full step.

Eligible: ``test_step`` / ``predict_step``, ``compute_loss``, ``compute_metrics``,
``call_with_inputs`` and ``__call__`` not overridden; one process (no strategy); full precision;
no forward hooks, no layer adding losses or metrics; one output with one compiled loss that
logs the total.

Example:
    >>> model = torchfit.Model(nn.Linear(3, 2))
    >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
    ...               metrics=["accuracy"])
    >>> x, y = torch.ones(4, 3), torch.tensor([0, 1, 1, 0])
    >>> logs = model.evaluate(x, y, batch_size=2, verbose=0)  # batch 1 full, batch 2 lean
    >>> step = lean_test_step(model)
    >>> with torch.no_grad():
    ...     sorted(step((x, y)))
    ['accuracy', 'loss']
    >>> class Custom(torchfit.Model):
    ...     def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
    ...         return super().compute_loss(x, y, y_pred, sample_weight) * 2
    >>> custom = Custom(nn.Linear(3, 2))
    >>> custom.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    >>> logs = custom.evaluate(x, y, batch_size=2, verbose=0)
    >>> lean_test_step(custom) is None  # an override: every batch takes the full step
    True
"""

import torch

__all__ = ["lean_predict_step", "lean_test_step"]

_FULL_STEP = ("compute_loss", "compute_metrics", "call_with_inputs", "__call__",
              "_update_metrics", "get_metrics_result")


def _forward(model):
    """``model.forward``; the wrapped module itself when that is all ``Model.forward`` calls."""
    from torchfit.model import Model

    if (type(model).forward is Model.forward and "forward" not in vars(model)
            and model.module is not None):  # not overridden, not replaced by jit_compile
        return model.module
    return model.forward


def _plain(model, *names):
    """Whether ``model`` runs the forward pass as ``Model`` does: nothing overridden, nothing
    hooked, nothing added to it during the call, one process, full precision."""
    from torchfit.model import Model, _hookless

    if any(getattr(type(model), name) is not getattr(Model, name) for name in names):
        return False
    return (model._strategy is None and model._adds_nothing and not model._check_forward
            and model._example_inputs is not None and model._step.precision.dtype is None
            and _hookless(model))


def lean_test_step(model):
    """The lean ``test_step`` of ``model`` (run under ``no_grad``), or None when ``model`` needs
    the full one. Call it after a first batch has gone through ``model.test_step``."""
    if not _plain(model, "test_step", *_FULL_STEP):
        return None
    compiled, metrics = model.compiled_loss, model.compiled_metrics
    if (compiled is None or not compiled.built or not compiled._is_single or compiled.check_labels
            or compiled._single is None or not compiled.tracks_total
            or metrics._entries is None or metrics._names != [None]):
        return None
    forward, loss_fn, weight = _forward(model), compiled._single, compiled._single_weight
    tracker = compiled.tracker
    updates = [metric.update_state for _, metric, _ in metrics._entries]
    full_step, logs = model.test_step, model.get_metrics_result

    def step(batch):
        if type(batch) is not tuple or len(batch) != 2:  # (x,), (x, y, sample_weight), ShardBatch
            return full_step(batch)
        x, y = batch
        if type(x) is not torch.Tensor or type(y) is not torch.Tensor:
            return full_step(batch)
        y_pred = forward(x)
        if type(y_pred) is not torch.Tensor:  # the rest of the full step, as it would run
            model.compute_loss(x, y, y_pred, None)
            return model.compute_metrics(x, y, y_pred, None)
        loss = loss_fn(y, y_pred, None)
        tracker.update_state(loss * weight if weight != 1.0 else loss, y_pred.shape[0])
        for update in updates:
            update(y, y_pred, None)
        return logs()

    return step


def lean_predict_step(model):
    """The lean ``predict_step`` of ``model`` (run under ``no_grad``), or None; call it after a
    first batch has gone through ``model.predict_step``."""
    if not _plain(model, "predict_step", "call_with_inputs", "__call__"):
        return None
    forward, full_step = _forward(model), model.predict_step

    def step(batch):
        if type(batch) is tuple and len(batch) == 1 and type(batch[0]) is torch.Tensor:
            return forward(batch[0])
        return full_step(batch)

    return step
