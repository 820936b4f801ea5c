"""Tests of torchfit/saving/export.py: `Model.export` for serving (issue 14, item 2).

References: `Model.predict` (eager torch) for the outputs, `torch.export.load` and ONNX Runtime
to run the files.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import torchfit


def _net():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(8, 3))


@pytest.fixture(scope="module")
def fitted():
    """A model fitted on 32 samples: BatchNorm statistics and Dropout, which eval mode turns off."""
    torch.manual_seed(0)
    model = torchfit.Model(_net(), device="cpu")
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    model.fit(x, x[:, :3], batch_size=8, epochs=2, verbose=0)
    return model


def _x(batch, seed=1):
    return np.random.default_rng(seed).normal(size=(batch, 4)).astype("float32")


def test_torch_program_equals_predict_at_another_batch_size(fitted, tmp_path):
    assert fitted._example_inputs.shape == (1, 4)  # the one sample fit stored
    fitted.module.train()
    path = tmp_path / "model.pt2"
    fitted.export(path)  # no example_inputs: the sample fit saw
    assert fitted.module.training and fitted.module[3].training  # modes restored
    program = torch.export.load(path)
    for batch in (1, 7):
        x = _x(batch)
        out = program.module()(torch.from_numpy(x))
        np.testing.assert_allclose(out.detach().numpy(), fitted.predict(x, verbose=0),
                                   rtol=1e-5, atol=1e-5)
    assert os.listdir(tmp_path) == ["model.pt2"]  # no temporary file left


def test_onnx_runtime_equals_predict_for_two_batch_sizes(fitted, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    path = tmp_path / "model.onnx"
    fitted.export(path, format="onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert isinstance(inp.shape[0], str) and inp.shape[1] == 4  # a symbolic batch dimension
    assert out.name == "output"
    for batch in (3, 10):
        x = _x(batch, seed=batch)
        (onnx_out,) = session.run(None, {inp.name: x})
        np.testing.assert_allclose(onnx_out, fitted.predict(x, verbose=0), rtol=1e-4, atol=1e-4)
    assert os.listdir(tmp_path) == ["model.onnx"]


class TwoInputs(nn.Module):
    """Dict inputs (keyword arguments) and a tuple of outputs."""

    def __init__(self):
        super().__init__()
        # Submodules are not named like the inputs: torch.export.load(...).module() (torch 2.13)
        # fails on a placeholder and a submodule of the same name.
        self.image_proj = nn.Linear(6, 4)
        self.meta_proj = nn.Linear(2, 4)
        self.score, self.label = nn.Linear(4, 1), nn.Linear(4, 3)

    def forward(self, image, meta):
        hidden = torch.relu(self.image_proj(image) + self.meta_proj(meta))
        return self.score(hidden), self.label(hidden)


def _dict_x(batch, seed):
    rng = np.random.default_rng(seed)
    return {"image": rng.normal(size=(batch, 6)).astype("float32"),
            "meta": rng.normal(size=(batch, 2)).astype("float32")}


def test_dict_inputs_are_keyword_arguments_in_both_formats(tmp_path):
    torch.manual_seed(0)
    model = torchfit.Model(TwoInputs(), device="cpu", output_names=["score", "label"])
    model.predict(_dict_x(4, 0), verbose=0)  # stores the sample
    model.export(tmp_path / "two.pt2")
    program = torch.export.load(tmp_path / "two.pt2").module()
    x = _dict_x(5, 1)
    expected = model.predict(x, verbose=0)
    outs = program(**{k: torch.from_numpy(v) for k, v in x.items()})
    for out, ref in zip(outs, expected):
        np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-5, atol=1e-6)

    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model.export(tmp_path / "two.onnx", format="onnx")
    session = ort.InferenceSession(str(tmp_path / "two.onnx"),
                                   providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image", "meta"]
    assert [o.name for o in session.get_outputs()] == ["score", "label"]
    for batch in (2, 9):
        x = _dict_x(batch, batch)
        outs = session.run(None, x)
        for out, ref in zip(outs, model.predict(x, verbose=0)):
            np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_example_inputs_take_numpy_in_the_modules_dtype(tmp_path):
    torch.manual_seed(0)
    model = torchfit.Model(nn.Linear(4, 2).double(), device="cpu")
    model.export(tmp_path / "double.pt2", example_inputs=np.ones((3, 4)))  # float64 NumPy
    program = torch.export.load(tmp_path / "double.pt2").module()
    x = torch.randn(6, 4, dtype=torch.float64)
    np.testing.assert_allclose(program(x).detach().numpy(), model.predict(x.numpy(), verbose=0),
                               rtol=1e-12)


def test_without_any_sample_export_asks_for_example_inputs(tmp_path):
    model = torchfit.Model(nn.Linear(4, 2), device="cpu")
    with pytest.raises(ValueError, match=r"`export` needs a sample input.*the model has seen no "
                                         r"data yet\. Pass `example_inputs=`"):
        model.export(tmp_path / "m.pt2")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("path, fmt, message", [
    ("m.pt2", "tflite", r"format='torch' .* or format='onnx'\. Received: format='tflite'"),
    ("m.onnx", "torch", r"writes a \.pt2 file.*suffix '\.onnx'.*pass format='onnx'"),
    ("m.pt", "onnx", r"writes a \.onnx file.*suffix '\.pt'.*'model\.onnx'"),
])
def test_format_and_suffix_must_agree(tmp_path, path, fmt, message):
    model = torchfit.Model(nn.Linear(4, 2), device="cpu")
    with pytest.raises(ValueError, match=message):
        model.export(tmp_path / path, format=fmt, example_inputs=np.ones((2, 4), "float32"))


class Branchy(nn.Module):
    """Data-dependent control flow: no single graph computes it."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x):
        if x.sum() > 0:
            return self.linear(x)
        return -self.linear(x)


@pytest.mark.parametrize("fmt, suffix", [("torch", ".pt2"), ("onnx", ".onnx")])
def test_data_dependent_control_flow_is_a_clear_value_error(tmp_path, fmt, suffix):
    model = torchfit.Model(Branchy(), device="cpu")
    with pytest.raises(ValueError, match=r"Could not export Branchy with torch\.export: "
                                         r"GuardOnDataDependentSymNode: Could not guard on "
                                         r"data-dependent expression") as info:
        model.export(tmp_path / f"m{suffix}", format=fmt, example_inputs=_x(2))
    message = str(info.value)
    assert f'test_export.py", line {Branchy.forward.__code__.co_firstlineno + 1}, in forward: ' \
           "if x.sum() > 0:" in message  # the line of forward at fault
    assert "torch.where" in message and "torch.cond" in message
    assert os.listdir(tmp_path) == []


class FixedBatch(nn.Module):
    def forward(self, x):
        return x.reshape(2, -1) * 2  # only batches of two


def test_a_fixed_batch_size_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"Constraints violated \(batch\)!.*specialized it to be "
                                         r"a constant \(2\)\).*x\.view\(x\.shape\[0\], -1\)"):
        torchfit.Model(FixedBatch(), device="cpu").export(tmp_path / "m.pt2",
                                                           example_inputs=_x(2))


@torch.library.custom_op("torchfit_tests::triple", mutates_args=())
def triple(x: torch.Tensor) -> torch.Tensor:
    return x * 3


@triple.register_fake
def _(x):
    return torch.empty_like(x)


class CustomOp(nn.Module):
    def forward(self, x):
        return triple(x) + 1


def test_an_operator_onnx_cannot_translate_is_named(tmp_path):
    pytest.importorskip("onnxscript")
    model = torchfit.Model(CustomOp(), device="cpu")
    model.export(tmp_path / "m.pt2", example_inputs=_x(2))  # torch.export runs any operator
    program = torch.export.load(tmp_path / "m.pt2").module()
    assert torch.equal(program(torch.ones(3, 4)), torch.full((3, 4), 4.0))
    with pytest.raises(ValueError, match=r"Could not export CustomOp with ONNX: .*The operator "
                                         r"at fault: torchfit_tests\.triple\.default\..*export "
                                         r"with format='torch'"):
        model.export(tmp_path / "m.onnx", format="onnx", example_inputs=_x(2))
    assert os.listdir(tmp_path) == ["m.pt2"]


def test_a_failed_write_leaves_the_previous_file(tmp_path, monkeypatch):
    model = torchfit.Model(nn.Linear(4, 2), device="cpu")
    path = tmp_path / "m.pt2"
    model.export(path, example_inputs=_x(2))
    old = path.read_bytes()

    def crash(program, f, **kwargs):
        f.write(b"half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(torch.export, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        model.export(path, example_inputs=_x(2))
    assert os.listdir(tmp_path) == ["m.pt2"] and path.read_bytes() == old


def test_import_torchfit_does_not_import_onnx():
    code = ("import sys, torch; import torchfit; print([m for m in sys.modules "
            "if m.split('.')[0] in ('onnx', 'onnxscript', 'onnxruntime')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
