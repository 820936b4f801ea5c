"""Differential tests: ``optimizer.variables`` of torchfit's optimizers against Keras 3's
(``keras.optimizers``, torch backend) after the same two steps on the same float32 variables
(a 2x3 kernel and a bias) and gradients: the same tensors, in Keras's order, to float32 rounding
(rtol=1e-5, atol=1e-6; the update kernels round differently in the last bit).

Where Keras orders the slots by slot name rather than per variable (RMSprop's momentum and
average gradient, Adam's amsgrad ``velocity_hat``), ``KERAS_ORDER`` gives the permutation of
Keras's list that torchfit's per-variable order is; Nadam's ``u_product`` scalar (Keras's last
variable) is a param-group float in torchfit, not in ``variables``.
"""

import numpy as np
import pytest
import torch

from torchfit import optimizers, schedules

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

_RNG = np.random.default_rng(3)
_INITIAL = [_RNG.normal(size=(2, 3)).astype(np.float32), _RNG.normal(size=3).astype(np.float32)]
_GRADS = [[_RNG.normal(size=w.shape).astype(np.float32) for w in _INITIAL] for _ in range(2)]

CASES = {
    "sgd": ("SGD", dict(learning_rate=0.1)),
    "sgd-momentum": ("SGD", dict(learning_rate=0.1, momentum=0.9)),
    "rmsprop": ("RMSprop", dict()),
    "rmsprop-centered": ("RMSprop", dict(momentum=0.5, centered=True)),
    "adam": ("Adam", dict()),
    "adam-amsgrad": ("Adam", dict(amsgrad=True)),
    "adamw": ("AdamW", dict()),
    "adagrad": ("Adagrad", dict()),
    "adadelta": ("Adadelta", dict()),
    "adamax": ("Adamax", dict()),
    "nadam": ("Nadam", dict()),
    "ftrl": ("Ftrl", dict()),
    "lion": ("Lion", dict()),
    "lamb": ("Lamb", dict()),
    "muon": ("Muon", dict()),
}
# Keras's index of each of torchfit's variables, where the two orders differ.
KERAS_ORDER = {
    "rmsprop-centered": [0, 1, 2, 4, 6, 3, 5, 7],  # Keras: velocities, momentums, averages
    "adam-amsgrad": [0, 1, 2, 3, 6, 4, 5, 7],  # Keras: (m, v) per variable, then the v_hats
    "nadam": [0, 1, 2, 3, 4, 5],  # Keras's 7th, u_product, is a param-group float here
}


def _keras_variables(keras, name, kwargs):
    optimizer = getattr(keras.optimizers, name)(**kwargs)
    variables = [keras.Variable(w.copy()) for w in _INITIAL]
    for grads in _GRADS:
        optimizer.apply_gradients(zip([torch.from_numpy(g) for g in grads], variables))
    return [keras.ops.convert_to_numpy(v) for v in optimizer.variables]


def _torchfit_variables(name, kwargs):
    optimizer = getattr(optimizers, name)(**kwargs)
    weights = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in _INITIAL]
    for grads in _GRADS:
        optimizer.apply_gradients(zip([torch.from_numpy(g) for g in grads], weights))
    return [v.numpy() for v in optimizer.variables]


@pytest.mark.parametrize("case", list(CASES))
def test_variables_match_keras(keras, case):
    name, kwargs = CASES[case]
    expected = _keras_variables(keras, name, kwargs)
    got = _torchfit_variables(name, kwargs)
    expected = [expected[i] for i in KERAS_ORDER.get(case, range(len(expected)))]
    assert [g.shape for g in got] == [e.shape for e in expected]
    assert got[0] == expected[0] == 2  # iterations
    for index, (g, e) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6, err_msg=f"variable {index}")


def test_a_schedule_is_not_a_variable(keras):
    ours = optimizers.Adam(schedules.ExponentialDecay(0.1, 10, 0.9))
    theirs = keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9))
    assert len(ours.variables) == len(theirs.variables) == 1  # iterations only, until built


def test_loss_scale_optimizer_variables_match_keras(keras):
    theirs = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1, momentum=0.9))
    variables = [keras.Variable(w.copy()) for w in _INITIAL]
    theirs.apply_gradients(zip([torch.from_numpy(g) for g in _GRADS[0]], variables))
    expected = [keras.ops.convert_to_numpy(v) for v in theirs.variables]
    ours = optimizers.LossScaleOptimizer(optimizers.SGD(0.1, momentum=0.9))
    weights = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in _INITIAL]
    ours.apply_gradients(zip([torch.from_numpy(g) for g in _GRADS[0]], weights))
    got = [v.numpy() for v in ours.variables]
    # Keras's first two are the wrapper's own base-optimizer iteration and a 0.0 learning-rate
    # placeholder; torchfit has one count (the inner optimizer's) and one learning rate.
    expected = expected[2:]
    assert [g.shape for g in got] == [e.shape for e in expected] and len(got) == 6
    for index, (g, e) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6, err_msg=f"variable {index}")
