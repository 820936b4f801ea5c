"""``MultiOptimizer``: Keras 3's per-parameter choice of optimizer, as one torch optimizer.

Each parameter goes to the optimizer that an ``OptimizerMap`` (see ``optimizer_map`` for how
keys match paths: torch's ``"encoder.0.weight"`` and Keras's ``"encoder/0/weight"`` alike) or a
selector function picks for it. A selector receives a ``ParameterPath`` with Keras's ``.path``
(the ``"/"`` spelling), ``.name`` (the last part, ``"weight"``), ``.shape``, and the tensor itself
as ``.value``.
"""

from collections import OrderedDict
from collections.abc import Mapping

import torch

from torchfit.optimizers.base import Optimizer
from torchfit.optimizers.loss_scale import LossScaleOptimizer
from torchfit.optimizers.optimizer_map import OptimizerMap, ParameterPath
from torchfit.utils.config import deserialize_object, serialize_object

__all__ = ["MultiOptimizer", "build_multi"]

_MODULE = "torchfit.optimizers"


def build_multi(optimizer, params, paths=None):
    """``optimizers.build`` for a MultiOptimizer: the trainable ``params`` with their ``paths``
    (one per tensor; None: ``params`` are ``(name, tensor)`` pairs already).

    Raises:
        ValueError: a ``loss_scale_factor`` (``compile`` does not call ``scale_loss``).
    """
    if optimizer.loss_scale_factor is not None:
        raise ValueError(
            "model.compile() does not scale the loss, so a MultiOptimizer with "
            f"loss_scale_factor={optimizer.loss_scale_factor} would divide true gradients by it. "
            "Use loss_scale_factor=None in compile (precision='16-mixed' scales the loss)."
        )
    pairs = list(params) if paths is None else list(zip(paths, params))
    named = [(n, p) for n, p in _named(pairs) if p.requires_grad]
    return optimizer.build(named)


class _StateView(Mapping):
    """``MultiOptimizer.state``: each parameter's state in the inner optimizer that owns it."""

    def __init__(self, owner):
        self._owner = owner

    def _states(self):
        return [opt.state for opt in self._owner._built_optimizers()]

    def __getitem__(self, param):
        optimizer = self._owner._param_owner.get(id(param))
        if optimizer is None:
            raise KeyError(param)
        return optimizer.state[param]

    def __iter__(self):
        return (param for state in self._states() for param in state)

    def __len__(self):
        return sum(len(state) for state in self._states())


def _named(params):
    """``(path, tensor)`` pairs of ``params`` (pairs, or a list of ``(name, tensor)``)."""
    pairs = []
    for item in params:
        if isinstance(item, dict):
            raise TypeError(
                "MultiOptimizer.build() takes (name, tensor) pairs, not parameter groups: the "
                "inner optimizers hold the groups. Received a dict with keys "
                f"{sorted(item)}. Pass model.named_parameters()."
            )
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(
                "MultiOptimizer routes parameters by their paths, so it needs their names. "
                f"Received: a {type(item).__name__} without a name. Build it with "
                "optimizer.build(model.named_parameters()), or pass it to model.compile()."
            )
        pairs.append(item)
    return pairs


class MultiOptimizer(torch.optim.Optimizer):
    """Keras 3's ``MultiOptimizer``: each parameter is trained by the optimizer its path selects.

    A real ``torch.optim.Optimizer`` over the inner ones: ``param_groups`` is the list of the
    inner optimizers' groups (the same dicts: torch LR schedulers, ``ReduceLROnPlateau`` and
    ``LearningRateScheduler`` change the inner rates), ``state`` maps each parameter to its
    state in its optimizer, ``step()`` steps every inner optimizer that has parameters, in the
    order of ``optimizers`` (each with its own clipping and schedule), then counts
    ``iterations``. ``state_dict()`` is torch's format over the merged groups (so
    ``model.save`` / ``load`` check and restore it) plus each inner optimizer's extras
    (``iterations``).

    ``build(named_parameters)`` asks ``optimizer_map`` for each parameter's optimizer (see the
    module docstring for the paths); ``model.compile`` passes the wrapped module's names, and
    an inner optimizer that gets no parameter stays unbuilt (its ``iterations`` stay 0).
    ``learning_rate`` raises ``AttributeError``, as in Keras: read the inner optimizers'.

    ``loss_scale_factor`` (custom loops): ``scale_loss(loss)`` multiplies by it and ``step()``
    divides the gradients by it; ``compile`` does not scale the loss, so it refuses it there.

    Args:
        optimizer_map: An ``OptimizerMap``, or a callable ``ParameterPath -> torchfit optimizer``.
        loss_scale_factor: Optional factor for ``scale_loss`` (see above).
        name: Defaults to ``"multi_optimizer"``.

    Raises:
        TypeError: An ``optimizer_map`` that is neither.

    Example:
        >>> from torchfit import optimizers
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
        >>> opt = MultiOptimizer(OptimizerMap(optimizers.SGD(0.1), {"0/.*": optimizers.Adam()}))
        >>> opt = opt.build(net.named_parameters())
        >>> [o.name for o in opt.optimizers], [len(g["params"]) for g in opt.param_groups]
        (['adam', 'SGD'], [2, 2])
        >>> net(torch.ones(1, 2)).sum().backward()
        >>> opt.step()
        >>> opt.iterations, [o.iterations for o in opt.optimizers]
        (1, [1, 1])
    """

    _routes_parameters = True  # how OptimizerMap recognises one (it cannot import this class)

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        if not callable(optimizer_map):
            raise TypeError(
                "optimizer_map must be an OptimizerMap or a callable returning an optimizer for "
                f"a parameter (ParameterPath -> optimizer). Received: {optimizer_map!r}"
            )
        # torch's __init__ is not called (the groups are the inner optimizers'); its hook
        # registries are set up so that register_step_pre_hook & co. work as on any optimizer.
        for kind in ("step_pre", "step_post", "state_dict_pre", "state_dict_post",
                     "load_state_dict_pre", "load_state_dict_post"):  # fmt: skip
            setattr(self, f"_optimizer_{kind}_hooks", OrderedDict())  # weakly referenced
        self._patch_step_function()
        self.defaults = {}
        self.name = "multi_optimizer" if name is None else name
        self.loss_scale_factor = loss_scale_factor
        self.iterations = 0
        self._optimizer_map = optimizer_map
        self._inner_optimizers = []
        self._param_owner = {}  # id(param) -> its inner optimizer, once built
        self._built = False
        for opt in [*getattr(optimizer_map, "values", list)(),
                    getattr(optimizer_map, "default_optimizer", None)]:  # fmt: skip
            if opt is not None and all(opt is not known for known in self._inner_optimizers):
                self._inner_optimizers.append(opt)

    # ------------------------------------------------------------------ building

    @property
    def built(self):
        return self._built

    @property
    def optimizers(self):
        """The inner optimizers: the map's values, its default, then those a callable returned."""
        return self._inner_optimizers

    def _built_optimizers(self):
        return [opt for opt in self._inner_optimizers if opt.built]

    def _select(self, path, param):
        opt = self._optimizer_map(ParameterPath(path, param))
        if isinstance(opt, LossScaleOptimizer):
            raise ValueError("LossScaleOptimizer cannot be used inside an MultiOptimizer.")
        if isinstance(opt, MultiOptimizer):
            raise ValueError("MultiOptimizer cannot be used inside an MultiOptimizer.")
        if not isinstance(opt, Optimizer):
            raise ValueError(
                f"Optimizer for variable {path} is not an Optimizer instance: expected a "
                f"torchfit optimizer. Received: {opt!r}"
            )
        return opt

    def build(self, params):
        """Route ``params`` (``(name, tensor)`` pairs, e.g. ``module.named_parameters()``) to
        their optimizers and build each on its share; returns ``self``. Building again with the
        same tensors does nothing; other tensors are a ``ValueError``."""
        pairs = _named(params)
        if self._built:
            if {id(p) for _, p in pairs} != set(self._param_owner):
                raise ValueError(
                    f"This MultiOptimizer ('{self.name}') is already built for other parameters "
                    f"({len(self._param_owner)} tensors). Create a new one for the new model."
                )
            return self
        shares, owner = {}, {}
        for path, param in pairs:
            opt = self._select(path, param)
            if all(opt is not known for known in self._inner_optimizers):
                self._inner_optimizers.append(opt)
            shares.setdefault(id(opt), []).append((path.replace("/", "."), param))
            owner[id(param)] = opt
        for opt in self._inner_optimizers:
            if id(opt) in shares:
                opt.build(shares[id(opt)])
        self._param_owner = owner
        self._built = True
        return self

    def _check_built(self, what):
        if not self._built:
            raise RuntimeError(
                f"MultiOptimizer '{self.name}' is not built yet, so it cannot {what}: pass it to "
                "model.compile(optimizer=...) or call optimizer.build(model.named_parameters())."
            )

    # ------------------------------------------------------------------ torch optimizer

    @property
    def param_groups(self):
        self._check_built("give its param_groups")
        return [group for opt in self._built_optimizers() for group in opt.param_groups]

    @property
    def state(self):
        return _StateView(self)

    @property
    def learning_rate(self):
        raise AttributeError(
            "Learning rate cannot be accessed on a MultiOptimizer. "
            "Access the learning rate on the individual sub-optimizers instead."
        )

    @learning_rate.setter
    def learning_rate(self, value):
        raise AttributeError(
            "Learning rate cannot be set on a MultiOptimizer. "
            "Set the learning rate on the individual sub-optimizers instead."
        )

    def add_param_group(self, param_group):
        raise TypeError(
            "MultiOptimizer.add_param_group() is not supported: add the group to the inner "
            "optimizer that should train it (optimizer.optimizers[i].add_param_group(...))."
        )

    def scale_loss(self, loss):
        """``loss * loss_scale_factor`` (``loss`` when it is None)."""
        return loss if self.loss_scale_factor is None else loss * self.loss_scale_factor

    def step(self, closure=None):
        """Step each inner optimizer that has parameters (see the class docstring)."""
        self._check_built("step()")
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self.loss_scale_factor is not None:
            grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
            if grads:
                torch._foreach_div_(grads, self.loss_scale_factor)
        for opt in self._built_optimizers():
            opt.step()
        self.iterations += 1
        return loss

    def zero_grad(self, set_to_none=True):
        self._check_built("zero_grad()")
        for opt in self._built_optimizers():
            opt.zero_grad(set_to_none)

    def apply_gradients(self, grads_and_vars):
        """One step of the given gradients (Keras custom loops); build it first, with names."""
        pairs = list(grads_and_vars)
        self._check_built("apply_gradients() (it needs the parameters' names)")
        unknown = sum(id(var) not in self._param_owner for _, var in pairs)
        if unknown:
            raise ValueError(
                f"apply_gradients() received {unknown} variable(s) that this MultiOptimizer was "
                f"not built with ({len(self._param_owner)} tensors)."
            )
        params = [p for group in self.param_groups for p in group["params"]]
        for param in params:
            param.grad = None
        for grad, var in pairs:
            var.grad = grad
        self.step()
        for param in params:
            param.grad = None

    @property
    def variables(self):
        """Keras 3's: ``iterations`` (an int32 tensor), then each built inner's ``variables``."""
        own = [torch.tensor(self.iterations, dtype=torch.int32)]
        return own + [v for opt in self._built_optimizers() for v in opt.variables]

    # ------------------------------------------------------------------ state and config

    def state_dict(self):
        """torch's format over ``param_groups`` (indices numbered across the inner optimizers),
        plus ``"iterations"`` and ``"optimizers"``: per inner optimizer, None if unbuilt, else
        its number of groups and the extra entries of its own ``state_dict()``."""
        self._check_built("state_dict()")
        merged = {"state": {}, "param_groups": [], "optimizers": []}
        offset = 0
        for opt in self._inner_optimizers:
            if not opt.built:
                merged["optimizers"].append(None)
                continue
            inner = opt.state_dict()
            for index, state in inner.pop("state").items():
                merged["state"][index + offset] = state
            groups = inner.pop("param_groups")
            for group in groups:
                merged["param_groups"].append(
                    dict(group, params=[index + offset for index in group["params"]])
                )
            offset += sum(len(group["params"]) for group in groups)
            merged["optimizers"].append({"num_groups": len(groups), **inner})
        merged["iterations"] = self.iterations
        return merged

    def load_state_dict(self, state_dict):
        """Load a ``state_dict()`` of a MultiOptimizer built the same way (bit-exact resume)."""
        self._check_built("load_state_dict()")
        layout = state_dict.get("optimizers") if isinstance(state_dict, dict) else None
        expected = [opt.built for opt in self._inner_optimizers]
        if not isinstance(layout, list) or [item is not None for item in layout] != expected:
            raise ValueError(
                "The state dict is not one of a MultiOptimizer with the same inner optimizers "
                f"({len(expected)}, built: {expected}). Received: "
                f"{'no' if not isinstance(layout, list) else len(layout)} inner entries."
            )
        groups, offset, first = state_dict["param_groups"], 0, 0
        for opt, item in zip(self._inner_optimizers, layout):
            if item is None:
                continue
            extras = {key: value for key, value in item.items() if key != "num_groups"}
            mine = groups[first:first + item["num_groups"]]
            first += item["num_groups"]
            count = sum(len(group["params"]) for group in mine)
            opt.load_state_dict({
                "state": {index - offset: state for index, state in state_dict["state"].items()
                          if offset <= index < offset + count},
                "param_groups": [dict(g, params=[i - offset for i in g["params"]]) for g in mine],
                **extras,
            })  # fmt: skip
            offset += count
        self.iterations = int(state_dict.get("iterations", self.iterations))

    def get_config(self):
        """Keras 3's three keys; the map serialised (a selector function by its name)."""
        return {
            "optimizer_map": serialize_object(self._optimizer_map, _MODULE),
            "loss_scale_factor": self.loss_scale_factor,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild from torchfit's or Keras 3's ``get_config()``; a selector function is looked
        up in ``custom_objects``."""
        config = dict(config)
        item = config.pop("optimizer_map")
        registry = {"OptimizerMap": OptimizerMap, "optimizermap": OptimizerMap}
        if isinstance(item, dict) and item.get("class_name") in registry:
            optimizer_map = OptimizerMap.from_config(item["config"], custom_objects)
        else:
            optimizer_map = deserialize_object(item, registry, "optimizer map", custom_objects)
        return cls(optimizer_map, **config)

    def __getstate__(self):  # a plain object's (torch's keeps only its own three attributes)
        return dict(self.__dict__)

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        return f"MultiOptimizer(name='{self.name}', optimizers={self._inner_optimizers!r})"
