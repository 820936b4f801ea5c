"""compile(precision=...): autocast around the forward, float32 losses, GradScaler for float16.

``"bf16-mixed"`` runs the forward under ``torch.autocast(dtype=torch.bfloat16)``; ``"16-mixed"``
under float16 with a ``torch.amp.GradScaler``, which keeps small float16 gradients from underflowing
(its inf/nan check costs one device sync per optimizer step, which is why bf16 is preferred where
the hardware has it). Either way the outputs are cast to float32 before the losses and metrics
see them, so those are computed in full precision on any module — no per-layer dtype policy.
"""

import contextlib

import torch

from torchfit import nest

__all__ = ["Precision", "PRECISIONS"]

PRECISIONS = {"32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


class Precision:
    """The precision policy of one compiled model on one device."""

    def __init__(self, precision, device):
        if precision not in PRECISIONS:
            raise ValueError(
                f"`precision` must be one of {', '.join(map(repr, PRECISIONS))}. "
                f"Received: precision={precision!r}"
            )
        self.name = precision
        self.dtype = PRECISIONS[precision]
        self.device_type = torch.device(device).type
        self.scaler = torch.amp.GradScaler(self.device_type) if precision == "16-mixed" else None
        self._no_autocast = contextlib.nullcontext()

    @property
    def mixed(self):
        return self.dtype is not None

    def autocast(self):
        """The context for the forward pass (a shared no-op context at full precision)."""
        if self.dtype is None:
            return self._no_autocast
        return torch.autocast(self.device_type, dtype=self.dtype)

    def outputs_to_float32(self, outputs):
        """Casts low-precision floating outputs to float32 (a no-op at full precision)."""
        if self.dtype is None:
            return outputs
        return nest.map_structure(
            lambda t: t.float() if isinstance(t, torch.Tensor) and t.dtype in (
                torch.float16, torch.bfloat16) else t,
            outputs,
        )
