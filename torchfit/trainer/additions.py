"""Additions: everything ``add_loss`` / ``add_metric`` contribute to a model, in one object.

Three sources feed it, all per model call:

* ``torchfit.Layer`` submodules, whose ``forward`` calls ``self.add_loss`` / ``self.add_metric``;
* zero-argument callables given to ``model.add_loss`` / ``model.add_metric``, evaluated after
  each call (weight penalties);
* callables of a submodule's output (``on="encoder"``), run by a forward hook on that submodule
  (activity penalties); ``on=""`` names the root module, so the callable gets the whole model's
  output.

A ``torchfit.Model`` nested inside another contributes its callables and hooks to the outer one
too (as a nested Keras model's losses and metrics do): in order, the Layers', the nested
models', then the model's own.

A callable's arity is checked when it is added: without ``on`` it must take no arguments, with
``on`` one (its output), so a mix-up fails at ``add_loss`` time, not in ``fit``.

``Model.__call__`` brackets every call with ``begin_call`` / ``end_call``; ``losses`` and
``metric_values`` then hold that call's values. When nothing adds anything (the common case),
``empty`` is True and the model call is a plain module call: no per-step Python work at all.
The submodules are looked at once, and again after ``add_loss`` / ``add_metric`` or ``compile``.
"""

import inspect

from torchfit.layer import Layer, check_aggregation, check_loss_value, metric_value
from torchfit.metrics import Mean, Sum
from torchfit.trainer.inputs import positional_arity

__all__ = ["Additions"]


def _check_arity(fn, on, method, argument):
    """Refuses a callable that cannot be called as ``fn()`` (no ``on``) or ``fn(output)``."""
    arity = positional_arity(fn)
    if arity is None:
        return
    required, most = arity
    accepted = float("inf") if most is None else most
    name = getattr(fn, "__name__", type(fn).__name__)
    try:
        shown = f"{name}{inspect.signature(fn)}"
    except (TypeError, ValueError):
        shown = name
    if on is None and required > 0:
        raise TypeError(
            f"model.{method}({argument}) without `on=` calls {argument}() with no arguments "
            f"after every forward call, but it requires {required} positional argument(s). "
            f"Received: {shown}. Either pass a zero-argument callable, e.g. "
            f"model.{method}(lambda: 1e-4 * net.fc.weight.pow(2).sum()), or name the module "
            f"whose output it takes: model.{method}(lambda out: 0.1 * out.abs().mean(), "
            f'on="encoder") for a submodule, or on="" for the whole model\'s output.'
        )
    if on is not None and (required > 1 or accepted < 1):
        needs = "takes no arguments" if accepted < 1 else f"requires {required} arguments"
        raise TypeError(
            f"model.{method}({argument}, on={on!r}) calls {argument}(output) with that module's "
            f"output, but it {needs}. Received: {shown}. Pass a callable of one argument "
            f"(lambda out: ...), or drop `on=` for a zero-argument callable."
        )


def _submodule(root, name, method):
    if name == "":  # the root module: the whole model's output
        return root
    modules = dict(root.named_modules())
    modules.pop("", None)
    if name not in modules:
        raise ValueError(
            f"{method}(on={name!r}): no submodule is named {name!r}. Available names: "
            f"{', '.join(map(repr, modules))}."
        )
    return modules[name]


class Additions:
    """The added losses and metrics of one model, and the epoch trackers of the metrics.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 2))
        >>> additions = Additions()
        >>> additions.add_loss(lambda: net[0].weight.abs().sum())
        >>> additions.empty(net)
        False
        >>> additions.begin_call(net)
        >>> _ = net(torch.ones(1, 3))
        >>> additions.end_call()
        >>> torch.equal(additions.losses(net)[0], net[0].weight.abs().sum())
        True
    """

    def __init__(self):
        self._layers = None  # the Layer submodules; None: look again at the next call
        self._nested = []  # the Additions of torchfit Models nested inside, found with _layers
        self._has_hooks = False
        self._loss_fns = []  # zero-argument callables
        self._metric_fns = []  # (callable, name, aggregation)
        self._call_losses = []  # this call's values from the callables and the hooks
        self._call_metrics = []  # (name, value, aggregation)
        self.trackers = {}  # add_metric name -> Mean/Sum over the epoch, made on first sight

    def layers(self, model):
        # Found once: walking every submodule at every step would cost per-step Python time.
        if self._layers is None:
            self._layers = [m for m in model.modules() if isinstance(m, Layer)]
            # A compiled Model used inside this one: its callables and hooks count here too,
            # as a nested Keras model's losses and metrics do (its Layers are found above).
            self._nested = [m._additions for m in model.modules()
                            if m is not model and isinstance(getattr(m, "_additions", None),
                                                             Additions)]
        return self._layers

    def _own_empty(self):
        return not (self._loss_fns or self._metric_fns or self._has_hooks)

    def empty(self, model):
        """True when nothing in ``model`` adds losses or metrics."""
        return not self.layers(model) and self._own_empty() and \
            all(nested._own_empty() for nested in self._nested)

    def refresh(self):
        """Looks for ``Layer`` submodules again at the next call (the module may have changed)."""
        self._layers = None

    def begin_call(self, model):
        for layer in self.layers(model):
            layer.clear_added()
        self._call_losses.clear()
        self._call_metrics.clear()

    def end_call(self):
        for fn in self._loss_fns:
            self._call_losses.append(check_loss_value(fn(), "model.add_loss"))
        for fn, name, aggregation in self._metric_fns:
            self._call_metrics.append((name, metric_value(fn()), aggregation))

    def losses(self, model):
        """The losses added during the last call."""
        return [loss for layer in self.layers(model) for loss in layer._losses] + \
            [loss for nested in self._nested for loss in nested._call_losses] + self._call_losses

    def metric_values(self, model):
        """``(name, value, aggregation)`` of the metrics added during the last call."""
        return [entry for layer in self.layers(model) for entry in layer._added_metrics] + \
            [entry for nested in self._nested for entry in nested._call_metrics] + \
            self._call_metrics

    def add_loss(self, loss, on=None, root=None):
        """``loss()`` after every call, or with ``on`` ``loss(output)`` of the submodule of
        ``root`` so named (``""``: ``root`` itself), at its every call (a forward hook)."""
        if not callable(loss):
            raise TypeError(
                "model.add_loss takes a callable: a zero-argument function, or with `on=` a "
                f"function of that submodule's output. Received: {type(loss).__name__}. To add a "
                "tensor computed inside forward, use torchfit.Layer.add_loss."
            )
        _check_arity(loss, on, "add_loss", "loss")
        self.refresh()
        if on is None:
            self._loss_fns.append(loss)
            return
        owner = f"model.add_loss(on={on!r})"
        _submodule(root, on, "add_loss").register_forward_hook(
            lambda module, inputs, output: self._call_losses.append(
                check_loss_value(loss(output), owner)))
        self._has_hooks = True

    def add_metric(self, metric, name, aggregation="mean", on=None, root=None):
        """Logs ``metric()`` (or with ``on`` ``metric(output)`` of that submodule) as ``name``."""
        check_aggregation(aggregation)
        if not callable(metric):
            raise TypeError(
                "model.add_metric takes a callable (zero-argument, or of the `on=` submodule's "
                f"output). Received: {type(metric).__name__}. Inside forward, use "
                "torchfit.Layer.add_metric."
            )
        _check_arity(metric, on, "add_metric", "metric")
        self.refresh()
        if on is None:
            self._metric_fns.append((metric, name, aggregation))
            return
        _submodule(root, on, "add_metric").register_forward_hook(
            lambda module, inputs, output: self._call_metrics.append(
                (name, metric_value(metric(output)), aggregation)))
        self._has_hooks = True

    def update_trackers(self, model, taken_names, device):
        """Feeds the last call's metric values to their trackers; True if a tracker was made.

        Args:
            model: the model whose last call is read.
            taken_names: the compiled metric and loss names, which an added metric may not reuse.
            device: where new trackers live.
        """
        made = False
        for name, value, aggregation in self.metric_values(model):
            tracker = self.trackers.get(name)
            if tracker is None:
                tracker = self._make_tracker(name, aggregation, taken_names, device)
                made = True
            tracker.update_state(value)
        return made

    def _make_tracker(self, name, aggregation, taken_names, device):
        if name in taken_names:
            raise ValueError(
                f"add_metric name {name!r} clashes with a compiled metric or loss of the same "
                f"name. Compiled names: {list(taken_names)}. Choose another name."
            )
        tracker = (Mean if aggregation == "mean" else Sum)(name=name)
        tracker.to(device)
        self.trackers[name] = tracker
        return tracker
