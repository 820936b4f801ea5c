"""Matplotlib figures for ``plot_history`` and the learning-rate finder's ``plot``.

matplotlib is an optional extra (``pip install "torchfit[plot]"``): it is imported when a figure
is drawn, never by ``import torchfit``. Figures are built as ``matplotlib.figure.Figure`` objects
rendered by the Agg backend, without ``pyplot``: no window opens, no global figure list grows, and
the backend a notebook or script has chosen is left alone. Jupyter still displays a returned
figure inline.

Example:
    >>> figure = new_figure("history")
    >>> axes = figure.add_subplot()
    >>> _ = axes.plot([0, 1], [1.0, 0.5])
    >>> save_figure(figure, "curve.png")
    >>> open("curve.png", "rb").read(4)
    b'\\x89PNG'
"""

import os

from torchfit.saving.atomic import atomic_write

__all__ = ["import_matplotlib", "new_figure", "save_figure"]


def import_matplotlib(feature):
    """The ``matplotlib`` module; an ``ImportError`` naming the ``plot`` extra without it."""
    # Imported here, not at the top: matplotlib is an optional extra, and `import torchfit`
    # must not import it (tests/test_import.py).
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(
            f'{feature} needs matplotlib. Install it with: pip install "torchfit[plot]" '
            '(or pip install matplotlib).'
        ) from error
    return matplotlib


def new_figure(feature, **kwargs):
    """A ``matplotlib.figure.Figure`` on the Agg canvas (``kwargs`` go to ``Figure``)."""
    import_matplotlib(feature)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(**kwargs)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, to_file, dpi=None):
    """Writes ``figure`` to ``to_file`` atomically, in the format its suffix names (``.png``,
    ``.svg``, ``.pdf``...)."""
    path = os.fspath(to_file)
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    supported = figure.canvas.get_supported_filetypes()
    if suffix not in supported:
        raise ValueError(
            f"Cannot tell the image format from the file name {path!r}. Expected a suffix "
            f"among {', '.join('.' + name for name in sorted(supported))}, e.g. 'plot.png'."
        )
    # The temporary file's name does not end in the suffix: say the format explicitly.
    atomic_write(path, lambda tmp: figure.savefig(tmp, format=suffix, dpi=dpi,
                                                  bbox_inches="tight"))
