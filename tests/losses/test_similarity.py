"""Tests for torchfit/losses/similarity.py: Circle, with Keras 3's test numbers."""

import numpy as np
import torch

from torchfit import losses
from loss_references import ref_circle

Y_TRUE = torch.tensor([1, 1, 2, 2, 3])
Y_PRED = torch.tensor([
    [0.70014004, -0.42008403, 0.14002801, 0.56011203],
    [0.17609018, 0.70436073, -0.52827054, 0.44022545],
    [-0.34050261, 0.25537696, -0.68100522, 0.59587957],
    [0.32163376, -0.75047877, 0.53605627, -0.21442251],
    [0.51261459, -0.34174306, 0.17087153, 0.76892189],
])
REF_LABELS = torch.tensor([1, 1, 2, 2, 3, 4])
REF_EMBEDDINGS = torch.tensor([
    [0.40824829, -0.54433105, 0.27216553, 0.68041382],
    [0.76376261, 0.10910895, -0.54554473, 0.32732684],
    [-0.74420841, 0.24806947, 0.49613894, -0.3721042],
    [0.52981294, -0.13245324, 0.79471941, -0.26490647],
    [0.54554473, -0.32732684, 0.10910895, 0.76376261],
    [-0.27216553, 0.68041382, 0.40824829, -0.54433105],
])
WEIGHTS = torch.tensor([2.0, 2.0, 1.0, 1.0, 0.5])


def test_keras_3_numbers():
    # Keras 3's CircleTest; sample 5 (label 3) has no positive pair: loss 0, masked out.
    np.testing.assert_allclose(losses.Circle(gamma=80.0, margin=0.4)(Y_TRUE, Y_PRED).item(),
                               188.3883, rtol=1e-5)
    np.testing.assert_allclose(losses.Circle(gamma=256, margin=0.25)(Y_TRUE, Y_PRED).item(),
                               652.7617, rtol=1e-5)
    loss = losses.circle(Y_TRUE, Y_PRED, ref_labels=REF_LABELS, ref_embeddings=REF_EMBEDDINGS,
                         gamma=80.0, margin=0.4, remove_diagonal=False)
    np.testing.assert_allclose(loss.numpy(), [61.5844, 94.3465, 276.9344, 90.9873, 48.8963],
                               rtol=1e-5)
    weighted = losses.Circle()(Y_TRUE, Y_PRED, sample_weight=WEIGHTS)
    np.testing.assert_allclose(weighted.item(), 244.91918, rtol=1e-5)
    none = losses.Circle(reduction=None)(REF_LABELS, REF_EMBEDDINGS)
    np.testing.assert_allclose(none.numpy(), [82.9116, 36.7942, 92.4590, 52.6798, 0.0, 0.0],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(losses.Circle(reduction="sum")(REF_LABELS, REF_EMBEDDINGS).item(),
                               264.845, rtol=1e-5)
    mean_weighted = losses.Circle(reduction="mean_with_sample_weight")(
        Y_TRUE, Y_PRED, sample_weight=WEIGHTS)
    np.testing.assert_allclose(mean_weighted.item(), 163.27948, rtol=1e-5)


def test_zero_losses_are_left_out_of_the_mean():
    per_sample = losses.circle(REF_LABELS, REF_EMBEDDINGS)
    np.testing.assert_allclose(per_sample.numpy(), ref_circle(
        REF_LABELS.numpy(), REF_EMBEDDINGS.double().numpy()), rtol=1e-5, atol=1e-6)
    mean = losses.Circle()(REF_LABELS, REF_EMBEDDINGS)
    np.testing.assert_allclose(mean.item(), per_sample.sum().item() / 4, rtol=1e-6)


def test_config_round_trip():
    loss = losses.Circle(gamma=10.0, margin=0.3, remove_diagonal=False, name="mycircle")
    assert losses.Circle.from_config(loss.get_config()).get_config() == loss.get_config()
