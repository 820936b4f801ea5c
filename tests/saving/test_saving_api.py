"""Tests of torchfit/saving/__init__.py: the public functions, suffix dispatch, argument checks."""

import pytest
import torch

import torchfit
from saving_helpers import _net, assert_tree_equal
from torchfit import saving


# ---------------------------------------------------------------------------------------------
# Weights round trips


SUFFIXES = [".pt", ".pth", ".h5", ".hdf5"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_state_dict_round_trip_is_exact(tmp_path, net, suffix):
    path = tmp_path / f"weights{suffix}"
    state = net.state_dict()
    assert state["1.num_batches_tracked"].dtype == torch.int64
    saving.save_state_dict(state, path)
    loaded = saving.load_state_dict(path)
    assert_tree_equal(dict(loaded), dict(state))

    fresh = _net().eval()
    fresh.load_state_dict(loaded)  # strict
    x = torch.randn(5, 4)
    assert torch.equal(fresh(x), net(x))


# ---------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("fn", [
    lambda path: saving.save_state_dict({}, path),
    lambda path: saving.load_state_dict(path),
    lambda path: saving.save_checkpoint(path, {}),
    lambda path: saving.load_checkpoint(path),
])
def test_unsupported_suffix(tmp_path, fn):
    with pytest.raises(ValueError, match=r"Received suffix: '\.keras'. Expected one of: "
                                         r"\.pt, \.pth, \.h5, \.hdf5"):
        fn(tmp_path / "model.keras")


@pytest.mark.parametrize("suffix", [".pt", ".h5"])
def test_missing_file(tmp_path, suffix):
    path = tmp_path / f"nothing{suffix}"
    with pytest.raises(FileNotFoundError, match="nothing"):
        saving.load_state_dict(path)
    with pytest.raises(FileNotFoundError, match="nothing"):
        saving.load_checkpoint(path)


def test_save_refuses_a_module(tmp_path, net):
    with pytest.raises(TypeError, match=r"Pass `module.state_dict\(\)`"):
        saving.save_state_dict(net, tmp_path / "w.pt")


# ---------------------------------------------------------------------------------------------
# Checkpoints


def _trained(seed=0):
    torch.manual_seed(seed)
    module = _net()
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2, betas=(0.8, 0.99))
    for _ in range(2):
        optimizer.zero_grad()
        module(torch.randn(8, 4)).pow(2).mean().backward()
        optimizer.step()
    return module, optimizer


def _training_state():
    return {
        "epoch": 3,
        "step": 10,
        "best": float("inf"),
        "nan": float("nan"),
        "mode": "min",
        "history": {"loss": [0.5, 0.25]},
        "pair": (1, "two"),
        "by_int": {0: None, 1: True},
        "rng": torch.get_rng_state(),
        "dtype": torch.float32,
        "device": torch.device("cpu"),
    }


@pytest.mark.parametrize("suffix", [".pt", ".h5"])
def test_checkpoint_round_trip_resumes_exactly(tmp_path, suffix):
    module, optimizer = _trained()
    path = tmp_path / f"ckpt{suffix}"
    saving.save_checkpoint(path, module.state_dict(), optimizer.state_dict(), _training_state())

    ckpt = saving.load_checkpoint(path)
    assert list(ckpt) == list(saving.CHECKPOINT_KEYS)
    assert ckpt["format"] == saving.CHECKPOINT_FORMAT
    assert ckpt["version"] == torchfit.__version__
    assert_tree_equal(dict(ckpt["model"]), dict(module.state_dict()))
    assert_tree_equal(ckpt["optimizer"], optimizer.state_dict())
    assert_tree_equal(ckpt["training"], _training_state())

    restored, restored_optimizer = _trained(seed=1)
    restored.load_state_dict(ckpt["model"])
    restored_optimizer.load_state_dict(ckpt["optimizer"])
    for m, opt in ((module, optimizer), (restored, restored_optimizer)):
        torch.manual_seed(5)
        opt.zero_grad()
        m(torch.randn(8, 4)).pow(2).mean().backward()
        opt.step()
    assert_tree_equal(dict(restored.state_dict()), dict(module.state_dict()))


@pytest.mark.parametrize("suffix", [".pt", ".h5"])
def test_checkpoint_without_optimizer_or_training(tmp_path, net, suffix):
    path = tmp_path / f"ckpt{suffix}"
    saving.save_checkpoint(path, net.state_dict())
    ckpt = saving.load_checkpoint(path)
    assert ckpt["optimizer"] is None and ckpt["training"] is None


@pytest.mark.parametrize("suffix", [".pt", ".h5"])
def test_load_state_dict_reads_weights_out_of_a_checkpoint(tmp_path, net, suffix):
    path = tmp_path / f"ckpt{suffix}"
    saving.save_checkpoint(path, net.state_dict(), {"state": {}, "param_groups": []}, {"epoch": 1})
    assert_tree_equal(dict(saving.load_state_dict(path)), dict(net.state_dict()))


def test_checkpoint_from_before_the_version_was_recorded(tmp_path, net):
    import h5py

    pt = tmp_path / "old.pt"
    torch.save({"format": saving.CHECKPOINT_FORMAT, "model": net.state_dict(), "optimizer": None,
                "training": {"epoch": 1}}, pt)
    h5 = tmp_path / "old.h5"
    saving.save_checkpoint(h5, net.state_dict(), training_state={"epoch": 1})
    with h5py.File(h5, "r+") as f:
        assert f.attrs["torchfit_version"] == torchfit.__version__
        del f.attrs["torchfit_version"]
    for path in (pt, h5):
        ckpt = saving.load_checkpoint(path)
        assert ckpt["version"] is None and ckpt["training"] == {"epoch": 1}
        assert_tree_equal(dict(ckpt["model"]), dict(net.state_dict()))

