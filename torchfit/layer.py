"""Layer: an ``nn.Module`` that can add losses from inside ``forward``, as Keras layers do."""

import torch
from torch import nn

__all__ = ["Layer"]


class Layer(nn.Module):
    """A module whose ``forward`` may call ``self.add_loss(tensor)``.

    The losses live in the layer itself (no global state). A ``torchfit.Model`` clears them at the
    start of each of its calls, so ``model.losses`` holds exactly the losses of the last call, and
    ``fit`` adds their sum to the training loss.

    Example:
        >>> class ActivityRegularization(torchfit.Layer):
        ...     def forward(self, x):
        ...         self.add_loss(x.sum() * 0.1)
        ...         return x
    """

    def __init__(self):
        super().__init__()
        self._losses = []

    def add_loss(self, loss):
        """Adds a scalar loss tensor computed in this call's ``forward``."""
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise ValueError(
                f"{type(self).__name__}.add_loss expects a scalar tensor. Received: {shape}. "
                "Reduce it first, e.g. `self.add_loss(x.sum() * 0.1)`."
            )
        self._losses.append(loss.reshape(()))

    @property
    def losses(self):
        return list(self._losses)
