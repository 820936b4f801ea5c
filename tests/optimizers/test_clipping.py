"""torchfit.optimizers.clipping: Keras's clipvalue / clipnorm / global_clipnorm, in place."""

import torch

from torchfit.optimizers.clipping import clip_gradients_


def grads():
    return [torch.tensor([3.0, -4.0]), torch.tensor([0.3, 0.4], dtype=torch.float64)]


def test_clipvalue_clamps_each_element():
    clipped = grads()
    clip_gradients_(clipped, clipvalue=0.375)
    assert [g.tolist() for g in clipped] == [[0.375, -0.375], [0.3, 0.375]]
    assert clipped[0].dtype == torch.float32 and clipped[1].dtype == torch.float64


def test_clipnorm_scales_each_gradient_above_the_norm_separately():
    clipped = grads()
    clip_gradients_(clipped, clipnorm=1.0)
    torch.testing.assert_close(clipped[0], torch.tensor([0.6, -0.8]))
    assert clipped[1].tolist() == [0.3, 0.4]  # norm 0.5: unchanged


def test_global_clipnorm_scales_all_by_the_joint_norm():
    clipped = grads()
    total = (25.0 + 0.25) ** 0.5
    clip_gradients_(clipped, global_clipnorm=1.0)
    torch.testing.assert_close(clipped[0], torch.tensor([3.0, -4.0]) / total)
    torch.testing.assert_close(clipped[1], torch.tensor([0.3, 0.4], dtype=torch.float64) / total)


def test_values_are_clipped_before_norms_and_nothing_happens_without_thresholds():
    clipped = grads()
    clip_gradients_(clipped, clipvalue=1.0, clipnorm=1.0)
    torch.testing.assert_close(clipped[0], torch.tensor([1.0, -1.0]) / 2**0.5)
    unchanged = grads()
    clip_gradients_(unchanged)
    clip_gradients_([])
    assert [g.tolist() for g in unchanged] == [g.tolist() for g in grads()]
