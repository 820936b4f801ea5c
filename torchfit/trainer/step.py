"""StepPolicy: how one training step runs, as ``compile`` configured it.

``compile(precision=..., gradient_accumulation_steps=...)`` builds one; ``Model.train_step``
calls ``forward`` (autocast, then the outputs in float32) and ``backward_and_step`` (backward,
the GradScaler for float16, accumulation, the optimizer step). Gradient clipping is either the
optimizer's -- torchfit optimizers clip inside ``step()`` (``clipnorm`` / ``clipvalue`` /
``global_clipnorm`` are optimizer arguments in Keras) -- or ``compile``'s, for any optimizer
(torch's included, see ``set_clipping``): here, between backward and ``optimizer.step()``, as
the hand-written ``clip_grad_norm_(params, 0.25)``. Both run after the GradScaler has unscaled
the gradients, so they see the true values.

The common case (float32, no accumulation) is exactly the plain torch step: ``zero_grad``,
``backward``, ``step``. ``bind`` (at ``compile``) picks the two other steps: a model without
trainable weights skips backward and step (one warning), and an optimizer whose ``step`` takes a
closure (``torch.optim.LBFGS``) gets one that re-runs forward and loss (``closure_step``).
"""

import inspect
import warnings

import torch

from torchfit.optimizers.clipping import check_clipping, clip_gradients_
from torchfit.trainer.arguments import check_positive_int
from torchfit.trainer.masked_step import masked_step
from torchfit.trainer.precision import Precision

__all__ = ["StepPolicy", "takes_closure"]


class StepPolicy:
    """The precision and accumulation policy of one compiled model.

    Args:
        precision: ``"32"``, ``"bf16-mixed"`` or ``"16-mixed"``.
        device: the model's device (autocast and the GradScaler are per device type).
        accumulation_steps: apply the optimizer every N calls of ``backward_and_step``, on the
            mean of their gradients.
        skip_nonfinite_steps: mask, on the device and without a sync, every optimizer step whose
            loss (any micro-batch's) or gradients are not finite (``masked_step``: the weights
            and optimizer state stay as they were; host counters such as ``iterations``
            advance). Under ``"16-mixed"`` the GradScaler already skips such steps.

    Example:
        >>> net = nn.Linear(2, 1)
        >>> optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
        >>> policy = StepPolicy("32", "cpu", accumulation_steps=2)
        >>> before = net.weight.detach().clone()
        >>> policy.backward_and_step(net(torch.ones(1, 2)).sum(), optimizer)
        >>> torch.equal(net.weight, before)      # the first of two micro-batches: no step yet
        True
        >>> policy.backward_and_step(net(torch.ones(1, 2)).sum(), optimizer)
        >>> torch.equal(net.weight, before)
        False
    """

    _clipping = None  # set_clipping's thresholds; None (the default): no clipping
    # TerminateOnNaN sets it for its fit: the loss is read (a sync) before backward and step, and
    # a non-finite one skips both; ``last_check`` is that reading (None: not checked since read).
    check_loss = False
    last_check = None
    # A distributed rank's share of the global batch (``torchfit.distributed.sharding``): its
    # loss, a mean over its samples, is multiplied by this, so the average of the ranks'
    # gradients is that of the whole batch. 0 for a rank left without samples.
    loss_scale = 1.0
    # Distributed: ``agree(flag)`` is True on every rank when ``flag`` is on one (set at
    # ``compile``), so that a rank never skips a backward the others synchronise.
    agree = None

    def __init__(self, precision="32", device="cpu", accumulation_steps=1,
                 skip_nonfinite_steps=False):
        self.precision = Precision(precision, device)
        check_positive_int("gradient_accumulation_steps", accumulation_steps, allow_none=False)
        if not isinstance(skip_nonfinite_steps, bool):
            raise TypeError("`skip_nonfinite_steps` must be True or False. Received: "
                            f"skip_nonfinite_steps={skip_nonfinite_steps!r}")
        self.accumulation_steps = accumulation_steps
        self.skip_nonfinite_steps = skip_nonfinite_steps
        self._loss_finite = None  # the device flag of this step's micro-batches' losses
        self._micro_steps = 0
        # The plain torch step, unless ``bind`` finds a frozen model or a closure optimizer.
        self._plain = (accumulation_steps == 1 and self.precision.scaler is None
                       and not skip_nonfinite_steps)
        self.takes_closure = False  # set by ``bind``: ``train_step`` then passes a re-evaluation
        self._frozen = False
        self._warned_frozen = False

    def bind(self, optimizer, params, distributed=False):
        """Chooses the step for ``optimizer`` and the model's ``params``, once, at ``compile``.

        No parameter requires a gradient: forward, losses and metrics run, backward and the step
        are skipped with one warning (Keras trains such a model too). An optimizer whose
        ``step`` requires a ``closure`` (``torch.optim.LBFGS``) gets one that re-runs forward and
        loss; it cannot be combined with the GradScaler or gradient accumulation.

        Example:
            >>> net = nn.Linear(2, 1)
            >>> policy = StepPolicy("32", "cpu")
            >>> policy.bind(torch.optim.LBFGS(net.parameters()), net.parameters())
            >>> policy.takes_closure
            True
        """
        self._frozen = not any(p.requires_grad for p in params)
        self.takes_closure = not self._frozen and takes_closure(optimizer)
        self._plain = self._plain and not (self._frozen or self.takes_closure)
        if self.takes_closure and distributed:
            raise ValueError(
                f"The {type(optimizer).__name__} optimizer's step() takes a closure that "
                "re-evaluates the loss, which torchfit does not run data parallel (each "
                "re-evaluation would need its own gradient synchronisation). Use an optimizer "
                "without a closure such as 'adam', or compile(strategy=None) to train each "
                "process on its own.")
        if self.takes_closure and self.skip_nonfinite_steps:
            raise ValueError(
                f"The {type(optimizer).__name__} optimizer's step() takes a closure that "
                "re-evaluates the loss, which skip_nonfinite_steps=True cannot mask. Received: "
                "skip_nonfinite_steps=True. Use skip_nonfinite_steps=False, or an optimizer "
                "without a closure such as 'adam'."
            )
        unsupported = self.accumulation_steps > 1 or self.precision.scaler is not None
        if self.takes_closure and unsupported:
            raise ValueError(
                f"The {type(optimizer).__name__} optimizer's step() takes a closure that "
                "re-evaluates the loss, which cannot be combined with gradient accumulation or "
                "the float16 GradScaler. Received: "
                f"gradient_accumulation_steps={self.accumulation_steps}, precision="
                f"'{self.precision.name}'. Use gradient_accumulation_steps=1 and precision='32' "
                "or 'bf16-mixed', or an optimizer without a closure such as 'adam'."
            )

    def forward(self, model, x):
        """``model.call_with_inputs(x)`` under autocast; floating outputs come back float32."""
        if self.precision.dtype is None:  # full precision: no context to enter per step
            return model.call_with_inputs(x)
        with self.precision.autocast():
            y_pred = model.call_with_inputs(x)
        return self.precision.outputs_to_float32(y_pred)

    def backward_and_step(self, loss, optimizer, reevaluate=None):
        """``loss.backward()`` and, every ``accumulation_steps`` calls, the optimizer step.

        ``reevaluate`` (for closure optimizers, see ``bind``): a function that runs forward and
        loss again and returns the new loss; the closure's first call reuses ``loss``.
        With ``check_loss`` (``TerminateOnNaN`` in the fit's callbacks) a non-finite ``loss``
        skips backward and the step: the weights and optimizer state stay as they were.
        """
        if self.loss_scale != 1.0:  # a distributed rank's share of the batch
            loss = loss * self.loss_scale if self.loss_scale else torch.nan_to_num(loss * 0.0)
        if self.check_loss:
            # sync: one per step, what TerminateOnNaN asks for (it then reads this, not the logs)
            self.last_check = bool(torch.isfinite(loss.detach()).all())
            if self.agree is not None:  # a non-finite loss on any rank skips the step on all
                self.last_check = not self.agree(not self.last_check)
            if not self.last_check:
                return
        if self._plain:  # the common path: exactly the plain torch step
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return
        if self._frozen:
            self._warn_frozen_once()
            return
        if self.takes_closure:
            optimizer.step(self._clipped(self._closure(loss, optimizer, reevaluate), optimizer))
            return
        accumulation = self.accumulation_steps
        scaler = self.precision.scaler
        if self.skip_nonfinite_steps and scaler is None:  # a device flag: no sync
            finite = torch.isfinite(loss.detach()).all()
            self._loss_finite = finite if self._loss_finite is None else self._loss_finite & finite
        if accumulation > 1:
            loss = loss / accumulation  # the mean over micro-batches, as one big batch gives
        (scaler.scale(loss) if scaler is not None else loss).backward()
        self._micro_steps += 1
        if self._micro_steps % accumulation:
            return
        if scaler is not None:
            self._clip(optimizer, scaler)
            scaler.step(optimizer)  # unscales first, so clipping sees the true gradients
            scaler.update()
        else:
            self._clip(optimizer)
            if self._loss_finite is not None:
                masked_step(optimizer, self._loss_finite)
                self._loss_finite = None
            else:
                optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def syncs_next_backward(self):
        """Whether the next backward ends with an optimizer step (else, under DDP, its gradients
        need no synchronisation yet: they accumulate locally)."""
        return (self._micro_steps + 1) % self.accumulation_steps == 0

    def set_clipping(self, clipvalue=None, clipnorm=None, global_clipnorm=None, optimizer=None):
        """Clips the gradients before every optimizer step (``compile``'s clipping arguments).

        For any optimizer, torch's included: ``clipvalue`` clamps each element (as
        ``torch.nn.utils.clip_grad_value_``), ``clipnorm`` each gradient's norm separately (as
        Keras), ``global_clipnorm`` their joint norm, exactly as
        ``torch.nn.utils.clip_grad_norm_(params, global_clipnorm)``. Values are clipped first,
        then norms; under the float16 GradScaler the gradients are unscaled first. Without
        clipping nothing changes: the common step stays the plain torch step. ``optimizer``
        (what ``compile`` got) is checked by ``torchfit.optimizers.clipping.check_clipping``: a
        torchfit optimizer that clips itself is refused together with these.

        Example:
            >>> net = nn.Linear(2, 1)
            >>> policy = StepPolicy("32", "cpu")
            >>> policy.set_clipping(global_clipnorm=0.25)
            >>> before = [p.detach().clone() for p in net.parameters()]
            >>> policy.backward_and_step(100 * net(torch.ones(1, 2)).sum(),
            ...                          torch.optim.SGD(net.parameters(), lr=1.0))
            >>> moves = [p.detach() - b for p, b in zip(net.parameters(), before)]
            >>> round(float(torch.nn.utils.get_total_norm(moves)), 4)  # the clipped gradient
            0.25
        """
        self._clipping = check_clipping(clipvalue, clipnorm, global_clipnorm, optimizer)
        if self._clipping is not None:
            self._plain = False

    def _clip(self, optimizer, scaler=None):
        """Clips the gradients of ``optimizer``'s parameters (after unscaling), if configured."""
        if self._clipping is None:
            return
        if scaler is not None:
            scaler.unscale_(optimizer)  # scaler.step knows, and does not unscale twice
        grads = [p.grad for group in optimizer.param_groups for p in group["params"]
                 if p.grad is not None]
        clip_gradients_(grads, **self._clipping)

    def _clipped(self, closure, optimizer):
        """``closure`` followed by the clipping, for optimizers that evaluate a closure."""
        if self._clipping is None:
            return closure

        def clipped():
            loss = closure()
            self._clip(optimizer)
            return loss

        return clipped

    def _warn_frozen_once(self):
        if not self._warned_frozen:
            self._warned_frozen = True
            warnings.warn(
                "The model does not have any trainable weights: fit() runs forward, losses and "
                "metrics, and skips backward and the optimizer step.", stacklevel=4)

    def closure_step(self, model, loss, x, y, sample_weight=None):
        """The step of a closure optimizer, for ``model.train_step``; ``loss`` is the first
        evaluation, and the only one the logged loss sees (as metrics, computed from it)."""
        trackers = [(tracker, tracker.state_dict()) for tracker in model.compiled_loss.metrics]

        def reevaluate():
            return model.compute_loss(x, y, self.forward(model, x), sample_weight)

        self.backward_and_step(loss, model.optimizer, reevaluate)
        for tracker, state in trackers:  # forget the re-evaluations
            tracker.load_state_dict(state)

    @staticmethod
    def _closure(loss, optimizer, reevaluate):
        """The closure of the hand-written loop; its first call backpropagates ``loss``."""
        first = [loss]

        def closure():
            optimizer.zero_grad(set_to_none=True)
            if first:
                current = first.pop()
            elif reevaluate is None:
                raise RuntimeError(
                    f"The {type(optimizer).__name__} optimizer evaluates the loss several times "
                    "per step, which backward_and_step(loss) cannot redo. In a custom train_step, "
                    "step it with a closure of your own, as in plain torch: "
                    "self.optimizer.step(closure), where closure() zeroes the gradients, runs "
                    "forward and loss, calls backward and returns the loss.")
            else:
                current = reevaluate()
            current.backward()
            return current

        return closure


def takes_closure(optimizer):
    """Whether ``optimizer.step`` requires a ``closure`` argument (e.g. ``torch.optim.LBFGS``).

    Example:
        >>> params = [torch.zeros(1, requires_grad=True)]
        >>> takes_closure(torch.optim.LBFGS(params)), takes_closure(torch.optim.SGD(params))
        (True, False)
    """
    if isinstance(optimizer, torch.optim.LBFGS):
        return True
    try:
        parameter = inspect.signature(optimizer.step).parameters.get("closure")
    except (TypeError, ValueError):  # a builtin or C-implemented step: no signature to read
        return False
    return parameter is not None and parameter.default is parameter.empty
