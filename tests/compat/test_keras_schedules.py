"""Every schedule against Keras 3's ``keras.optimizers.schedules`` at every step 0..2000.

Keras computes in float32 (its default float dtype); torchfit in float64 Python floats. The
tolerance is float32 rounding: rtol=1e-5, atol=1e-6 (the values are <= 1, the cosines are
accumulated over a few float32 operations).
"""

import json

import numpy as np
import pytest

import torchfit
from torchfit import schedules

STEPS = range(0, 2001)

# Keras's torch backend converts through np.array(x, copy=False) (a NumPy 2 DeprecationWarning).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

CASES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.96)),
    ("ExponentialDecay",
     dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.96, staircase=True)),
    ("ExponentialDecay",
     dict(initial_learning_rate=1.0, decay_steps=100, decay_rate=0.5, staircase=True)),
    ("PiecewiseConstantDecay", dict(boundaries=[10, 100, 1000], values=[1.0, 0.5, 0.1, 0.01])),
    ("PiecewiseConstantDecay", dict(boundaries=[0, 1999], values=[0.3, 0.2, 0.1])),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=300,
                             end_learning_rate=0.001, power=0.5)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=300,
                             end_learning_rate=0.001, power=2.0, cycle=True)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=7, cycle=True)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5)),
    ("InverseTimeDecay",
     dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5, staircase=True)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=1000)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=1000, alpha=0.1)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=1000, alpha=0.05,
                         warmup_target=0.2, warmup_steps=300)),
    ("CosineDecay",
     dict(initial_learning_rate=0.01, decay_steps=7, warmup_target=0.2, warmup_steps=13)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=10)),
    ("CosineDecayRestarts",
     dict(initial_learning_rate=0.1, first_decay_steps=10, t_mul=1.0, m_mul=0.9)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=7, t_mul=1.5,
                                 m_mul=0.8, alpha=0.1)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=1, t_mul=3.0)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=1, t_mul=10.0)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=13, t_mul=3.0,
                                 m_mul=0.5, alpha=0.01)),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]


def _keras_values(keras, schedule):
    """Keras's value at every step: all at once where its ops are elementwise, else one by one
    (CosineDecay's warmup branches with ``ops.cond``, which takes a scalar; PiecewiseConstantDecay
    adds in place into a scalar)."""
    steps = np.asarray(STEPS, dtype=np.int64)
    warmup = getattr(schedule, "warmup_target", None) is not None
    scalar_only = warmup or hasattr(schedule, "values")
    if not scalar_only:
        values = keras.ops.convert_to_numpy(schedule(keras.ops.convert_to_tensor(steps)))
        return np.broadcast_to(values, steps.shape).astype(np.float64)
    return np.array([keras.ops.convert_to_numpy(schedule(int(s))) for s in steps], np.float64)


@pytest.mark.parametrize("name, kwargs", CASES, ids=IDS)
def test_every_step_matches_keras(keras, name, kwargs):
    expected = _keras_values(keras, getattr(keras.optimizers.schedules, name)(**kwargs))
    schedule = getattr(schedules, name)(**kwargs)
    got = np.array([schedule(step) for step in STEPS])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, kwargs", CASES, ids=IDS)
def test_get_config_has_keras_keys_and_values(keras, name, kwargs):
    keras_config = getattr(keras.optimizers.schedules, name)(**kwargs).get_config()
    config = getattr(schedules, name)(**kwargs).get_config()
    assert config == keras_config  # default names included ("SGDRDecay", "PiecewiseConstant")
    named = getattr(schedules, name)(**kwargs, name="my_schedule").get_config()
    assert named == getattr(keras.optimizers.schedules, name)(
        **kwargs, name="my_schedule"
    ).get_config()


@pytest.mark.parametrize("name, kwargs", CASES, ids=IDS)
def test_deserialize_reads_what_keras_serialize_writes(keras, name, kwargs):
    keras_schedule = getattr(keras.optimizers.schedules, name)(**kwargs, name="from_keras")
    # Through JSON, as a Keras config travels in a file.
    written = json.loads(json.dumps(keras.optimizers.schedules.serialize(keras_schedule)))
    schedule = schedules.deserialize(written)
    assert type(schedule) is getattr(schedules, name)
    assert schedule.get_config() == keras_schedule.get_config()
    steps = [0, 1, 7, 50, 333, 1500]
    np.testing.assert_allclose(
        [schedule(s) for s in steps],
        [float(keras.ops.convert_to_numpy(keras_schedule(s))) for s in steps],
        rtol=1e-5, atol=1e-6,
    )


@pytest.mark.parametrize("name, kwargs", CASES, ids=IDS)
def test_keras_deserialize_reads_what_torchfit_serialize_writes(keras, name, kwargs):
    written = json.loads(json.dumps(schedules.serialize(getattr(schedules, name)(**kwargs))))
    keras_dict = written | {"module": "keras.optimizers.schedules"}
    assert keras.optimizers.schedules.serialize(
        keras.optimizers.schedules.deserialize(keras_dict)
    ) == keras_dict
    assert set(written) == {"module", "class_name", "config", "registered_name"}
    assert written["module"] == "torchfit.optimizers.schedules"


def test_optimizers_schedules_is_the_same_module():
    assert torchfit.optimizers.schedules is schedules
    assert torchfit.optimizers.schedules.serialize is schedules.serialize
    assert torchfit.optimizers.schedules.deserialize is schedules.deserialize
