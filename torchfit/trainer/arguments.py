"""Checks of the arguments of ``fit`` / ``evaluate`` / ``predict``, before any data is touched.

Each raises ``ValueError`` naming the argument, what was received and what was expected, so a
bad call fails before the first training step.
"""

import numbers
import os
import warnings

import numpy as np
import torch

from torchfit import data as data_module
from torchfit import progress

__all__ = ["NotCompiledError", "all_finite", "as_callbacks", "check_compiled",
           "check_finite_data", "check_runnable", "check_positive_int", "check_fit_arguments",
           "resolve_device", "resolve_verbose", "unpack_validation_data",
           "warn_unweighted_metrics"]


class NotCompiledError(RuntimeError, ValueError):
    """Raised by ``fit``/``evaluate`` before ``compile``.

    A ``RuntimeError`` as in Keras, and a ``ValueError`` like every other bad call in torchfit.
    """


def check_compiled(model, method):
    """Raises ``NotCompiledError`` when ``model.compile()`` has not run before ``method``."""
    if not model.compiled:
        raise NotCompiledError(
            f"You must call `compile()` before `{method}()`, e.g. "
            "model.compile(optimizer='rmsprop', loss='sparse_categorical_crossentropy')."
        )


def resolve_device(device):
    """``"auto"`` → CUDA if available, then MPS, then CPU; anything else → ``torch.device``.

    Under ``torchrun`` with more than one process, ``"auto"`` and ``"cuda"`` (without an index)
    are ``cuda:LOCAL_RANK``: one GPU per process.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return _local_cuda()
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"Invalid device: {device!r}. Expected 'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or a "
            "torch.device."
        ) from error
    _check_available(resolved, device)
    if resolved.type == "cuda" and resolved.index is None:
        return _local_cuda()
    return resolved


def _local_cuda():
    """``cuda:LOCAL_RANK`` in a multi-process ``torchrun`` job, else ``cuda``."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device("cuda")


def _check_available(resolved, device):
    """A CUDA or MPS device this machine lacks is refused here, not by torch's later assert."""
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (resolved.index is not None and resolved.index >= count):
            raise ValueError(
                f"Received: device={device!r}, but this machine has {count} usable CUDA "
                "GPU(s) (torch.cuda.is_available() is "
                f"{torch.cuda.is_available()}). Pass device='auto' (CUDA when present, else "
                "CPU), device='cpu', or a GPU index below the count."
            )
    mps = getattr(torch.backends, "mps", None)
    if resolved.type == "mps" and not (mps is not None and mps.is_available()):
        raise ValueError(f"Received: device={device!r}, but MPS is not available here. Pass "
                         "device='auto' or device='cpu'.")


def check_positive_int(name, value, allow_none=True, minimum=1):
    """Raises ``ValueError`` unless ``value`` is an integer ``>= minimum`` (or None if allowed).

    Example:
        >>> check_positive_int("batch_size", 0)
        Traceback (most recent call last):
        ValueError: `batch_size` must be a positive integer. Received: batch_size=0
    """
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")


def resolve_verbose(verbose):
    """``"auto"`` → 1 on a terminal or in a notebook, else 2; 0, 1 and 2 as they are."""
    if verbose == "auto":
        return 1 if progress.is_interactive() else 2
    if verbose not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}")
    return int(verbose)


def _check_validation_freq(validation_freq):
    if isinstance(validation_freq, int) and not isinstance(validation_freq, bool):
        check_positive_int("validation_freq", validation_freq, allow_none=False)
    elif not (isinstance(validation_freq, (list, tuple, set, range))
              and all(isinstance(e, int) for e in validation_freq)):
        raise ValueError(
            "`validation_freq` must be a positive integer or a collection of epoch "
            f"numbers (1-based). Received: validation_freq={validation_freq!r}"
        )


def check_fit_arguments(batch_size, epochs, initial_epoch, steps_per_epoch, validation_steps,
                        validation_batch_size, validation_freq, validation_split, shuffle=True):
    """The checks ``fit`` makes on its numeric arguments (and ``shuffle``: a bool, or
    ``"batch"``, which shuffles the order of contiguous batches, see ``torchfit.data.disk``)."""
    if not isinstance(shuffle, (bool, np.bool_)) and not (
            isinstance(shuffle, str) and shuffle == "batch"):
        raise TypeError(
            f"`shuffle` must be True, False or 'batch'. Received: shuffle={shuffle!r}")
    check_positive_int("batch_size", batch_size)
    check_positive_int("epochs", epochs, allow_none=False, minimum=0)
    check_positive_int("initial_epoch", initial_epoch, allow_none=False, minimum=0)
    check_positive_int("steps_per_epoch", steps_per_epoch)
    check_positive_int("validation_steps", validation_steps)
    check_positive_int("validation_batch_size", validation_batch_size)
    _check_validation_freq(validation_freq)
    if not isinstance(validation_split, numbers.Real) or not 0 <= validation_split < 1:
        raise ValueError(
            "`validation_split` must be a float in [0, 1). "
            f"Received: validation_split={validation_split!r}"
        )


def unpack_validation_data(validation_data):
    """``(x, y, sample_weight)`` from ``(x_val, y_val[, sw])`` or from a Dataset/DataLoader/..."""
    if isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3):
        return tuple(validation_data) + (None,) * (3 - len(validation_data))
    if not isinstance(validation_data, (tuple, list, np.ndarray, torch.Tensor)) and \
            data_module.is_data(validation_data):
        return validation_data, None, None
    length = (f" of length {len(validation_data)}"
              if isinstance(validation_data, (tuple, list)) else "")
    raise ValueError(
        "`validation_data` must be a tuple `(x_val, y_val)` or `(x_val, y_val, val_sample_weight)`"
        ", or a Dataset, DataLoader or generator of such batches. "
        f"Received: {type(validation_data).__name__}{length}."
    )


def _yields_sample_weights(x):
    """Whether ``x`` (a TensorDataset, or a DataLoader over one) holds ``(x, y, sample_weight)``.

    Only what is known without reading an item: reading one could change the data (a dataset
    drawing random pairs), so other datasets are not looked into.
    """
    dataset = x.dataset if isinstance(x, torch.utils.data.DataLoader) else x
    return isinstance(dataset, torch.utils.data.TensorDataset) and len(dataset.tensors) == 3


def warn_unweighted_metrics(x, sample_weight, compiled_metrics):
    """tf.keras 2's warning: ``evaluate`` got sample weights (as an argument, or as the third
    tensor of a ``TensorDataset``), but ``compile`` no ``weighted_metrics``, so the weights reach
    the loss only. ``compile(weighted_metrics=[])`` silences it.

    Example:
        >>> import warnings
        >>> class Compiled:  # what compile built
        ...     weighted_metrics_given = False
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warn_unweighted_metrics(None, np.ones(4), Compiled())
        >>> "received a value for `sample_weight`" in str(caught[0].message)
        True
    """
    if compiled_metrics.weighted_metrics_given:
        return
    if sample_weight is None and not _yields_sample_weights(x):
        return
    warnings.warn(
        "`evaluate()` received a value for `sample_weight`, but `weighted_metrics` were not "
        "provided. Did you mean to pass metrics to `weighted_metrics` in `compile()`? If this "
        "is intentional you can pass `weighted_metrics=[]` to `compile()` in order to silence "
        "this warning.", UserWarning, stacklevel=3)


def as_callbacks(callbacks, callback_type):
    """``callbacks`` as a list: ``None`` → ``[]``, one ``Callback`` → ``[it]`` (Keras 3 also
    accepts one: it flattens the argument), a list/tuple as it is; anything else is refused.

    Example:
        >>> as_callbacks(5, torchfit.callbacks.Callback)
        Traceback (most recent call last):
        TypeError: `callbacks` must be a list of torchfit.callbacks.Callback instances...
    """
    if callbacks is None:
        return []
    if isinstance(callbacks, callback_type):
        return [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(
            "`callbacks` must be a list of torchfit.callbacks.Callback instances (or a single "
            f"Callback). Received: callbacks={callbacks!r} of type {type(callbacks).__name__}. "
            "Pass e.g. callbacks=[torchfit.callbacks.EarlyStopping()]."
        )
    return list(callbacks)


def check_runnable(model, base):
    """Refuses ``predict`` on a ``Model`` with no module and no ``forward`` of its own."""
    if model.module is None and type(model).forward is base.forward:
        raise ValueError(
            "This torchfit.Model has no module to run, so there is no `forward` to predict "
            "with. Wrap one, torchfit.Model(my_module), or subclass torchfit.Model and define "
            "`forward`."
        )


def all_finite(logs):
    """Whether every numeric value of ``logs`` (floats, or lists of them) is finite.

    Example:
        >>> all_finite({"loss": 0.5, "f1": [0.1, 0.2]}), all_finite({"loss": float("nan")})
        (True, False)
    """
    values = [v for v in logs.values() if isinstance(v, (int, float, list, tuple))]
    return all(np.isfinite(np.asarray(v, dtype=float)).all() for v in values)


def check_finite_data(check_finite, method, *parts):
    """``data.check_finite`` on each ``(value, argument)`` of in-memory data, unless
    ``check_finite`` is False (then nothing is read). Streams (Datasets, loaders, generators)
    are not looked into."""
    if not check_finite:
        return
    for value, argument in parts:
        if value is not None and data_module.is_array_like(value):
            data_module.check_finite(value, argument, method)
