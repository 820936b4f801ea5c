"""torchfit.optimizers.muon: Keras 3's muon_test.py, its expected numbers ported."""

import numpy as np
import pytest
import torch

import torchfit
from keras_port import clipped_gradient, single_step
from torchfit.optimizers import Muon
from torchfit.optimizers.muon import lr_adjust, zeropower_via_newtonschulz5


def test_config():
    optimizer = Muon(learning_rate=0.5, epsilon=1e-5)
    config = optimizer.get_config()
    assert Muon.from_config(config).get_config() == config
    assert config["epsilon"] == 1e-5 and config["weight_decay"] == 0.004


def test_newton_schulz():
    output = zeropower_via_newtonschulz5(
        torch.tensor([[0.2499, 0.9105], [0.2655, 0.8824]]), 5, 3.4445, -4.7750, 2.0315
    )
    np.testing.assert_allclose(output, [[-0.4422, 0.6457], [0.7285, 0.2968]], rtol=1e-3, atol=1e-3)


def test_adamw_single_step():
    # Keras calls update_step directly (no weight decay): adam_weight_decay=None here.
    got = single_step(Muon(learning_rate=0.5, adam_weight_decay=None), [1.0, 6.0, 7.0, 2.0],
                      [1.0, 2.0, 3.0, 4.0])  # fmt: skip
    np.testing.assert_allclose(got, [0.5, 1.5, 2.5, 3.5], rtol=1e-4, atol=1e-4)


def _uses_adamw(optimizer, named):
    optimizer.build(named)
    for name, param in named:
        param.grad = torch.ones_like(param)
    optimizer.step()
    return {name: "velocity" in optimizer.state[param] for name, param in named}


def test_should_use_adamw():
    def matrix():
        return torch.nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))

    embedding = torch.nn.Embedding(2, 2)
    dense = torch.nn.Linear(2, 2)
    excluded = _uses_adamw(
        Muon(exclude_layers=["var"]),
        [("variable", matrix()), ("embedding.weight", embedding.weight)],
    )
    assert excluded == {"variable": True, "embedding.weight": True}
    kept = _uses_adamw(Muon(), [("variable", matrix()), ("dense.weight", dense.weight)])
    assert kept == {"variable": False, "dense.weight": False}


def test_muon_single_step():
    got = single_step(Muon(learning_rate=0.5, weight_decay=0), [[1.0, 6.0], [7.0, 2.0]],
                      [[1.0, 2.0], [3.0, 4.0]])  # fmt: skip
    np.testing.assert_allclose(got, [[0.988775, 1.887053], [2.873428, 3.97035]], rtol=1e-2,
                               atol=1e-2)  # fmt: skip


def test_clip_norm():
    got = clipped_gradient(Muon(clipnorm=1))
    np.testing.assert_allclose(got, [2**0.5 / 2, 2**0.5 / 2], rtol=1e-6)


def test_clip_value():
    np.testing.assert_allclose(clipped_gradient(Muon(clipvalue=1)), [1.0, 1.0])


def test_muon_weight_decay():
    """Keras applies _apply_weight_decay alone; here a zero gradient with the update's
    own terms switched off (momentum 0 of a zero gradient orthogonalises to zero)."""
    var = torch.nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    expected = var.detach() - var.detach() * 0.01
    Muon(learning_rate=1.0, weight_decay=0.01).apply_gradients([(torch.zeros(2, 2), var)])
    np.testing.assert_allclose(var.detach(), expected, rtol=1e-4, atol=1e-4)


def test_adamw_weight_decay():
    var = torch.nn.Parameter(torch.tensor(2.0))
    Muon(learning_rate=1.0, adam_weight_decay=0.01).apply_gradients([(torch.zeros(()), var)])
    np.testing.assert_allclose(float(var.detach()), 2.0 - 2.0 * 0.01, rtol=1e-4, atol=1e-4)


def test_lr_adjust_none():
    x = torch.ones(4, 4)
    assert torch.equal(lr_adjust(x, None), x)


def test_lr_adjust_2d():
    np.testing.assert_allclose(lr_adjust(torch.ones(4, 2), 0.2), np.ones((4, 2)) * 0.2 * 2)


def test_model_fit():
    model = torchfit.Sequential(torch.nn.Linear(10, 5), torch.nn.Linear(5, 1))
    optimizer = Muon(learning_rate=1e-3, exclude_layers=["^1\\."])  # the last layer's names
    optimizer.build(model.module.named_parameters())  # compile passes no names
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(np.ones((1, 10), np.float32), np.ones((1, 1), np.float32), verbose=0)
    assert "velocity" in optimizer.state[model.module[1].weight]
    assert "velocity" not in optimizer.state[model.module[0].weight]


def test_exclude_layers_without_names_is_refused():
    with pytest.raises(ValueError, match=r"needs the parameters' names.*named_parameters\(\)"):
        single_step(Muon(exclude_layers=["last"]), [[1.0]], [[1.0]])
