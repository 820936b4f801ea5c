"""Sequential: a ``Model`` over an ``nn.Sequential`` of the given layers (``keras.Sequential``)."""

from torch import nn

from torchfit.model import Model

__all__ = ["Sequential"]


class Sequential(Model):
    """``torchfit.Sequential(nn.Linear(784, 64), nn.ReLU(), ...)``: a Model over ``nn.Sequential``.

    Example:
        >>> model = torchfit.Sequential(nn.Linear(784, 64), nn.ReLU())
        >>> model.add(nn.Linear(64, 10))
        >>> model.module[2]
        Linear(in_features=64, out_features=10, bias=True)
    """

    def __init__(self, *layers, device="auto", output_names=None):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        super().__init__(nn.Sequential(*layers), device=device, output_names=output_names)

    def add(self, layer):
        """Appends a layer, as Keras's ``Sequential.add``."""
        self.module.append(layer.to(self.device))
