"""torchfit.optimizers.clipping: Keras's clipvalue / clipnorm / global_clipnorm, in place."""

import pytest
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


def test_global_clipnorm_is_torch_clip_grad_norm_bit_for_bit_over_many_steps():
    # word_language_model: SGD at lr=20 after clip_grad_norm_(params, 0.25), where a formula
    # that differs in the last bit drifts visibly within a few steps.
    torch.manual_seed(0)
    ours = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(50, 16, 4)
    for net, clip in ((ours, lambda p: clip_gradients_([q.grad for q in p], global_clipnorm=0.25)),
                      (theirs, lambda p: torch.nn.utils.clip_grad_norm_(p, 0.25))):
        for step in range(50):
            net.zero_grad()
            net(x[step]).pow(2).sum().backward()
            clip(list(net.parameters()))
            with torch.no_grad():
                for p in net.parameters():
                    p.add_(p.grad, alpha=-20.0)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)


def test_global_clipnorm_leaves_small_gradients_as_torch_does():
    small = [torch.tensor([0.03, 0.04])]
    reference = [small[0].clone().requires_grad_()]
    reference[0].grad = small[0].clone()
    clip_gradients_(small, global_clipnorm=1.0)
    torch.nn.utils.clip_grad_norm_(reference, 1.0)
    assert torch.equal(small[0], reference[0].grad)


def test_check_clipping_validates_compile_arguments():
    from torchfit.optimizers import SGD
    from torchfit.optimizers.clipping import check_clipping

    assert check_clipping() is None
    assert check_clipping(clipvalue=1, clipnorm=2.0) == {"clipvalue": 1.0, "clipnorm": 2.0}
    with pytest.raises(TypeError, match=r"`clipvalue` must be a number or None\. "
                                        r"Received: clipvalue='1'"):
        check_clipping(clipvalue="1")
    with pytest.raises(ValueError, match=r"`clipnorm` must be > 0 or None\. Received: clipnorm=-1"):
        check_clipping(clipnorm=-1)
    with pytest.raises(ValueError, match=r"global_clipnorm=0\.5 in compile\(\) and "
                                         r"clipvalue=1\.0 on the SGD optimizer"):
        check_clipping(global_clipnorm=0.5, optimizer=SGD(clipvalue=1.0))
    assert check_clipping(global_clipnorm=0.5, optimizer=SGD()) == {"global_clipnorm": 0.5}
    assert check_clipping(global_clipnorm=0.5, optimizer="sgd") == {"global_clipnorm": 0.5}
