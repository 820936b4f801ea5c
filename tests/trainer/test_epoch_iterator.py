"""EpochIterator on its own: steps per epoch, continuing across epochs, running out, skipping."""

import itertools

import numpy as np
import pytest
import torch

from torchfit.data import get_adapter
from torchfit.trainer.epoch_iterator import EpochIterator


def arrays(n=10):
    x = np.arange(n, dtype=np.float32).reshape(n, 1)
    return x, x.copy()


def first_values(iterator):
    """The first x value of each batch of one epoch, with its step."""
    return [(step, int(batch[0][0, 0])) for step, batch in iterator]


def test_one_full_pass_per_epoch_by_default():
    iterator = EpochIterator(get_adapter(*arrays(10), batch_size=4))
    assert iterator.num_steps == 3
    assert first_values(iterator) == [(0, 0), (1, 4), (2, 8)]
    assert first_values(iterator) == [(0, 0), (1, 4), (2, 8)]  # a fresh pass each epoch


def test_steps_per_epoch_continues_where_the_last_epoch_stopped():
    iterator = EpochIterator(get_adapter(*arrays(10), batch_size=4), steps_per_epoch=2)
    assert iterator.num_steps == 2
    assert first_values(iterator) == [(0, 0), (1, 4)]
    # Keras semantics: epoch 2 goes on with the third batch, then arrays start a new pass.
    assert first_values(iterator) == [(0, 8), (1, 0)]
    assert not iterator.ran_out_of_data


def test_a_one_shot_generator_runs_out_with_a_warning():
    def generate():
        for i in range(3):
            yield np.full((2, 1), i, np.float32), np.zeros((2, 1), np.float32)

    iterator = EpochIterator(get_adapter(generate()), steps_per_epoch=2)
    assert len(list(iterator)) == 2
    with pytest.warns(UserWarning, match="ran out of data after 3 steps"):
        assert first_values(iterator) == [(0, 2)]
    assert iterator.ran_out_of_data


def test_an_empty_input_is_a_clear_error():
    iterator = EpochIterator(get_adapter(iter(())))
    with pytest.raises(ValueError, match="The input produced no batch"):
        list(iterator)


def test_a_known_infinite_iterator_needs_steps_per_epoch():
    batch = (np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32))
    with pytest.raises(ValueError, match="never runs out"):
        EpochIterator(get_adapter(itertools.repeat(batch)))
    assert len(list(EpochIterator(get_adapter(itertools.repeat(batch)), steps_per_epoch=3))) == 3


def test_skip_steps_passes_over_the_first_batches_of_the_next_epoch_only():
    iterator = EpochIterator(get_adapter(*arrays(10), batch_size=4))
    iterator.skip_steps(2)
    assert first_values(iterator) == [(2, 8)]
    assert first_values(iterator) == [(0, 0), (1, 4), (2, 8)]


def test_bad_steps_per_epoch_is_refused():
    with pytest.raises(ValueError, match="must be a positive integer or None. Received: 0"):
        EpochIterator(get_adapter(*arrays(4), batch_size=2), steps_per_epoch=0)


def test_shuffled_state_round_trip_resumes_the_same_order():
    torch.manual_seed(0)
    iterator = EpochIterator(get_adapter(*arrays(12), batch_size=4, shuffle=True))
    state = iterator.state_dict(mid_epoch=False)
    first = first_values(iterator)
    iterator.load_state_dict(state)
    assert first_values(iterator) == first
