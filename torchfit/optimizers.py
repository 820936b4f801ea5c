"""Keras-named optimizers that *are* ``torch.optim`` optimizers.

Each class takes Keras's argument names and defaults and no parameters, e.g.
``RMSprop(learning_rate=1e-3)``, and subclasses the matching ``torch.optim`` class. The torch
side is initialised by ``build(params)``: ``model.compile`` calls it, and so does the first
``apply_gradients``. From then on the object is a plain ``torch.optim.Optimizer`` (``param_groups``,
``state``, ``step()``, ``zero_grad()``, ``state_dict()``, ``torch.optim.lr_scheduler``), plus:

- ``iterations``: the number of steps taken (a Python int, saved in ``state_dict()``);
- ``learning_rate``: a float (read from and written to every ``param_groups[i]["lr"]``) or a
  schedule, i.e. any callable ``step -> float`` such as ``schedules.ExponentialDecay``: step ``s``
  (counting from 0) then uses ``schedule(s)``;
- ``clipvalue`` / ``clipnorm`` / ``global_clipnorm``: Keras gradient clipping, applied inside
  ``step()`` on the device (no synchronisation), in tf.keras 2.x's order: values first, then norms;
- ``apply_gradients(zip(grads, vars))``: the Keras custom-loop API.

Cost: without a schedule or clipping, ``step()`` is the torch step plus one attribute check and
one integer increment.

Each class docstring gives its Keras -> torch argument mapping and where torch's update formula
differs from Keras's; the numbers are exactly those of the torch optimizer with the mapped
arguments.
One difference is shared: Keras's ``weight_decay`` is decoupled (``w -= lr * weight_decay * w``
before the update). torch offers that for ``AdamW``, ``Adam`` and ``Nadam``, which therefore match
Keras; for ``SGD``, ``RMSprop``, ``Adagrad``, ``Adadelta`` and ``Adamax`` torch's ``weight_decay``
is an L2 term added to the gradient (``g += weight_decay * w``), and that is what you get.

Example:
    >>> import torch
    >>> from torchfit import optimizers
    >>> net = torch.nn.Linear(3, 1)
    >>> opt = optimizers.Adam(learning_rate=1e-3, clipnorm=1.0)
    >>> loss = net(torch.ones(2, 3)).sum()
    >>> grads = torch.autograd.grad(loss, list(net.parameters()))
    >>> opt.apply_gradients(zip(grads, net.parameters()))
    >>> opt.iterations, isinstance(opt, torch.optim.Adam)
    (1, True)
"""

import inspect
import numbers
import warnings

import torch

from torchfit import schedules
from torchfit.utils.validation import check_kwargs, unknown_identifier_error

__all__ = [
    "Optimizer",
    "SGD",
    "RMSprop",
    "Adam",
    "AdamW",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "Nadam",
    "get",
    "build",
    "schedules",
]

_STATE_DICT_ITERATIONS = "iterations"


def _quoted(names):
    return ", ".join(f"'{name}'" for name in names)


def _flatten_params(params):
    """The tensors of ``params`` in order, for anything torch.optim accepts as ``params``."""
    flat = []
    for item in params:
        group = item["params"] if isinstance(item, dict) else [item]
        if isinstance(group, torch.Tensor):
            group = [group]
        for param in group:
            flat.append(param[1] if isinstance(param, tuple) else param)  # (name, tensor) pairs
    return flat


def _torch_class(cls):
    """The torch.optim class a torchfit optimizer class extends (``torch.optim.RMSprop``, ...)."""
    for klass in cls.__mro__:
        if issubclass(klass, torch.optim.Optimizer) and not issubclass(klass, Optimizer):
            if klass is not torch.optim.Optimizer:
                return klass
    raise TypeError(
        f"{cls.__name__} subclasses torchfit.optimizers.Optimizer but no torch.optim optimizer. "
        f"Declare it as `class {cls.__name__}(Optimizer, torch.optim.SomeOptimizer)`."
    )


def _unhooked_step(torch_class):
    """torch_class's own ``step``, without the profiling/hook wrapper torch patches onto classes.

    torch wraps ``cls.step`` of each class it instantiates so that step hooks fire; calling
    ``super().step()`` from our ``step`` would fire them a second time once the plain torch class
    has been used anywhere. ``build`` wraps this raw step exactly once instead.
    """
    step = next(klass.__dict__["step"] for klass in torch_class.__mro__ if "step" in klass.__dict__)
    while getattr(step, "hooked", False):
        step = step.__wrapped__
    return step


def _check_learning_rate(value):
    """(float learning rate or None, schedule or None) for a ``learning_rate`` argument."""
    if isinstance(value, torch.Tensor) and value.ndim == 0:
        value = float(value)  # sync: once, at construction; learning rates are Python floats
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"`learning_rate` must be >= 0. Received: learning_rate={value!r}")
        return float(value), None
    if callable(value):
        return None, value
    raise TypeError(
        "`learning_rate` must be a float or a schedule (a "
        "torchfit.optimizers.schedules.LearningRateSchedule or any callable step -> float). "
        f"Received: learning_rate={value!r} of type {type(value).__name__}."
    )


def _check_optional_positive(name, value, allow_zero=False):
    if value is None:
        return None
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"`{name}` must be a number or None. Received: {name}={value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"`{name}` must be {bound} or None. Received: {name}={value!r}")
    return float(value)


def _scale_(tensors, scale):
    """tensors *= scale (a 0-d tensor), one foreach kernel per device."""
    by_device = {}
    for tensor in tensors:
        by_device.setdefault(tensor.device, []).append(tensor)
    for device, group in by_device.items():
        torch._foreach_mul_(group, scale.to(device))


def _clip_each_norm_(grads, clipnorm):
    """Keras ``clipnorm``: g *= clipnorm / max(||g||, clipnorm), for each gradient separately."""
    by_key = {}
    for grad in grads:
        by_key.setdefault((grad.device, grad.dtype), []).append(grad)
    for group in by_key.values():
        scales = torch._foreach_norm(group)
        torch._foreach_clamp_min_(scales, clipnorm)
        torch._foreach_reciprocal_(scales)
        torch._foreach_mul_(scales, clipnorm)
        torch._foreach_mul_(group, scales)


def _clip_global_norm_(grads, clipnorm):
    """Keras ``global_clipnorm``: all g *= clipnorm / max(global norm, clipnorm).

    Same cost as ``torch.nn.utils.clip_grad_norm_``, but without its ``+ 1e-6`` in the
    denominator, so the result is Keras's.
    """
    total_norm = torch.nn.utils.get_total_norm(grads, foreach=True)
    _scale_(grads, clipnorm / total_norm.clamp(min=clipnorm))


class Optimizer(torch.optim.Optimizer):
    """Base of the torchfit optimizers: Keras construction over a ``torch.optim`` optimizer.

    On the CPU they run torch's ``foreach`` implementation, which torch itself only picks on
    CUDA: the same numbers bit for bit, with fewer kernel dispatches per step (Nadam excepted:
    its foreach path rounds differently, so it keeps torch's default).

    A concrete optimizer is declared as ``class RMSprop(Optimizer, torch.optim.RMSprop)`` whose
    ``__init__`` takes the Keras arguments and passes the mapped torch keyword arguments here. This
    base holds the features torch.optim lacks; everything else is the torch class's.

    Args:
        learning_rate: A float, or a schedule (``schedules.LearningRateSchedule`` or any callable
            ``step -> float``) evaluated before each step on ``iterations``.
        torch_kwargs: The torch.optim keyword arguments other than ``params`` and ``lr``.
        kwargs: The caller's unrecognised keyword arguments: ``lr`` is accepted with a
            ``DeprecationWarning`` (as tf.keras 2.x did); anything else is a ``TypeError``.
        weight_decay: Stored for reference; the subclass maps it into ``torch_kwargs``.
        clipnorm: Clip each gradient to this L2 norm: ``g * clipnorm / max(||g||, clipnorm)``.
        clipvalue: Clamp each gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: Scale all gradients by
            ``global_clipnorm / max(global_norm, global_clipnorm)``.
        name: The optimizer's name.

    Raises:
        ValueError: ``clipnorm`` together with ``global_clipnorm`` (as in Keras), a negative
            learning rate or non-positive clipping threshold.
        TypeError: An unknown keyword argument (with a "did you mean" suggestion).
    """

    _cpu_foreach = True  # see the class docstring

    def __init__(
        self,
        learning_rate,
        torch_kwargs,
        kwargs,
        *,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
    ):
        learning_rate = self._pop_legacy_kwargs(learning_rate, kwargs)
        self._lr, self._schedule = _check_learning_rate(learning_rate)
        self.weight_decay = _check_optional_positive("weight_decay", weight_decay, allow_zero=True)
        self._clipnorm = _check_optional_positive("clipnorm", clipnorm)
        self._clipvalue = _check_optional_positive("clipvalue", clipvalue)
        self._global_clipnorm = _check_optional_positive("global_clipnorm", global_clipnorm)
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError(
                "Only one of `clipnorm` and `global_clipnorm` can be set. Received: "
                f"clipnorm={clipnorm}, global_clipnorm={global_clipnorm}. Use clipnorm to clip "
                "each gradient separately, global_clipnorm to clip their joint norm."
            )
        self.name = name if name is not None else type(self).__name__.lower()
        self.iterations = 0
        self._torch_kwargs = torch_kwargs
        self._built = False
        self._refresh_step_mode()

    def _pop_legacy_kwargs(self, learning_rate, kwargs):
        if "lr" in kwargs:
            warnings.warn(
                "The `lr` argument is deprecated, use `learning_rate` instead.",
                DeprecationWarning,
                stacklevel=4,
            )
            learning_rate = kwargs.pop("lr")
        if "decay" in kwargs:
            raise TypeError(
                f"{type(self).__name__}() does not take `decay` (the learning-rate decay of "
                "tf.keras < 2.11 optimizers). Use the equivalent schedule: learning_rate="
                "torchfit.optimizers.schedules.InverseTimeDecay(learning_rate, decay_steps=1, "
                "decay_rate=decay)."
            )
        signature = inspect.signature(type(self).__init__)
        check_kwargs(type(self).__name__, kwargs,
                     [p for p in signature.parameters if p not in ("self", "kwargs")])
        return learning_rate

    # ------------------------------------------------------------------ building

    @property
    def built(self):
        """Whether ``build(params)`` has run, i.e. whether this is a working torch optimizer."""
        return self._built

    def build(self, params):
        """Initialise the torch optimizer on ``params``; returns ``self``.

        Called by ``model.compile`` and by the first ``apply_gradients``. Building again with the
        same parameters does nothing; with other parameters it is an error (create a new optimizer
        for a new model, as its state belongs to the old parameters).

        Args:
            params: Anything ``torch.optim`` accepts: an iterable of tensors, of
                ``(name, tensor)`` pairs, or of param-group dicts.
        """
        params = list(params)
        if self._built:
            mine = {id(p) for group in self.param_groups for p in group["params"]}
            if {id(p) for p in _flatten_params(params)} != mine:
                raise ValueError(
                    f"This {type(self).__name__} optimizer ('{self.name}') is already built for "
                    f"other parameters ({len(mine)} tensors): its state belongs to them. Create a "
                    f"new optimizer for the new model, e.g. "
                    f"optimizer={type(self).__name__}(...) in this compile() call."
                )
            return self
        if not params:
            raise ValueError(
                f"{type(self).__name__}.build() received no parameters. Pass the model's "
                "parameters, e.g. optimizer.build(model.parameters())."
            )
        torch_class = _torch_class(type(self))
        # sync: only if a user schedule returns a device tensor (built-ins return floats).
        lr = self._lr if self._schedule is None else float(self._schedule(self.iterations))
        kwargs = dict(self._torch_kwargs)
        if self._cpu_foreach and all(not t.is_cuda for t in _flatten_params(params)):
            # torch loops over the parameters one by one on the CPU unless asked; its foreach
            # kernels give the same numbers, bitwise (tested), with fewer dispatches per step.
            kwargs.setdefault("foreach", True)
        torch_class.__init__(self, params, lr=lr, **kwargs)
        self._bind_torch_step(torch_class)
        self._built = True
        self._refresh_step_mode()
        return self

    def _bind_torch_step(self, torch_class):
        # Step hooks (register_step_pre_hook, ...) and the profiler label fire around this.
        self._torch_step = torch.optim.Optimizer.profile_hook_step(_unhooked_step(torch_class))

    def _refresh_step_mode(self):
        clipping = (self._clipnorm, self._clipvalue, self._global_clipnorm) != (None, None, None)
        self._has_clipping = clipping
        self._needs_prepare = not self._built or clipping or self._schedule is not None

    def _check_built(self, what):
        if not self._built:
            raise RuntimeError(
                f"{type(self).__name__} optimizer '{self.name}' is not built yet, so it cannot "
                f"{what}: it does not know its parameters. Pass it to "
                "model.compile(optimizer=...), call optimizer.apply_gradients(zip(grads, "
                "params)), or call optimizer.build(model.parameters()) first."
            )

    # ------------------------------------------------------------------ learning rate

    @property
    def learning_rate(self):
        """The learning rate: the schedule if one was given, else the float in ``param_groups``.

        Setting a float writes it into every parameter group (and drops any schedule); setting a
        schedule makes each following ``step()`` evaluate it on ``iterations``.
        """
        if self._schedule is not None:
            return self._schedule
        if self._built:
            return self.param_groups[0]["lr"]
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value):
        self._lr, self._schedule = _check_learning_rate(value)
        if self._built:
            # sync: only if a user schedule returns a device tensor (built-ins return floats).
            lr = self._lr if self._schedule is None else float(self._schedule(self.iterations))
            for group in self.param_groups:
                group["lr"] = lr
        self._refresh_step_mode()

    # ------------------------------------------------------------------ stepping

    def step(self, closure=None):
        """Clip the gradients and set the scheduled learning rate if asked, update, count the step.

        Args:
            closure: As in ``torch.optim``: re-evaluates the model and returns the loss.

        Returns:
            The closure's loss, or None.
        """
        if self._needs_prepare:  # the only check on the fast path (no clipping, no schedule)
            return self._prepared_step(closure)
        loss = self._torch_step(self, closure)
        self.iterations += 1
        return loss

    # torch wraps an optimizer class's step with its hook/profiler wrapper unless marked; ours
    # fires the hooks around the torch update instead (see _bind_torch_step).
    step.hooked = True

    def _prepared_step(self, closure):
        self._check_built("step()")
        loss = None
        if closure is not None:  # gradients must exist before they are clipped
            with torch.enable_grad():
                loss = closure()
        if self._has_clipping:
            self._clip_gradients()
        self._torch_step(self, None)
        self.iterations += 1
        if self._schedule is not None:
            # The groups always hold the lr of the *next* step, schedule(iterations), so that
            # callbacks see it at on_train_batch_begin, as in Keras.
            self._apply_schedule()
        return loss

    def _apply_schedule(self):
        # sync: only if a user schedule returns a device tensor (built-ins return floats).
        lr = float(self._schedule(self.iterations))
        for group in self.param_groups:
            group["lr"] = lr

    @torch.no_grad()
    def _clip_gradients(self):
        params = (p for group in self.param_groups for p in group["params"])
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        if self._clipvalue is not None:
            torch._foreach_clamp_min_(grads, -self._clipvalue)
            torch._foreach_clamp_max_(grads, self._clipvalue)
        if self._clipnorm is not None:
            _clip_each_norm_(grads, self._clipnorm)
        elif self._global_clipnorm is not None:
            _clip_global_norm_(grads, self._global_clipnorm)

    def apply_gradients(self, grads_and_vars):
        """Apply one step of the given gradients to the given variables (Keras custom loops).

        Builds the optimizer on the variables on first use (in the order given). Exactly the
        given gradients are applied, once: each variable's ``.grad`` is set to its gradient (None:
        the variable is not updated), ``step()`` runs, and every ``.grad`` of the optimizer is left
        None, so a following ``loss.backward()`` starts from zero as ``tf.GradientTape`` does.
        Clipping modifies the gradient tensors in place.

        Args:
            grads_and_vars: An iterable of ``(gradient, variable)`` pairs, e.g.
                ``zip(torch.autograd.grad(loss, params), params)``.

        Example:
            >>> net = torch.nn.Linear(2, 1)
            >>> opt = SGD(learning_rate=0.1)
            >>> params = list(net.parameters())
            >>> grads = torch.autograd.grad(net(torch.ones(1, 2)).sum(), params)
            >>> opt.apply_gradients(zip(grads, params))
        """
        pairs = list(grads_and_vars)
        if not pairs:
            raise ValueError(
                "apply_gradients() received no (gradient, variable) pairs. Pass e.g. "
                "zip(grads, model.trainable_weights)."
            )
        variables = [var for _, var in pairs]
        if not self._built:
            self.build(variables)
        params = [p for group in self.param_groups for p in group["params"]]
        known = {id(p) for p in params}
        unknown = sum(id(var) not in known for var in variables)
        if unknown:
            raise ValueError(
                f"apply_gradients() received {unknown} variable(s) that this optimizer was not "
                f"built with ({len(params)} tensors). Use one optimizer per set of variables, or "
                "build it with all of them."
            )
        for param in params:
            param.grad = None
        for grad, var in pairs:
            var.grad = grad
        self.step()
        for var in variables:
            var.grad = None

    # ------------------------------------------------------------------ torch methods

    def zero_grad(self, set_to_none=True):
        self._check_built("zero_grad()")
        super().zero_grad(set_to_none)

    def state_dict(self):
        """torch's optimizer ``state_dict()`` plus an ``"iterations"`` entry (an int)."""
        self._check_built("state_dict()")
        state = super().state_dict()
        state[_STATE_DICT_ITERATIONS] = self.iterations
        return state

    def load_state_dict(self, state_dict):
        """Load a ``state_dict()``; one from a plain torch optimizer keeps ``iterations`` as is."""
        self._check_built("load_state_dict()")
        state_dict = dict(state_dict)
        iterations = state_dict.pop(_STATE_DICT_ITERATIONS, None)
        super().load_state_dict(state_dict)
        if iterations is not None:
            self.iterations = int(iterations)
        if self._schedule is not None:
            self._apply_schedule()

    def __getstate__(self):
        # Like torch, drop hooks (often unpicklable closures); _torch_step is rebuilt on load.
        return {
            key: value
            for key, value in self.__dict__.items()
            if key != "_torch_step" and not key.startswith("_optimizer_")
        }

    def __setstate__(self, state):
        if not state.get("_built"):
            self.__dict__.update(state)
            return
        super().__setstate__(state)
        self._bind_torch_step(_torch_class(type(self)))

    def __repr__(self):
        if not self._built:
            lr = self.learning_rate
            return f"{type(self).__name__}(name='{self.name}', learning_rate={lr!r}, not built)"
        return super().__repr__()


class SGD(Optimizer, torch.optim.SGD):
    """Gradient descent with momentum: Keras ``SGD`` over ``torch.optim.SGD``.

    Mapping: ``learning_rate`` -> ``lr``, ``momentum`` -> ``momentum``, ``nesterov`` ->
    ``nesterov``, ``weight_decay`` -> ``weight_decay`` (None -> 0).

    Differences: Keras's velocity includes the learning rate (``v = m*v - lr*g; w += v``) while
    torch's does not (``b = m*b + g; w -= lr*b``). They agree exactly while the learning rate is
    constant; after a change torch applies the new rate to the whole buffer at once.
    ``weight_decay`` is torch's L2 term (``g += wd * w``), not Keras's decoupled decay.

    Example:
        >>> opt = SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    """

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        nesterov=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="SGD",
        **kwargs,
    ):
        torch_kwargs = dict(momentum=momentum, nesterov=nesterov, weight_decay=weight_decay or 0.0)
        super().__init__(
            learning_rate, torch_kwargs, kwargs, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
        )  # fmt: skip


class RMSprop(Optimizer, torch.optim.RMSprop):
    """RMSprop: Keras ``RMSprop`` over ``torch.optim.RMSprop``.

    Mapping: ``learning_rate`` -> ``lr``, ``rho`` -> ``alpha`` (0.9, torch's default is 0.99),
    ``epsilon`` -> ``eps`` (1e-7), ``momentum`` -> ``momentum``, ``centered`` -> ``centered``,
    ``weight_decay`` -> ``weight_decay`` (None -> 0).

    Differences: torch divides by ``sqrt(ms) + eps``, as tf.keras 2.x does without momentum;
    tf.keras 2.x with momentum and Keras 3 divide by ``sqrt(ms + eps)``. With momentum torch's
    buffer excludes the learning rate (see ``SGD``). ``weight_decay`` is torch's L2 term.

    Example:
        >>> opt = RMSprop(learning_rate=1e-3)   # Keras defaults: rho=0.9, epsilon=1e-7
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-07,
        centered=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="rmsprop",
        **kwargs,
    ):
        torch_kwargs = dict(
            alpha=rho, eps=epsilon, momentum=momentum, centered=centered,
            weight_decay=weight_decay or 0.0,
        )  # fmt: skip
        super().__init__(
            learning_rate, torch_kwargs, kwargs, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
        )  # fmt: skip


def _adam_kwargs(beta_1, beta_2, epsilon, amsgrad, weight_decay):
    """torch Adam/NAdam arguments; Keras's decoupled weight decay when weight_decay is given."""
    kwargs = dict(betas=(beta_1, beta_2), eps=epsilon)
    if amsgrad is not None:
        kwargs["amsgrad"] = amsgrad
    if weight_decay is not None:
        kwargs.update(weight_decay=weight_decay, decoupled_weight_decay=True)
    return kwargs


class Adam(Optimizer, torch.optim.Adam):
    """Adam: Keras ``Adam`` over ``torch.optim.Adam``.

    Mapping: ``learning_rate`` -> ``lr``, ``(beta_1, beta_2)`` -> ``betas``, ``epsilon`` -> ``eps``
    (1e-7), ``amsgrad`` -> ``amsgrad``; ``weight_decay`` (if given) -> ``weight_decay`` with
    ``decoupled_weight_decay=True``, Keras's decoupled decay ``w -= lr * wd * w``.

    Differences: Keras adds ``epsilon`` to ``sqrt(v)`` before the bias correction (the paper's
    "epsilon hat"), torch after it: torch's update equals Keras's with ``epsilon`` replaced by
    ``epsilon * sqrt(1 - beta_2**t)``, which matters only while ``sqrt(v)`` is near ``epsilon``.

    Example:
        >>> opt = Adam(learning_rate=1e-3, amsgrad=True)
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-07,
        amsgrad=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="adam",
        **kwargs,
    ):
        torch_kwargs = _adam_kwargs(beta_1, beta_2, epsilon, amsgrad, weight_decay)
        super().__init__(
            learning_rate, torch_kwargs, kwargs, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
        )  # fmt: skip


class AdamW(Optimizer, torch.optim.AdamW):
    """Adam with decoupled weight decay: Keras ``AdamW`` over ``torch.optim.AdamW``.

    Mapping: ``learning_rate`` -> ``lr``, ``weight_decay`` -> ``weight_decay`` (Keras default 0.004,
    torch's is 0.01; both decay ``w -= lr * wd * w``), ``(beta_1, beta_2)`` -> ``betas``,
    ``epsilon`` -> ``eps`` (1e-7), ``amsgrad`` -> ``amsgrad``.

    Differences: where epsilon enters the denominator, as for ``Adam``.

    Example:
        >>> opt = AdamW(learning_rate=1e-3, weight_decay=0.004)
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-07,
        amsgrad=False,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="adamw",
        **kwargs,
    ):
        if weight_decay is None:
            raise ValueError(
                "AdamW needs a `weight_decay` (Keras default 0.004). Received: weight_decay=None. "
                "For no decay use weight_decay=0.0 or Adam."
            )
        torch_kwargs = dict(
            betas=(beta_1, beta_2), eps=epsilon, amsgrad=amsgrad, weight_decay=weight_decay
        )
        super().__init__(
            learning_rate, torch_kwargs, kwargs, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
        )  # fmt: skip


class Adagrad(Optimizer, torch.optim.Adagrad):
    """Adagrad: Keras ``Adagrad`` over ``torch.optim.Adagrad``.

    Mapping: ``learning_rate`` -> ``lr`` (Keras default 0.001, torch's 0.01),
    ``initial_accumulator_value`` -> ``initial_accumulator_value`` (0.1, torch's 0), ``epsilon`` ->
    ``eps`` (1e-7), ``lr_decay=0``, ``weight_decay`` -> ``weight_decay`` (None -> 0).

    Differences: torch divides by ``sqrt(acc) + eps`` as tf.keras 2.x does; Keras 3 divides by
    ``sqrt(acc + eps)``. ``weight_decay`` is torch's L2 term.

    Example:
        >>> opt = Adagrad(learning_rate=0.01)
    """

    def __init__(
        self,
        learning_rate=0.001,
        initial_accumulator_value=0.1,
        epsilon=1e-07,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="adagrad",
        **kwargs,
    ):
        torch_kwargs = dict(
            lr_decay=0.0, initial_accumulator_value=initial_accumulator_value, eps=epsilon,
            weight_decay=weight_decay or 0.0,
        )  # fmt: skip
        super().__init__(
            learning_rate, torch_kwargs, kwargs, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
        )  # fmt: skip


class Adadelta(Optimizer, torch.optim.Adadelta):
    """Adadelta: Keras ``Adadelta`` over ``torch.optim.Adadelta``.

    Mapping: ``learning_rate`` -> ``lr`` (Keras default 0.001, torch's 1.0), ``rho`` -> ``rho``
    (0.95, torch's 0.9), ``epsilon`` -> ``eps`` (1e-7), ``weight_decay`` -> ``weight_decay``
    (None -> 0).

    Differences: none in the update (both use ``sqrt(acc_delta + eps) / sqrt(acc_grad + eps)``);
    ``weight_decay`` is torch's L2 term.

    Example:
        >>> opt = Adadelta(learning_rate=1.0)
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.95,
        epsilon=1e-07,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="adadelta",
        **kwargs,
    ):
        torch_kwargs = dict(rho=rho, eps=epsilon, weight_decay=weight_decay or 0.0)
        super().__init__(
            learning_rate, torch_kwargs, kwargs, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
        )  # fmt: skip


class Adamax(Optimizer, torch.optim.Adamax):
    """Adamax: Keras ``Adamax`` over ``torch.optim.Adamax``.

    Mapping: ``learning_rate`` -> ``lr`` (Keras default 0.001, torch's 0.002), ``(beta_1, beta_2)``
    -> ``betas``, ``epsilon`` -> ``eps`` (1e-7), ``weight_decay`` -> ``weight_decay`` (None -> 0).

    Differences: Keras divides by ``u + eps`` with ``u = max(beta_2 * u, |g|)``; torch keeps
    ``u = max(beta_2 * u, |g| + eps)`` and divides by ``u``. ``weight_decay`` is torch's L2 term.

    Example:
        >>> opt = Adamax(learning_rate=2e-3)
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-07,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="adamax",
        **kwargs,
    ):
        torch_kwargs = dict(betas=(beta_1, beta_2), eps=epsilon, weight_decay=weight_decay or 0.0)
        super().__init__(
            learning_rate, torch_kwargs, kwargs, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
        )  # fmt: skip


class Nadam(Optimizer, torch.optim.NAdam):
    """Adam with Nesterov momentum: Keras ``Nadam`` over ``torch.optim.NAdam``.

    Mapping: ``learning_rate`` -> ``lr`` (Keras default 0.001, torch's 0.002), ``(beta_1, beta_2)``
    -> ``betas``, ``epsilon`` -> ``eps`` (1e-7), ``momentum_decay=0.004``; ``weight_decay`` (if
    given) -> ``weight_decay`` with ``decoupled_weight_decay=True`` (Keras's decoupled decay).

    Differences: torch's momentum schedule ``beta_1 * (1 - 0.5 * 0.96 ** (0.004 * t))`` and its
    update are those of tf.keras 2.x (<= 2.10); the Keras 3 optimizer uses ``0.96 ** t``.

    Example:
        >>> opt = Nadam(learning_rate=1e-3)
    """

    _cpu_foreach = False  # torch's NAdam foreach path differs in the last bits

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-07,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="nadam",
        **kwargs,
    ):
        torch_kwargs = _adam_kwargs(beta_1, beta_2, epsilon, None, weight_decay)
        torch_kwargs["momentum_decay"] = 0.004
        super().__init__(
            learning_rate, torch_kwargs, kwargs, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
        )  # fmt: skip


_OPTIMIZERS = {
    "sgd": SGD,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
    "adagrad": Adagrad,
    "adadelta": Adadelta,
    "adamax": Adamax,
    "nadam": Nadam,
}

_EXPECTED = (
    "Expected an optimizer name such as 'rmsprop', a torchfit optimizer (class or instance), or a "
    "torch.optim.Optimizer (class or instance)."
)


def get(identifier, **kwargs):
    """Resolve an optimizer identifier as ``compile(optimizer=...)`` accepts it.

    Args:
        identifier: A name (``"rmsprop"``, ``"Adam"``, ... case-insensitive) -> a new optimizer with
            Keras defaults; a torchfit optimizer class -> a new instance; a torchfit or
            ``torch.optim.Optimizer`` instance -> itself; a ``torch.optim.Optimizer`` class -> the
            class (it needs the parameters: see ``build``).
        **kwargs: Constructor arguments, when ``get`` creates the optimizer (from a name or a
            torchfit class).

    Raises:
        ValueError: ``None`` or an unknown name (with a "did you mean" suggestion).
        TypeError: Anything else, or ``kwargs`` with an identifier that is not created here.

    Example:
        >>> get("adam", learning_rate=1e-2).learning_rate
        0.01
    """
    if identifier is None:
        raise ValueError(
            f"Received optimizer=None. {_EXPECTED} The compile() default is 'rmsprop'."
        )
    if isinstance(identifier, str):
        cls = _OPTIMIZERS.get(identifier.lower())
        if cls is None:
            raise unknown_identifier_error("optimizer", identifier, _OPTIMIZERS)
        return cls(**kwargs)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier(**kwargs)
    is_torch_class = isinstance(identifier, type) and issubclass(identifier, torch.optim.Optimizer)
    if isinstance(identifier, torch.optim.Optimizer) or is_torch_class:
        if kwargs:
            raise TypeError(
                f"get() arguments {sorted(kwargs)} apply only when get() creates the optimizer "
                f"from a name or a torchfit optimizer class. Received: {identifier!r}."
            )
        return identifier
    raise TypeError(f"Could not interpret optimizer identifier: {identifier!r}. {_EXPECTED}")


def build(identifier, params):
    """A ready ``torch.optim.Optimizer`` over ``params`` for any identifier ``get`` accepts.

    Names, torchfit classes and instances are built on ``params``; a ``torch.optim.Optimizer``
    class is called as ``cls(params)``; a ``torch.optim.Optimizer`` instance is returned as is,
    after checking that every tensor it optimizes is in ``params`` (it may hold fewer, e.g. when
    fine-tuning only a head).

    Args:
        identifier: See ``get``.
        params: The model's parameters (pass all of them, e.g. ``list(model.parameters())``:
            frozen ones receive no gradient and are skipped by every torch optimizer).

    Example:
        >>> net = torch.nn.Linear(2, 1)
        >>> opt = build("sgd", net.parameters())
        >>> opt.param_groups[0]["lr"]
        0.01
    """
    params = list(params)
    optimizer = get(identifier)
    if isinstance(optimizer, Optimizer):
        return optimizer.build(params)
    if isinstance(optimizer, torch.optim.Optimizer):
        _check_torch_optimizer_params(optimizer, params)
        return optimizer
    required = [
        p.name
        for p in list(inspect.signature(optimizer).parameters.values())[1:]
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if required:
        name = f"{optimizer.__module__}.{optimizer.__qualname__}"
        raise TypeError(
            f"{name} cannot be created from the parameters alone: it requires "
            f"{_quoted(required)}. Pass an instance instead, e.g. "
            f"compile(optimizer={optimizer.__name__}(model.parameters(), "
            f"{', '.join(f'{r}=...' for r in required)})), or a torchfit optimizer such as 'sgd'."
        )
    return optimizer(params)


def _check_torch_optimizer_params(optimizer, params):
    model_ids = {id(p) for p in _flatten_params(params)}
    held = [p for group in optimizer.param_groups for p in group["params"]]
    foreign = sum(id(p) not in model_ids for p in held)
    if foreign:
        raise ValueError(
            f"The {type(optimizer).__name__} optimizer was created for other parameters: {foreign} "
            f"of the {len(held)} tensors it optimizes are not parameters of this model. Create it "
            f"from this model's parameters, e.g. {type(optimizer).__name__}(model.parameters(), "
            "lr=...), or pass a name such as 'sgd'."
        )
