"""`Metric`: the Keras metric protocol over device-resident torch state.

A metric declares its state once with `add_weight`, saying how copies of that state combine
(`aggregation`), accumulates into it in place in `update_state`, and reads it in `result`. The
state lives on the metric's device and is never copied to the host here: `result()` returns a
device tensor, and turning it into a Python number (one sync) is left to whoever prints or
monitors it.

A `Metric` is a plain Python object, not an `nn.Module`, so it never lands in a model's
`state_dict`; checkpoints save it explicitly through `Metric.state_dict()`.
"""

import inspect
import types
from typing import NamedTuple

import torch

from torchfit.utils.naming import to_snake_case

__all__ = ["AGGREGATIONS", "HostCount", "Metric", "StateSpec", "dtype_name", "resolve_dtype",
           "to_snake_case"]

_INITIALIZERS = ("zeros", "ones")
# How the copies of one state (one per process, or per shard of the data) combine into the state
# a single metric would hold after seeing all of the data.
AGGREGATIONS = ("sum", "mean", "max", "min", "concat")


class StateSpec(NamedTuple):
    """The declaration of one metric state, as `add_weight` received it.

    For a `"concat"` state, `shape` is the empty initial shape `(0, *row_shape)`.
    """

    shape: tuple
    initializer: object
    dtype: torch.dtype
    aggregation: str


class HostCount:
    """A state that counts what the host already knows (the samples of each batch), at no
    device op per step.

    Declared on the class (``count = HostCount()``) and as a state in ``__init__``
    (``self.count = self.add_weight("count")``). ``self._pending_count += n`` gathers counts as
    a Python number; reading ``self.count`` folds them into the tensor first (one in-place
    add, asynchronous on any device), so ``result()``, ``state_dict()``, ``merge_state`` and
    cross-process reductions see every count. An in-place add per step would cost as much as
    the reduction it counts on a small batch.

    Example:
        >>> from torchfit.metrics.metric import HostCount
        >>> class Counter(torchfit.metrics.Metric):
        ...     count = HostCount()
        ...     def __init__(self):
        ...         super().__init__(name="counter")
        ...         self.count = self.add_weight("count")
        ...     def update_state(self, values):
        ...         self._pending_count += len(values)
        ...     def result(self):
        ...         return self.count.clone()
        >>> counter = Counter()
        >>> counter.update_state([1, 2, 3]); counter.update_state([4])
        >>> counter.result()
        tensor(4.)
    """

    def __set_name__(self, owner, name):
        self._name, self._pending = name, f"_pending_{name}"
        if not hasattr(owner, self._pending):  # for metrics unpickled from before HostCount
            setattr(owner, self._pending, 0)

    def __get__(self, metric, owner=None):
        if metric is None:
            return self
        state = vars(metric)
        if self._name not in state:
            raise AttributeError(f"{type(metric).__name__} has no state {self._name!r} yet")
        value, pending = state[self._name], state.get(self._pending)
        if pending:
            state[self._pending] = 0
            value.add_(pending)
        return value

    def __set__(self, metric, value):
        state = vars(metric)
        state[self._name], state[self._pending] = value, 0


def dtype_name(dtype):
    """The name Keras writes for a torch dtype: `torch.float32` -> `"float32"`."""
    return str(dtype).rsplit(".", 1)[-1]


def resolve_dtype(dtype, default=torch.float32):
    """Accept a `torch.dtype`, a Keras-style string such as `"float32"`, or None (the default)."""
    if dtype is None:
        return default
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str) and isinstance(getattr(torch, dtype, None), torch.dtype):
        return getattr(torch, dtype)
    raise ValueError(
        f"Invalid metric dtype. Received: dtype={dtype!r}. "
        "Expected a torch.dtype such as torch.float32, or its name such as 'float32'."
    )


class Metric:
    """Base class of stateful metrics (`tf.keras.metrics.Metric`, ported to torch).

    Subclasses declare their state in `__init__` with `add_weight`, accumulate into it
    *in place* in `update_state` (the trainer calls it every step, so a handful of tensor
    ops and no host reads), and compute the value from it in `result`.

    Each state declares its `aggregation`: how the states of several copies of the metric (one
    per process in distributed training, or per shard of the data) combine into the state one
    metric would hold after seeing all of the data. `"sum"` (counts and totals) adds them,
    `"max"` / `"min"` take the elementwise extreme, `"mean"` averages them, and `"concat"`
    concatenates them along axis 0. `merge_state` and any cross-process reduction read only
    these declarations (`state_specs`), never the metric's code. Across processes: "sum",
    "max" and "min" are one `all_reduce` (SUM, MAX, MIN); "mean" is a SUM `all_reduce` divided
    by the number of processes; "concat" is an `all_gather` of each process's length, then of
    the rows padded to the longest, trimmed and concatenated. The spec's `(0, *row_shape)` and
    dtype let a process that saw no data take part with an empty state.

    Example:
        >>> class CategoricalTruePositives(torchfit.metrics.Metric):
        ...     def __init__(self, name="categorical_true_positives", **kwargs):
        ...         super().__init__(name=name, **kwargs)
        ...         self.true_positives = self.add_weight(name="tp", initializer="zeros")
        ...
        ...     def update_state(self, y_true, y_pred, sample_weight=None):
        ...         values = (y_true.view(-1) == y_pred.argmax(dim=-1)).float()
        ...         if sample_weight is not None:
        ...             values = values * sample_weight.view(-1)
        ...         self.true_positives += values.sum()
        ...
        ...     def result(self):
        ...         return self.true_positives
        >>> metric = CategoricalTruePositives()
        >>> metric.update_state(torch.tensor([1, 0]), torch.tensor([[0.2, 0.8], [0.3, 0.7]]))
        >>> metric.result()
        tensor(1.)
        >>> dict(metric.state_aggregations)
        {'tp': 'sum'}

    Attributes:
        name: the key under which the trainer logs `result()`.
        dtype: the default dtype of the state (torch.float32).
        higher_is_better: True, False, or None when it has no direction (Mean, Sum); lets
            monitors such as EarlyStopping pick `mode="auto"`.
        state_specs: read-only `{state name: StateSpec(shape, initializer, dtype, aggregation)}`
            in declaration order; the current value of a state is `getattr(metric, name)`.
        state_aggregations: read-only `{state name: aggregation}`, the same declarations.
    """

    higher_is_better = None

    def __init__(self, name=None, dtype=None):
        self.name = name if name is not None else to_snake_case(type(self).__name__)
        self.dtype = resolve_dtype(dtype)
        self._device = torch.device("cpu")
        self._state_specs = {}  # state name -> StateSpec, in declaration order

    # -- state ---------------------------------------------------------------------------

    def add_weight(self, name, shape=(), initializer="zeros", dtype=None, aggregation="sum"):
        """Declare a state tensor on `self.device`, set it as `self.<name>` and return it.

        `reset_state()` refills it in place with `initializer` ("zeros", "ones" or a number);
        `to(device)` moves it; `state_dict()` saves it; `merge_state` combines it by
        `aggregation`.

        Args:
            name: The attribute name of the state, a Python identifier.
            shape: The state's shape. A `"concat"` state starts empty and grows along axis 0:
                declare `(0, *row_shape)`, e.g. `(0,)` for one value per sample, and extend it
                in `update_state` with `self.<name> = torch.cat([self.<name>, rows])`.
            initializer: "zeros", "ones" or a number (ignored by `"concat"` states).
            dtype: Defaults to the metric's `dtype`.
            aggregation: "sum" (the default), "mean", "max", "min" or "concat"; see the class
                docstring.

        Returns:
            The new state tensor.

        Example:
            >>> metric = torchfit.metrics.Metric()
            >>> metric.add_weight("peak", initializer=float("-inf"), aggregation="max")
            tensor(-inf)
            >>> metric.add_weight("scores", shape=(0,), aggregation="concat")
            tensor([])
        """
        if "_state_specs" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}.add_weight() was called before Metric.__init__(). "
                "Call super().__init__(name=..., dtype=...) first in "
                f"{type(self).__name__}.__init__."
            )
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(
                f"A metric state name must be a Python identifier. Received: name={name!r}"
            )
        taken = hasattr(type(self), name) and not isinstance(
            inspect.getattr_static(type(self), name), HostCount)
        if name in self._state_specs or taken or name in ("name", "dtype"):
            raise ValueError(
                f"{type(self).__name__} already has an attribute or state named {name!r}; "
                "choose another state name."
            )
        if not (initializer in _INITIALIZERS or isinstance(initializer, (int, float, bool))):
            raise ValueError(
                f"Unknown initializer for metric state {name!r}. "
                f"Received: initializer={initializer!r}. "
                "Expected 'zeros', 'ones' or a number."
            )
        if aggregation not in AGGREGATIONS:
            raise ValueError(
                f"Invalid aggregation for metric state {name!r}. "
                f"Received: aggregation={aggregation!r}. "
                f"Expected one of: {', '.join(map(repr, AGGREGATIONS))}."
            )
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if aggregation == "concat" and (not shape or shape[0] != 0):
            raise ValueError(
                f"A 'concat' metric state starts empty and grows along axis 0: declare "
                f"{name!r} with shape=(0, *row_shape), e.g. shape=(0,). Received: shape={shape}."
            )
        dtype = resolve_dtype(dtype, default=self.dtype)
        self._state_specs[name] = StateSpec(shape, initializer, dtype, aggregation)
        value = self._initial_value(self._state_specs[name])
        setattr(self, name, value)
        return value

    @property
    def variables(self):
        """The state tensors, in declaration order (Keras's `Metric.variables`).

        Example:
            >>> [tuple(v.shape) for v in torchfit.metrics.Mean().variables]
            [(), ()]
        """
        return [getattr(self, name) for name in self._state_specs]

    def get_config(self):
        """The constructor arguments, with Keras's keys: `{"name": ..., "dtype": "float32"}`.

        Subclasses with more arguments add theirs, so `type(m).from_config(m.get_config())`
        builds an equal metric (with a fresh state).

        Example:
            >>> torchfit.metrics.Mean(name="loss_mean").get_config()
            {'name': 'loss_mean', 'dtype': 'float32'}
        """
        return {"name": self.name, "dtype": dtype_name(self.dtype)}

    @classmethod
    def from_config(cls, config):
        """Build a metric from what `get_config()` returned: `cls(**config)`."""
        return cls(**config)

    @property
    def state_specs(self):
        """Read-only `{state name: StateSpec}`, in declaration order."""
        return types.MappingProxyType(self._state_specs)

    @property
    def state_aggregations(self):
        """Read-only `{state name: aggregation}`, in declaration order."""
        return types.MappingProxyType(
            {name: spec.aggregation for name, spec in self._state_specs.items()}
        )

    def _initial_value(self, spec):
        # States must stay ordinary tensors even when first built under inference_mode
        # (e.g. a lazily-shaped state during evaluate), or training could not update them.
        with torch.inference_mode(False), torch.no_grad():
            fill = 0 if spec.aggregation == "concat" else _fill_value(spec.initializer)
            return torch.full(spec.shape, fill, dtype=spec.dtype, device=self._device)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Accumulate the statistics of one batch into the state, in place."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_state().")

    def result(self):
        """The current value as a device tensor (never a Python number: no host sync)."""
        raise NotImplementedError(f"{type(self).__name__} must implement result().")

    def reset_state(self):
        """Reinitialise every declared state in place. The trainer calls it at each epoch start."""
        self._dispatch_reset("reset_states")

    def reset_states(self):
        """Alias of `reset_state` (the tf.keras 2.x name used by the guide)."""
        self._dispatch_reset("reset_state")

    def _dispatch_reset(self, other):
        # A subclass may override either name (the guide overrides `reset_states`); calling the
        # other one must reach the override. The flag stops an override that calls super() of
        # the other name from bouncing back forever.
        overridden = getattr(type(self), other) is not getattr(Metric, other)
        if overridden and not self.__dict__.get("_in_reset", False):
            self._in_reset = True
            try:
                getattr(self, other)()
            finally:
                self._in_reset = False
        else:
            for name, spec in self._state_specs.items():
                if spec.aggregation == "concat":  # back to empty: a new tensor, not a fill
                    setattr(self, name, self._initial_value(spec))
                else:
                    getattr(self, name).fill_(_fill_value(spec.initializer))

    def merge_state(self, metrics):
        """Merge the states of other metrics of the same kind into this one's, in place.

        Afterwards this metric holds the state it would have after seeing its own data and
        theirs: each state is combined by its declared aggregation ("sum" adds, "max" / "min"
        take the elementwise extreme, "mean" averages, "concat" concatenates along axis 0).
        The other metrics are left unchanged.

        Args:
            metrics: A `Metric` or an iterable of them, of this metric's class and
                configuration (same states, shapes and settings such as thresholds).

        Raises:
            ValueError: For a metric whose state does not match this one's.

        Example:
            >>> first, second = torchfit.metrics.Mean(), torchfit.metrics.Mean()
            >>> first.update_state(torch.tensor([1.0, 2.0]))
            >>> second.update_state(torch.tensor([6.0]))
            >>> first.merge_state([second])
            >>> first.result()
            tensor(3.)
        """
        others = [metrics] if isinstance(metrics, Metric) else list(metrics)
        for other in others:
            self._check_mergeable(other)
        with torch.inference_mode(False), torch.no_grad():
            for name, spec in self._state_specs.items():
                current = getattr(self, name)
                values = [getattr(other, name).to(current.device) for other in others]
                if spec.aggregation == "concat":
                    setattr(self, name, torch.cat([current, *values]))
                elif spec.aggregation == "sum":
                    for value in values:
                        current += value
                elif spec.aggregation == "mean":
                    current.copy_(sum(values, current.clone()) / (len(values) + 1))
                else:
                    extreme = torch.maximum if spec.aggregation == "max" else torch.minimum
                    for value in values:
                        extreme(current, value, out=current)

    def _merge_config(self):
        """Settings that must be equal for two metrics of one class to merge (thresholds...)."""
        return {}

    def _check_mergeable(self, other):
        if not isinstance(other, Metric):
            raise TypeError(
                f"merge_state expects torchfit metrics. Received: {other!r} of type "
                f"{type(other).__name__}, to merge into metric {self.name!r}."
            )
        problem = None
        if type(other) is not type(self):
            problem = "they are of different classes"
        elif other.state_specs.keys() != self._state_specs.keys():
            problem = (f"their states differ: {list(other.state_specs)} and "
                       f"{list(self._state_specs)}")
        else:
            for name, spec in self._state_specs.items():
                theirs, value = other.state_specs[name], getattr(other, name)
                rows = 1 if spec.aggregation == "concat" else 0  # axis 0 of concat may differ
                if (theirs.aggregation != spec.aggregation
                        or tuple(value.shape[rows:]) != tuple(getattr(self, name).shape[rows:])):
                    problem = (f"state {name!r} is declared or shaped differently: "
                               f"{theirs.aggregation} {tuple(value.shape)} and "
                               f"{spec.aggregation} {tuple(getattr(self, name).shape)}")
                    break
            else:
                if not _same_settings(other._merge_config(), self._merge_config()):
                    problem = (f"their settings differ: {other._merge_config()} and "
                               f"{self._merge_config()}")
        if problem is not None:
            raise ValueError(
                f"Cannot merge metric {other.name!r} ({type(other).__name__}) into metric "
                f"{self.name!r} ({type(self).__name__}): {problem}. Merge only metrics of the "
                "same class built with the same arguments."
            )

    def __call__(self, *args, **kwargs):
        """`update_state(*args, **kwargs)`, then `result()`; never records autograd history."""
        with torch.no_grad():
            self._follow_device(_first_tensor(args, kwargs))
            self.update_state(*args, **kwargs)
            return self.result()

    # -- device and checkpointing -----------------------------------------------------

    @property
    def device(self):
        """The device holding the state."""
        return self._device

    def to(self, device):
        """Move every declared state to `device` and return self.

        Attributes that alias a state (the guide's `self.true_positives = self.add_weight('tp')`)
        are rebound to the moved tensor too.
        """
        # An empty tensor spells the device the way tensors report it ("cuda" -> "cuda:0"), so
        # that `_follow_device` compares equal afterwards.
        device = torch.empty(0, device=device).device
        with torch.inference_mode(False), torch.no_grad():
            for name in self._state_specs:
                old = getattr(self, name)
                new = old.to(device)
                if new is not old:
                    for attr, value in list(vars(self).items()):
                        if value is old:
                            setattr(self, attr, new)
        self._device = device
        return self

    def _follow_device(self, tensor):
        # Called directly (a custom loop), a metric follows its inputs like a Keras metric does,
        # so no `.to()` is needed. A Python-level device comparison: no sync.
        if isinstance(tensor, torch.Tensor) and tensor.device != self.device:
            self.to(tensor.device)

    def _as_tensor(self, x):
        """`x` as a tensor, created on the state's device when it is not a tensor yet."""
        if isinstance(x, torch.Tensor):
            # Detached so that in-place updates of the state never join the autograd graph.
            return x.detach() if x.requires_grad else x
        return torch.as_tensor(x, device=self._device)

    def state_dict(self):
        """The declared states as {name: tensor} (detached copies), for checkpoints."""
        return {name: getattr(self, name).detach().clone() for name in self._state_specs}

    def load_state_dict(self, state_dict):
        """Copy states saved by `state_dict()` back in place (onto this metric's device)."""
        expected, received = list(self._state_specs), list(state_dict)
        if set(expected) != set(received):
            raise ValueError(
                f"Cannot load the state of metric {self.name!r}: the keys differ. "
                f"Received: {sorted(received)}. Expected: {sorted(expected)}."
            )
        for name in expected:
            current, value = getattr(self, name), torch.as_tensor(state_dict[name])
            rows = 1 if self._state_specs[name].aggregation == "concat" else 0
            if value.dim() != current.dim() or value.shape[rows:] != current.shape[rows:]:
                raise ValueError(
                    f"Cannot load state {name!r} of metric {self.name!r}: "
                    f"received shape {tuple(value.shape)}, expected {tuple(current.shape)}."
                )
            with torch.inference_mode(False), torch.no_grad():
                if rows:  # a concat state has the saved length: replace it
                    setattr(self, name, value.to(current.device, current.dtype, copy=True))
                else:
                    current.copy_(value)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


def _same_settings(first, second):
    # Modules (a wrapped torch loss) match by class; everything else by value.
    if first.keys() != second.keys():
        return False
    for key, a in first.items():
        b = second[key]
        if isinstance(a, torch.nn.Module) or isinstance(b, torch.nn.Module):
            if type(a) is not type(b):
                return False
        elif isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
            if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
                    and a.shape == b.shape and torch.equal(a.cpu(), b.cpu())):
                return False
        elif a is not b and a != b:
            return False
    return True


def _fill_value(initializer):
    if initializer == "zeros":
        return 0
    if initializer == "ones":
        return 1
    return initializer


def _first_tensor(args, kwargs):
    # Prefer a tensor off the CPU: when inputs disagree, the accelerator is where the model runs.
    tensors = [v for v in (*args, *kwargs.values()) if isinstance(v, torch.Tensor)]
    for tensor in tensors:
        if tensor.device.type != "cpu":
            return tensor
    return tensors[0] if tensors else None
