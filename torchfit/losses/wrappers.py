"""Wrappers that make a user's function or a `torch.nn` loss module a `Loss`.

`get()` picks them: any `nn.Module` (torch's loss modules and your own) becomes a
`TorchLossWrapper`, called in torch order `module(y_pred, y_true)`; any other callable
`fn(y_true, y_pred)` a `LossFunctionWrapper` (Keras order). Both gain Keras's sample weighting
and reductions.
"""

import copy
import inspect

import torch

from torchfit.losses import focal, functions, segmentation, sequence, similarity
from torchfit.losses.loss import Loss, reduce_losses
from torchfit.utils.config import deserialize_object, serialize_object
from torchfit.utils.naming import to_snake_case
from torchfit.utils.tensor_utils import match_rank

__all__ = ["LossFunctionWrapper", "TorchLossWrapper"]

# torchfit's loss functions by name (aliases included), for `LossFunctionWrapper.from_config`.
_LOSS_FUNCTIONS = {
    name: getattr(module, name)
    for module in (functions, focal, segmentation, sequence, similarity)
    for name in module.__all__
    if inspect.isfunction(getattr(module, name))
}


class LossFunctionWrapper(Loss):
    """Turns a function `fn(y_true, y_pred, **kwargs)` into a `Loss`.

    `fn` returns per-sample losses (or a scalar); the wrapper adds sample weighting and reduction.
    `y_true` is reshaped to `y_pred`'s rank when they differ by a trailing axis of size 1, and
    non-tensor inputs become tensors; dtypes are left to `fn`.

    `get_config()` is Keras 3's: `name`, `reduction`, `fn` in Keras's serialised function form
    (`{"module": "builtins", "class_name": "function", "config": fn.__name__,
    "registered_name": "function"}`), then `**kwargs`: JSON-safe when the kwargs are.
    `from_config(config, custom_objects)` (and `torchfit.losses.deserialize`) finds the function
    by name among torchfit's loss functions, or a user's in `custom_objects`.

    Args:
        fn: The loss function, in Keras order `(y_true, y_pred)`.
        name: Defaults to `fn.__name__`.
        reduction: See `Loss`.
        **kwargs: Passed to `fn` on every call.

    Example:
        >>> def scaled_mae(y_true, y_pred, scale=1.0):
        ...     return scale * (y_true - y_pred).abs().mean(dim=-1)
        >>> loss = torchfit.losses.LossFunctionWrapper(scaled_mae, scale=2.0)
        >>> loss.name
        'scaled_mae'
        >>> loss(torch.zeros(2, 3), torch.ones(2, 3))
        tensor(2.)
        >>> config = loss.get_config()
        >>> config["fn"]["config"], config["scale"]
        ('scaled_mae', 2.0)
        >>> rebuilt = torchfit.losses.LossFunctionWrapper.from_config(
        ...     config, custom_objects={"scaled_mae": scaled_mae})
        >>> rebuilt.fn is scaled_mae
        True
    """

    def __init__(self, fn, name=None, reduction="sum_over_batch_size", **kwargs):
        if not callable(fn):
            raise TypeError(f"LossFunctionWrapper expects a callable. Received: fn={fn!r}.")
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        if not isinstance(y_pred, torch.Tensor):
            y_pred = torch.as_tensor(y_pred)
        if not isinstance(y_true, torch.Tensor):
            y_true = torch.as_tensor(y_true, device=y_pred.device)
        if y_true.dim() != y_pred.dim():
            y_true = match_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        """Keras 3's config (see the class docstring).

        Raises:
            TypeError: `fn` is not a plain function (e.g. a `functools.partial`: wrap it in a
                named function).
        """
        fn = serialize_object(self.fn, "torchfit.losses")
        return {**super().get_config(), "fn": fn, **self._fn_kwargs}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild from `get_config()`'s dict (torchfit's or Keras 3's).

        Args:
            config: The dict; its `"fn"` a serialised function (or a function name, or the
                function itself).
            custom_objects: Optional names -> the user's loss functions.

        Raises:
            ValueError: A function name that is neither torchfit's nor in `custom_objects`.
        """
        config = dict(config)
        fn = config.pop("fn")
        if isinstance(fn, (dict, str)):
            try:
                fn = deserialize_object(fn, _LOSS_FUNCTIONS, "loss function", custom_objects)
            except ValueError as error:
                name = fn.get("config") if isinstance(fn, dict) else fn
                raise ValueError(
                    f"{error} For your own function pass it in custom_objects, e.g. "
                    f"LossFunctionWrapper.from_config(config, custom_objects={{'{name}': "
                    f"{name}}}) or torchfit.losses.deserialize(..., custom_objects=...)."
                ) from None
        return cls(fn, **config)

    def __repr__(self):  # not get_config's: a callable that is not a function has no config
        args = ", ".join(f"{key}={value!r}" for key, value in self._fn_kwargs.items())
        return (f"LossFunctionWrapper(fn={self.fn!r}, name={self.name!r}, "
                f"reduction={self.reduction!r}{', ' if args else ''}{args})")


# torch.nn reductions mapped to (Keras reduction, how to reduce a sample's non-batch elements).
_TORCH_REDUCTIONS = {
    "mean": ("sum_over_batch_size", "mean"),
    "sum": ("sum", "sum"),
    "none": ("none", "mean"),
    "batchmean": ("sum_over_batch_size", "sum"),  # KLDivLoss: sum per sample, mean over the batch
}


class TorchLossWrapper(Loss):
    """Makes an `nn.Module` loss (`nn.CrossEntropyLoss()`, or your own) a `Loss`.

    The module keeps torch's argument order: it is called as `module(y_pred, y_true)`, whatever
    its `forward`'s argument names. Without sample weights the module is called as is, so its
    result is exactly the module's (a result with a batch axis, i.e. per-sample losses, is then
    averaged). Sample weights need per-sample losses:

    * a module with a torch `reduction` attribute (every `torch.nn` loss): a shallow copy made
      once here with `reduction="none"` gives per-element losses, averaged over each sample's
      non-batch elements, then weighted and reduced the Keras way (`sum(w * losses) /
      batch_size` for the default `reduction="mean"`). The copy shares the module's parameters
      and buffers (e.g. class weights), so moving the module moves the copy;
    * a module without one that returns per-sample losses (shape `(batch, ...)`): weighted and
      reduced the same way;
    * a module without one that returns a scalar cannot be weighted: a `ValueError` says so.

    Args:
        module: An `nn.Module` whose `forward(input, target)` returns the loss.
        name: Defaults to the snake_case class name, e.g. `"cross_entropy_loss"`.

    Example:
        >>> loss = torchfit.losses.TorchLossWrapper(nn.CrossEntropyLoss())
        >>> loss.name
        'cross_entropy_loss'
        >>> logits, labels = torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 0])
        >>> loss(labels, logits)  # exactly nn.CrossEntropyLoss()(logits, labels)
        tensor(1.1269)
        >>> loss(labels, logits, sample_weight=torch.tensor([1.0, 0.0]))  # divided by 2 samples
        tensor(0.0635)
        >>> class Pinball(nn.Module):  # a custom module: torch order too
        ...     def forward(self, input, target):
        ...         return torch.maximum(0.9 * (target - input), -0.1 * (target - input)).mean()
        >>> torchfit.losses.TorchLossWrapper(Pinball())(torch.ones(2, 1), torch.zeros(2, 1))
        tensor(0.9000)
    """

    def __init__(self, module, name=None):
        if not isinstance(module, torch.nn.Module):
            raise TypeError(
                "TorchLossWrapper expects a torch.nn.Module whose forward(input, target) returns "
                f"the loss, such as nn.CrossEntropyLoss(). Received: {module!r}."
            )
        self._torch_reduction = getattr(module, "reduction", None) in _TORCH_REDUCTIONS
        reduction, self._sample_reduction = _TORCH_REDUCTIONS.get(
            getattr(module, "reduction", None), ("sum_over_batch_size", "mean")
        )
        super().__init__(name=name or to_snake_case(type(module).__name__), reduction=reduction)
        self.module = module
        self._unreduced = copy.copy(module) if self._torch_reduction else module
        if self._torch_reduction:
            self._unreduced.reduction = "none"

    def call(self, y_true, y_pred):
        losses = self._unreduced(y_pred, y_true)
        if losses.dim() == 0:
            name = type(self.module).__name__
            how = ("returned a scalar with reduction='none'" if self._torch_reduction
                   else "returns a scalar and has no `reduction` attribute")
            raise ValueError(
                f"Cannot apply sample weights (or class weights) to the loss {name}: {name} "
                f"{how}, so its per-sample losses are unknown. Return "
                "per-sample losses (shape (batch,)) from its forward, give it a torch-style "
                "`reduction` attribute honoured by forward ('mean' / 'sum' / 'none'), or train "
                "without sample_weight/class_weight."
            )
        if losses.dim() > 1:
            losses = losses.flatten(1)
            losses = losses.sum(1) if self._sample_reduction == "sum" else losses.mean(1)
        return losses

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None:
            loss = self.module(y_pred, y_true)
            # A custom module's per-sample losses are averaged; torch's own are returned as is.
            return loss if self._torch_reduction or loss.dim() == 0 else loss.mean()
        return reduce_losses(self.call(y_true, y_pred), sample_weight, self.reduction)

    def get_config(self):
        return {"module": self.module, "name": self.name}
