"""`Metric`: the Keras metric protocol over device-resident torch state.

A metric declares its state once with `add_weight`, accumulates into it in place in
`update_state`, and reads it in `result`. The state lives on the metric's device and is never
copied to the host here: `result()` returns a device tensor, and turning it into a Python
number (one sync) is left to whoever prints or monitors it.

A `Metric` is a plain Python object, not an `nn.Module`, so it never lands in a model's
`state_dict`; checkpoints save it explicitly through `Metric.state_dict()`.
"""

import re

import torch

_INITIALIZERS = ("zeros", "ones")


def to_snake_case(name):
    """Keras' default-name rule: "TopKCategoricalAccuracy" -> "top_k_categorical_accuracy"."""
    intermediate = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    snake = re.sub(r"([a-z])([A-Z])", r"\1_\2", intermediate).lower()
    return snake if not snake.startswith("_") else "private" + snake


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

    Example:

    ```python
    class CategoricalTruePositives(torchfit.metrics.Metric):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_weight(name="tp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            values = (y_true.view(-1) == y_pred.argmax(dim=-1)).float()
            if sample_weight is not None:
                values = values * sample_weight.view(-1)
            self.true_positives += values.sum()

        def result(self):
            return self.true_positives

        def reset_states(self):
            self.true_positives.zero_()
    ```

    Attributes:
        name: the key under which the trainer logs `result()`.
        dtype: the default dtype of the state (torch.float32).
        higher_is_better: True, False, or None when it has no direction (Mean, Sum); lets
            monitors such as EarlyStopping pick `mode="auto"`.
    """

    higher_is_better = None

    def __init__(self, name=None, dtype=None):
        self.name = name if name is not None else to_snake_case(type(self).__name__)
        self.dtype = resolve_dtype(dtype)
        self._device = torch.device("cpu")
        self._state_specs = {}  # state name -> (shape, initializer, dtype), in declaration order

    # -- state ---------------------------------------------------------------------------

    def add_weight(self, name, shape=(), initializer="zeros", dtype=None):
        """Declare a state tensor on `self.device`, set it as `self.<name>` and return it.

        `reset_state()` refills it in place with `initializer` ("zeros", "ones" or a number);
        `to(device)` moves it; `state_dict()` saves it.
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
        if name in self._state_specs or hasattr(type(self), name) or name in ("name", "dtype"):
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
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        dtype = resolve_dtype(dtype, default=self.dtype)
        self._state_specs[name] = (shape, initializer, dtype)
        # States must stay ordinary tensors even when first built under inference_mode
        # (e.g. a lazily-shaped state during evaluate), or training could not update them.
        with torch.inference_mode(False), torch.no_grad():
            value = torch.full(shape, _fill_value(initializer), dtype=dtype, device=self._device)
        setattr(self, name, value)
        return value

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
            for name, (_, initializer, _) in self._state_specs.items():
                getattr(self, name).fill_(_fill_value(initializer))

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
            if tuple(value.shape) != tuple(current.shape):
                raise ValueError(
                    f"Cannot load state {name!r} of metric {self.name!r}: "
                    f"received shape {tuple(value.shape)}, expected {tuple(current.shape)}."
                )
            with torch.no_grad():
                current.copy_(value)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


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
