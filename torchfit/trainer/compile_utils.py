"""CompiledLoss and CompiledMetrics: what ``compile`` was given, matched to the model's outputs.

Both are built lazily on the first batch, when the outputs' structure (and, for ``"accuracy"``,
their shapes) are known. Identifiers are validated at construction, so a typo fails in
``compile``, not in the middle of ``fit``.

Output naming, as in tf.keras: a single tensor is one unnamed output (log keys ``loss``,
``accuracy``); a dict names its outputs by key; a tuple/list by ``output_names`` or
``output_1``, ``output_2``, ... Per-output log keys are ``<output>_loss`` and
``<output>_<metric>``; the total ``loss`` is the weighted sum of the per-output losses plus the
model's extra losses (the matching of outputs, configs and targets is ``outputs.py``).
``resolve_accuracy`` turns ``"accuracy"`` into the metric that the loss and the shapes of the
first batch call for, as Keras's compile does.
"""

import copy
import weakref

import torch

from torchfit import losses as losses_module
from torchfit import metrics as metrics_module
from torchfit import nest
from torchfit.callbacks.metric_states import load_metric_states
from torchfit.metrics.metric import HostCount
from torchfit.trainer.loss_checks import check_class_weight_keys, check_labels, check_loss_weights
from torchfit.trainer.outputs import by_output, output_names_of, preds_by_name, targets_by_output
from torchfit.utils.naming import to_snake_case
from torchfit.utils.tensor_utils import div_no_nan

__all__ = ["CompiledLoss", "CompiledMetrics", "LossTracker", "output_names_of", "resolve_accuracy"]

# Losses known to be binary crossentropies, and torch.nn losses that take logits, by snake name.
_BINARY_LOSSES = frozenset(
    {"binary_crossentropy", "bce", "binary_focal_crossentropy", "bce_loss", "bce_with_logits_loss"}
)
_LOGIT_LOSSES = frozenset({"bce_with_logits_loss", "cross_entropy_loss"})


def resolve_accuracy(name, y_true, y_pred, loss=None):
    """The metric that `"accuracy"`/`"acc"` (or `"crossentropy"`/`"ce"`) means for these outputs.

    tf.keras 2.x rules: binary when `y_pred` has one value per sample (last axis 1, or 1-D) or
    the loss is a binary crossentropy; sparse categorical when `y_true` has one axis fewer than
    `y_pred`, or a last axis of 1 against several classes; categorical otherwise. The metric is
    named `name`. When the loss is known to take logits (`from_logits=True`,
    `nn.BCEWithLogitsLoss`, `nn.CrossEntropyLoss`), binary accuracy thresholds at 0 and the
    crossentropy is computed from logits.

    Args:
        name: "accuracy", "acc", "crossentropy" or "ce".
        y_true: The targets of one batch, a tensor or array (only its shape is read), or a shape.
        y_pred: The predictions of one batch, or their shape.
        loss: the loss this output is compiled with (string, function, object or class), if any.

    Returns:
        A new metric named `name`.

    Example:
        >>> m = resolve_accuracy("accuracy", torch.zeros(32), torch.zeros(32, 10))
        >>> type(m).__name__, m.name
        ('SparseCategoricalAccuracy', 'accuracy')
        >>> type(resolve_accuracy("acc", (32, 1), (32, 1), loss=nn.BCEWithLogitsLoss())).__name__
        'BinaryAccuracy'
    """
    names = metrics_module.SHAPE_DEPENDENT_NAMES
    if name not in names:
        raise ValueError(
            f"resolve_accuracy resolves {', '.join(map(repr, names))}. Received: name={name!r}."
        )
    true_shape, pred_shape = _shape(y_true), _shape(y_pred)
    loss_name = _loss_name(loss)
    from_logits = getattr(loss, "from_logits", False) is True or loss_name in _LOGIT_LOSSES
    is_binary = loss_name in _BINARY_LOSSES or len(pred_shape) <= 1 or pred_shape[-1] == 1
    is_sparse = len(true_shape) < len(pred_shape) or (
        len(true_shape) > 0 and true_shape[-1] == 1 and pred_shape[-1] > 1
    )
    if name in ("accuracy", "acc"):
        if is_binary:
            return metrics_module.BinaryAccuracy(name=name, threshold=0.0 if from_logits else 0.5)
        if is_sparse:
            return metrics_module.SparseCategoricalAccuracy(name=name)
        return metrics_module.CategoricalAccuracy(name=name)
    if is_binary:
        return metrics_module.BinaryCrossentropy(name=name, from_logits=from_logits)
    if is_sparse:
        return metrics_module.SparseCategoricalCrossentropy(name=name, from_logits=from_logits)
    return metrics_module.CategoricalCrossentropy(name=name, from_logits=from_logits)


def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else tuple(x)


def _loss_name(loss):
    if loss is None:
        return None
    if isinstance(loss, str):
        return to_snake_case(loss)
    return to_snake_case(getattr(loss, "__name__", None) or type(loss).__name__)


class LossTracker(metrics_module.Metric):
    """Mean of per-batch losses weighted by batch size (what Keras logs as ``loss``).

    Example:
        >>> tracker = LossTracker()
        >>> tracker.update_state(torch.tensor(1.0), batch_size=3)
        >>> tracker.update_state(torch.tensor(3.0), batch_size=1)
        >>> tracker.result()
        tensor(1.5000)
    """

    higher_is_better = False
    # A declared state (not a bare host int) so that merging and cross-process reduction see it;
    # counted on the host between reads.
    count = HostCount()

    def __init__(self, name="loss"):
        super().__init__(name=name)
        self.total = self.add_weight("total", aggregation="sum")
        self.count = self.add_weight("count", aggregation="sum")

    def update_state(self, loss, batch_size):
        if not batch_size:  # a distributed rank left without samples by an uneven last batch
            return
        self.total.add_(loss.detach() if loss.requires_grad else loss, alpha=batch_size)
        self._pending_count += batch_size

    def result(self):
        return div_no_nan(self.total, self.count)


class CompiledLoss:
    """The total loss for a batch, and the ``loss`` / ``<output>_loss`` trackers.

    Args:
        loss: a loss identifier, or a list/dict of them by output (``None``: no loss there).
        loss_weights: a number, a list by position or a dict by output name.
        output_names: names for tuple/list outputs.
        tracks_total: update the ``loss`` tracker with the total computed here. ``compile``
            passes False when ``Model.compute_loss`` is overridden: ``train_step`` then logs
            what the override returns, through ``track`` (the per-output trackers are still
            updated here, when the override calls ``super().compute_loss``).

    Example:
        >>> compiled = CompiledLoss("mse", tracks_total=False)
        >>> loss = compiled(torch.zeros(2, 1), torch.ones(2, 1)) + 1.0  # an override's total
        >>> compiled.track(loss, torch.ones(2, 1))
        >>> compiled.tracker.result()
        tensor(2.)
    """

    def __init__(self, loss, loss_weights=None, output_names=None, tracks_total=True):
        # Resolve now so that unknown identifiers fail in compile().
        nest.map_structure(losses_module.to_loss, loss)
        check_loss_weights(loss_weights)
        self._config = loss
        self._loss_weights = loss_weights
        self.check_labels = True  # the next batch's sparse labels are range-checked (once)
        self._output_names = output_names
        self.tracks_total = tracks_total
        self.tracker = LossTracker("loss")
        # {name: state} of a mid-epoch resume (BackupAndRestore), for the trackers build makes.
        self.pending_states = None
        self._per_output = None  # [(name, loss_fn, weight, tracker)] once built
        self._is_single = False  # one unnamed output; then `_single` is its loss (None: no loss)
        self._single = None

    @property
    def built(self):
        return self._per_output is not None

    @property
    def metrics(self):
        """The trackers: ``loss`` first, then one per output when there are several."""
        if not self.built or self._is_single:
            return [self.tracker]
        return [self.tracker] + [tracker for _, _, _, tracker in self._per_output]

    def build(self, y_pred):
        names = output_names_of(y_pred, self._output_names)
        self.output_names = names
        if names == [None]:
            if isinstance(self._config, (list, tuple)) and len(self._config) == 1:
                self._config = self._config[0]
            if isinstance(self._config, (dict, list, tuple)):
                raise ValueError(f"The model has a single output, but `loss` is a "
                                 f"{type(self._config).__name__}: {self._config!r}. Pass one loss.")
            weight = self._loss_weights
            if isinstance(weight, (list, tuple)) and len(weight) == 1:
                weight = weight[0]
            if isinstance(weight, (list, tuple, dict)):
                raise ValueError(
                    f"The model has a single output, but `loss_weights` has {len(weight)} "
                    f"entries. Received: loss_weights={weight!r}. Pass one number (or None).")
            self._is_single = True
            self._single = losses_module.to_loss(self._config)
            self._single_weight = 1.0 if weight is None else float(weight)
            self._per_output = []
            return
        configs = by_output(self._config, names, "loss")
        weights = by_output(self._loss_weights, names, "loss_weights")
        self._per_output = []
        for name in names:
            if configs[name] is None:
                continue
            weight = 1.0 if weights[name] is None else float(weights[name])
            self._per_output.append(
                (name, losses_module.to_loss(configs[name]), weight, LossTracker(f"{name}_loss"))
            )
        if not self._per_output:
            raise ValueError("`loss` gives no loss for any output; nothing would be trained.")
        self.has_loss = {name: configs[name] is not None for name in names}

    def __call__(self, y_true, y_pred, sample_weight=None, regularization_losses=None):
        """Returns the total scalar loss and updates the trackers (no host sync)."""
        if self._per_output is None:  # not built
            self.build(y_pred)
            if self.pending_states:  # a mid-epoch resume: loaded before the first update
                load_metric_states(self.metrics, self.pending_states)
                self.pending_states = None
        if self.check_labels:  # once per fit/evaluate call: bad labels before any step
            class_weight, self.check_labels = self.check_labels, False
            self._check_sparse_labels(y_true, y_pred)
            if isinstance(class_weight, dict) and self._is_single:
                check_class_weight_keys(class_weight, y_pred)
        if self._is_single:
            batch_size = (y_pred if isinstance(y_pred, torch.Tensor) else nest.flatten(y_pred)[0]
                          ).shape[0]
            loss = self._single_output_loss(y_true, y_pred, sample_weight)
        else:
            loss, batch_size = self._multi_output_loss(y_true, y_pred, sample_weight)
        if regularization_losses:
            extra = sum(regularization_losses)
            loss = extra if loss is None else loss + extra
        if loss is None:
            raise ValueError(
                "No loss to compute: compile() got loss=None and the model added no loss with "
                "`add_loss`. Pass a loss to compile(), e.g. loss='sparse_categorical_crossentropy'."
            )
        if self.tracks_total:
            self.tracker.update_state(loss, batch_size)
        return loss

    def _check_sparse_labels(self, y_true, y_pred):
        """Range and integrality of the labels of each sparse crossentropy (one sync)."""
        if self._is_single:
            pairs = [(self._single, y_true, y_pred, "y")]
        else:
            names = self.output_names
            preds = preds_by_name(y_pred, names)
            targets = targets_by_output(y_true, names, self.has_loss)
            pairs = [(fn, targets.get(name), preds[name], f"y['{name}']")
                     for name, fn, _, _ in self._per_output]
        for loss_fn, target, pred, argument in pairs:
            check_labels(loss_fn, target, pred, argument)

    def track(self, loss, y_pred):
        """Adds a batch's total ``loss`` to the ``loss`` tracker, weighted by its batch size."""
        first = y_pred if isinstance(y_pred, torch.Tensor) else nest.flatten(y_pred)[0]
        self.tracker.update_state(torch.as_tensor(loss), first.shape[0])

    def _single_output_loss(self, y_true, y_pred, sample_weight):
        if self._single is None:
            return None
        if y_true is None:
            raise ValueError(
                "The model was compiled with a loss, but `fit`/`evaluate` received no targets "
                "`y`. Pass `y`, or compile with loss=None and add losses with `add_loss`."
            )
        loss = self._single(y_true, y_pred, sample_weight)
        return loss * self._single_weight if self._single_weight != 1.0 else loss

    def _multi_output_loss(self, y_true, y_pred, sample_weight):
        names = self.output_names
        preds = dict(zip(names, nest.flatten(y_pred) if not isinstance(y_pred, dict)
                         else y_pred.values()))
        targets = targets_by_output(y_true, names, self.has_loss)
        weights = (by_output(sample_weight, names, "sample_weight")
                   if sample_weight is not None else {})
        total = None
        for name, loss_fn, weight, tracker in self._per_output:
            if targets.get(name) is None:
                raise ValueError(
                    f"Output '{name}' has a loss but received no target. Pass a target for it, "
                    f"or set its loss to None."
                )
            value = loss_fn(targets[name], preds[name], weights.get(name))
            batch_size = preds[name].shape[0]
            tracker.update_state(value, batch_size)
            value = value * weight if weight != 1.0 else value
            total = value if total is None else total + value
        return total, batch_size

    def loss_functions(self):
        """``{output name: loss}`` once built (the single output is named ``None``); ``{}``
        before (e.g. when an overridden ``compute_loss`` never calls it)."""
        if not self.built:
            return {}
        if self._is_single:
            return {None: self._single}
        return {name: fn for name, fn, _, _ in self._per_output}


class CompiledMetrics:
    """The compiled metrics, matched to outputs and updated per batch on the device.

    ``metrics`` are updated without sample weights and ``weighted_metrics`` with them, as in
    tf.keras. A metric object belongs to one compiled model: its state would otherwise mix; one
    object given for several outputs is copied, one copy per output. ``metrics`` (and so the
    logs, ``metrics_names`` and ``evaluate``'s list) go output by output, as in tf.keras: each
    output's metrics, then its weighted metrics (``<output>_weighted_<metric>`` when the name
    is taken).
    """

    def __init__(self, metrics=None, weighted_metrics=None, output_names=None, owner=None):
        self._configs = (metrics, weighted_metrics)
        self._output_names = output_names
        self._owner = weakref.ref(owner) if owner is not None else None
        for config in self._configs:
            for identifier in _flatten_metric_config(config):
                self._check(identifier)
        self._entries = None  # [(output name, metric, weighted)] once built
        self.pending_states = None  # {name: state} of a mid-epoch resume, loaded by build

    def _check(self, identifier):
        if isinstance(identifier, str) and identifier in metrics_module.SHAPE_DEPENDENT_NAMES:
            return
        metric = metrics_module.get(identifier)
        previous = getattr(metric, "_torchfit_owner", None)
        owner = previous() if previous is not None else None
        current = self._owner() if self._owner is not None else None
        if owner is not None and owner is not current:
            raise ValueError(
                f"Metric '{metric.name}' ({type(metric).__name__}) is already used by another "
                "compiled model. A metric holds state, so sharing it would mix both models' "
                f"results. Pass a new instance to each compile(), e.g. {type(metric).__name__}()."
            )

    @property
    def built(self):
        return self._entries is not None

    @property
    def weighted_metrics_given(self):
        """Whether ``compile`` got ``weighted_metrics`` (``[]`` counts: it silences a warning)."""
        return self._configs[1] is not None

    @property
    def metrics(self):
        return [metric for _, metric, _ in self._entries] if self.built else []

    def build(self, y_true, y_pred, loss_functions):
        names = output_names_of(y_pred, self._output_names)
        # Targets come for the outputs that have a loss (all of them when compiled without one).
        self._has_loss = {n: n in loss_functions or not loss_functions for n in names}
        preds = preds_by_name(y_pred, names)
        # Without metrics the targets are not matched: e.g. an overridden compute_loss (a VAE)
        # ignores the labels a DataLoader yields for its three outputs.
        has_metrics = any(config is not None for config in self._configs)
        targets = targets_by_output(y_true, names, self._has_loss) \
            if y_true is not None and has_metrics else {}
        per_output = [(weighted, _metrics_by_output(config, names))
                      for weighted, config in zip((False, True), self._configs)
                      if config is not None]
        entries = []
        taken = set()
        # tf.keras's order (MetricsContainer._metrics_in_order): output by output, its metrics
        # and then its weighted metrics.
        for name in names:
            for weighted, identifiers in per_output:
                for identifier in identifiers.get(name) or ():
                    metric = self._make(identifier, targets.get(name), preds[name],
                                        loss_functions.get(name))
                    # The name the user gave, before any compile prefixed it (kept on the
                    # instance, so that compiling it again does not prefix twice).
                    given = getattr(metric, "_torchfit_given_name", None) or metric.name
                    metric._torchfit_given_name = given
                    if _used(metric, entries):  # one instance for several outputs: a copy each
                        metric = copy.deepcopy(metric)
                    metric.name = _log_name(given, name, weighted, taken)
                    taken.add(metric.name)
                    metric.to(preds[name].device)
                    if self._owner is not None:
                        metric._torchfit_owner = self._owner
                    entries.append((name, metric, weighted))
        self._entries = entries
        self._names = names
        if self.pending_states:  # a mid-epoch resume: loaded before the first update
            load_metric_states(self.metrics, self.pending_states)
            self.pending_states = None

    def _make(self, identifier, y_true, y_pred, loss_fn):
        if isinstance(identifier, str) and identifier in metrics_module.SHAPE_DEPENDENT_NAMES:
            if y_true is None:
                raise ValueError(f"Metric '{identifier}' needs targets, but the output has none.")
            return resolve_accuracy(identifier, y_true, y_pred, loss=loss_fn)
        return metrics_module.get(identifier)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self._entries is None:  # not built: a custom step updating before compute_metrics
            owner = self._owner() if self._owner is not None else None
            self.build(y_true, y_pred, owner.compiled_loss.loss_functions() if owner else {})
        if not self._entries:
            return
        if self._names == [None]:
            for _, metric, weighted in self._entries:
                metric.update_state(y_true, y_pred, sample_weight if weighted else None)
            return
        preds = preds_by_name(y_pred, self._names)
        targets = targets_by_output(y_true, self._names, self._has_loss)
        weights = (by_output(sample_weight, self._names, "sample_weight")
                   if sample_weight is not None else {})
        for name, metric, weighted in self._entries:
            if targets.get(name) is not None:
                metric.update_state(targets[name], preds[name],
                                    weights.get(name) if weighted else None)


def _log_name(metric_name, output_name, weighted, taken):
    """tf.keras's naming: ``<output>_<metric>``; a weighted metric whose name is taken becomes
    ``weighted_<metric>`` (one output) or ``<output>_weighted_<metric>``; any other clash gets
    ``_1``, ``_2``, ... appended."""
    prefix = "" if output_name is None else f"{output_name}_"
    base = prefix + metric_name
    if weighted and base in taken:
        base = f"{prefix}weighted_{metric_name}"
    log_name, suffix = base, 0
    while log_name in taken:
        suffix += 1
        log_name = f"{base}_{suffix}"
    return log_name


def _used(metric, entries):
    return any(metric is existing for _, existing, _ in entries)


def _flatten_metric_config(config):
    if config is None:
        return []
    if isinstance(config, dict):
        return [m for value in config.values() for m in _flatten_metric_config(value)]
    if isinstance(config, (list, tuple)):
        return [m for value in config for m in _flatten_metric_config(value)]
    return [config]


def _metrics_by_output(config, names):
    """``{output name: [metric identifiers]}`` for a list, a list of lists, or a dict."""
    if isinstance(config, dict):
        spread = by_output(config, names, "metrics")
        return {name: _as_list(value) for name, value in spread.items()}
    config = _as_list(config)
    # Any list (or None) inside: one entry per output, else every output (tf.keras's broadcast).
    if len(names) > 1 and any(isinstance(c, (list, tuple)) or c is None for c in config):
        spread = by_output(config, names, "metrics")
        return {name: _as_list(value) for name, value in spread.items()}
    return {name: list(config) for name in names}


def _as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
