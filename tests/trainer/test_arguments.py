"""The argument checks of fit / evaluate / predict."""

import numpy as np
import pytest
import torch

from torchfit.trainer import arguments


def test_resolve_device():
    assert arguments.resolve_device("cpu") == torch.device("cpu")
    assert arguments.resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="Invalid device: 'gpu0'"):
        arguments.resolve_device("gpu0")


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "3"])
def test_check_positive_int_refuses(value):
    with pytest.raises(ValueError, match=rf"`steps` must be a positive integer\. Received: "
                                         rf"steps={value!r}"):
        arguments.check_positive_int("steps", value)


def test_check_positive_int_accepts_none_and_a_minimum():
    arguments.check_positive_int("steps", None)
    arguments.check_positive_int("epochs", 0, allow_none=False, minimum=0)
    with pytest.raises(ValueError, match="an integer >= 0"):
        arguments.check_positive_int("epochs", -1, allow_none=False, minimum=0)


def test_resolve_verbose():
    assert [arguments.resolve_verbose(v) for v in (0, 1, 2)] == [0, 1, 2]
    assert arguments.resolve_verbose("auto") == 2  # pytest captures stdout: not a terminal
    with pytest.raises(ValueError, match="`verbose` must be 0, 1, 2 or 'auto'"):
        arguments.resolve_verbose(3)


def fit_arguments(**changes):
    values = dict(batch_size=None, epochs=1, initial_epoch=0, steps_per_epoch=None,
                  validation_steps=None, validation_batch_size=None, validation_freq=1,
                  validation_split=0.0)
    values.update(changes)
    return values


@pytest.mark.parametrize("changes, message", [
    ({"validation_freq": 0}, "`validation_freq` must be a positive integer"),
    ({"validation_freq": [1, "2"]}, "collection of epoch numbers"),
    ({"validation_split": 1.0}, r"`validation_split` must be a float in \[0, 1\)"),
    ({"epochs": -1}, "`epochs` must be an integer >= 0"),
    ({"validation_batch_size": 0}, "`validation_batch_size` must be a positive integer"),
])
def test_check_fit_arguments(changes, message):
    arguments.check_fit_arguments(**fit_arguments())
    arguments.check_fit_arguments(**fit_arguments(validation_freq=[1, 3], validation_split=0.5))
    with pytest.raises(ValueError, match=message):
        arguments.check_fit_arguments(**fit_arguments(**changes))


def test_unpack_validation_data():
    x, y, sw = np.zeros((2, 1)), np.zeros(2), np.ones(2)
    assert arguments.unpack_validation_data((x, y)) == (x, y, None)
    assert arguments.unpack_validation_data([x, y, sw]) == (x, y, sw)
    dataset = torch.utils.data.TensorDataset(torch.zeros(2, 1), torch.zeros(2))
    assert arguments.unpack_validation_data(dataset) == (dataset, None, None)
    with pytest.raises(ValueError, match="Received: tuple of length 1"):
        arguments.unpack_validation_data((x,))


def test_check_compiled_names_the_method_and_is_both_runtime_and_value_error():
    class Uncompiled:
        compiled = False

    with pytest.raises(arguments.NotCompiledError,
                       match=r"You must call `compile\(\)` before `evaluate\(\)`"):
        arguments.check_compiled(Uncompiled(), "evaluate")
    assert issubclass(arguments.NotCompiledError, RuntimeError)
    assert issubclass(arguments.NotCompiledError, ValueError)


class _Compiled:
    def __init__(self, given):
        self.weighted_metrics_given = given


def test_evaluate_warns_when_sample_weights_reach_no_weighted_metric(recwarn):
    """tf.keras 2's warning, for explicit weights and for a TensorDataset of three tensors;
    ``weighted_metrics=[]`` (given) silences it; 2-tensor data does not warn, and other
    datasets are not read (an item read could change what they yield next)."""
    x, y, w = torch.ones(4, 1), torch.ones(4, 1), torch.ones(4)
    triples = torch.utils.data.TensorDataset(x, y, w)
    pairs = torch.utils.data.TensorDataset(x, y)
    arguments.warn_unweighted_metrics(x, w, _Compiled(True))
    arguments.warn_unweighted_metrics(pairs, None, _Compiled(False))
    arguments.warn_unweighted_metrics(torch.utils.data.DataLoader(pairs), None, _Compiled(False))

    class Unread(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, index):
            raise AssertionError("read")

    arguments.warn_unweighted_metrics(Unread(), None, _Compiled(False))
    assert len(recwarn) == 0
    for data, weights in ((x, w), (triples, None), (torch.utils.data.DataLoader(triples), None)):
        with pytest.warns(UserWarning, match="`evaluate\\(\\)` received a value for "
                                             "`sample_weight`, but `weighted_metrics`"):
            arguments.warn_unweighted_metrics(data, weights, _Compiled(False))
