"""``Optimizer``: Keras construction, learning rate, clipping and ``iterations`` over torch.optim.

A concrete optimizer subclasses ``Optimizer`` and one ``torch.optim`` class and declares only what
is its own: its learning-rate default and name as class keywords, and its Keras arguments (Keras's
order and defaults) as the parameters of a static ``keras_to_torch`` returning the torch keyword
arguments; it may ask for ``weight_decay`` keyword-only. ``__init_subclass__`` composes the
constructor's signature from these and the shared arguments, so that ``inspect.signature`` and
``help()`` show the full Keras argument list.

Example:
    >>> from torchfit.optimizers import Optimizer
    >>> class Rprop(Optimizer, torch.optim.Rprop, learning_rate=0.01, name="rprop"):
    ...     @staticmethod
    ...     def keras_to_torch(eta_minus=0.5, eta_plus=1.2):
    ...         return dict(etas=(eta_minus, eta_plus))
    >>> import inspect
    >>> inspect.signature(Rprop)  # doctest: +ELLIPSIS
    <Signature (learning_rate=0.01, eta_minus=0.5, eta_plus=1.2, clipnorm=None, ..., **kwargs)>
    >>> Rprop(eta_plus=1.1).build(nn.Linear(2, 1).parameters()).param_groups[0]["etas"]
    (0.5, 1.1)

``step()`` is the torch class's, or, for the Keras optimizers of ``catalogue``, Keras 3's update
rule (``rules``, over ``keras_update.KerasUpdate``) placed before the torch class in the MRO.
``build`` registers torchfit's work as two hooks on the instance (torch's public
``register_step_pre_hook`` / ``register_step_post_hook``), before any of the user's; torch's
``step`` wrapper fires every hook once per step, in this order:

1. global pre-hooks (``torch.optim.optimizer.register_optimizer_step_pre_hook``): the gradients as
   computed;
2. torchfit's pre-hook, only with clipping: runs the closure if one was given (the gradients must
   exist before they are clipped), then clips the gradients;
3. the optimizer's own pre-hooks (``register_step_pre_hook``): the clipped gradients;
4. the update, with ``param_groups[i]["lr"]``;
5. torchfit's post-hook: ``iterations += 1``; with a schedule, every group's ``lr`` becomes
   ``schedule(iterations)``, the rate of the next step;
6. the optimizer's own post-hooks (``register_step_post_hook``): the new ``iterations`` and lr;
7. global post-hooks.
"""

import numbers
import warnings

import torch

from torchfit import schedules
from torchfit.optimizers.clipping import clip_gradients_
from torchfit.optimizers.keras_api import check_keras_only, optimizer_config, optimizer_variables
from torchfit.optimizers.signature import keras_signature
from torchfit.utils.validation import check_kwargs

__all__ = ["Optimizer"]

_STATE_DICT_ITERATIONS = "iterations"
_CLIP_ARGUMENTS = ("clipnorm", "clipvalue", "global_clipnorm")


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


def _clip_before_step(optimizer, args, kwargs):
    """Step pre-hook (only with clipping): run the closure, then clip the gradients it made."""
    closure = kwargs.get("closure", args[1] if len(args) > 1 else None)
    new_args = None
    if closure is not None:
        with torch.enable_grad():
            loss = closure()
        # The torch update must not recompute the gradients, but it returns the closure's loss.
        new_args = args[:1], {**kwargs, "closure": lambda: loss}
    optimizer._clip_gradients()
    return new_args


def _after_step(optimizer, args, kwargs):
    """Step post-hook: count the step; with a schedule, set the next step's learning rate."""
    optimizer.iterations += 1
    if optimizer._schedule is not None:  # the only check on the fast path
        # The groups always hold the lr of the *next* step, schedule(iterations), so that
        # callbacks see it at on_train_batch_begin, as in Keras.
        optimizer._apply_schedule()


class Optimizer(torch.optim.Optimizer):
    """Base of the torchfit optimizers: Keras construction over a ``torch.optim`` optimizer.

    An optimizer over a torch class's own ``step`` runs torch's ``foreach`` implementation on
    the CPU, which torch itself only picks on CUDA: the same numbers bit for bit, with fewer
    kernel dispatches per step (``_cpu_foreach = False`` keeps torch's default).

    Subclasses declare their own Keras arguments and mapping (see the module docstring). This base
    holds the features torch.optim lacks (and Keras 3's ``get_config`` / ``from_config``);
    everything else is the torch class's.

    Args:
        learning_rate: A float, or a schedule (``schedules.LearningRateSchedule`` or any callable
            ``step -> float``) evaluated before each step on ``iterations``.
        weight_decay: Stored for ``get_config``; ``keras_to_torch`` maps it to the update.
        clipnorm: Clip each gradient to this L2 norm: ``g * clipnorm / max(||g||, clipnorm)``.
        clipvalue: Clamp each gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: Scale all gradients by
            ``min(global_clipnorm / (global_norm + 1e-6), 1)``, as
            ``torch.nn.utils.clip_grad_norm_`` does (bit for bit).
        name: The optimizer's name.
        **kwargs: ``lr`` is accepted with a ``DeprecationWarning`` (as tf.keras 2.x did);
            anything else is a ``TypeError``.

    Raises:
        ValueError: ``clipnorm`` together with ``global_clipnorm`` (as in Keras), a negative
            learning rate or non-positive clipping threshold, or tf.keras < 2.11's ``decay``
            (tf.keras 2.11+'s error; the message names the equivalent schedule).
        TypeError: An unknown keyword argument (with a "did you mean" suggestion).
    """

    _cpu_foreach = True  # see the class docstring

    def __init_subclass__(cls, *, learning_rate=None, name=None, **kwargs):
        super().__init_subclass__(**kwargs)
        inherited = getattr(cls, "_keras_signature", None)
        if learning_rate is None:
            learning_rate = inherited.parameters["learning_rate"].default if inherited else 0.001
        if name is None:
            name = inherited.parameters["name"].default if inherited else cls.__name__.lower()
        cls._keras_signature, cls._keras_to_torch_arguments = keras_signature(
            cls, learning_rate, name
        )
        # What inspect.signature() and help() show, unless the class writes its own __init__.
        cls.__signature__ = None if "__init__" in vars(cls) else cls._keras_signature

    @staticmethod
    def keras_to_torch(*, weight_decay):
        """The torch keyword arguments for the Keras ones (subclasses declare their own)."""
        return {} if weight_decay is None else dict(weight_decay=weight_decay)

    def __init__(self, *args, **kwargs):
        cls = type(self)
        _torch_class(cls)  # a TypeError now rather than at build()
        try:
            bound = cls._keras_signature.bind(*args, **kwargs)
        except TypeError as error:  # too many positional arguments, or one given twice
            raise TypeError(
                f"{cls.__name__}() {error}: it takes {cls._keras_signature}. Received: "
                f"{len(args)} positional argument(s) and keywords {sorted(kwargs)}."
            ) from None
        bound.apply_defaults()
        arguments = bound.arguments
        learning_rate = self._pop_legacy_kwargs(arguments["learning_rate"], arguments["kwargs"])
        self._lr, self._schedule = _check_learning_rate(learning_rate)
        weight_decay = arguments.get("weight_decay")
        self.weight_decay = _check_optional_positive("weight_decay", weight_decay, allow_zero=True)
        self._built, self._clip_hook = False, None
        self._set_clipping(*(arguments[name] for name in _CLIP_ARGUMENTS))
        self._keras_arguments = {arg: arguments[arg] for arg in cls._keras_to_torch_arguments}
        self._torch_kwargs = self.keras_to_torch(**self._keras_arguments)
        name = arguments["name"]
        self.name = name if name is not None else cls.__name__.lower()
        self.iterations = 0
        # Until build() there is no torch optimizer to step; like torch's LR schedulers (which
        # set `optimizer.step` too), an instance attribute stands in for the class's step.
        self.step = self._step_before_build

    def _pop_legacy_kwargs(self, learning_rate, kwargs):
        if "lr" in kwargs:
            warnings.warn(
                "The `lr` argument is deprecated, use `learning_rate` instead.",
                DeprecationWarning,
                stacklevel=3,  # the caller of __init__
            )
            learning_rate = kwargs.pop("lr")
        if "decay" in kwargs:
            raise ValueError(  # tf.keras 2.11+'s error and words (Keras 3 ignores it, warning)
                f"decay is deprecated in the new Keras optimizer: {type(self).__name__}() does "
                "not take `decay` (the learning-rate decay of tf.keras < 2.11 optimizers). "
                "Use the equivalent schedule: learning_rate=torchfit.optimizers.schedules."
                "InverseTimeDecay(learning_rate, decay_steps=1, decay_rate=decay)."
            )
        valid = [name for name in type(self)._keras_signature.parameters if name != "kwargs"]
        check_kwargs(type(self).__name__, kwargs, valid)
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
        # sync: only if a user schedule returns a device tensor (built-ins return floats).
        lr = self._lr if self._schedule is None else float(self._schedule(self.iterations))
        kwargs = dict(self._torch_kwargs)
        if self._cpu_foreach and all(not t.is_cuda for t in _flatten_params(params)):
            # torch loops over the parameters one by one on the CPU unless asked; its foreach
            # kernels give the same numbers, bitwise (tested), with fewer dispatches per step.
            kwargs.setdefault("foreach", True)
        _torch_class(type(self)).__init__(self, params, lr=lr, **kwargs)
        self.__dict__.pop("step")  # from now on the torch class's step, which fires the hooks
        self._register_step_hooks()
        self._built = True
        return self

    def _register_step_hooks(self):
        # Module-level functions, not bound methods: no reference cycle through the hook dicts.
        if self._has_clipping:
            self._clip_hook = self.register_step_pre_hook(_clip_before_step)
        self.register_step_post_hook(_after_step)

    def _set_clipping(self, clipnorm, clipvalue, global_clipnorm):
        """Check and set the three clipping arguments (also after ``build``, as Keras allows)."""
        clipnorm = _check_optional_positive("clipnorm", clipnorm)
        clipvalue = _check_optional_positive("clipvalue", clipvalue)
        global_clipnorm = _check_optional_positive("global_clipnorm", global_clipnorm)
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError(
                "Only one of `clipnorm` and `global_clipnorm` can be set. Received: "
                f"clipnorm={clipnorm}, global_clipnorm={global_clipnorm}. Use clipnorm to clip "
                "each gradient separately, global_clipnorm to clip their joint norm."
            )
        self._clipnorm, self._clipvalue, self._global_clipnorm = clipnorm, clipvalue, global_clipnorm
        if self._built and self._has_clipping and self._clip_hook is None:
            self._clip_hook = self.register_step_pre_hook(_clip_before_step)

    clipnorm = property(lambda self: self._clipnorm,
                        lambda self, value: self._set_clipping(value, self._clipvalue,
                                                               self._global_clipnorm),
                        doc="Keras's ``clipnorm``; settable, also once built.")
    clipvalue = property(lambda self: self._clipvalue,
                         lambda self, value: self._set_clipping(self._clipnorm, value,
                                                                self._global_clipnorm),
                         doc="Keras's ``clipvalue``; settable, also once built.")
    global_clipnorm = property(lambda self: self._global_clipnorm,
                               lambda self, value: self._set_clipping(self._clipnorm,
                                                                      self._clipvalue, value),
                               doc="Keras's ``global_clipnorm``; settable, also once built.")

    @property
    def _has_clipping(self):
        return (self._clipnorm, self._clipvalue, self._global_clipnorm) != (None, None, None)

    @property
    def _needs_prepare(self):
        """Whether a step does more than the torch update and ``iterations += 1``."""
        return not self._built or self._has_clipping or self._schedule is not None

    def _step_before_build(self, closure=None):
        self._check_built("step()")

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

    def _apply_schedule(self):
        # sync: only if a user schedule returns a device tensor (built-ins return floats).
        lr = float(self._schedule(self.iterations))
        for group in self.param_groups:
            group["lr"] = lr

    @torch.no_grad()
    def _clip_gradients(self):
        params = (p for group in self.param_groups for p in group["params"])
        grads = [p.grad for p in params if p.grad is not None]
        clip_gradients_(grads, self._clipvalue, self._clipnorm, self._global_clipnorm)

    # ------------------------------------------------------------------ Keras API

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
            >>> from torchfit.optimizers import SGD
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

    @property
    def variables(self):
        """Keras 3's ``optimizer.variables``: ``iterations`` (an int32 tensor), the learning rate
        (a float32 tensor; left out when it is a schedule), then, in the order of
        ``param_groups``, each parameter's slots (torch's ``state[param]`` tensors themselves,
        Keras's names as keys: ``"momentum"``, ``"velocity"``, ...).

        The slots alias the state (writing into them changes it) and exist once the parameter
        has been updated (Keras makes them at ``build``); the scalars are new CPU tensors (they
        are Python numbers here). Where Keras orders slots by slot name (RMSprop with momentum,
        amsgrad's ``velocity_hat``), this list keeps them per parameter.

        Example:
            >>> from torchfit.optimizers import Adam
            >>> w = torch.nn.Parameter(torch.ones(2))
            >>> opt = Adam()
            >>> opt.apply_gradients([(torch.ones(2), w)])
            >>> [tuple(v.shape) for v in opt.variables], opt.variables[2] is opt.state[w]["momentum"]
            ([(), (), (2,), (2,)], True)
        """
        return optimizer_variables(self)

    def get_config(self):
        """Keras 3's config, key for key: ``name``, ``learning_rate`` (a float, or the schedule's
        dict: a built-in one under Keras's module ``"keras.optimizers.schedules"``),
        ``weight_decay``, the clipping arguments, Keras's EMA / loss-scale / accumulation keys
        with their "off" values (torchfit has none of them), then the class's own constructor
        arguments. ``type(opt).from_config(opt.get_config())`` rebuilds it (without its state),
        and so does ``keras.optimizers.deserialize(optimizers.serialize(opt))`` in Keras 3.

        Example:
            >>> from torchfit.optimizers import SGD
            >>> SGD(0.1, momentum=0.9).get_config()  # doctest: +NORMALIZE_WHITESPACE
            {'name': 'SGD', 'learning_rate': 0.1, 'weight_decay': None, 'clipnorm': None,
             'global_clipnorm': None, 'clipvalue': None, 'use_ema': False, 'ema_momentum': 0.99,
             'ema_overwrite_frequency': None, 'loss_scale_factor': None,
             'gradient_accumulation_steps': None, 'momentum': 0.9, 'nesterov': False}
        """
        has_weight_decay = "weight_decay" in type(self)._keras_signature.parameters
        return optimizer_config(self, self._keras_arguments, has_weight_decay)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The optimizer of a ``get_config()`` dict, torchfit's or Keras 3's (whose EMA,
        loss-scale-factor and gradient-accumulation options must be off: torchfit has none).

        Args:
            config: The dict.
            custom_objects: Names -> user schedule classes, for a serialised learning rate.

        Raises:
            ValueError: A Keras-only option that is on.
        """
        config = check_keras_only(cls, config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

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
        # Like torch, drop the hooks (often unpicklable closures); __setstate__ registers
        # torchfit's own again. Unbuilt, the `step` stand-in is set again by __setstate__ too.
        return {
            key: value
            for key, value in self.__dict__.items()
            if not key.startswith("_optimizer_") and (self._built or key != "step")
        }

    def __setstate__(self, state):
        if "_built" not in state:  # torch's load_state_dict: only "state" and "param_groups"
            super().__setstate__(state)
        elif not state["_built"]:
            self.__dict__.update(state)
            self.step = self._step_before_build
        else:  # a copy or an unpickled optimizer
            super().__setstate__(state)  # torch's: fresh hook registries
            self._register_step_hooks()

    def __repr__(self):
        if not self._built:
            lr = self.learning_rate
            return f"{type(self).__name__}(name='{self.name}', learning_rate={lr!r}, not built)"
        return super().__repr__()
