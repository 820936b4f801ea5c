"""The torchfit version: one place, read by `torchfit.__version__`, saving and packaging."""

__version__ = "0.1.0"
