"""``masked_step``: an optimizer step kept only when the loss and gradients are finite, sync-free.

``compile(skip_nonfinite_steps=True)`` routes every optimizer step through it. Whether the
step is finite stays a device tensor (``finite``); the step always runs, and afterwards every
parameter and every tensor of the optimizer's state is set back, with ``torch.where``, to its
value before the step when ``finite`` is False. Nothing is read on the host, so there is no
synchronisation; the price is one copy of the parameters and of the optimizer state per step,
and a few elementwise kernels.

What a masked (skipped) step leaves, precisely:

- the parameters and every state tensor that existed before the step, on the device of the
  flag (the parameters'), are unchanged, bit for bit (momentum, Adam's moments, torch's
  ``step`` tensor on the same device);
- a state tensor the step created (an optimizer's first step builds its state) is zeroed:
  the initial state of Adam, AdamW, Adamax, Nadam, RMSprop, Adadelta and momentum;
- what lives on the host advances as if the step had run: torchfit's ``iterations`` (so a
  learning-rate schedule's position) and the step count of torchfit's Adam-family rules
  (``param_groups[i]["step"]``, a Python number: the following steps' bias correction counts
  the skipped one), and a state tensor on another device than the parameters
  (torch's ``step`` counter stays on the CPU for CUDA parameters unless ``capturable=True``),
  which would need a sync to mask;
- the gradients are those of the skipped batch (``zero_grad`` clears them before the next).

Example:
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> optimizer = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> w.grad = torch.tensor([1.0, float("nan")])
    >>> masked_step(optimizer, torch.tensor(0.5))
    >>> w.detach()  # the NaN step was masked
    tensor([1., 1.])
    >>> w.grad = torch.tensor([1.0, 1.0])
    >>> masked_step(optimizer, torch.tensor(0.5))
    >>> w.detach()
    tensor([0.9000, 0.9000])
"""

import torch

__all__ = ["all_finite", "masked_step"]


def all_finite(tensors):
    """A 0-dim bool device tensor: whether every element of ``tensors`` is finite (no sync)."""
    flags = [torch.isfinite(t.detach()).all() for t in tensors]
    return torch.stack(flags).all() if flags else torch.tensor(True)


def masked_step(optimizer, loss_finite, step=None):
    """Runs ``step()`` (default ``optimizer.step``) and undoes it on the device when
    ``loss_finite`` (a tensor: a loss, or a bool flag) or any gradient is not finite."""
    params = [p for group in optimizer.param_groups for p in group["params"]
              if p.grad is not None]
    if not params:
        (step or optimizer.step)()
        return
    device = params[0].device
    flag = loss_finite if loss_finite.dtype == torch.bool else torch.isfinite(loss_finite).all()
    finite = flag.to(device) & all_finite([p.grad for p in params])
    before = [p.detach().clone() for p in params]
    states = [{key: value.clone() for key, value in optimizer.state[p].items()
               if isinstance(value, torch.Tensor)} for p in params]
    (step or optimizer.step)()
    with torch.no_grad():
        for param, old, state in zip(params, before, states):
            param.copy_(torch.where(finite, param, old))
            for key, value in optimizer.state[param].items():
                if not isinstance(value, torch.Tensor) or value.device != device:
                    continue  # host values advance (see the module docstring)
                old_value = state.get(key)
                if old_value is None:
                    old_value = torch.zeros_like(value)
                value.copy_(torch.where(finite, value, old_value))
