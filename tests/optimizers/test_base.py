"""torchfit.optimizers.base: clipping, learning rate, step hooks, building and state."""

import copy
import io
import pickle
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from torchfit import optimizers, schedules
from optimizer_helpers import assert_close_params, assert_same_params, loss_of, make_model, train


# ---------------------------------------------------------------------------- clipping


def clip_value(grads, value):
    for grad in grads:
        grad.clamp_(-value, value)


def clip_each_norm(grads, clipnorm):  # Keras: g * clipnorm / max(||g||, clipnorm)
    for grad in grads:
        grad.mul_(clipnorm / max(grad.double().norm().item(), clipnorm))


def clip_global_norm(grads, clipnorm):
    total = sum(grad.double().norm().item() ** 2 for grad in grads) ** 0.5
    for grad in grads:
        grad.mul_(clipnorm / max(total, clipnorm))


def first_grad_norms():
    model = make_model()
    loss_of(model).backward()
    return [p.grad.norm().item() for p in model.parameters()]


def test_clipvalue_equals_hand_clamped_gradients():
    model, reference = make_model(), make_model()
    train(model, optimizers.SGD(0.1, clipvalue=0.02).build(model.parameters()))
    reference_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    train(reference, reference_opt, edit_grads=lambda g: clip_value(g, 0.02))
    assert_same_params(model, reference)


def test_clipnorm_clips_each_gradient_separately():
    norms = first_grad_norms()
    clipnorm = sorted(norms)[len(norms) // 2]  # some gradients above, some below
    assert min(norms) < clipnorm < max(norms)
    model, reference = make_model(), make_model()
    train(model, optimizers.Adam(0.01, clipnorm=clipnorm).build(model.parameters()))
    reference_opt = optimizers.Adam(0.01).build(reference.parameters())
    train(reference, reference_opt, edit_grads=lambda g: clip_each_norm(g, clipnorm))
    assert_close_params(model, reference)


def test_global_clipnorm_scales_all_gradients_together():
    total = sum(n**2 for n in first_grad_norms()) ** 0.5
    model, reference = make_model(), make_model()
    train(model, optimizers.SGD(0.1, global_clipnorm=total / 3).build(model.parameters()))
    reference_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    train(reference, reference_opt, edit_grads=lambda g: clip_global_norm(g, total / 3))
    assert_close_params(model, reference)


def test_clipvalue_applies_before_clipnorm():
    model, reference = make_model(), make_model()
    train(model, optimizers.SGD(0.1, clipvalue=0.05, clipnorm=0.1).build(model.parameters()))

    def clip(grads):
        clip_value(grads, 0.05)
        clip_each_norm(grads, 0.1)

    train(reference, torch.optim.SGD(reference.parameters(), lr=0.1), edit_grads=clip)
    assert_close_params(model, reference)


def test_clipping_with_a_closure_clips_the_closure_gradients():
    model, reference = make_model(), make_model()
    optimizer = optimizers.SGD(0.1, clipvalue=0.02).build(model.parameters())

    def closure():
        optimizer.zero_grad()
        loss = loss_of(model)
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    assert torch.is_tensor(loss)
    reference_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    train(reference, reference_opt, steps=1, edit_grads=lambda g: clip_value(g, 0.02))
    assert_same_params(model, reference)


def test_clipping_arguments_are_validated():
    with pytest.raises(ValueError, match="Only one of `clipnorm` and `global_clipnorm` can be set"):
        optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(ValueError, match=r"`clipvalue` must be > 0 or None\. Received: clipvalue="):
        optimizers.SGD(clipvalue=0)
    with pytest.raises(TypeError, match="`clipnorm` must be a number or None"):
        optimizers.SGD(clipnorm="1")


# ---------------------------------------------------------------------------- learning rate


@pytest.mark.parametrize(
    "schedule",
    [schedules.PiecewiseConstantDecay([1, 3], [0.1, 0.05, 0.01]), lambda step: 0.2 / (step + 1)],
    ids=["schedule", "callable"],
)
def test_scheduled_learning_rate_is_evaluated_before_each_step(schedule):
    model = make_model()
    optimizer = optimizers.SGD(learning_rate=schedule)
    assert optimizer.learning_rate is schedule
    optimizer.build(model.parameters())
    for step in range(5):
        # Before step s (where callbacks' on_train_batch_begin runs) the groups hold schedule(s).
        lr = schedule(step)
        assert [group["lr"] for group in optimizer.param_groups] == [lr]
        optimizer.zero_grad()
        loss_of(model).backward()
        before = [p.detach().clone() for p in model.parameters()]
        optimizer.step()
        for param, old in zip(model.parameters(), before):
            assert torch.equal(param, old.add(param.grad, alpha=-lr))
    assert [group["lr"] for group in optimizer.param_groups] == [schedule(5)]
    assert optimizer.iterations == 5 and optimizer.learning_rate is schedule


def test_learning_rate_property_reads_and_writes_param_groups():
    optimizer = optimizers.RMSprop(learning_rate=0.01)
    assert optimizer.learning_rate == 0.01
    optimizer.build(make_model().parameters())
    optimizer.learning_rate = 0.5
    assert optimizer.param_groups[0]["lr"] == 0.5 and optimizer.learning_rate == 0.5
    optimizer.param_groups[0]["lr"] = 0.25  # e.g. a torch LR scheduler
    assert optimizer.learning_rate == 0.25
    schedule = schedules.ExponentialDecay(0.1, 10, 0.5)
    optimizer.learning_rate = schedule
    assert optimizer.learning_rate is schedule and optimizer.param_groups[0]["lr"] == 0.1
    with pytest.raises(TypeError, match=r"`learning_rate` must be a float or a schedule.*'fast'"):
        optimizer.learning_rate = "fast"
    with pytest.raises(ValueError, match=r"`learning_rate` must be >= 0\. Received: learning_"):
        optimizers.SGD(learning_rate=-1)


def test_torch_lr_scheduler_drives_a_built_optimizer():
    model = make_model()
    optimizer = optimizers.SGD(learning_rate=0.1).build(model.parameters())
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "lr_scheduler.step() before optimizer.step()"
        for _ in range(4):
            optimizer.zero_grad()
            loss_of(model).backward()
            optimizer.step()
            scheduler.step()
            lrs.append(optimizer.learning_rate)
    assert lrs == pytest.approx([0.1, 0.05, 0.05, 0.025])
    assert optimizer.iterations == 4


def test_fast_path_when_no_clipping_or_schedule():
    optimizer = optimizers.Adam().build(make_model().parameters())
    assert optimizer._needs_prepare is False  # step() = one check + torch step + counter
    assert optimizers.Adam(clipvalue=1.0).build(make_model().parameters())._needs_prepare


def test_step_hooks_fire_once_per_step():
    torch.optim.SGD(make_model().parameters())  # makes torch patch torch.optim.SGD.step
    model = make_model()
    optimizer = optimizers.SGD(clipnorm=1.0).build(model.parameters())
    calls = []
    optimizer.register_step_pre_hook(lambda *args: calls.append("pre"))
    optimizer.register_step_post_hook(lambda *args: calls.append("post"))
    train(model, optimizer, steps=2)
    assert calls == ["pre", "post", "pre", "post"]


# ---------------------------------------------------------------------------- step hooks


STEP_CONFIGS = [
    pytest.param(dict(), id="fast-path"),
    pytest.param(dict(clipnorm=0.1), id="clipnorm"),
    pytest.param(dict(clipvalue=0.01, global_clipnorm=None), id="clipvalue"),
    pytest.param(dict(learning_rate=schedules.ExponentialDecay(0.01, 2, 0.5)), id="schedule"),
    pytest.param(dict(clipvalue=0.01, learning_rate=lambda step: 0.01 / (step + 1)), id="both"),
]


@pytest.mark.parametrize("config", STEP_CONFIGS)
def test_user_step_hooks_fire_once_per_step_after_plain_torch_was_used(config):
    torch.optim.Adam(make_model().parameters())  # torch patches torch.optim.Adam.step now
    model = make_model()
    optimizer = optimizers.Adam(**config).build(model.parameters())
    calls = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: calls.append(("pre", opt)))
    optimizer.register_step_post_hook(lambda opt, args, kwargs: calls.append(("post", opt)))
    train(model, optimizer, steps=3)
    assert calls == [("pre", optimizer), ("post", optimizer)] * 3
    assert optimizer.iterations == 3


def test_step_hooks_fire_once_in_a_fresh_process_whichever_class_torch_patches_first():
    """torch patches a class's step the first time it (or a subclass) is instantiated; in a fresh
    interpreter, build torchfit's Adam before any torch.optim.Adam and the reverse for SGD."""
    script = textwrap.dedent("""
        import torch
        from torchfit import optimizers

        def hook_calls(optimizer, params):
            calls = []
            optimizer.register_step_pre_hook(lambda *args: calls.append("pre"))
            optimizer.register_step_post_hook(lambda *args: calls.append("post"))
            for _ in range(2):
                params[0].grad = torch.ones_like(params[0])
                optimizer.step()
            return calls

        counts = []
        for torchfit_class, torch_class, torch_first in [
            (optimizers.Adam, torch.optim.Adam, False),
            (optimizers.SGD, torch.optim.SGD, True),
        ]:
            params = [torch.nn.Parameter(torch.zeros(3))]
            if torch_first:
                counts.append(hook_calls(torch_class(params, lr=0.1), params))
            counts.append(hook_calls(torchfit_class(clipvalue=1.0).build(params), params))
            counts.append(hook_calls(torch_class(params, lr=0.1), params))
            counts.append(hook_calls(torchfit_class().build(params), params))
        assert all(calls == ["pre", "post"] * 2 for calls in counts), counts
        print(len(counts))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "7"


def test_step_hooks_fire_in_the_documented_order():
    model = make_model()
    schedule = schedules.PiecewiseConstantDecay([0], [0.1, 0.05])  # 0.1 at step 0, then 0.05
    optimizer = optimizers.SGD(schedule, clipvalue=0.01).build(model.parameters())
    seen = []

    def record(label):
        def hook(opt, args, kwargs):
            largest = max(p.grad.abs().max().item() for p in model.parameters())
            seen.append((label, largest <= 0.01, opt.iterations, opt.param_groups[0]["lr"]))

        return hook

    handles = [
        register_optimizer_step_pre_hook(record("global pre")),
        register_optimizer_step_post_hook(record("global post")),
        optimizer.register_step_pre_hook(record("pre")),
        optimizer.register_step_post_hook(record("post")),
    ]
    try:
        train(model, optimizer, steps=1)
    finally:
        for handle in handles:
            handle.remove()
    # (hook, gradients clipped?, iterations, lr in the groups)
    assert seen == [
        ("global pre", False, 0, 0.1),  # before torchfit's clipping pre-hook
        ("pre", True, 0, 0.1),
        ("post", True, 1, 0.05),  # after torchfit's post-hook: counted, next step's lr
        ("global post", True, 1, 0.05),
    ]


@pytest.mark.parametrize("config", STEP_CONFIGS)
@pytest.mark.parametrize("as_keyword", [False, True], ids=["positional", "keyword"])
def test_closure_runs_once_and_its_loss_is_returned(config, as_keyword):
    model, reference = make_model(), make_model()
    optimizer = optimizers.Adam(**config).build(model.parameters())
    reference_opt = optimizers.Adam(**config).build(reference.parameters())
    runs = []

    def closure():
        runs.append(torch.is_grad_enabled())
        optimizer.zero_grad()
        loss = loss_of(model)
        loss.backward()
        return loss

    calls = []
    optimizer.register_step_pre_hook(lambda *args: calls.append("pre"))
    optimizer.register_step_post_hook(lambda *args: calls.append("post"))
    for _ in range(2):
        loss = optimizer.step(closure=closure) if as_keyword else optimizer.step(closure)
        assert torch.is_tensor(loss) and loss.requires_grad
    train(reference, reference_opt, steps=2)
    assert runs == [True, True] and calls == ["pre", "post"] * 2
    assert optimizer.iterations == 2
    assert_same_params(model, reference)


def test_profiler_labels_the_step_with_the_class_name():
    optimizer = optimizers.Adam(clipnorm=1.0).build(make_model().parameters())
    with torch.autograd.profiler.profile() as profile:
        optimizer.step()
    assert "Optimizer.step#Adam.step" in {event.name for event in profile.function_events}


def test_copies_keep_clipping_and_counting():
    model = make_model()
    optimizer = optimizers.SGD(1.0, clipvalue=0.01).build(model.parameters())
    for twin in (copy.deepcopy(optimizer), pickle.loads(pickle.dumps(optimizer))):
        params = [p for group in twin.param_groups for p in group["params"]]
        before = [p.detach().clone() for p in params]
        for param in params:
            param.grad = torch.full_like(param, 5.0)
        twin.step()
        assert twin.iterations == 1
        for param, old in zip(params, before):
            assert torch.equal(param, old - 0.01)  # clipped to clipvalue, lr 1
    assert optimizer.iterations == 0


def test_the_torch_class_step_runs_once_built():
    assert "step" not in vars(optimizers.Optimizer)  # no override: torch's step fires the hooks
    unbuilt = optimizers.Adam()
    assert "step" in vars(unbuilt)  # the stand-in that says how to build
    assert "step" not in vars(unbuilt.build(make_model().parameters()))


# ---------------------------------------------------------------------------- building


def test_using_an_unbuilt_optimizer_says_how_to_build_it():
    optimizer = optimizers.RMSprop()
    assert not optimizer.built and "not built" in repr(optimizer)
    for method in (optimizer.step, optimizer.zero_grad, optimizer.state_dict):
        with pytest.raises(RuntimeError, match=r"not built yet.*compile\(optimizer=.*apply_grad"):
            method()


def test_building_again_needs_the_same_parameters():
    model = make_model()
    optimizer = optimizers.Adam()
    assert optimizer.build(model.parameters()) is optimizer
    assert optimizer.build(list(model.parameters())) is optimizer  # re-compile, same model
    with pytest.raises(ValueError, match="already built for other parameters"):
        optimizer.build(make_model().parameters())
    with pytest.raises(ValueError, match="received no parameters"):
        optimizers.Adam().build([])


def test_apply_gradients_skips_none_and_rejects_unknown_variables():
    model = make_model()
    params = list(model.parameters())
    optimizer = optimizers.SGD(learning_rate=0.1)
    grads = list(torch.autograd.grad(loss_of(model), params))
    before = [p.detach().clone() for p in params]
    optimizer.apply_gradients(zip([grads[0], None, *grads[2:]], params))
    assert not torch.equal(params[0], before[0]) and torch.equal(params[1], before[1])
    with pytest.raises(ValueError, match=r"received 1 variable\(s\) that this optimizer was not"):
        optimizer.apply_gradients([(grads[0], torch.nn.Parameter(torch.zeros(8, 4)))])
    with pytest.raises(ValueError, match="received no"):
        optimizer.apply_gradients([])


def test_apply_gradients_after_backward_does_not_accumulate():
    model, reference = make_model(), make_model()
    optimizer = optimizers.SGD(learning_rate=0.1, momentum=0.9)
    for _ in range(3):  # Keras style: no zero_grad()
        loss_of(model).backward()
        optimizer.apply_gradients((p.grad, p) for p in model.parameters())
    reference_opt = optimizers.SGD(learning_rate=0.1, momentum=0.9).build(reference.parameters())
    train(reference, reference_opt, steps=3)
    assert_same_params(model, reference)


# ---------------------------------------------------------------------------- state


def test_state_dict_round_trip_resumes_exactly():
    model, clone = make_model(), make_model()
    optimizer = optimizers.Adam(0.01).build(model.parameters())
    train(model, optimizer, steps=3)
    clone.load_state_dict(model.state_dict())
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert state["iterations"] == 3 and set(state) == {"state", "param_groups", "iterations"}
    resumed = optimizers.Adam(0.01).build(clone.parameters())
    resumed.load_state_dict(state)
    assert resumed.iterations == 3
    train(model, optimizer, steps=2)
    train(clone, resumed, steps=2)
    assert_same_params(clone, model)
    assert resumed.iterations == optimizer.iterations == 5


@pytest.mark.parametrize("name", ["SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta",
                                  "Adamax", "Nadam"])
def test_state_dict_resumes_every_keras_rule_exactly(name):
    """Slots, group["step"] and Nadam's group["u_product"] travel in state_dict()."""
    arguments = dict(momentum=0.9) if name in ("SGD", "RMSprop") else {}
    model, clone = make_model(), make_model()
    optimizer = getattr(optimizers, name)(**arguments).build(model.parameters())
    train(model, optimizer, steps=3)
    clone.load_state_dict(model.state_dict())
    resumed = getattr(optimizers, name)(**arguments).build(clone.parameters())
    resumed.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    train(model, optimizer, steps=2)
    train(clone, resumed, steps=2)
    assert_same_params(clone, model)


def test_a_torch_state_dict_is_refused_by_a_keras_rule():
    model = make_model()
    torch_opt = torch.optim.Adam(model.parameters(), lr=0.01)
    train(model, torch_opt, steps=1)
    optimizer = optimizers.Adam(0.01).build(model.parameters())
    with pytest.raises(ValueError, match=r"state of another optimizer: per-parameter keys "
                                         r"\['exp_avg', 'exp_avg_sq', 'step'\], expected"):
        optimizer.load_state_dict(torch_opt.state_dict())


def test_deepcopy_built_and_unbuilt():
    unbuilt = copy.deepcopy(optimizers.SGD(0.3, clipnorm=1.0))
    assert unbuilt.learning_rate == 0.3 and not unbuilt.built
    model = make_model()
    optimizer = optimizers.SGD(0.1, momentum=0.9).build(model.parameters())
    train(model, optimizer, steps=2)
    twin = copy.deepcopy(optimizer)
    assert twin.iterations == 2 and twin.built
    twin.zero_grad()
    twin.step()  # steps its own copies of the parameters
    assert twin.iterations == 3 and optimizer.iterations == 2


def test_clipping_arguments_are_settable_before_and_after_build():
    # Keras lets `optimizer.clipnorm = ...` be set on an instance; torchfit's step then clips.
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer = optimizers.SGD(learning_rate=1.0)
    optimizer.build([param])
    param.grad = torch.tensor([3.0, 4.0])
    optimizer.clipnorm = 1.0
    optimizer.step()
    torch.testing.assert_close(param.detach(), torch.tensor([-0.6, -0.8]))
    optimizer.clipnorm, optimizer.clipvalue = None, 0.5
    param.grad = torch.tensor([3.0, -0.25])
    optimizer.step()
    torch.testing.assert_close(param.detach(), torch.tensor([-1.1, -0.55]))
    with pytest.raises(ValueError, match="Only one of `clipnorm` and `global_clipnorm`"):
        optimizer.global_clipnorm, optimizer.clipnorm = 1.0, 1.0
    with pytest.raises(ValueError, match=r"`clipvalue` must be > 0 or None"):
        optimizers.Adam().clipvalue = -1
