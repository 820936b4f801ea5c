"""``plot_history``: the training curves of a ``fit``, one panel per metric.

matplotlib is an optional extra (``pip install "torchfit[plot]"``), imported only when
``plot_history`` runs (see ``torchfit.utils.figures``).
"""

import math
import numbers

from torchfit.utils.figures import new_figure, save_figure

__all__ = ["plot_history"]

_VAL = "val_"


def _records(history):
    """``(history dict, epoch indices)`` from a ``History`` or its ``.history`` dict."""
    if isinstance(history, dict):
        records, epochs = history, None
    elif isinstance(getattr(history, "history", None), dict):
        records, epochs = history.history, list(getattr(history, "epoch", None) or []) or None
    else:
        raise TypeError(
            "plot_history takes the History that fit returns, or its `.history` dict. "
            f"Received: {type(history).__name__} {history!r}"
        )
    records = {key: list(values) for key, values in records.items()
               if not isinstance(values, (str, bytes)) and len(values)}
    if not records:
        raise ValueError(
            "plot_history got a history with no values to plot (did fit run for 0 epochs?). "
            f"Received: {history!r}"
        )
    for key, values in records.items():
        if not all(isinstance(value, numbers.Real) for value in values):
            raise TypeError(f"plot_history plots numbers; history[{key!r}] holds "
                            f"{[type(v).__name__ for v in values][:3]}. Received: {values!r}")
    if epochs is None:
        epochs = list(range(max(len(values) for values in records.values())))
    return records, epochs


def _panel_names(records):
    """Metric names in the history's order, each once: ``loss``, ``accuracy`` (+ ``val_``)."""
    names = []
    for key in records:
        name = key[len(_VAL):] if key.startswith(_VAL) else key
        if name not in names:
            names.append(name)
    return names


def _x_values(values, epochs):
    """The epochs of ``values``: all of them, or every k-th when validation ran every k epochs
    (``fit(validation_freq=k)`` records fewer validation values than epochs)."""
    if len(values) == len(epochs):
        return epochs
    if len(values) < len(epochs) and len(epochs) % len(values) == 0:
        every = len(epochs) // len(values)
        return epochs[every - 1::every]
    return epochs[:len(values)] if len(values) < len(epochs) else list(range(len(values)))


def plot_history(history, to_file=None, dpi=None):
    """Draws the curves of ``fit``'s ``History``: one panel per metric, train and validation.

    Each metric (``loss``, ``accuracy``, ...) gets a panel titled with its name, holding the
    training curve (legend ``train``) and, when the history has ``val_<metric>``, the
    validation curve (legend ``validation``). The x axis is the epoch index of
    ``History.epoch`` (0-based, as Keras records it; ``0, 1, ...`` for a plain dict).

    Args:
        history: the ``History`` that ``fit`` returns (or ``model.history``), or its
            ``.history`` dict.
        to_file: an image path (``.png``, ``.svg``, ``.pdf``, ...), written atomically; ``None``
            writes nothing.
        dpi: resolution of a raster ``to_file`` (matplotlib's default when ``None``).

    Returns:
        The ``matplotlib.figure.Figure``; ``figure.axes`` are the panels.

    Raises:
        ImportError: matplotlib is not installed (the ``plot`` extra).

    Example:
        >>> model = torchfit.Sequential(nn.Linear(3, 1))
        >>> model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        >>> x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
        >>> history = model.fit(x, y, epochs=3, validation_data=(x, y), verbose=0)
        >>> figure = torchfit.utils.plot_history(history, to_file="history.png")
        >>> [axes.get_title() for axes in figure.axes]
        ['loss', 'mae']
        >>> [line.get_label() for line in figure.axes[0].get_lines()]
        ['train', 'validation']
    """
    records, epochs = _records(history)
    names = _panel_names(records)
    columns = min(len(names), 3)
    rows = math.ceil(len(names) / columns)
    figure = new_figure("plot_history", figsize=(4.5 * columns, 3.5 * rows),
                        layout="constrained")
    from matplotlib.ticker import MaxNLocator

    for index, name in enumerate(names):
        axes = figure.add_subplot(rows, columns, index + 1)
        for key, label, style in ((name, "train", "-"), (_VAL + name, "validation", "--")):
            if key in records:
                values = records[key]
                axes.plot(_x_values(values, epochs), values, style, marker=".", label=label)
        axes.set_title(name)
        axes.set_xlabel("Epoch")
        axes.set_ylabel(name)
        if len(epochs) <= 12:  # a tick per epoch (a locator puts 0.015 ticks around one epoch)
            axes.set_xticks(epochs)
        else:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(True, alpha=0.3)
        axes.legend()
    if to_file is not None:
        save_figure(figure, to_file, dpi=dpi)
    return figure
