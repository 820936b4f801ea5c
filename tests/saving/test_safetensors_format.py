"""Tests of torchfit/saving/safetensors_format.py: `.safetensors` weights (issue 14, item 1).

The references are the `safetensors` package itself (`load_file`, `safe_open`, `save_file`),
torch's own `load_state_dict`, and hashlib for the checksum.
"""

import hashlib
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from saving_helpers import _net, assert_tree_equal
from torchfit import saving
from torchfit.callbacks import ModelCheckpoint

safetensors_torch = pytest.importorskip("safetensors.torch")
from safetensors import safe_open  # noqa: E402  (after the importorskip)


def _state():
    """Every dtype a module holds, 0-d tensors, and keys that are not in sorted order."""
    torch.manual_seed(0)
    return {
        "z.weight": torch.randn(3, 2),
        "a.bias": torch.randn(2).double(),
        "m.half": torch.randn(4).half(),
        "b.bf16": torch.randn(2, 3).bfloat16(),
        "k.num_batches_tracked": torch.tensor(7),  # 0-d int64, as BatchNorm's
        "c.scale": torch.tensor(0.5),  # 0-d float32
        "i.ids": torch.arange(5, dtype=torch.int32),
        "u.pixels": torch.arange(6, dtype=torch.uint8).reshape(2, 3),
        "f.mask": torch.tensor([True, False]),
        "e.empty": torch.zeros(0, 3),
    }


def test_round_trip_keeps_dtypes_shapes_values_and_key_order(tmp_path):
    state = _state()
    path = tmp_path / "w.safetensors"
    saving.save_state_dict(state, path)
    loaded = saving.load_state_dict(path)
    assert_tree_equal(loaded, state)  # also compares the key order
    assert loaded["k.num_batches_tracked"].shape == () and loaded["b.bf16"].dtype == torch.bfloat16


def test_the_safetensors_package_loads_the_file_into_a_plain_module(tmp_path, net):
    model = torchfit.Model(net, device="cpu")
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    state = safetensors_torch.load_file(path)
    assert sorted(state) == sorted(net.state_dict())  # the bare module's keys
    fresh = _net().eval()
    fresh.load_state_dict(state)  # strict: every key, no prefix
    x = torch.randn(5, 4)
    assert torch.equal(fresh(x), net(x))


def test_header_holds_torchfit_metadata_and_a_checksum_of_the_file(tmp_path):
    path = tmp_path / "w.safetensors"
    state = _state()
    saving.save_state_dict(state, path)
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    assert metadata["format"] == "pt"  # what Hugging Face's loaders expect of a torch file
    assert metadata["torchfit_format"] == saving.WEIGHTS_FORMAT == "torchfit.weights.v1"
    assert metadata["torchfit_version"] == torchfit.__version__
    assert json.loads(metadata["torchfit_keys"]) == list(state)
    # The digest is the sha256 of the whole file with its own 64 hex digits read as zeros.
    data = path.read_bytes()
    digest = metadata["torchfit_sha256"]
    assert data.count(digest.encode()) == 1
    zeroed = data.replace(digest.encode(), b"0" * 64)
    assert hashlib.sha256(zeroed).hexdigest() == digest


def test_a_file_from_another_tool_loads_in_its_own_key_order(tmp_path, net):
    path = tmp_path / "plain.safetensors"
    safetensors_torch.save_file(net.state_dict(), path)  # no torchfit metadata, no checksum
    loaded = saving.load_state_dict(path)
    with safe_open(str(path), framework="pt") as f:
        assert list(loaded) == list(f.keys())
    model = torchfit.Model(_net(), device="cpu")
    model.load_weights(path)
    for key, value in net.state_dict().items():
        assert torch.equal(model.module.state_dict()[key], value), key


class Tied(nn.Module):
    """A language-model head that shares its weight with the embedding (tied weights)."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(6, 4)
        self.head = nn.Linear(4, 6, bias=False)
        self.head.weight = self.embedding.weight

    def forward(self, ids):
        return self.head(self.embedding(ids))


def test_tied_weights_save_once_per_key_and_load_back_tied(tmp_path):
    torch.manual_seed(1)
    model = torchfit.Model(Tied(), device="cpu")
    path = tmp_path / "tied.safetensors"
    model.save_weights(path)  # safetensors.torch.save_file alone refuses shared memory
    with pytest.raises(RuntimeError, match="share memory"):
        safetensors_torch.save_file(model.module.state_dict(), tmp_path / "refused.safetensors")
    state = safetensors_torch.load_file(path)
    assert sorted(state) == ["embedding.weight", "head.weight"]
    assert torch.equal(state["head.weight"], model.module.embedding.weight)

    restored = torchfit.Model(Tied(), device="cpu")
    restored.load_weights(path)
    assert restored.module.head.weight is restored.module.embedding.weight  # still tied
    assert torch.equal(restored.module.embedding.weight, model.module.embedding.weight)
    plain = Tied()
    plain.load_state_dict(state)
    assert torch.equal(plain.head.weight, model.module.head.weight)


def test_views_and_non_contiguous_tensors_are_written_as_their_values(tmp_path):
    base = torch.arange(12.0).reshape(3, 4)
    state = {"full": base, "rows": base[1:], "transposed": base.t(), "column": base[:, 1]}
    saving.save_state_dict(state, tmp_path / "v.safetensors")
    loaded = safetensors_torch.load_file(tmp_path / "v.safetensors")
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


def _fit(seed, epochs=1, callbacks=None):
    torch.manual_seed(seed)
    model = torchfit.Model(_net(), device="cpu")
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(seed).normal(size=(16, 4)).astype("float32")
    model.fit(x, x[:, :3], batch_size=8, epochs=epochs, verbose=0, callbacks=callbacks)
    return model


def test_model_checkpoint_writes_a_safetensors_file_per_epoch(tmp_path):
    checkpoint = ModelCheckpoint(str(tmp_path / "ck-{epoch}.safetensors"), save_weights_only=True)
    model = _fit(0, epochs=3, callbacks=[checkpoint])
    assert sorted(os.listdir(tmp_path)) == [f"ck-{epoch}.safetensors" for epoch in (1, 2, 3)]
    last = safetensors_torch.load_file(tmp_path / "ck-3.safetensors")
    for key, value in model.module.state_dict().items():
        assert torch.equal(last[key], value), key
    first = safetensors_torch.load_file(tmp_path / "ck-1.safetensors")
    assert not torch.equal(first["0.weight"], last["0.weight"])  # one file per epoch


def test_full_checkpoints_are_refused_with_the_suffixes_that_hold_them(tmp_path):
    with pytest.raises(ValueError, match=r"names a \.safetensors file, which holds weights only.*"
                                         r"save_weights_only=True, or use one of: \.pt, \.pth, "
                                         r"\.h5, \.hdf5"):
        ModelCheckpoint("ck-{epoch}.safetensors")
    model = torchfit.Model(_net(), device="cpu")
    with pytest.raises(ValueError, match=r"\.safetensors files hold weights only.*Expected one "
                                         r"of: \.pt, \.pth, \.h5, \.hdf5 for a checkpoint"):
        model.save(tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="hold weights only"):
        saving.load_checkpoint(tmp_path / "model.safetensors")
    assert os.listdir(tmp_path) == []


def _snapshot(model):
    return {k: v.clone() for k, v in model.module.state_dict().items()}


def _assert_unchanged(model, before):
    after = model.module.state_dict()
    assert list(after) == list(before)
    for key, value in before.items():
        assert after[key].dtype == value.dtype and torch.equal(after[key], value), key


def test_a_mismatching_file_changes_nothing_and_lists_every_problem(tmp_path):
    state = dict(_fit(1).module.state_dict())
    state["3.weight"] = torch.zeros(3, 9)  # shape
    state["0.weight"] = state["0.weight"].double()  # dtype
    del state["3.bias"]  # missing
    state["4.weight"] = torch.zeros(3)  # unexpected
    path = tmp_path / "bad.safetensors"
    saving.save_state_dict(state, path)
    model = _fit(0)
    before = _snapshot(model)
    with pytest.raises(ValueError, match="does not match the model; nothing was loaded") as info:
        model.load_weights(path)
    message = str(info.value)
    assert "Missing from the file (1): '3.bias' float32 (3,)" in message
    assert "Unexpected in the file (1): '4.weight' float32 (3,)" in message
    assert "'3.weight' has float32 (3, 9) in the file, float32 (3, 8) in the model" in message
    assert "'0.weight' has float64 (8, 4) in the file, float32 (8, 4) in the model" in message
    _assert_unchanged(model, before)


def test_strict_false_skips_missing_and_unexpected_keys(tmp_path):
    source = _fit(1)
    state = dict(source.module.state_dict())
    del state["3.bias"]
    state["extra"] = torch.ones(2)
    saving.save_state_dict(state, tmp_path / "partial.safetensors")
    model = _fit(0)
    model.load_weights(tmp_path / "partial.safetensors", strict=False)
    assert torch.equal(model.module[3].weight, source.module[3].weight)
    assert not torch.equal(model.module[3].bias, source.module[3].bias)


def _damage(path, kind):
    data = bytearray(path.read_bytes())
    if kind == "truncated":
        data = data[:-5]
    elif kind == "header cut":
        data = data[:20]
    elif kind == "empty":
        data = b""
    elif kind == "garbage":
        data = b"not a safetensors file at all" * 3
    else:  # one flipped bit in the last tensor's bytes
        data[-1] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind, problem", [
    ("truncated", "the file is truncated or corrupt \\(not a complete safetensors file\\)"),
    ("header cut", "the file is truncated or corrupt"),
    ("empty", "the file is empty \\(0 bytes\\)"),
    ("garbage", "the file is truncated or corrupt"),
    ("flipped", "the file is damaged: its contents do not match the sha256 checksum"),
])
def test_a_damaged_file_raises_a_clear_value_error(tmp_path, kind, problem):
    model = _fit(0)
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    _damage(path, kind)
    before = _snapshot(model)
    with pytest.raises(ValueError, match=f"Could not read weights from '.*w.safetensors': "
                                         f"{problem}"):
        model.load_weights(path)
    _assert_unchanged(model, before)


class _Evil:
    """Unpickling it would create a file: proof that a loader ran the pickle."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_named_safetensors_is_refused_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"w": _Evil(str(marker))}))
    with pytest.raises(ValueError, match="not a complete safetensors file"):
        saving.load_state_dict(path)
    assert not marker.exists()


def test_saves_are_atomic_and_leave_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    saving.save_state_dict({"w": torch.ones(3)}, path)
    saving.save_state_dict({"w": torch.full((3,), 2.0)}, path)  # over an existing file
    assert os.listdir(tmp_path) == ["w.safetensors"]
    old = path.read_bytes()

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors_torch, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        saving.save_state_dict({"w": torch.zeros(3)}, path)
    assert os.listdir(tmp_path) == ["w.safetensors"] and path.read_bytes() == old
    assert torch.equal(saving.load_state_dict(path)["w"], torch.full((3,), 2.0))


def test_the_file_gets_the_permissions_of_a_plain_open(tmp_path):
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"")
    saving.save_state_dict({"w": torch.ones(1)}, tmp_path / "w.safetensors")
    assert os.stat(tmp_path / "w.safetensors").st_mode == os.stat(plain).st_mode


def test_values_safetensors_cannot_hold_are_refused_before_writing(tmp_path):
    path = tmp_path / "w.safetensors"
    with pytest.raises(TypeError, match=r"state_dict\['_extra_state'\].*it is a dict.*Save to a "
                                        r"\.pt path instead"):
        saving.save_state_dict({"w": torch.ones(1), "_extra_state": {"a": 1}}, path)
    with pytest.raises(TypeError, match="key '__metadata__' cannot name a tensor"):
        saving.save_state_dict({"__metadata__": torch.ones(1)}, path)
    with pytest.raises(TypeError, match="meta tensor"):
        saving.save_state_dict({"w": torch.empty(2, device="meta")}, path)
    assert os.listdir(tmp_path) == []
    saving.save_state_dict({"w": torch.ones(1)}, path)
    with pytest.raises(TypeError, match="map_location` must be a device"):
        saving.load_state_dict(path, map_location={"cuda:0": "cpu"})


def test_only_rank_zero_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(saving, "_is_main_process", lambda: False)
    saving.save_state_dict({"w": torch.ones(1)}, tmp_path / "w.safetensors")
    assert os.listdir(tmp_path) == []


def test_import_torchfit_does_not_import_safetensors():
    code = ("import sys, torch; import torchfit; "
            "print([m for m in sys.modules if m.split('.')[0] == 'safetensors'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
