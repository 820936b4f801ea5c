"""Export for serving: a `torch.export` program (`.pt2`) or an ONNX model, with a dynamic batch.

`export_model(model, path, format, example_inputs)` (`Model.export`) traces the wrapped module
(`model.weights_module()`, so no torchfit code is in the graph) in eval mode with
`torch.export.export`, on one sample: `example_inputs`, else the sample `fit` / `evaluate` /
`predict` stored (`model._example_inputs`). Inputs are routed as `Model.call_with_inputs` routes
them (a dict → keyword arguments, a list/tuple → positional arguments, anything else → one
argument), NumPy and pandas leaves become tensors of the module's floating dtype on
`model.device`, and the first dimension of every input tensor is one dynamic dimension, `batch`
(`torch.export.Dim("batch", min=1)`). A sample of batch size 1 is repeated to 2 first: torch
specialises sizes 0 and 1, so a batch of one would freeze the batch size.

* `format="torch"` writes the `ExportedProgram` with `torch.export.save` (a `.pt2` archive);
  `torch.export.load(path).module()(x)` runs it, at any batch size, without the model's code.
* `format="onnx"` converts that same program with `torch.onnx.export(program, dynamo=True)` (the
  `export` extra: `onnx`, `onnxscript`) and writes the model with its weights inside (so at most
  2 GB); its first input dimension is symbolic. Outputs are named `output` (one tensor), by the
  keys of a dict of tensors, or by `model.output_names` / `output_1`, ... for a tuple.

Files are written with `atomic_write` (a temporary file in the same folder, fsync, `os.replace`);
under `torchrun` rank 0 alone writes. A module that cannot be exported raises a `ValueError` that
says what torch refused (its first lines, the operator or the line of `forward` at fault) and how
to fix it; torch's own error is chained as `__cause__`.
"""

import contextlib
import os
import re
import warnings

import torch

from torchfit import nest
from torchfit.data.utils import to_tensor
from torchfit.distributed.runtime import is_main_process
from torchfit.saving.atomic import atomic_write
from torchfit.trainer.inputs import floating_dtype

__all__ = ["FORMATS", "export_model"]

FORMATS = {"torch": ".pt2", "onnx": ".onnx"}  # format -> the suffix its files must have
_ONNX_LIMIT = 2 ** 31  # bytes: a protobuf file holds at most 2 GB


def export_model(model, filepath, format="torch", example_inputs=None):
    """Writes `model`'s wrapped module as a `.pt2` ExportedProgram or an `.onnx` model.

    See the module docstring for the inputs, the dynamic batch dimension and the files.

    Example:
        >>> from torchfit.saving.export import export_model
        >>> model = torchfit.Sequential(nn.Linear(4, 2), device="cpu")
        >>> export_model(model, "net.pt2", example_inputs=np.ones((1, 4), "float32"))
        >>> program = torch.export.load("net.pt2")
        >>> program.module()(torch.ones(5, 4)).shape  # any batch size
        torch.Size([5, 2])
    """
    path = _check_path(filepath, format)
    module = model.weights_module()
    args, kwargs = _routed(_example(model, module, example_inputs))
    if not is_main_process():  # under torchrun rank 0 alone writes
        return
    with _eval_mode(module):
        program = _export(module, args, kwargs)
        if format == "torch":
            atomic_write(path, lambda tmp: _save_program(program, tmp))
            return
        with torch.no_grad():
            names = _output_names(model, module(*args, **kwargs))
    onnx_program = _to_onnx(module, program, names)
    atomic_write(path, lambda tmp: onnx_program.save(tmp, external_data=False))


def _check_path(filepath, format):
    if format not in FORMATS:
        raise ValueError(
            f"`export` writes format='torch' (a torch.export program, .pt2) or format='onnx'. "
            f"Received: format={format!r}."
        )
    try:
        path = os.fspath(filepath)
    except TypeError:
        raise TypeError(
            f"`export` expects a file path (str or os.PathLike). Received: filepath={filepath!r} "
            f"of type {type(filepath).__name__}."
        ) from None
    suffix = os.path.splitext(path)[1].lower()
    if suffix != FORMATS[format]:
        other = [name for name, ending in FORMATS.items() if ending == suffix]
        fix = (f"pass format={other[0]!r} to write {suffix} files" if other
               else f"name the file with {FORMATS[format]!r}, e.g. 'model{FORMATS[format]}'")
        raise ValueError(
            f"`export` with format={format!r} writes a {FORMATS[format]} file. Received: "
            f"filepath={path!r} (suffix {suffix!r}). Expected a path ending in "
            f"{FORMATS[format]!r}: {fix}."
        )
    return path


def _example(model, module, example_inputs):
    """The sample to trace: tensors on the model's device, with a batch of at least 2."""
    if example_inputs is None:
        example_inputs = model._example_inputs
    if example_inputs is None:
        raise ValueError(
            "`export` needs a sample input to trace the model with, and the model has seen no "
            "data yet. Pass `example_inputs=` (e.g. `x_train[:2]`, routed as in fit(): one "
            "array, a list/tuple of positional inputs, or a dict by `forward` parameter name), "
            "or call fit/evaluate/predict first."
        )
    dtype = floating_dtype(module)

    def convert(leaf):
        if isinstance(leaf, torch.Tensor) and leaf.dim() == 0:
            return leaf.to(model.device)
        if isinstance(leaf, torch.Tensor) or hasattr(leaf, "__array__"):
            tensor = to_tensor(leaf, "example_inputs", dtype=dtype).to(model.device)
            # torch specialises sizes 0 and 1: a batch of one would fix the batch size.
            return tensor.repeat(2, *[1] * (tensor.dim() - 1)) if len(tensor) == 1 else tensor
        return leaf

    return nest.map_structure(convert, example_inputs)


def _routed(inputs):
    """`(args, kwargs)` as `Model.call_with_inputs` routes `inputs`."""
    if isinstance(inputs, dict):
        return (), dict(inputs)
    if isinstance(inputs, (list, tuple)) and not hasattr(inputs, "_fields"):
        return tuple(inputs), {}
    return (inputs,), {}


@contextlib.contextmanager
def _eval_mode(module):
    """Eval mode for the export; every submodule's own mode is restored afterwards."""
    modes = [(sub, sub.training) for sub in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for sub, training in modes:
            sub.training = training


def _export(module, args, kwargs):
    batch = torch.export.Dim("batch", min=1)

    def spec(leaf):
        return {0: batch} if isinstance(leaf, torch.Tensor) and leaf.dim() > 0 else None

    dynamic_shapes = ({key: nest.map_structure(spec, value) for key, value in kwargs.items()}
                      if kwargs else tuple(nest.map_structure(spec, arg) for arg in args))
    try:
        return torch.export.export(module, args, kwargs or None, dynamic_shapes=dynamic_shapes)
    except Exception as err:  # torch raises many kinds (UserError, GuardOn..., RuntimeError)
        raise ValueError(_explain(module, "torch.export", err)) from err


def _save_program(program, tmp_path):
    with open(tmp_path, "wb") as f:  # a file object: torch.export.save wants .pt2 names
        torch.export.save(program, f)


def _output_names(model, outputs):
    """ONNX output names in torchfit's terms, or None to keep torch's."""
    if isinstance(outputs, torch.Tensor):
        return ["output"]
    if isinstance(outputs, dict) and all(isinstance(v, torch.Tensor) for v in outputs.values()):
        return [str(key) for key in outputs]
    if isinstance(outputs, (list, tuple)) and all(isinstance(v, torch.Tensor) for v in outputs):
        names = model.output_names
        if names is not None and len(names) == len(outputs):
            return [str(name) for name in names]
        return [f"output_{i + 1}" for i in range(len(outputs))]
    return None


def _to_onnx(module, program, output_names):
    try:
        import onnx  # noqa: F401 (torch.onnx's dynamo exporter needs onnx and onnxscript)
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "Exporting to ONNX needs the onnx and onnxscript packages: "
            "`pip install torchfit[export]` (onnx, onnxscript, and onnxruntime to run the "
            "file), or export with format='torch'."
        ) from err
    size = sum(t.numel() * t.element_size()
               for t in list(program.state_dict.values()) + list(program.constants.values())
               if isinstance(t, torch.Tensor))
    if size >= _ONNX_LIMIT:
        raise ValueError(
            f"`export` cannot write {type(module).__name__} to ONNX: its weights take {size} "
            "bytes, and an ONNX file with its weights inside holds at most 2 GB. Export with "
            "format='torch' (no size limit)."
        )
    try:
        with warnings.catch_warnings():  # torch.onnx's own use of a deprecated pytree API
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            return torch.onnx.export(program, dynamo=True, verbose=False,
                                     output_names=output_names)
    except Exception as err:  # torch.onnx.OnnxExporterError and the errors of its translators
        raise ValueError(_explain(module, "ONNX", err)) from err


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CLASS_PREFIX = re.compile(r"^<class '([\w.]+)'>: ")
_HINTS = (
    (("data-dependent", "GuardOnDataDependent"),
     "`forward` depends on the values in a tensor (e.g. `if x.sum() > 0:`, `Tensor.item`, "
     "`.tolist()`), and an exported program cannot: compute both branches and pick with "
     "`torch.where`, use `torch.cond`, or move the check out of `forward`"),
    (("Constraints violated",),
     "the batch dimension cannot be dynamic: `forward` fixes the size of its inputs' first "
     "dimension (e.g. `x.view(32, -1)`: use `x.view(x.shape[0], -1)`), or an input's first "
     "dimension is not the batch; every input tensor must have the batch first"),
    (("No ONNX function found", "is not supported in this export path", "ConversionError",
      "DispatchError"),
     "an operator has no ONNX translation: export with format='torch' (a torch.export program "
     "runs every torch operator), or write `forward` with operators ONNX supports"),
)
_GENERIC_HINT = (
    "keep `forward` to tensor operations torch.export can trace (no NumPy, no `Tensor.item`, no "
    "Python side effects), and pass `example_inputs` shaped and routed as in fit(); see "
    "https://pytorch.org/docs/stable/export.html"
)


def _explain(module, stage, err):
    """The message for a module torch could not export: what torch said, where, and a fix."""
    text = _ANSI.sub("", str(err))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if "## Exception summary" in lines:  # torch.onnx's report: the first cause is the one
        lines = lines[lines.index("## Exception summary") + 1:]
    head = lines[0] if lines else ""
    named = _CLASS_PREFIX.match(head)  # "<class 'torch....DispatchError'>: No ONNX function..."
    if named:
        first = f"{named.group(1).rsplit('.', 1)[-1]}: {head[named.end():]}"
    else:
        first = f"{type(err).__name__}: {head}" if head else type(err).__name__
    first = first.split(" For more information, run with")[0].rstrip(". ")
    following = lines[1] if len(lines) > 1 else ""
    if following.startswith("- "):  # torch's first listed violation: "- You marked batch ..."
        first += f" ({following[2:].split('. ')[0].rstrip('.')})"
    if len(first) > 300:
        first = first[:297] + "..."
    where = ""
    op = re.search(r"target=(?:torch\.ops\.)?([\w.]+)", text)
    if op:
        where += f" The operator at fault: {op.group(1)}."
    call = re.search(r"The following call raised this error:\s*\n\s*(File [^\n]*)"
                     r"(?:\n[ \t]+(\S[^\n]*))?", text)
    if call:
        code = f": {call.group(2).strip()}" if call.group(2) else ""
        where += f" In your code: {call.group(1).strip()}{code}."
    kind = type(err).__name__ + " " + text
    hint = next((h for markers, h in _HINTS if any(m in kind for m in markers)), _GENERIC_HINT)
    return (f"Could not export {type(module).__name__} with {stage}: {first}.{where} "
            f"To fix it: {hint}.")
