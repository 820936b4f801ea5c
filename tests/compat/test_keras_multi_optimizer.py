"""Differential test: torchfit's MultiOptimizer against ``keras.optimizers.MultiOptimizer``
(Keras 3 on its torch backend), through ``compile`` / ``fit`` on both sides.

A two-layer model (Dense(4, tanh) then Dense(1)); layer 1 trains with Adam, layer 2 with SGD
with momentum (the default optimizer), from the same float32 weights on the same 16 samples,
one full batch per epoch for 200 steps. Keras selects layer 1 by its variables' paths
(``"sequential/dense_1/kernel"``: key ``".*dense_1/.*"``), torchfit by the wrapped module's
parameter names (``"0.weight"``: key ``"0/.*"``). The weights agree to float32 rounding: the
same formulas, with kernels (matmul, tanh, the fused Adam update) rounding differently in the
last bit over 200 steps: ``rtol=1e-5, atol=1e-6``. The Keras-side iteration counts are checked
too: every inner optimizer steps once per step.
"""

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from torchfit import optimizers

# Keras's torch backend converts tensors to NumPy in fit, which NumPy 2 warns about.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

STEPS = 200
TOLERANCE = dict(rtol=1e-5, atol=1e-6)
_RNG = np.random.default_rng(0)
_X = _RNG.normal(size=(16, 3)).astype(np.float32)
_Y = _RNG.normal(size=(16, 1)).astype(np.float32)


def _torchfit_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))


def test_adam_layer_and_sgd_layer_match_keras_after_200_steps(keras):
    net = _torchfit_net()
    initial = [p.detach().numpy().copy() for p in net.parameters()]  # w1, b1, w2, b2

    model = torchfit.Model(net, device="cpu")
    model.compile(loss="mse", optimizer=optimizers.MultiOptimizer(optimizers.OptimizerMap(
        optimizers.SGD(learning_rate=0.05, momentum=0.9),
        {"0/.*": optimizers.Adam(learning_rate=0.01)})))
    model.fit(_X, _Y, batch_size=16, epochs=STEPS, shuffle=False, verbose=0)

    k_model = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(4, activation="tanh", name="dense_1"),
        keras.layers.Dense(1, name="dense_2"),
    ])
    k_model.set_weights([initial[0].T, initial[1], initial[2].T, initial[3]])
    k_opt = keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(
        keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        {".*dense_1/.*": keras.optimizers.Adam(learning_rate=0.01)}))
    k_model.compile(loss="mse", optimizer=k_opt)
    k_model.fit(_X, _Y, batch_size=16, epochs=STEPS, shuffle=False, verbose=0)

    ours = [p.detach().numpy() for p in net.parameters()]
    theirs = [keras.ops.convert_to_numpy(w) for w in k_model.weights]
    for mine, keras_value in zip(ours, [theirs[0].T, theirs[1], theirs[2].T, theirs[3]]):
        np.testing.assert_allclose(mine, keras_value, **TOLERANCE)
    assert not np.allclose(ours[0], initial[0])  # both layers moved
    assert not np.allclose(ours[2], initial[2])
    k_iterations = [int(keras.ops.convert_to_numpy(o.iterations)) for o in k_opt.optimizers]
    assert [o.iterations for o in model.optimizer.optimizers] == k_iterations == [STEPS, STEPS]
    assert model.optimizer.iterations == int(keras.ops.convert_to_numpy(k_opt.iterations))
