"""The training machinery behind ``Model``: the loops and everything one step needs.

- ``loops.py``: ``run_fit`` / ``run_evaluate`` / ``run_predict``, the only epoch and batch loops;
- ``epoch_iterator.py``: steps per epoch, running out of data, device transfer;
- ``compile_utils.py``: ``CompiledLoss`` / ``CompiledMetrics`` (outputs <-> losses, metrics, names);
- ``outputs.py``: output names, and per-output configs and targets matched to them;
- ``step.py``: ``StepPolicy``, how a training step runs (precision, GradScaler, accumulation);
- ``precision.py``: autocast and float32 outputs for ``compile(precision=...)``;
- ``additions.py``: what ``add_loss`` / ``add_metric`` contribute to each model call;
- ``arguments.py``, ``inputs.py``, ``jit.py``: argument checks, input routing, ``torch.compile``;
- ``lr_finder.py``: ``Model.find_learning_rate``, the learning-rate range test.

Users never need to import from here; ``torchfit.Model`` is the interface.
"""

from torchfit.trainer import (
    additions,
    arguments,
    compile_utils,
    epoch_iterator,
    inputs,
    jit,
    loops,
    lr_finder,
    outputs,
    precision,
    step,
)

__all__ = ["additions", "arguments", "compile_utils", "epoch_iterator", "inputs", "jit", "loops",
           "lr_finder", "outputs", "precision", "step"]
