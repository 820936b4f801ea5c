"""``KerasUpdate``: a ``torch.optim.Optimizer`` whose ``step()`` is a Keras 3 update rule.

For the Keras optimizers torch has no class for (Adafactor, Ftrl, Lion, Lamb, ...): a subclass
writes only ``_init_state(param, group)`` (its slot variables) and ``_update(group, params,
grads, states)`` (Keras's ``update_step`` over a whole group, with foreach kernels where the
formula allows). ``step()`` does what Keras 3's base optimizer does around ``update_step``:

1. keep the parameters that have a gradient (Keras's ``_filter_empty_gradients``);
2. count the group's steps in ``group["step"]``: the update of step ``t`` (from 1) sees
   ``group["step"] == t``, Keras's ``iterations + 1``. It is a Python int, saved with the group
   in ``state_dict()``;
3. decoupled weight decay, as Keras 3's torch backend applies it before the update:
   ``w *= 1 - weight_decay * lr`` (``weight_decay`` None or 0: nothing). A param group with
   ``weight_decay=None`` is Keras's ``exclude_from_weight_decay``;
4. the update, with ``lr = group["lr"]`` (the torchfit base sets it from the schedule).

No host-device synchronisation: every quantity that depends on the data stays a tensor.

Example:
    >>> class SignSGD(KerasUpdate):
    ...     def _update(self, group, params, grads, states):
    ...         torch._foreach_add_(params, [g.sign() for g in grads], alpha=-group["lr"])
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    >>> opt = SignSGD([w], lr=0.5)
    >>> w.grad = torch.tensor([3.0, -0.1])
    >>> opt.step()
    >>> w.detach(), opt.param_groups[0]["step"]
    (tensor([ 0.5000, -0.5000]), 1)
"""

import torch

__all__ = ["KerasUpdate"]


class KerasUpdate(torch.optim.Optimizer):
    """Base of the torch optimizers implementing a Keras 3 update rule (see the module docstring).

    Args:
        params: What ``torch.optim`` accepts: tensors or param-group dicts.
        lr: The learning rate.
        weight_decay: Keras's decoupled weight decay, or None.
        **hyper: The optimizer's own hyperparameters (each group's defaults).
    """

    def __init__(self, params, lr, weight_decay=None, **hyper):
        # torch.optim.Optimizer's, not super()'s: a subclass may also extend a torch class
        # (torchfit's Adam is a torch.optim.Adam) whose __init__ takes other arguments.
        defaults = dict(lr=lr, weight_decay=weight_decay, **hyper)
        torch.optim.Optimizer.__init__(self, params, defaults)

    def __setstate__(self, state):
        # Likewise: a torch class's __setstate__ expects its own state keys.
        torch.optim.Optimizer.__setstate__(self, state)

    def _init_state(self, param, group):
        """The slot variables of ``param`` (a dict of tensors), created at its first update."""
        return {}

    def _update(self, group, params, grads, states):
        raise NotImplementedError(f"{type(self).__name__} must implement _update().")

    @torch.no_grad()
    def step(self, closure=None):
        """One Keras update of every parameter that has a gradient; returns the closure's loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if p.grad.is_sparse:
                    raise TypeError(
                        f"{type(self).__name__} does not support sparse gradients. Received a "
                        f"sparse gradient for a parameter of shape {tuple(p.shape)}; use dense "
                        "gradients (e.g. nn.Embedding(sparse=False))."
                    )
            grads = [p.grad if p.grad.dtype == p.dtype else p.grad.to(p.dtype) for p in params]
            states = []
            for p in params:
                if not self.state[p]:
                    self.state[p].update(self._init_state(p, group))
                states.append(self.state[p])
            group["step"] = group.get("step", 0) + 1
            self._decay(group, params)
            self._update(group, params, grads, states)
        return loss

    def _decay(self, group, params):
        """Keras 3's torch-backend decoupled weight decay (``Muon`` has its own)."""
        if group["weight_decay"]:
            torch._foreach_mul_(params, 1.0 - group["weight_decay"] * group["lr"])
