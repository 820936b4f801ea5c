"""Each schedule against the tf.keras formula written out independently here."""

import math

import numpy as np
import pytest

from torchfit import schedules

STEPS = [0, 1, 5, 9, 10, 11, 25, 100, 1000]


def test_exponential_decay_matches_formula():
    lr = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.96)
    stairs = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.96, staircase=True)
    for step in STEPS:
        assert lr(step) == pytest.approx(0.1 * 0.96 ** (step / 10), rel=1e-12)
        assert stairs(step) == pytest.approx(0.1 * 0.96 ** np.floor(step / 10), rel=1e-12)
    assert stairs(9) == 0.1 and stairs(10) == pytest.approx(0.096)


def test_piecewise_constant_boundaries_belong_to_the_left_interval():
    lr = schedules.PiecewiseConstantDecay(boundaries=[10, 20], values=[1.0, 0.5, 0.1])
    expected = {0: 1.0, 9: 1.0, 10: 1.0, 11: 0.5, 20: 0.5, 21: 0.1, 10_000: 0.1}
    assert {step: lr(step) for step in expected} == expected
    assert isinstance(schedules.PiecewiseConstantDecay([1], [3, 2])(0), float)


def test_piecewise_constant_validates_its_arguments():
    with pytest.raises(ValueError, match="one more entry than `boundaries`"):
        schedules.PiecewiseConstantDecay(boundaries=[10, 20], values=[1.0, 0.5])
    with pytest.raises(ValueError, match=r"strictly increasing\. Received: boundaries=\[20, 10\]"):
        schedules.PiecewiseConstantDecay(boundaries=[20, 10], values=[1.0, 0.5, 0.1])
    with pytest.raises(ValueError, match="strictly increasing"):
        schedules.PiecewiseConstantDecay(boundaries=[10, 10], values=[1.0, 0.5, 0.1])


def _polynomial(step, initial, decay_steps, end, power, cycle):
    if cycle:
        decay_steps = decay_steps * (1.0 if step == 0 else np.ceil(step / decay_steps))
    else:
        step = np.minimum(step, decay_steps)
    return (initial - end) * (1 - step / decay_steps) ** power + end


@pytest.mark.parametrize("cycle", [False, True])
@pytest.mark.parametrize("power", [1.0, 0.5, 2.0])
def test_polynomial_decay_matches_formula(power, cycle):
    lr = schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.01, power=power, cycle=cycle)
    for step in STEPS:
        expected = _polynomial(step, 0.1, 10, 0.01, power, cycle)
        assert lr(step) == pytest.approx(expected, rel=1e-12)


def test_polynomial_decay_cycle_restarts_after_each_multiple():
    lr = schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.0, cycle=True)
    assert lr(10) == 0.0  # the end of the first cycle
    assert lr(11) == pytest.approx(1 - 11 / 20)  # decay_steps stretched to 20
    assert schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.0)(11) == 0.0


def test_inverse_time_decay_matches_formula():
    lr = schedules.InverseTimeDecay(0.1, decay_steps=5, decay_rate=0.5)
    stairs = schedules.InverseTimeDecay(0.1, decay_steps=5, decay_rate=0.5, staircase=True)
    for step in STEPS:
        assert lr(step) == pytest.approx(0.1 / (1 + 0.5 * step / 5), rel=1e-12)
        assert stairs(step) == pytest.approx(0.1 / (1 + 0.5 * np.floor(step / 5)), rel=1e-12)


def test_cosine_decay_matches_formula():
    lr = schedules.CosineDecay(0.1, decay_steps=100, alpha=0.1)
    for step in STEPS:
        fraction = min(step, 100) / 100
        expected = 0.1 * (0.9 * 0.5 * (1 + np.cos(np.pi * fraction)) + 0.1)
        assert lr(step) == pytest.approx(expected, rel=1e-12)


def test_cosine_decay_warmup_then_decay_from_the_target():
    lr = schedules.CosineDecay(
        0.0, decay_steps=100, alpha=0.1, warmup_target=1.0, warmup_steps=10
    )
    for step in range(10):
        assert lr(step) == pytest.approx(step / 10, rel=1e-12, abs=1e-15)
    assert lr(10) == pytest.approx(1.0)
    assert lr(60) == pytest.approx(0.9 * 0.5 + 0.1)  # halfway through the decay
    assert lr(110) == pytest.approx(0.1) and lr(500) == pytest.approx(0.1)
    nonzero_start = schedules.CosineDecay(0.2, 100, warmup_target=1.0, warmup_steps=4)
    assert nonzero_start(2) == pytest.approx(0.2 + 0.8 * 2 / 4)


def _sgdr(step, initial, first_decay_steps, t_mul, m_mul, alpha):
    """Walk the periods one by one (independent of the closed form used by Keras)."""
    start, length, restart = 0, first_decay_steps, 0
    while step >= start + length:
        start, length, restart = start + length, length * t_mul, restart + 1
    fraction = (step - start) / length
    cosine = 0.5 * m_mul**restart * (1 + math.cos(math.pi * fraction))
    return initial * ((1 - alpha) * cosine + alpha)


@pytest.mark.parametrize(
    "t_mul, m_mul, alpha", [(2.0, 1.0, 0.0), (2.0, 0.5, 0.1), (1.0, 0.8, 0.0), (3.0, 1.0, 0.05)]
)
def test_cosine_decay_restarts_across_restarts(t_mul, m_mul, alpha):
    lr = schedules.CosineDecayRestarts(0.1, 10, t_mul=t_mul, m_mul=m_mul, alpha=alpha)
    for step in range(400):
        expected = _sgdr(step, 0.1, 10, t_mul, m_mul, alpha)
        assert lr(step) == pytest.approx(expected, rel=1e-9, abs=1e-15), step


def test_cosine_decay_restarts_restarts_at_the_period_ends():
    lr = schedules.CosineDecayRestarts(1.0, 10, t_mul=2.0, m_mul=0.5)
    assert [lr(0), lr(10), lr(30), lr(70)] == pytest.approx([1.0, 0.5, 0.25, 0.125])
    # Keras's closed form floor(log(...) / log(t_mul)) rounds down at these exact restarts
    # (1 + 3 + 9 + 27 + 81 = 121; 1 + 10 + 100 = 111) and would return the trough, not the peak.
    assert schedules.CosineDecayRestarts(1.0, 1, t_mul=3.0)(121) == 1.0
    assert schedules.CosineDecayRestarts(1.0, 1, t_mul=10.0)(111) == 1.0


ALL = [
    schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True),
    schedules.PiecewiseConstantDecay([10], [0.1, 0.01]),
    schedules.PolynomialDecay(0.1, 10, cycle=True),
    schedules.InverseTimeDecay(0.1, 10, 0.5),
    schedules.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=3),
    schedules.CosineDecayRestarts(0.1, 10, t_mul=1.5),
]


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_config_round_trip_and_repr(schedule):
    clone = type(schedule).from_config(schedule.get_config())
    assert [clone(step) for step in STEPS] == [schedule(step) for step in STEPS]
    assert isinstance(schedule, schedules.LearningRateSchedule)
    assert repr(schedule).startswith(type(schedule).__name__ + "(")
    assert all(isinstance(schedule(step), float) for step in STEPS)


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), "decay_steps"),
        (lambda: schedules.PolynomialDecay(0.1, -1), "decay_steps"),
        (lambda: schedules.InverseTimeDecay(0.1, 0, 0.5), "decay_steps"),
        (lambda: schedules.CosineDecay(0.1, 0), "decay_steps"),
        (lambda: schedules.CosineDecayRestarts(0.1, 0), "first_decay_steps"),
    ],
)
def test_non_positive_decay_steps_are_rejected(make, argument):
    message = f"Argument `{argument}` must be > 0. Received: {argument}="
    with pytest.raises(ValueError, match=message):
        make()


def test_base_class_requires_call_and_config():
    class NoCall(schedules.LearningRateSchedule):
        pass

    with pytest.raises(NotImplementedError, match=r"NoCall must implement __call__"):
        NoCall()(0)
    assert "NoCall object" in repr(NoCall())


def _keras_linear_warmup(step, warmup_steps, initial_lr, target_lr):
    """Verbatim from tf-keras's ``CosineDecayTestV2.linear_warmup``."""
    completed_fraction = step / warmup_steps
    total_delta = target_lr - initial_lr
    return completed_fraction * total_delta


def test_cosine_decay_warmup_only_with_zero_decay_steps():
    # tf-keras CosineDecayTestV2.testWarmup: decay_steps=0, a warmup only.
    warmup_steps, initial_lr, target_lr = 1500, 0.0, 10.0
    lr = schedules.CosineDecay(initial_lr, 0, warmup_target=target_lr, warmup_steps=warmup_steps)
    for step in range(0, 1500, 250):
        expected = _keras_linear_warmup(step, warmup_steps, initial_lr, target_lr)
        assert lr(step) == pytest.approx(expected, rel=1e-6, abs=1e-6)
    # After the warmup there is nothing to decay: the rate holds at the target (tf-keras: NaN).
    assert lr(1500) == target_lr and lr(10_000) == target_lr


def test_cosine_decay_zero_decay_steps_needs_a_warmup():
    with pytest.raises(ValueError, match=r"Argument `decay_steps` must be > 0. Received: decay_steps=0"):
        schedules.CosineDecay(0.1, 0, warmup_target=1.0, warmup_steps=0)
    with pytest.raises(ValueError, match=r"Argument `decay_steps` must be > 0"):
        schedules.CosineDecay(0.1, -1, warmup_target=1.0, warmup_steps=10)


# The default names of Keras 3's keras/src/optimizers/schedules/learning_rate_schedule.py.
KERAS_DEFAULT_NAMES = {
    "ExponentialDecay": "ExponentialDecay",
    "PiecewiseConstantDecay": "PiecewiseConstant",
    "PolynomialDecay": "PolynomialDecay",
    "InverseTimeDecay": "InverseTimeDecay",
    "CosineDecay": "CosineDecay",
    "CosineDecayRestarts": "SGDRDecay",
}


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_serialize_round_trip_in_keras_format(schedule):
    config = schedules.serialize(schedule)
    assert config == {
        "module": "torchfit.optimizers.schedules",
        "class_name": type(schedule).__name__,
        "config": schedule.get_config(),
        "registered_name": None,
    }
    assert config["config"]["name"] == KERAS_DEFAULT_NAMES[type(schedule).__name__]
    revived = schedules.deserialize(config)
    assert type(revived) is type(schedule) and revived.get_config() == schedule.get_config()
    assert [revived(step) for step in STEPS] == [schedule(step) for step in STEPS]


def test_deserialize_custom_objects_and_unknown_names():
    class Constant(schedules.LearningRateSchedule):
        def __init__(self, value):
            self.value = value

        def __call__(self, step):
            return self.value

        def get_config(self):
            return {"value": self.value}

    config = schedules.serialize(Constant(0.3))
    assert schedules.deserialize(config, custom_objects={"Constant": Constant})(7) == 0.3
    with pytest.raises(ValueError, match="Constant"):
        schedules.deserialize(config)
    with pytest.raises(ValueError, match="ExponentialDecay"):
        schedules.deserialize({"class_name": "ExponentialDekay", "config": {}})
