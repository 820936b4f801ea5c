"""torchfit.utils.plot_model: the traced graph, Keras's labels, rendering and its errors.

The graph is checked through the returned pydot graph and `.dot` files, which need no Graphviz;
PNG/SVG/PDF rendering skips when Graphviz's `dot` is not installed.
"""

import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from torchfit.utils import plot_model
from torchfit.utils.plot import GraphvizNotFoundError

import helpers  # noqa: F401  (puts examples/ on sys.path)
from multi_input_multi_output import MultiInputMultiOutput  # the guide's model

needs_pydot = pytest.mark.skipif(importlib.util.find_spec("pydot") is None,
                                 reason='pydot is not installed (pip install "torchfit[plot]")')
needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's `dot` is not installed")


class DataDependent(MultiInputMultiOutput):
    """Control flow on a tensor's value: torch.fx cannot trace it."""

    def forward(self, img_input, ts_input):
        x1 = self.conv2d(img_input).amax(dim=(2, 3))
        x2 = self.conv1d(ts_input.transpose(1, 2)).amax(dim=2)
        x = torch.cat([x1, x2], dim=1)
        if x.sum() > -1e9:
            x = torch.relu(x)
        return {"score_output": self.score_output(x),
                "class_output": self.class_output(x).softmax(dim=-1)}


def guide_model(module_cls=MultiInputMultiOutput):
    torch.manual_seed(0)
    return torchfit.Model(module_cls(), device="cpu")


def guide_inputs(batch=2):
    rng = np.random.default_rng(0)
    return [rng.random((batch, 3, 32, 32), dtype=np.float32),
            rng.random((batch, 20, 10), dtype=np.float32)]


def labels(graph):
    """``{node id: label}`` without pydot's quotes."""
    return {node.get_name().strip('"'): node.get_label().strip('"')
            for node in graph.get_nodes() if node.get_name() not in ("node", "edge", "graph")}


def edges(graph):
    return {(e.get_source().strip('"'), e.get_destination().strip('"'))
            for e in graph.get_edges()}


def ancestors(graph, node_id):
    parents = {}
    for source, target in edges(graph):
        parents.setdefault(target, set()).add(source)
    seen, todo = set(), [node_id]
    while todo:
        for parent in parents.get(todo.pop(), ()):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


@needs_pydot
def test_guide_model_graph_has_both_inputs_ops_layers_and_both_outputs(tmp_path):
    graph = plot_model(guide_model(), tmp_path / "model.dot")
    assert labels(graph) == {
        "img_input": "img_input: Input", "ts_input": "ts_input: Input",
        "conv2d": "conv2d: Conv2d", "amax": "amax: amax", "transpose": "transpose: transpose",
        "conv1d": "conv1d: Conv1d", "amax_1": "amax_1: amax", "cat": "cat: cat",
        "score_output": "score_output: Linear", "class_output": "class_output: Linear",
        "softmax": "softmax: softmax",
        "output_score_output": "score_output: Output",
        "output_class_output": "class_output: Output",
    }
    assert {("img_input", "conv2d"), ("ts_input", "transpose"), ("amax", "cat"),
            ("amax_1", "cat"), ("cat", "score_output"), ("cat", "class_output"),
            ("score_output", "output_score_output"),
            ("softmax", "output_class_output")} <= edges(graph)
    for output in ("output_score_output", "output_class_output"):
        assert {"img_input", "ts_input"} <= ancestors(graph, output)
    text = (tmp_path / "model.dot").read_text()
    assert text == graph.to_string() and "rankdir=TB" in text and "shape=record" in text


@needs_pydot
def test_show_shapes_uses_keras_record_labels_with_real_batch_shapes(tmp_path):
    graph = plot_model(guide_model(), tmp_path / "m.dot", show_shapes=True,
                       example_inputs=guide_inputs(batch=2))
    found = labels(graph)
    assert found["conv2d"] == "conv2d: Conv2d|{input:|output:}|{{(2, 3, 32, 32)}|{(2, 3, 30, 30)}}"
    assert found["cat"] == "cat: cat|{input:|output:}|{{[(2, 3), (2, 3)]}|{(2, 6)}}"
    assert found["output_class_output"] == \
        "class_output: Output|{input:|output:}|{{(2, 5)}|{(2, 5)}}"
    assert found["img_input"].endswith("{{(2, 3, 32, 32)}|{(2, 3, 32, 32)}}")
    # no layer names; inputs by name (a dict) work the same
    graph = plot_model(guide_model(), None, show_layer_names=False, show_shapes=True,
                       example_inputs=dict(zip(["img_input", "ts_input"], guide_inputs())))
    assert labels(graph)["score_output"].startswith("Linear|{input:|output:}")


@needs_pydot
def test_shapes_default_to_the_models_stored_sample_and_are_unknown_without_one():
    model = guide_model()
    assert labels(plot_model(model, None, show_shapes=True))["cat"].endswith("{{?}|{?}}")
    model._example_inputs = [torch.as_tensor(a[:1]) for a in guide_inputs()]
    assert labels(plot_model(model, None, show_shapes=True))["cat"].endswith(
        "{{[(1, 3), (1, 3)]}|{(1, 6)}}")


@needs_pydot
def test_untraceable_forward_falls_back_to_recording_one_forward_pass():
    graph = plot_model(guide_model(DataDependent), None, show_shapes=True,
                       example_inputs=guide_inputs())
    found = labels(graph)
    assert {name: label.split("|")[0] for name, label in found.items()} == {
        "img_input": "img_input: Input", "ts_input": "ts_input: Input",
        "conv2d": "conv2d: Conv2d", "conv1d": "conv1d: Conv1d",
        "score_output": "score_output: Linear", "class_output": "class_output: Linear",
        "output_score_output": "score_output: Output",
        "output_class_output": "class_output: Output",
    }
    # the tensors are followed through transpose/amax/cat/relu/softmax, which are not drawn
    assert edges(graph) == {
        ("img_input", "conv2d"), ("ts_input", "conv1d"),
        ("conv2d", "score_output"), ("conv1d", "score_output"),
        ("conv2d", "class_output"), ("conv1d", "class_output"),
        ("score_output", "output_score_output"), ("class_output", "output_class_output"),
    }
    assert found["conv1d"].endswith("{{(2, 10, 20)}|{(2, 3, 18)}}")


@needs_pydot
def test_untraceable_forward_without_inputs_asks_for_example_inputs():
    with pytest.raises(ValueError, match=r"could not trace DataDependent.forward.*"
                                         r"Pass `example_inputs`"):
        plot_model(guide_model(DataDependent), None)


@needs_pydot
def test_a_forward_that_fails_is_drawn_as_a_chain_with_a_warning():
    with pytest.warns(UserWarning, match=r"drawn as a chain in registration order"):
        graph = plot_model(guide_model(DataDependent), None,
                           example_inputs=[torch.zeros(2, 1, 32, 32), torch.zeros(2, 20, 10)])
    assert edges(graph) == {("input", "conv2d"), ("conv2d", "conv1d"),
                            ("conv1d", "score_output"), ("score_output", "class_output"),
                            ("class_output", "output")}


@needs_pydot
def test_leaf_modules_called_twice_and_repeated_in_the_recorded_graph():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            if x.sum() > -1e9:
                x = self.fc(x)
            return self.fc(x) + x

    graph = plot_model(Shared(), None, example_inputs=torch.ones(2, 3))
    assert edges(graph) == {("x", "fc"), ("fc", "fc_1"), ("fc_1", "output"), ("fc", "output")}
    assert labels(graph)["fc_1"] == "fc: Linear"


@needs_pydot
def test_sequential_layers_and_a_bare_torch_layer():
    model = torchfit.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), device="cpu")
    graph = plot_model(model, None, show_shapes=True, example_inputs=np.zeros((5, 4)))
    found = labels(graph)
    assert [found[i].split("|")[0] for i in ("input_1", "_0", "_1", "_2", "output")] == [
        "input: Input", "0: Linear", "1: ReLU", "2: Linear", "output: Output"]
    assert found["_2"].endswith("{{(5, 8)}|{(5, 3)}}")
    assert edges(graph) == {("input_1", "_0"), ("_0", "_1"), ("_1", "_2"), ("_2", "output")}
    # a single torch.nn layer is one node, not its functional insides (F.linear, weight, bias)
    graph = plot_model(nn.Linear(2, 3), None)
    assert labels(graph) == {"input": "input: Input", "linear": "linear: Linear",
                             "output": "output: Output"}


def test_unsupported_suffix_is_refused_before_tracing(tmp_path):
    class Boom(nn.Module):
        def forward(self, x):
            raise AssertionError("traced")

    with pytest.raises(ValueError, match=r"writes \.png, \.svg, \.pdf, \.dot files.*model\.jpg"):
        plot_model(Boom(), tmp_path / "model.jpg")
    with pytest.raises(ValueError, match=r"`rankdir` must be one of"):
        plot_model(Boom(), tmp_path / "model.dot", rankdir="XY")


def test_missing_pydot_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pydot", None)
    with pytest.raises(ImportError, match=r'pip install "torchfit\[plot\]"'):
        plot_model(guide_model(), tmp_path / "model.dot")


@needs_pydot
def test_missing_graphviz_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    with pytest.raises(GraphvizNotFoundError, match=r"apt-get install graphviz.*brew install "
                                                    r"graphviz") as info:
        plot_model(guide_model(), tmp_path / "model.png")
    assert isinstance(info.value, OSError) and not (tmp_path / "model.png").exists()
    plot_model(guide_model(), tmp_path / "model.dot")  # .dot needs no Graphviz


def test_pydot_is_not_needed_to_import_torchfit_or_run_summary():
    code = ("import sys; sys.modules['pydot'] = None\n"
            "import torch, torchfit\n"
            "from torchfit.utils import plot_model, summary\n"
            "summary(torch.nn.Linear(2, 3), torch.zeros(1, 2), print_fn=None)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(torchfit.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env=env)


@needs_dot
@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG\r\n\x1a\n"), (".svg", b"<?xml"),
                                           (".pdf", b"%PDF-")])
@needs_pydot
def test_renders_images_atomically(tmp_path, suffix, magic):
    target = tmp_path / f"multi_input_and_output_model{suffix}"
    target.write_bytes(b"old")
    plot_model(guide_model(), target, show_shapes=True, example_inputs=guide_inputs(),
               rankdir="LR", dpi=48)
    assert target.read_bytes().startswith(magic)
    assert os.listdir(tmp_path) == [target.name]  # no temporary file left behind
