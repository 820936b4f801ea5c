"""LossScaleOptimizer: Keras 3's dynamic loss scaling around another optimizer, for custom loops.

In ``compile`` use ``precision="16-mixed"`` instead: torchfit's ``torch.amp.GradScaler`` is the
same algorithm (scale the loss, unscale the gradients, skip a step with non-finite gradients and
halve the scale, double it after ``growth_interval`` finite steps), with torch's defaults
(``init_scale=2**16``, ``growth_interval=2000``). ``compile`` does not call ``scale_loss``, so a
``LossScaleOptimizer`` there is refused (see ``LossScaleOptimizer``).
"""

import torch

from torchfit.optimizers.adafactor import Adafactor
from torchfit.optimizers.catalogue import (
    SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Nadam, RMSprop,
)  # fmt: skip
from torchfit.optimizers.ftrl import Ftrl
from torchfit.optimizers.keras_api import slot_variables
from torchfit.optimizers.lamb import Lamb
from torchfit.optimizers.lion import Lion
from torchfit.optimizers.muon import Muon
from torchfit.optimizers.schedule_free import ScheduleFreeAdamW
from torchfit.utils.config import deserialize_object, serialize_object

__all__ = ["LossScaleOptimizer"]

_INNER = {cls.__name__: cls for cls in (
    SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta, Adamax, Nadam, Adafactor, Ftrl, Lamb, Lion,
    Muon, ScheduleFreeAdamW,
)}  # fmt: skip

# Keras's base-optimizer arguments, which belong to the inner optimizer, at their defaults.
_BASE_DEFAULTS = {
    "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
    "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
    "loss_scale_factor": None, "gradient_accumulation_steps": None,
}  # fmt: skip

_IN_COMPILE = (
    "In model.compile() use precision='16-mixed' with the inner optimizer instead (torchfit's "
    "GradScaler does the same dynamic loss scaling): compile does not call scale_loss()."
)


def _check_arguments(kwargs):
    if not kwargs.pop("dynamic", True):
        raise ValueError(
            "LossScaleOptimizer no longer supports `dynamic=False`. Instead, simply set "
            "`loss_scale_factor` directly on the `inner_optimizer`."
        )
    for name, default in _BASE_DEFAULTS.items():
        if name in kwargs and kwargs.pop(name) != default:
            raise ValueError(
                f"LossScaleOptimizer does not support `{name}`. Instead, set `{name}` on the "
                "`inner_optimizer`."
            )
    if kwargs:
        raise ValueError(
            f"LossScaleOptimizer does not support arguments: `{'`, `'.join(kwargs)}`."
        )


class LossScaleOptimizer(torch.optim.Optimizer):
    """Dynamic loss scaling around ``inner_optimizer``, Keras 3's algorithm.

    ``scale_loss(loss)`` multiplies the loss by the current scale (``initial_scale`` at first);
    the gradients of the scaled loss go to ``apply_gradients`` (or ``.grad`` and ``step()``),
    which:

    - divides them by the scale and checks that they are all finite (one fused kernel per device,
      torch's ``_amp_foreach_non_finite_check_and_unscale_``);
    - if they are, runs the inner optimizer's step; after ``dynamic_growth_steps`` finite steps in
      a row the scale doubles;
    - if not, skips the step (the inner optimizer's ``iterations`` do not advance) and halves the
      scale.

    The scale and its counter stay on the device. Deciding whether to skip reads one flag on the
    host per step, as ``torch.amp.GradScaler.step`` does: this is the step's only
    synchronisation. ``param_groups``, ``state``, ``learning_rate`` and ``iterations`` are the
    inner optimizer's (torch LR schedulers drive it through this wrapper).

    For custom loops. ``model.compile`` does not scale the loss: use ``precision="16-mixed"``,
    the same algorithm with torch's GradScaler; an unbuilt ``LossScaleOptimizer`` is refused
    there, and ``step()`` refuses gradients when ``scale_loss`` was not called since the last step
    (``apply_gradients`` takes the gradients as given, as Keras does).

    Args:
        inner_optimizer: A torchfit optimizer (built on the first ``apply_gradients`` or by
            ``build``) or a ``torch.optim.Optimizer`` instance.
        initial_scale: The first loss scale. Defaults to ``2**15``.
        dynamic_growth_steps: Finite steps after which the scale doubles. Defaults to 2000.
        name: Defaults to ``"loss_scale_optimizer"``.
        **kwargs: Keras's base-optimizer arguments (``weight_decay``, ``clipnorm``, ...) only at
            their defaults: they belong to the inner optimizer.

    Raises:
        ValueError: ``dynamic=False``, a base-optimizer argument, or an unknown one (Keras's
            messages).
        TypeError: An inner optimizer that is not a ``torch.optim.Optimizer``.

    Example:
        >>> from torchfit.optimizers import SGD
        >>> w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
        >>> opt = LossScaleOptimizer(SGD(learning_rate=0.5), initial_scale=4.0)
        >>> loss = opt.scale_loss((w**2).sum() / 2)            # 4 * loss
        >>> opt.apply_gradients(zip(torch.autograd.grad(loss, [w]), [w]))
        >>> w.detach(), float(opt.dynamic_scale)
        (tensor([0.5000, 1.0000]), 4.0)
    """

    def __init__(
        self, inner_optimizer, initial_scale=2.0**15, dynamic_growth_steps=2000, name=None,
        **kwargs,
    ):  # fmt: skip
        _check_arguments(kwargs)
        if not isinstance(inner_optimizer, torch.optim.Optimizer):
            raise TypeError(
                "`inner_optimizer` must be a torchfit or torch.optim optimizer instance. "
                f"Received: inner_optimizer={inner_optimizer!r}"
            )
        # torch.optim.Optimizer.__init__ is not called: the groups and state are the inner's.
        self.inner_optimizer = inner_optimizer
        self.initial_scale = float(initial_scale)
        self.dynamic_growth_steps = int(dynamic_growth_steps)
        self.name = "loss_scale_optimizer" if name is None else name
        self._scale = self._growth_tracker = None  # tensors, once built
        self._loss_scaled = False  # whether scale_loss() ran since the last step

    # ------------------------------------------------------------------ building

    @property
    def built(self):
        return self._scale is not None

    def build(self, params):
        """Build the inner optimizer on ``params`` (if it is a torchfit one); returns ``self``."""
        params = list(params)
        if hasattr(self.inner_optimizer, "build"):
            self.inner_optimizer.build(params)
        device = next(
            (p.device for g in self.inner_optimizer.param_groups for p in g["params"]), None
        )
        self._scale = torch.full((), self.initial_scale, dtype=torch.float32, device=device)
        self._growth_tracker = torch.zeros((), dtype=torch.int32, device=device)
        return self

    @property
    def param_groups(self):
        if not self.built:
            raise ValueError(
                "This LossScaleOptimizer is not built: call apply_gradients(...) or "
                f"build(model.parameters()) first. {_IN_COMPILE}"
            )
        return self.inner_optimizer.param_groups

    @property
    def state(self):
        return self.inner_optimizer.state

    @property
    def defaults(self):
        return self.inner_optimizer.defaults

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @property
    def dynamic_scale(self):
        """The current loss scale (a float32 device tensor; ``initial_scale`` until built)."""
        return self._scale if self.built else torch.tensor(self.initial_scale)

    @property
    def step_counter(self):
        """Finite steps since the scale last changed (an int32 device tensor)."""
        return self._growth_tracker

    @property
    def variables(self):
        """Keras 3's ``LossScaleOptimizer.variables`` without its first two (the wrapper's own
        base-optimizer ``iteration`` and a 0.0 ``learning_rate`` placeholder): ``step_counter``
        and ``dynamic_scale`` (the tensors themselves, once built), then the inner optimizer's
        ``variables`` (a torch inner optimizer: its state tensors, per parameter)."""
        inner = self.inner_optimizer
        own = [self._growth_tracker, self._scale] if self.built else []
        if hasattr(inner, "variables"):  # a torchfit optimizer
            return own + list(inner.variables)
        return own + (slot_variables(inner) if self.built else [])

    # ------------------------------------------------------------------ scaling and steps

    def scale_loss(self, loss):
        """``loss`` times the current scale: differentiate this one."""
        self._loss_scaled = True
        return loss * (self._scale if self.built else self.initial_scale)

    def apply_gradients(self, grads_and_vars):
        """One step of the given gradients (of a scaled loss) on the given variables."""
        pairs = list(grads_and_vars)
        if not self.built:
            self.build([var for _, var in pairs])
        params = [p for group in self.param_groups for p in group["params"]]
        for param in params:
            param.grad = None
        for grad, var in pairs:
            var.grad = grad
        self._step()
        for param in params:
            param.grad = None

    def step(self, closure=None):
        """Unscale the ``.grad`` of the inner optimizer's parameters and step if they are finite.

        Raises:
            RuntimeError: ``scale_loss`` was not called since the last step (e.g. inside
                ``model.compile``'s training loop, which does not scale the loss).
        """
        if not self._loss_scaled:
            raise RuntimeError(
                "LossScaleOptimizer.step() received gradients of a loss that scale_loss() did not "
                f"scale. Differentiate optimizer.scale_loss(loss). {_IN_COMPILE}"
            )
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._step()
        return loss

    @torch.no_grad()
    def _step(self):
        self._loss_scaled = False
        by_device = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    by_device.setdefault(p.grad.device, []).append(p.grad)
        found_inf = torch.zeros(1, dtype=torch.float32, device=self._scale.device)
        inv_scale = self._scale.double().reciprocal().float()  # exact for powers of two
        for device, grads in by_device.items():
            device_inf = torch.zeros(1, dtype=torch.float32, device=device)
            torch._amp_foreach_non_finite_check_and_unscale_(
                grads, device_inf, inv_scale.to(device)
            )
            found_inf += device_inf.to(found_inf.device)
        torch._amp_update_scale_(
            self._scale, self._growth_tracker, found_inf, 2.0, 0.5, self.dynamic_growth_steps
        )
        if not found_inf.item():  # sync: one flag per step, as torch.amp.GradScaler.step
            self.inner_optimizer.step()

    def zero_grad(self, set_to_none=True):
        self.inner_optimizer.zero_grad(set_to_none)

    def add_param_group(self, param_group):
        self.inner_optimizer.add_param_group(param_group)

    # ------------------------------------------------------------------ state and config

    def state_dict(self):
        """The inner optimizer's ``state_dict()`` and the scale and its counter."""
        return {
            "inner": self.inner_optimizer.state_dict(),
            "dynamic_scale": self.dynamic_scale.clone(),
            "step_counter": self._growth_tracker.clone(),
        }

    def load_state_dict(self, state_dict):
        if not self.built:
            raise ValueError("Build the LossScaleOptimizer before load_state_dict().")
        self.inner_optimizer.load_state_dict(state_dict["inner"])
        self._scale.copy_(state_dict["dynamic_scale"])
        self._growth_tracker.copy_(state_dict["step_counter"])

    def get_config(self):
        """Keras 3's four keys; the inner optimizer serialised."""
        return {
            "name": self.name,
            "inner_optimizer": serialize_object(self.inner_optimizer, "torchfit.optimizers"),
            "initial_scale": self.initial_scale,
            "dynamic_growth_steps": self.dynamic_growth_steps,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild from torchfit's or Keras 3's ``get_config()``."""
        config = dict(config)
        inner = deserialize_object(
            config.pop("inner_optimizer"), _INNER, "optimizer", custom_objects
        )
        return cls(inner, **config)

    def __getstate__(self):  # a plain object's (torch's keeps only its own three attributes)
        return dict(self.__dict__)

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        return f"LossScaleOptimizer(name='{self.name}', inner_optimizer={self.inner_optimizer!r})"
