"""figures: matplotlib on the Agg canvas, atomic saves by suffix."""

import os

import pytest

from torchfit.utils.figures import import_matplotlib, new_figure, save_figure

pytest.importorskip("matplotlib")


def test_new_figure_uses_agg_without_pyplot(tmp_path):
    figure = new_figure("test")
    assert type(figure.canvas).__name__ == "FigureCanvasAgg"
    figure.add_subplot().plot([0, 1], [0, 1])
    save_figure(figure, tmp_path / "a.svg")
    save_figure(figure, os.fspath(tmp_path / "a.pdf"))
    assert (tmp_path / "a.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "a.pdf").read_bytes()[:4] == b"%PDF"
    assert sorted(os.listdir(tmp_path)) == ["a.pdf", "a.svg"]


def test_a_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    figure = new_figure("test")
    path = tmp_path / "a.png"
    path.write_bytes(b"old")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(figure, path)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.png"]


def test_unknown_suffix():
    with pytest.raises(ValueError, match=r"suffix among .*\.png"):
        save_figure(new_figure("test"), "plot")


def test_import_matplotlib_returns_the_module():
    assert import_matplotlib("x").__name__ == "matplotlib"
