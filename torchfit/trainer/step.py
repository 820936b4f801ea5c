"""StepPolicy: how one training step runs, as ``compile`` configured it.

``compile(precision=..., gradient_accumulation_steps=...)`` builds one; ``Model.train_step``
calls ``forward`` (autocast, then the outputs in float32) and ``backward_and_step`` (backward,
the GradScaler for float16, accumulation, the optimizer step). Gradient clipping is the
optimizer's: torchfit optimizers clip inside ``step()`` (``clipnorm`` / ``clipvalue`` /
``global_clipnorm`` are optimizer arguments in Keras), after the GradScaler has unscaled the
gradients, so they see the true values.

The common case (float32, no accumulation) is exactly the plain torch step: ``zero_grad``,
``backward``, ``step``.
"""

from torchfit.trainer.arguments import check_positive_int
from torchfit.trainer.precision import Precision

__all__ = ["StepPolicy"]


class StepPolicy:
    """The precision and accumulation policy of one compiled model.

    Args:
        precision: ``"32"``, ``"bf16-mixed"`` or ``"16-mixed"``.
        device: the model's device (autocast and the GradScaler are per device type).
        accumulation_steps: apply the optimizer every N calls of ``backward_and_step``, on the
            mean of their gradients.

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

    def __init__(self, precision="32", device="cpu", accumulation_steps=1):
        self.precision = Precision(precision, device)
        check_positive_int("gradient_accumulation_steps", accumulation_steps, allow_none=False)
        self.accumulation_steps = accumulation_steps
        self._micro_steps = 0

    def forward(self, model, x):
        """``model.call_with_inputs(x)`` under autocast; floating outputs come back float32."""
        with self.precision.autocast():
            y_pred = model.call_with_inputs(x)
        return self.precision.outputs_to_float32(y_pred)

    def backward_and_step(self, loss, optimizer):
        """``loss.backward()`` and, every ``accumulation_steps`` calls, the optimizer step."""
        accumulation = self.accumulation_steps
        scaler = self.precision.scaler
        if accumulation == 1 and scaler is None:  # the common path: exactly the plain torch step
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return
        if accumulation > 1:
            loss = loss / accumulation  # the mean over micro-batches, as one big batch gives
        (scaler.scale(loss) if scaler is not None else loss).backward()
        self._micro_steps += 1
        if self._micro_steps % accumulation:
            return
        if scaler is not None:
            scaler.step(optimizer)  # unscales first, so clipping sees the true gradients
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
