"""Callbacks: hooks into fit, evaluate and predict (see ``Callback`` for the protocol)."""

from torchfit.callbacks.callback import Callback
from torchfit.callbacks.callback_list import CallbackList
from torchfit.callbacks.history import History
from torchfit.callbacks.progbar_logger import ProgbarLogger

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger"]
