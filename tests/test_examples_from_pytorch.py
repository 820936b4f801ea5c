"""examples/from_pytorch/: each pytorch/examples program, hand-written and ported, gives the same
numbers (same seed, same data in the same order, same DataLoader where the original has one)."""

import math
import os
import sys

import pytest
import torch

from helpers import EXAMPLES

FROM_PYTORCH = os.path.join(EXAMPLES, "from_pytorch")
if FROM_PYTORCH not in sys.path:
    sys.path.insert(0, FROM_PYTORCH)


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny models: one intra-op thread runs them several times faster on a busy machine (no
    # OpenMP spinning), and both programs of a pair run under the same setting.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def assert_same_state(expected, actual, **tolerance):
    assert list(expected) == list(actual)
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], msg=name, **tolerance)


def test_mnist_port_matches_the_hand_written_loop():
    import mnist_torch
    import mnist_torchfit

    state, losses, test_loss = mnist_torch.main(epochs=2)
    ported_state, ported_losses, ported_test_loss = mnist_torchfit.main(epochs=2)
    assert_same_state(state, ported_state, rtol=0, atol=0)
    # the hand-written loop sums Python floats, torchfit float32 tensors
    assert ported_losses == pytest.approx(losses, rel=1e-6)
    assert ported_test_loss == pytest.approx(test_loss, rel=1e-6)


def test_regression_port_matches_the_hand_written_loop():
    import regression_torch
    import regression_torchfit

    weight, bias, losses = regression_torch.main()
    ported_weight, ported_bias, ported_losses = regression_torchfit.main()
    assert 1 < len(losses) < 2000  # stopped on the loss criterion
    assert ported_losses == losses  # same batches, same steps: bitwise
    torch.testing.assert_close(ported_weight, weight, rtol=0, atol=0)
    torch.testing.assert_close(ported_bias, bias, rtol=0, atol=0)


def test_siamese_network_port_matches_the_hand_written_loop():
    import siamese_network_torch
    import siamese_network_torchfit

    state, losses, test_loss = siamese_network_torch.main(epochs=2)
    ported_state, ported_losses, ported_test_loss = siamese_network_torchfit.main(epochs=2)
    assert_same_state(state, ported_state, rtol=0, atol=0)
    assert ported_losses == pytest.approx(losses, rel=1e-6)
    assert ported_test_loss == pytest.approx(test_loss, rel=1e-6)


def test_word_language_model_port_matches_the_hand_written_loop():
    # A stateful LSTM (hidden state carried across chunks, reset each epoch), ready-made batches
    # from DataLoader(batch_size=None), and compile(global_clipnorm=0.25) == clip_grad_norm_.
    import word_language_model_torch
    import word_language_model_torchfit

    state, losses, val_losses = word_language_model_torch.main(epochs=3)
    ported_state, ported_losses, ported_val_losses = word_language_model_torchfit.main(epochs=3)
    assert_same_state(state, ported_state, rtol=0, atol=0)
    assert ported_losses == pytest.approx(losses, rel=1e-6)
    assert ported_val_losses == pytest.approx(val_losses, rel=1e-6)
    assert val_losses[-1] < 3.0 < math.log(30)  # it learns (uniform guessing: log 30)


def test_time_sequence_prediction_port_matches_the_hand_written_loop():
    # float64 module and data, LBFGS with its closure.
    import time_sequence_prediction_torch
    import time_sequence_prediction_torchfit

    state, losses, test_loss, future = time_sequence_prediction_torch.main(steps=2)
    ported_state, ported_losses, ported_test_loss, ported_future = (
        time_sequence_prediction_torchfit.main(steps=2))
    assert_same_state(state, ported_state, rtol=0, atol=0)
    assert ported_future.dtype == torch.float64
    torch.testing.assert_close(ported_future, future, rtol=0, atol=0)
    assert ported_losses == pytest.approx(losses, rel=1e-6)  # the logs are float32
    assert ported_test_loss == pytest.approx(test_loss, rel=1e-6)
    assert losses[-1] < losses[0] / 10


def test_vae_port_matches_the_hand_written_loop():
    # compute_loss overridden, compile(optimizer=...) with no loss; the logged loss is what
    # compute_loss returns.
    import vae_torch
    import vae_torchfit

    state, losses, test_loss = vae_torch.main(epochs=2)
    ported_state, ported_losses, ported_test_loss = vae_torchfit.main(epochs=2)
    assert_same_state(state, ported_state, rtol=0, atol=0)
    assert ported_losses == pytest.approx(losses, rel=1e-6)
    assert ported_test_loss == pytest.approx(test_loss, rel=1e-6)
