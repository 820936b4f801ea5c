"""Callbacks: hooks into fit, evaluate and predict (see ``Callback`` for the protocol)."""

from torchfit.callbacks.backup_and_restore import BackupAndRestore
from torchfit.callbacks.callback import Callback
from torchfit.callbacks.callback_list import CallbackList
from torchfit.callbacks.csv_logger import CSVLogger
from torchfit.callbacks.early_stopping import EarlyStopping
from torchfit.callbacks.fit_context import FitContext
from torchfit.callbacks.history import History
from torchfit.callbacks.lambda_callback import LambdaCallback
from torchfit.callbacks.learning_rate_scheduler import LearningRateScheduler
from torchfit.callbacks.model_checkpoint import ModelCheckpoint
from torchfit.callbacks.monitor_callback import MonitorCallback
from torchfit.callbacks.progbar_logger import ProgbarLogger
from torchfit.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from torchfit.callbacks.tensorboard import TensorBoard
from torchfit.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = [
    "Callback",
    "CallbackList",
    "FitContext",
    "MonitorCallback",
    "History",
    "ProgbarLogger",
    "EarlyStopping",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "LearningRateScheduler",
    "TensorBoard",
    "CSVLogger",
    "TerminateOnNaN",
    "LambdaCallback",
    "BackupAndRestore",
]
