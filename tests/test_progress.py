"""Progbar: Keras-style progress text, throttled; values are read only when a line is drawn."""

import io
import re
from collections.abc import Mapping
from types import SimpleNamespace

import pytest
import torch

from torchfit import progress
from torchfit.progress import Progbar, format_time_per_unit, format_value


class Terminal(io.StringIO):
    def isatty(self):
        return True


class CountingLogs(Mapping):
    """A logs mapping that counts how many values were read."""

    def __init__(self, values):
        self.values = values
        self.reads = 0

    def __getitem__(self, key):
        self.reads += 1
        return self.values[key]

    def __iter__(self):
        return iter(self.values)

    def __len__(self):
        return len(self.values)


def _keras_format(value, verbose):
    """Keras 3's ``Progbar.update`` rule: ``.4f`` above 1e-3 (in absolute value at verbose=1)."""
    big = abs(value) > 1e-3 if verbose == 1 else value > 1e-3
    return f" {value:.4f}" if big else f" {value:.4e}"


VALUES = [0.25, 0.0, 1234.56789, 1e-5, -0.25, -1e-5, 0.001, -0.001, 0.0011, -7.5]


@pytest.mark.parametrize("verbose", [1, 2])
def test_format_value_is_the_keras_number_format(verbose):
    for value in VALUES:
        assert " " + format_value(value, verbose) == _keras_format(value, verbose)
    assert format_value(torch.tensor(0.5), verbose) == "0.5000"


def test_format_value_pins_the_keras_strings():
    assert format_value(0) == "0.0000e+00" and format_value(0, 2) == "0.0000e+00"
    assert format_value(-0.25) == "-0.2500"
    assert format_value(-0.25, 2) == "-2.5000e-01"


def test_verbose_2_lines_use_the_verbose_2_rule():
    stream = io.StringIO()
    Progbar(2, verbose=2, stream=stream).update(2, {"loss": -0.25, "acc": 0}, finalize=True)
    assert re.search(r" - loss: -2\.5000e-01 - acc: 0\.0000e\+00 - \S+/epoch - \S+/step\n$",
                     stream.getvalue())
    stream = io.StringIO()
    Progbar(2, verbose=1, stream=stream).update(2, {"loss": -0.25}, finalize=True)
    assert stream.getvalue().endswith(" - loss: -0.2500\n")


def test_format_time_per_unit():
    assert format_time_per_unit(2.0) == "2s/step"
    assert format_time_per_unit(0.005) == "5ms/step"
    assert format_time_per_unit(5e-6, "sample") == "5us/sample"
    assert format_time_per_unit(0) == "0s/step"


def test_verbose_2_prints_one_line_at_the_end():
    stream = io.StringIO()
    bar = Progbar(4, verbose=2, stream=stream)
    for step in range(1, 4):
        bar.update(step, {"loss": 0.5}, finalize=False)
    assert stream.getvalue() == ""
    bar.update(4, {"loss": 0.25, "accuracy": 1.0}, finalize=True)
    assert re.fullmatch(r"4/4 - \d+s - loss: 0\.2500 - accuracy: 1\.0000"
                        r" - \d+(s|ms|us)/epoch - \d+(s|ms|us)/step\n", stream.getvalue())


def test_values_are_read_only_when_a_line_is_drawn():
    logs = CountingLogs({"loss": torch.tensor(0.25), "accuracy": torch.tensor(0.5)})
    bar = Progbar(10, verbose=2, stream=io.StringIO())
    for step in range(1, 10):
        bar.update(step, logs, finalize=False)
    assert logs.reads == 0
    bar.update(10, logs)  # current == target finalizes
    assert logs.reads == 2  # one read per value for the drawn line
    live = Progbar(10, verbose=1, interval=60.0, stream=Terminal())
    logs.reads = 0
    live.update(1, logs)  # a terminal draws the first update at once
    live.update(2, logs)
    live.update(3, logs)  # within the interval: not drawn, not read
    assert logs.reads == 2


def test_the_live_bar_redraws_one_line_on_a_terminal():
    stream = Terminal()
    bar = Progbar(10, verbose=1, interval=0.0, stream=stream)
    bar.update(5, {"loss": 0.5})
    assert stream.getvalue().startswith("\r 5/10 [" + "=" * 14 + ">" + "." * 15 + "] - ETA: ")
    assert stream.getvalue().endswith(" - loss: 0.5000")
    bar.update(10, {"loss": 0.25})
    last = stream.getvalue().split("\r")[-1]
    assert last.startswith("10/10 [" + "=" * 30 + "] - ") and last.rstrip().endswith(
        "loss: 0.2500") and last.endswith("\n")


def test_an_unknown_target_counts_steps():
    stream = Terminal()
    bar = Progbar(None, verbose=1, interval=0.0, stream=stream)
    bar.update(7)
    assert stream.getvalue().startswith("\r      7/Unknown - ")


def test_without_a_terminal_the_live_bar_draws_only_the_final_line():
    stream = io.StringIO()
    bar = Progbar(3, verbose=1, stream=stream)
    bar.update(1, {"loss": 1.0})
    bar.update(2, {"loss": 1.0})
    assert stream.getvalue() == ""
    bar.update(3, {"loss": 0.5})
    assert re.fullmatch(r"3/3 \[=+\] - \d+s \d+(s|ms|us)/step - loss: 0\.5000\n",
                        stream.getvalue())


def test_a_live_line_never_exceeds_the_terminal_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    stream = Terminal()
    bar = Progbar(10, verbose=1, interval=0.0, stream=stream)
    values = {f"output_{i}_sparse_categorical_accuracy": 0.5 for i in range(1, 4)}
    for step in range(1, 10):
        bar.update(step, values)
    live = stream.getvalue().split("\r")[1:]
    assert len(live) == 9 and all(len(line) <= 100 for line in live)
    assert all(line.rstrip().endswith("...") for line in live)
    bar.update(10, values)  # the epoch's final line is printed whole
    final = stream.getvalue().split("\r")[-1]
    assert final.endswith("output_3_sparse_categorical_accuracy: 0.5000\n")
    assert len(final) > 100


def test_the_terminal_width_is_the_streams_then_80(monkeypatch):
    from torchfit.progress import terminal_width

    monkeypatch.delenv("COLUMNS", raising=False)
    assert terminal_width(Terminal()) == 80  # a stream without a file descriptor
    monkeypatch.setenv("COLUMNS", "123")
    assert terminal_width(Terminal()) == 123


def _tf_keras_verbose_2_line(count, elapsed, values, unit="step"):
    """tf-keras's ``Progbar.update`` at verbose=2 (tf_keras/utils/generic_utils.py), written out:
    ``count + " - {elapsed:.0f}s"``, the values, then ``" -" + _format_time(epoch time, "epoch")``
    and ``" -" + _format_time(epoch time / target, unit)``, then a newline."""

    def _format_time(seconds, unit_name):
        if seconds >= 1 or seconds == 0:
            return f" {seconds:.0f}s/{unit_name}"
        if seconds >= 1e-3:
            return f" {seconds * 1000.0:.0f}ms/{unit_name}"
        return f" {seconds * 1000000.0:.0f}us/{unit_name}"

    info = f"{count}/{count} - {elapsed:.0f}s"
    for key, avg in values.items():
        info += f" - {key}:" + (f" {avg:.4f}" if avg > 1e-3 else f" {avg:.4e}")
    info += " -" + _format_time(elapsed, "epoch") + " -" + _format_time(elapsed / count, unit)
    return info + "\n"


@pytest.mark.parametrize("elapsed", [2.4, 0.35, 0.0004])
def test_verbose_2_line_is_tf_keras_2_byte_for_byte(monkeypatch, elapsed):
    clock = iter([100.0, 100.0 + elapsed])  # the bar's start, then its final line
    monkeypatch.setattr(progress, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    stream = io.StringIO()
    values = {"loss": 0.3432, "sparse_categorical_accuracy": 0.9032, "val_loss": -0.25}
    Progbar(782, verbose=2, stream=stream).update(782, values, finalize=True)
    assert stream.getvalue() == _tf_keras_verbose_2_line(782, elapsed, values)
    if elapsed == 2.4:  # the guide's line (Keras 3: "782/782 - 2s - 3ms/step - loss: ...")
        assert stream.getvalue() == (
            "782/782 - 2s - loss: 0.3432 - sparse_categorical_accuracy: 0.9032"
            " - val_loss: -2.5000e-01 - 2s/epoch - 3ms/step\n"
        )
