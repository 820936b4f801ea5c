"""``plot_model``: Keras's ``keras.utils.plot_model`` for a ``torchfit.Model`` or any ``nn.Module``.

The graph comes from, in order of preference:

1. ``torch.fx.symbolic_trace`` of the module: inputs (``forward``'s parameters), layers
   (``call_module``, labelled with the module's class), tensor ops (``cat``, ``amax``, ...,
   labelled with the function or method name) and one node per output.
2. When symbolic tracing fails (data-dependent control flow such as ``if x.sum() > 0``), one
   recorded forward pass on ``example_inputs``: the calls of the leaf modules, connected by the
   tensors flowing between them (a ``TorchFunctionMode`` follows each tensor through the ops in
   between). Tensor ops are not drawn on this path.
3. When even that forward pass fails, the leaf modules chained in registration order, with a
   warning that the edges are a guess.

Shapes (``show_shapes=True``) are real batch shapes from one forward pass on ``example_inputs``
(or the model's stored sample), in eval mode under ``torch.no_grad``; ``?`` without inputs.
pydot is imported only when ``plot_model`` runs; Graphviz's ``dot`` is needed for images only.
"""

import inspect
import os
import re
import shutil
import warnings

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from torchfit import nest
from torchfit.saving.atomic import atomic_write
from torchfit.utils.summary import (UNKNOWN, format_shape, inference_mode, model_device,
                                    resolve_inputs, root_module, run_forward, to_device)

__all__ = ["plot_model", "GraphvizNotFoundError"]

_FORMATS = (".png", ".svg", ".pdf", ".dot")
_RANKDIRS = ("TB", "LR", "BT", "RL")
_DOT_KEYWORDS = {"graph", "digraph", "subgraph", "node", "edge", "strict"}


class GraphvizNotFoundError(OSError):
    """Graphviz's ``dot`` program, which renders images, is not installed or not on the PATH."""


def _graphviz_error(fmt):
    return GraphvizNotFoundError(
        f"plot_model needs Graphviz's `dot` program to write a .{fmt} file, and it was not found "
        "on the PATH. Install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), "
        "`brew install graphviz` (macOS) or `conda install graphviz`. A '.dot' file needs no "
        "Graphviz: plot_model(model, 'model.dot')."
    )


def _import_pydot():
    # Imported here, not at the top: pydot is an optional extra ("torchfit[plot]") needed only
    # to draw, and `import torchfit` must not import it (tests/test_import.py).
    try:
        import pydot
    except ImportError as error:
        raise ImportError(
            'plot_model needs pydot. Install it with: pip install "torchfit[plot]"'
        ) from error
    return pydot


def _check_arguments(to_file, rankdir, dpi):
    """Returns the output format (``"png"``, ...) or ``None`` when there is no file to write."""
    if rankdir not in _RANKDIRS:
        raise ValueError(
            f"`rankdir` must be one of {', '.join(map(repr, _RANKDIRS))}. Received: "
            f"rankdir={rankdir!r}"
        )
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or dpi <= 0:
        raise ValueError(f"`dpi` must be a positive number. Received: dpi={dpi!r}")
    if to_file is None:
        return None
    suffix = os.path.splitext(os.fspath(to_file))[1].lower()
    if suffix not in _FORMATS:
        raise ValueError(
            f"plot_model writes {', '.join(_FORMATS)} files, chosen by the suffix of `to_file`. "
            f"Received: to_file={os.fspath(to_file)!r}"
        )
    return suffix[1:]


# ---------------------------------------------------------------------- graph
class _Graph:
    """Nodes ``{id: [name, kind, input shape, output shape]}`` and edges, in insertion order."""

    def __init__(self):
        self.nodes = {}
        self.edges = {}  # dict as an ordered set of (source id, target id)

    def add_node(self, name, kind, input_shape=UNKNOWN, output_shape=UNKNOWN, hint=None):
        base = re.sub(r"\W", "_", hint or name) or "node"
        if base[0].isdigit() or base.lower() in _DOT_KEYWORDS:
            base = "n_" + base
        node_id, i = base, 0
        while node_id in self.nodes:
            i += 1
            node_id = f"{base}_{i}"
        self.nodes[node_id] = [name, kind, input_shape, output_shape]
        return node_id

    def add_edge(self, source, target):
        self.edges[(source, target)] = None


def _output_entries(model, outputs):
    """``[(name, value)]``: dict keys, ``output_names`` or ``output_1, ...``, or ``output``."""
    if isinstance(outputs, dict):
        return [(str(key), value) for key, value in outputs.items()]
    if isinstance(outputs, (tuple, list)):
        names = getattr(model, "output_names", None)
        if not names or len(names) != len(outputs):
            names = [f"output_{i + 1}" for i in range(len(outputs))]
        return list(zip(names, outputs))
    return [("output", outputs)]


def _output_id(name):
    # Outputs are often named after the layer that computes them: keep the two ids apart.
    return name if name == "output" else f"output_{name}"


def _joined(shapes):
    if not shapes:
        return "-"
    if all(shape == UNKNOWN for shape in shapes):
        return UNKNOWN
    return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"


def _is_leaf(module):
    """Drawn as one node: torch.nn's own layers (as torch.fx sees them) and childless modules."""
    if isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
        return False
    return (next(module.children(), None) is None
            or type(module).__module__.startswith(("torch.nn.", "torch.ao.nn.")))


def _leaf_modules(root):
    """``[(qualified name, module)]`` of the leaves, in registration order, none inside another."""
    leaves = []
    for name, module in root.named_modules():
        if any(name.startswith(prefix + ".") for prefix, _ in leaves if prefix) or (
                leaves and leaves[0][1] is root):
            continue
        if _is_leaf(module):
            leaves.append((name, module))
    return leaves


# ---------------------------------------------------------------------- 1. torch.fx
class _ShapeRecorder(torch.fx.Interpreter):
    """Runs a traced graph and keeps the formatted shape of every node's value."""

    def __init__(self, module):
        super().__init__(module)
        self.shapes = {}

    def run_node(self, node):
        result = super().run_node(node)
        self.shapes[node.name] = format_shape(result)
        return result


def _fx_arguments(traced, inputs):
    """Positional arguments for ``traced``'s placeholders from inputs routed as in ``fit``."""
    if isinstance(inputs, (list, tuple)):
        return list(inputs)
    if not isinstance(inputs, dict):
        return [inputs]
    args = []
    for node in traced.graph.nodes:
        if node.op != "placeholder":
            continue
        name = node.target.lstrip("*")
        if name in inputs:
            args.append(inputs[name])
        elif node.args:
            args.append(node.args[0])  # the parameter's default
        else:
            raise ValueError(f"example_inputs has no entry for `forward` parameter {name!r}.")
    return args


def _fx_value_shape(value, shapes):
    if isinstance(value, torch.fx.Node):
        return shapes.get(value.name, UNKNOWN)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fx_value_shape(v, shapes)}" for k, v in value.items()) + "}"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_fx_value_shape(v, shapes) for v in value) + "]"
    return format_shape(value) if shapes else UNKNOWN


def _fx_label(traced, node):
    """``(name, kind)`` of one traced node."""
    if node.op == "placeholder":
        return node.target.lstrip("*"), "Input"
    if node.op == "call_module":
        return node.target, type(traced.get_submodule(node.target)).__name__
    if node.op == "get_attr":
        return node.target, type(getattr(traced, node.target, None)).__name__
    if node.op == "call_method":
        return node.name, node.target
    return node.name, getattr(node.target, "__name__", str(node.target))


def _graph_from_fx(model, root, inputs):
    """Traces ``root`` symbolically; raises whatever ``torch.fx`` raises when it cannot."""
    with inference_mode(root):
        traced = torch.fx.symbolic_trace(root)
        shapes = {}
        if inputs is not None:
            recorder = _ShapeRecorder(traced)
            recorder.run(*_fx_arguments(traced, to_device(inputs, model_device(model))))
            shapes = recorder.shapes
    graph, ids = _Graph(), {}
    for node in traced.graph.nodes:
        if node.op == "output":
            for name, value in _output_entries(model, node.args[0]):
                shape = _fx_value_shape(value, shapes)
                output_id = graph.add_node(name, "Output", shape, shape, hint=_output_id(name))
                for source in nest.flatten(value):
                    if isinstance(source, torch.fx.Node):
                        graph.add_edge(ids[source.name], output_id)
            continue
        name, kind = _fx_label(traced, node)
        sources = node.all_input_nodes
        output_shape = shapes.get(node.name, UNKNOWN)
        input_shape = output_shape if node.op == "placeholder" else _joined(
            [shapes.get(source.name, UNKNOWN) for source in sources])
        ids[node.name] = graph.add_node(name, kind, input_shape, output_shape, hint=node.name)
        for source in sources:
            graph.add_edge(ids[source.name], ids[node.name])
    return graph


# ---------------------------------------------------------------------- 2. recorded forward
class _TensorOrigins(TorchFunctionMode):
    """Follows tensors through torch ops: each result inherits the graph nodes its inputs came from.

    Every tensor seen is kept alive for the pass, so that ``id()`` keys are never reused.
    """

    def __init__(self):
        super().__init__()
        self.origins = {}
        self._alive = []

    def sources(self, value):
        found = {}
        for leaf in nest.flatten(value):
            if isinstance(leaf, torch.Tensor):
                found.update(dict.fromkeys(self.origins.get(id(leaf), ())))
        return list(found)

    def mark(self, value, node_ids, replace=False):
        for leaf in nest.flatten(value):
            if isinstance(leaf, torch.Tensor):
                previous = () if replace else self.origins.get(id(leaf), ())
                self.origins[id(leaf)] = tuple(dict.fromkeys([*previous, *node_ids]))
                self._alive.append(leaf)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        node_ids = self.sources([list(args), kwargs])
        if node_ids:
            self.mark(result, node_ids)
        return result


def _input_entries(root, inputs):
    """``[(name, value)]`` of the top-level inputs: dict keys, else ``forward``'s parameters."""
    if isinstance(inputs, dict):
        return list(inputs.items())
    values = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    try:
        params = [p.name for p in inspect.signature(root.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if len(params) < len(values):
        params = [f"input_{i + 1}" for i in range(len(values))]
    return list(zip(params, values))


def _graph_from_forward(model, root, inputs):
    """Records one forward pass: leaf-module calls and the tensors flowing between them."""
    graph, origins = _Graph(), _TensorOrigins()
    inputs = to_device(inputs, model_device(model))
    for name, value in _input_entries(root, inputs):
        shape = format_shape(value)
        origins.mark(value, [graph.add_node(name, "Input", shape, shape)])
    names = {module: name for name, module in root.named_modules()}
    pending = []

    def before(module, args, kwargs):
        tensors = [leaf for leaf in nest.flatten([list(args), kwargs])
                   if isinstance(leaf, torch.Tensor)]
        pending.append((origins.sources(tensors), _joined([format_shape(t) for t in tensors])))

    def after(module, args, kwargs, output):
        sources, input_shape = pending.pop()
        name = names[module] or type(module).__name__.lower()
        node_id = graph.add_node(name, type(module).__name__, input_shape, format_shape(output))
        for source in sources:
            graph.add_edge(source, node_id)
        origins.mark(output, [node_id], replace=True)

    handles = []
    for _, module in _leaf_modules(root):
        handles.append(module.register_forward_pre_hook(before, with_kwargs=True))
        handles.append(module.register_forward_hook(after, with_kwargs=True))
    try:
        with inference_mode(model), origins:
            outputs = run_forward(model, inputs)
    finally:
        for handle in handles:
            handle.remove()
    for name, value in _output_entries(model, outputs):
        shape = format_shape(value)
        output_id = graph.add_node(name, "Output", shape, shape, hint=_output_id(name))
        for source in origins.sources(value):
            graph.add_edge(source, output_id)
    return graph


# ---------------------------------------------------------------------- 3. a chain
def _graph_as_chain(root):
    graph = _Graph()
    previous = graph.add_node("input", "Input")
    for name, module in _leaf_modules(root):
        node_id = graph.add_node(name or type(module).__name__.lower(), type(module).__name__)
        graph.add_edge(previous, node_id)
        previous = node_id
    graph.add_edge(previous, graph.add_node("output", "Output"))
    return graph


def _build_graph(model, inputs, show_shapes):
    root = root_module(model)
    if _is_leaf(root) and type(root).__module__.startswith(("torch.nn.", "torch.ao.nn.")):
        # A bare torch.nn layer: tracing would draw its functional insides (F.linear, weight).
        if inputs is None or not show_shapes:
            return _graph_as_chain(root)
        return _graph_from_forward(model, root, inputs)
    try:
        return _graph_from_fx(model, root, inputs if show_shapes else None)
    except Exception as error:  # torch.fx raises many types (TraceError, TypeError, ...)
        trace_error = error
    if inputs is None:
        raise ValueError(
            f"plot_model could not trace {type(root).__name__}.forward symbolically "
            f"({type(trace_error).__name__}: {trace_error}). Pass `example_inputs` (one batch, "
            "routed as in fit()) so that the graph is recorded from one forward pass instead."
        ) from trace_error
    try:
        return _graph_from_forward(model, root, inputs)
    except Exception as error:
        warnings.warn(
            f"plot_model could neither trace {type(root).__name__} ({trace_error}) nor run it "
            f"on `example_inputs` ({type(error).__name__}: {error}); its leaf modules are drawn "
            "as a chain in registration order, which may not be how `forward` connects them.",
            stacklevel=3,
        )
        return _graph_as_chain(root)


# ---------------------------------------------------------------------- rendering
def _escape(text):
    """Escapes Graphviz record-label syntax (pydot itself escapes double quotes)."""
    return re.sub(r"([\\{}|<>])", r"\\\1", str(text))


def _label(node, show_shapes, show_layer_names):
    name, kind, input_shape, output_shape = node
    label = _escape(f"{name}: {kind}" if show_layer_names else kind)
    if show_shapes:
        # Keras's record: a name cell, then input/output over their shapes.
        label = (f"{label}|{{input:|output:}}|"
                 f"{{{{{_escape(input_shape)}}}|{{{_escape(output_shape)}}}}}")
    return label


def _to_pydot(pydot, graph, show_shapes, show_layer_names, rankdir, dpi):
    dot = pydot.Dot(graph_type="digraph")
    dot.set("rankdir", rankdir)
    dot.set("concentrate", True)
    dot.set("dpi", dpi)
    dot.set_node_defaults(shape="record")
    for node_id, node in graph.nodes.items():
        dot.add_node(pydot.Node(node_id, label=_label(node, show_shapes, show_layer_names)))
    for source, target in graph.edges:
        dot.add_edge(pydot.Edge(source, target))
    return dot


def _write(dot, to_file, fmt):
    if fmt == "dot":
        data = dot.to_string().encode("utf-8")
    else:
        try:
            data = dot.create(prog="dot", format=fmt)
        except FileNotFoundError as error:
            raise _graphviz_error(fmt) from error

    def write(tmp_path):
        with open(tmp_path, "wb") as f:
            f.write(data)

    atomic_write(to_file, write)


def plot_model(model, to_file="model.png", show_shapes=False, show_layer_names=True,
               example_inputs=None, rankdir="TB", dpi=96):
    """Draws the model's graph to an image, as ``keras.utils.plot_model``.

    Example:
        >>> class TwoInputs(nn.Module):
        ...     def forward(self, image, series):
        ...         return image.flatten(1).sum(1, keepdim=True) + series.sum(1, keepdim=True)
        >>> model = torchfit.Model(TwoInputs())
        >>> inputs = [torch.zeros(2, 1, 4, 4), torch.zeros(2, 3)]  # rendering needs Graphviz
        >>> plot_model(model, "two_inputs.png", show_shapes=True,
        ...            example_inputs=inputs)  # doctest: +SKIP

    Args:
        model: a ``torchfit.Model`` (its wrapped ``model.module`` is drawn) or any ``nn.Module``.
        to_file: the file to write; ``.png``, ``.svg`` and ``.pdf`` are rendered by Graphviz's
            ``dot``, ``.dot`` writes the Graphviz source and needs no Graphviz. ``None`` writes
            nothing. The file is written to a temporary name, then renamed.
        show_shapes: add each node's input and output shapes (real batch shapes, ``?`` without
            inputs) in Keras's record layout.
        show_layer_names: label nodes ``name: ClassName`` (else ``ClassName``). Layer names are
            the modules' dotted paths; ops are named as ``torch.fx`` names them (``cat``,
            ``amax_1``) and labelled with the function name; inputs are ``forward``'s parameter
            names (``Input``) and outputs the dict keys / ``output_names`` (``Output``).
        example_inputs: one batch routed as in ``fit`` (a tensor, a list/tuple, or a dict by
            ``forward`` parameter name); defaults to the model's stored sample. Needed for the
            shapes, and for models ``torch.fx`` cannot trace.
        rankdir: ``"TB"`` (top to bottom), ``"LR"``, ``"BT"`` or ``"RL"``.
        dpi: image resolution.

    Returns:
        The ``pydot.Dot`` graph (Keras returns an IPython image; in a notebook show it with
        ``IPython.display.Image(graph.create_png())``).

    Raises:
        ValueError: an unsupported suffix, ``rankdir`` or ``dpi``, or an untraceable model
            without ``example_inputs``.
        ImportError: pydot is not installed (``pip install "torchfit[plot]"``).
        GraphvizNotFoundError: an ``OSError``; ``dot`` is needed for the format and not found.
    """
    fmt = _check_arguments(to_file, rankdir, dpi)
    pydot = _import_pydot()
    if fmt not in (None, "dot") and shutil.which("dot") is None:
        raise _graphviz_error(fmt)
    graph = _build_graph(model, resolve_inputs(model, example_inputs), show_shapes)
    dot = _to_pydot(pydot, graph, show_shapes, show_layer_names, rankdir, dpi)
    if fmt is not None:
        _write(dot, to_file, fmt)
    return dot
