"""``Model.find_learning_rate``: the learning-rate range test of fastai's and Lightning's
``lr_find`` (Leslie Smith, "Cyclical Learning Rates for Training Neural Networks", 2015).

The sweep trains for up to ``steps`` batches (drawn shuffled, passing over the data again as
often as needed), the learning rate of step ``i`` being
``min_learning_rate * (max_learning_rate / min_learning_rate) ** (i / (steps - 1))`` (geometric,
both ends included; every parameter group gets the same rate, as in Lightning). After each step
the batch loss is smoothed as Lightning's ``_LRCallback`` does (an exponential moving average,
``beta=0.98``, with bias correction), and the sweep stops early once the smoothed loss exceeds
``early_stop_threshold`` (4, Lightning's default) times the best seen so far, or is not finite:
the loss has diverged.

The suggestion is the learning rate where the smoothed loss falls fastest, skipping the first
10 points and the last one (Lightning's ``suggestion(skip_begin=10, skip_end=1)``). The slope is
taken against ``log(learning_rate)``, the axis the sweep is uniform in and the plot shows (as
fastai's ``steep`` suggestion); Lightning's current code differentiates against the learning
rate itself (``torch.gradient(loss, spacing=[lr])``), which divides each slope by its rate and
pulls the suggestion toward the smallest rates (on the toy regression of the tests it picks the
first rate kept). Like Lightning's, the suggestion is best read off a sweep that reaches the
divergence: the smoothing lags, so a sweep that ends while the loss still falls suggests a rate
near its end.

Afterwards everything the sweep touched is put back exactly: the weights and buffers, the
optimizer's state, param groups and ``iterations``, a torchfit optimizer's ``learning_rate``
(float or schedule), the float16 GradScaler and gradient-accumulation counter, the torch random
generator and the module's train/eval mode; the metric states are reset (``fit`` resets them at
every epoch anyway). The sweep syncs once per step (it reads the loss to stop on divergence): it
is a tool to run before training, not in it. It runs in one process (not under ``torchrun``).
"""

import copy
import math
import warnings

import numpy as np
import torch

from torchfit import optimizers
from torchfit.callbacks.learning_rate import require_optimizer, set_learning_rates
from torchfit.trainer.epoch_iterator import EpochIterator
from torchfit.utils.figures import new_figure, save_figure

__all__ = ["LearningRateFinder", "find_learning_rate", "smooth_losses", "steepest_descent"]

BETA = 0.98  # Lightning's _LRCallback smoothing
EARLY_STOP_THRESHOLD = 4.0  # Lightning's lr_find(early_stop_threshold=4.0)
SKIP_BEGIN, SKIP_END = 10, 1  # Lightning's suggestion(skip_begin=10, skip_end=1)


def smooth_losses(losses, beta=BETA):
    """The bias-corrected exponential moving average of ``losses`` (Lightning's smoothing).

    Example:
        >>> [round(loss, 6) for loss in smooth_losses([2.0, 4.0])]
        [2.0, 3.010101]
    """
    average, smoothed = 0.0, []
    for step, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta ** (step + 1)))
    return smoothed


def steepest_descent(learning_rates, losses, skip_begin=SKIP_BEGIN, skip_end=SKIP_END):
    """The learning rate where ``losses`` falls fastest against ``log(learning_rate)``, skipping
    the first ``skip_begin`` and last ``skip_end`` points and non-finite losses; ``None`` when
    fewer than two points remain. As Lightning, the slopes (``np.gradient``) are taken over the
    kept points only.

    Example:
        >>> rates = [10.0 ** e for e in range(-6, 1)]
        >>> steepest_descent(rates, [5, 5, 5, 4, 1, 0.5, 9], skip_begin=0)
        0.001
    """
    index = np.arange(skip_begin, max(len(losses) - skip_end, skip_begin))
    loss = np.asarray(losses, dtype=np.float64)[index]
    finite = np.isfinite(loss)
    index, loss = index[finite], loss[finite]
    if len(loss) < 2:
        return None
    log_rates = np.log(np.asarray(learning_rates, dtype=np.float64)[index])
    slopes = np.gradient(loss, log_rates)
    return float(learning_rates[int(index[int(np.argmin(slopes))])])


class LearningRateFinder:
    """The result of ``model.find_learning_rate``.

    Attributes:
        learning_rates: the rate of each step that ran (geometric from ``min_learning_rate``).
        losses: the smoothed loss after each of those steps (what the suggestion reads and the
            plot shows, as in Lightning).
        raw_losses: the batch losses themselves.
        suggestion: the rate of steepest descent of ``losses``, or ``None`` when too few
            steps ran (fewer than 13).
        stopped_early: whether the loss diverged before ``steps`` steps.
    """

    def __init__(self, learning_rates, raw_losses, stopped_early=False):
        self.learning_rates = list(learning_rates)
        self.raw_losses = list(raw_losses)
        self.losses = smooth_losses(self.raw_losses)
        self.stopped_early = stopped_early
        self.suggestion = steepest_descent(self.learning_rates, self.losses)

    def __repr__(self):
        return (f"LearningRateFinder(steps={len(self.learning_rates)}, "
                f"suggestion={self.suggestion!r}, stopped_early={self.stopped_early})")

    def plot(self, to_file=None, dpi=None):
        """The loss against the learning rate (log scale), the suggestion marked in red.

        Returns the ``matplotlib.figure.Figure``; ``to_file`` (``.png``, ``.svg``, ...) is
        written atomically. Needs matplotlib (``pip install "torchfit[plot]"``).
        """
        figure = new_figure("LearningRateFinder.plot", figsize=(6, 4), layout="constrained")
        axes = figure.add_subplot()
        axes.plot(self.learning_rates, self.losses, label="smoothed loss")
        axes.set_xscale("log")
        axes.set_xlabel("Learning rate")
        axes.set_ylabel("Loss")
        if self.suggestion is not None:
            index = self.learning_rates.index(self.suggestion)
            axes.plot([self.suggestion], [self.losses[index]], "o", color="red", markersize=8,
                      label=f"suggestion: {self.suggestion:.2e}")
        axes.legend()
        axes.grid(True, which="both", alpha=0.3)
        if to_file is not None:
            save_figure(figure, to_file, dpi=dpi)
        return figure


def _check_arguments(model, min_learning_rate, max_learning_rate, steps):
    optimizer = require_optimizer(model, "find_learning_rate")
    if getattr(model, "_strategy", None) is not None:
        raise ValueError(
            "find_learning_rate runs in one process: under a distributed strategy each rank "
            "would see its own losses and stop at a different step. Find the rate in a single "
            "process (compile(strategy=None)), then launch the training with torchrun."
        )
    for name, value in (("min_learning_rate", min_learning_rate),
                        ("max_learning_rate", max_learning_rate)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                0 < value < math.inf):
            raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")
    if min_learning_rate >= max_learning_rate:
        raise ValueError(
            "`min_learning_rate` must be smaller than `max_learning_rate`. Received: "
            f"min_learning_rate={min_learning_rate!r}, max_learning_rate={max_learning_rate!r}"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"`steps` must be an integer of at least 2. Received: steps={steps!r}")
    return optimizer


def _snapshot(model, optimizer):
    """Everything the sweep changes, copied, for ``_restore``."""
    scaler = model._step.precision.scaler
    return {
        "module": {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()},
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "learning_rate": (optimizer.learning_rate
                          if isinstance(optimizer, optimizers.Optimizer) else None),
        "scaler": copy.deepcopy(scaler.state_dict()) if scaler is not None else None,
        "micro_steps": model._step._micro_steps,
        "rng": torch.random.get_rng_state(),
        "training": model.training,
    }


def _restore(model, optimizer, saved):
    with torch.no_grad():
        model.load_state_dict(saved["module"])
    if saved["learning_rate"] is not None:  # the schedule first: load_state_dict sets the groups
        optimizer.learning_rate = saved["learning_rate"]
    optimizer.load_state_dict(saved["optimizer"])
    optimizer.zero_grad(set_to_none=True)
    if saved["scaler"] is not None:
        model._step.precision.scaler.load_state_dict(saved["scaler"])
    model._step._micro_steps = saved["micro_steps"]
    model.reset_metrics()
    torch.random.set_rng_state(saved["rng"])
    model.train(saved["training"])


def _sweep(model, optimizer, iterator, learning_rates, early_stop_threshold):
    """Runs the steps; returns ``(batch losses, stopped early)``."""
    if isinstance(optimizer, optimizers.Optimizer):  # a schedule would overwrite each rate
        optimizer.learning_rate = learning_rates[0]
    raw, average, best = [], 0.0, math.inf
    model.train()
    for step, batch in iterator:
        set_learning_rates(optimizer, learning_rates[step], owner="find_learning_rate")
        model.reset_metrics()  # the logged `loss` is then this batch's loss alone
        logs = model.train_step(batch)
        if "loss" not in logs:
            raise ValueError(
                "find_learning_rate reads the `loss` that train_step logs, and this model's "
                f"train_step returned the keys {sorted(logs)}. Return compute_metrics(...) (or "
                "a dict with a 'loss' entry) from a custom train_step.")
        loss = float(logs["loss"])  # sync: one per step, to stop when the loss diverges
        raw.append(loss)
        average = BETA * average + (1 - BETA) * loss
        smoothed = average / (1 - BETA ** (step + 1))
        if not math.isfinite(smoothed) or (step > 0 and smoothed > early_stop_threshold * best):
            return raw, True
        best = min(best, smoothed)
    return raw, False


def find_learning_rate(model, x=None, y=None, batch_size=None, min_learning_rate=1e-7,
                       max_learning_rate=1.0, steps=100, sample_weight=None,
                       early_stop_threshold=EARLY_STOP_THRESHOLD):
    """Runs the sweep on ``model`` (compiled) and restores it; see ``Model.find_learning_rate``."""
    optimizer = _check_arguments(model, min_learning_rate, max_learning_rate, steps)
    ratio = max_learning_rate / min_learning_rate
    learning_rates = [min_learning_rate * ratio ** (i / (steps - 1)) for i in range(steps)]
    learning_rates[-1] = float(max_learning_rate)
    # steps_per_epoch=steps: in-memory data and Datasets are passed over again (reshuffled) as
    # often as the sweep needs; a one-shot generator that runs out ends the sweep.
    saved = _snapshot(model, optimizer)  # first: the shuffling below draws from the generator
    try:
        iterator = EpochIterator(model._adapter(x, y, sample_weight, batch_size, shuffle=True),
                                 steps, model.device)
        with warnings.catch_warnings():  # said below, in the sweep's own words
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            raw, diverged = _sweep(model, optimizer, iterator, learning_rates,
                                   early_stop_threshold)
    finally:
        _restore(model, optimizer, saved)
    if len(raw) < steps and not diverged:
        warnings.warn(f"find_learning_rate: the data ran out after {len(raw)} of {steps} "
                      "steps.", stacklevel=3)
    result = LearningRateFinder(learning_rates[:len(raw)], raw, stopped_early=diverged)
    if result.suggestion is None:
        warnings.warn(
            f"find_learning_rate ran {len(raw)} steps, too few to suggest a learning rate (the "
            f"first {SKIP_BEGIN} and the last are skipped). Increase `steps`, or lower "
            "`min_learning_rate` if the loss diverged at once.", stacklevel=3)
    return result
