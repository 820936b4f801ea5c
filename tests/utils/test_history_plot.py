"""plot_history: one panel per metric, train and validation curves over History.epoch."""

import builtins
import os

import numpy as np
import pytest
from torch import nn

import torchfit
from torchfit.utils import plot_history

pytest.importorskip("matplotlib")


def _history():
    history = torchfit.callbacks.History()
    history.epoch = [0, 1, 2, 3]
    history.history = {"loss": [1.0, 0.5, 0.25, 0.2], "accuracy": [0.5, 0.6, 0.7, 0.8],
                       "val_loss": [1.1, 0.6, 0.4, 0.3], "val_accuracy": [0.4, 0.5, 0.6, 0.7]}
    return history


def _lines(axes):
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
            for line in axes.get_lines()}


def test_one_panel_per_metric_with_train_and_validation_curves(tmp_path):
    history = _history()
    path = tmp_path / "curves.png"
    figure = plot_history(history, to_file=path)
    assert [axes.get_title() for axes in figure.axes] == ["loss", "accuracy"]
    loss = _lines(figure.axes[0])
    assert loss == {"train": ([0, 1, 2, 3], [1.0, 0.5, 0.25, 0.2]),
                    "validation": ([0, 1, 2, 3], [1.1, 0.6, 0.4, 0.3])}
    assert _lines(figure.axes[1])["validation"][1] == [0.4, 0.5, 0.6, 0.7]
    assert all(axes.get_xlabel() == "Epoch" for axes in figure.axes)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == ["curves.png"]  # atomic: no temporary file left


def test_accepts_the_history_dict_and_a_real_fit():
    model = torchfit.Sequential(nn.Linear(3, 1), device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    history = model.fit(x, y, epochs=2, initial_epoch=0, verbose=0)
    from_dict = plot_history(history.history)
    assert [axes.get_title() for axes in from_dict.axes] == ["loss"]
    assert _lines(from_dict.axes[0]) == {"train": ([0, 1], history.history["loss"])}
    assert len(from_dict.axes[0].get_legend().get_texts()) == 1


def test_resumed_epochs_and_sparse_validation():
    history = torchfit.callbacks.History()
    history.epoch = [2, 3, 4, 5]  # fit(initial_epoch=2, epochs=6, validation_freq=2)
    history.history = {"loss": [4.0, 3.0, 2.0, 1.0], "val_loss": [3.5, 1.5]}
    lines = _lines(plot_history(history).axes[0])
    assert lines["train"][0] == [2, 3, 4, 5]
    assert lines["validation"] == ([3, 5], [3.5, 1.5])


def test_many_metrics_wrap_into_rows():
    records = {f"m{i}": [float(i), float(i) + 1] for i in range(5)}
    figure = plot_history(records)
    assert len(figure.axes) == 5
    assert figure.axes[3].get_subplotspec().rowspan.start == 1  # 3 per row


def test_bad_inputs_are_refused():
    with pytest.raises(TypeError, match="History that fit returns.*Received: list"):
        plot_history([1.0, 2.0])
    with pytest.raises(ValueError, match="no values to plot"):
        plot_history({"loss": []})
    with pytest.raises(TypeError, match=r"history\['loss'\] holds"):
        plot_history({"loss": ["a"]})


def test_unknown_image_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError, match="image format.*curves.txt'"):
        plot_history(_history(), to_file=str(tmp_path / "curves.txt"))
    assert os.listdir(tmp_path) == []


def test_without_matplotlib_the_error_names_the_plot_extra(monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r'plot_history needs matplotlib.*torchfit\[plot\]'):
        plot_history(_history())


def test_epoch_ticks_are_whole_epochs():
    one = plot_history({"loss": [0.5]}).axes[0]
    assert list(one.get_xticks()) == [0]
    many = plot_history({"loss": list(range(40))}).axes[0]
    assert all(float(tick).is_integer() for tick in many.get_xticks())
