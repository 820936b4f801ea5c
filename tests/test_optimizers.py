"""torchfit optimizers against torch.optim with the documented Keras -> torch argument mapping."""

import copy
import io
import warnings

import pytest
import torch

from torchfit import optimizers, schedules

X = torch.randn(16, 4, generator=torch.Generator().manual_seed(1))
Y = torch.randn(16, 2, generator=torch.Generator().manual_seed(2))


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def loss_of(model):
    return torch.nn.functional.mse_loss(model(X), Y)


def train(model, optimizer, steps=5, edit_grads=None):
    """The hand-written torch loop; ``edit_grads`` may clip the gradients in place."""
    for _ in range(steps):
        optimizer.zero_grad()
        loss_of(model).backward()
        if edit_grads is not None:
            with torch.no_grad():
                edit_grads([p.grad for p in model.parameters()])
        optimizer.step()


def train_with_apply_gradients(model, optimizer, steps=5):
    params = list(model.parameters())
    for _ in range(steps):
        grads = torch.autograd.grad(loss_of(model), params)
        optimizer.apply_gradients(zip(grads, params))


def assert_same_params(model, reference):
    for param, expected in zip(model.parameters(), reference.parameters()):
        assert torch.equal(param, expected)


BETAS = (0.9, 0.999)
# (torchfit optimizer factory, torch class, the mapped torch arguments)
CASES = [
    pytest.param(
        optimizers.SGD, torch.optim.SGD, dict(lr=0.01, momentum=0.0, nesterov=False), id="sgd"
    ),
    pytest.param(
        lambda: optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        torch.optim.SGD,
        dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        id="sgd-nesterov-wd",
    ),
    pytest.param(
        optimizers.RMSprop, torch.optim.RMSprop, dict(lr=1e-3, alpha=0.9, eps=1e-7), id="rmsprop"
    ),
    pytest.param(
        lambda: optimizers.RMSprop(0.01, rho=0.8, momentum=0.5, epsilon=1e-6, centered=True),
        torch.optim.RMSprop,
        dict(lr=0.01, alpha=0.8, momentum=0.5, eps=1e-6, centered=True),
        id="rmsprop-centered-momentum",
    ),
    pytest.param(
        optimizers.Adam, torch.optim.Adam, dict(lr=1e-3, betas=BETAS, eps=1e-7), id="adam"
    ),
    pytest.param(
        lambda: optimizers.Adam(0.01, beta_1=0.8, beta_2=0.99, amsgrad=True, weight_decay=0.1),
        torch.optim.Adam,
        dict(lr=0.01, betas=(0.8, 0.99), eps=1e-7, amsgrad=True, weight_decay=0.1,
             decoupled_weight_decay=True),
        id="adam-amsgrad-wd",
    ),
    pytest.param(
        optimizers.AdamW, torch.optim.AdamW,
        dict(lr=1e-3, betas=BETAS, eps=1e-7, weight_decay=0.004), id="adamw",
    ),
    pytest.param(
        optimizers.Adagrad, torch.optim.Adagrad,
        dict(lr=1e-3, initial_accumulator_value=0.1, eps=1e-7), id="adagrad",
    ),
    pytest.param(
        optimizers.Adadelta, torch.optim.Adadelta, dict(lr=1e-3, rho=0.95, eps=1e-7), id="adadelta"
    ),
    pytest.param(
        optimizers.Adamax, torch.optim.Adamax, dict(lr=1e-3, betas=BETAS, eps=1e-7), id="adamax"
    ),
    pytest.param(
        optimizers.Nadam, torch.optim.NAdam,
        dict(lr=1e-3, betas=BETAS, eps=1e-7, momentum_decay=0.004), id="nadam",
    ),
    pytest.param(
        lambda: optimizers.Nadam(weight_decay=0.1), torch.optim.NAdam,
        dict(lr=1e-3, betas=BETAS, eps=1e-7, weight_decay=0.1, decoupled_weight_decay=True),
        id="nadam-wd",
    ),
]  # fmt: skip


@pytest.mark.parametrize("make, torch_class, torch_kwargs", CASES)
def test_build_and_step_equals_torch_with_mapped_arguments(make, torch_class, torch_kwargs):
    model, reference = make_model(), make_model()
    optimizer = make().build(model.parameters())
    assert isinstance(optimizer, torch_class) and isinstance(optimizer, torch.optim.Optimizer)
    train(model, optimizer)
    train(reference, torch_class(reference.parameters(), **torch_kwargs))
    assert_same_params(model, reference)
    assert not torch.equal(model[0].weight, make_model()[0].weight)  # it did train
    assert optimizer.iterations == 5


@pytest.mark.parametrize("make, torch_class, torch_kwargs", CASES)
def test_apply_gradients_equals_torch_with_mapped_arguments(make, torch_class, torch_kwargs):
    model, reference = make_model(), make_model()
    optimizer = make()
    train_with_apply_gradients(model, optimizer)
    train(reference, torch_class(reference.parameters(), **torch_kwargs))
    assert_same_params(model, reference)
    assert optimizer.built and optimizer.iterations == 5
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(
    "optimizer, expected",
    [
        (optimizers.SGD(), dict(lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0)),
        (optimizers.RMSprop(), dict(lr=0.001, alpha=0.9, eps=1e-7, momentum=0.0, centered=False)),
        (optimizers.Adam(), dict(lr=0.001, betas=(0.9, 0.999), eps=1e-7, amsgrad=False)),
        (optimizers.AdamW(), dict(lr=0.001, betas=(0.9, 0.999), eps=1e-7, weight_decay=0.004)),
        (optimizers.Adagrad(), dict(lr=0.001, initial_accumulator_value=0.1, eps=1e-7)),
        (optimizers.Adadelta(), dict(lr=0.001, rho=0.95, eps=1e-7)),
        (optimizers.Adamax(), dict(lr=0.001, betas=(0.9, 0.999), eps=1e-7)),
        (optimizers.Nadam(), dict(lr=0.001, betas=(0.9, 0.999), eps=1e-7, momentum_decay=0.004)),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, optimizers.Optimizer) else "",
)
def test_keras_defaults(optimizer, expected):
    group = optimizer.build(make_model().parameters()).param_groups[0]
    assert {key: group[key] for key in expected} == expected


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


def assert_close_params(model, reference):
    for param, expected in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(param, expected, rtol=1e-6, atol=1e-7)


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
    reference_opt = torch.optim.Adam(reference.parameters(), lr=0.01, eps=1e-7)
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
    train(reference, torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9), steps=3)
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


def test_state_dict_interoperates_with_plain_torch():
    model, reference = make_model(), make_model()
    torch_opt = torch.optim.Adam(reference.parameters(), lr=0.01, eps=1e-7)
    train(reference, torch_opt, steps=2)
    model.load_state_dict(reference.state_dict())
    optimizer = optimizers.Adam(0.01).build(model.parameters())
    # deepcopy: torch's load_state_dict shares same-device state tensors with the source
    optimizer.load_state_dict(copy.deepcopy(torch_opt.state_dict()))  # no "iterations"
    assert optimizer.iterations == 0  # kept as is
    torch_opt.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # torch ignores the key
    train(model, optimizer, steps=2)
    train(reference, torch_opt, steps=2)
    assert_same_params(model, reference)


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


# ---------------------------------------------------------------------------- arguments


def test_unknown_keyword_suggests_the_keras_name():
    message = (
        r"RMSprop\(\) got an unexpected keyword argument 'rh'\. "
        r"Did you mean 'rho'\? Valid arguments: 'learning_rate', 'rho'"
    )
    with pytest.raises(TypeError, match=message):
        optimizers.RMSprop(rh=0.8)
    with pytest.raises(TypeError, match=r"Adam\(\) got an unexpected keyword argument 'betas'"):
        optimizers.Adam(betas=(0.9, 0.99))


def test_lr_is_accepted_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="`lr` argument is deprecated, use `learning_rate`"):
        optimizer = optimizers.SGD(lr=0.5)
    assert optimizer.learning_rate == 0.5


def test_legacy_decay_points_to_inverse_time_decay():
    message = r"does not take `decay`.*InverseTimeDecay\(learning_rate, decay_steps=1"
    with pytest.raises(TypeError, match=message):
        optimizers.SGD(0.1, decay=1e-4)


def test_adamw_needs_a_weight_decay():
    with pytest.raises(ValueError, match="AdamW needs a `weight_decay`"):
        optimizers.AdamW(weight_decay=None)


# ---------------------------------------------------------------------------- get / build


@pytest.mark.parametrize(
    "name, cls",
    [("sgd", optimizers.SGD), ("SGD", optimizers.SGD), ("rmsprop", optimizers.RMSprop),
     ("RMSprop", optimizers.RMSprop), ("adam", optimizers.Adam), ("AdamW", optimizers.AdamW),
     ("adagrad", optimizers.Adagrad), ("Adadelta", optimizers.Adadelta),
     ("adamax", optimizers.Adamax), ("Nadam", optimizers.Nadam)],
)  # fmt: skip
def test_get_by_name(name, cls):
    optimizer = optimizers.get(name)
    assert type(optimizer) is cls and not optimizer.built


def test_get_every_identifier_kind():
    instance = optimizers.Adam()
    torch_instance = torch.optim.SGD(make_model().parameters(), lr=0.1)
    assert optimizers.get(instance) is instance
    assert type(optimizers.get(optimizers.Nadam)) is optimizers.Nadam
    assert optimizers.get(torch_instance) is torch_instance
    assert optimizers.get(torch.optim.SGD) is torch.optim.SGD
    assert optimizers.get("adam", learning_rate=0.1).learning_rate == 0.1
    assert optimizers.schedules is schedules


def test_get_errors():
    message = (
        r"Unknown optimizer: 'rmsprob'\. Did you mean 'rmsprop'\? "
        r"Valid names: 'adadelta', 'adagrad', 'adam', 'adamax', 'adamw'"
    )
    with pytest.raises(ValueError, match=message):
        optimizers.get("rmsprob")
    with pytest.raises(ValueError, match=r"Received optimizer=None\. Expected an optimizer name"):
        optimizers.get(None)
    with pytest.raises(TypeError, match=r"Could not interpret optimizer identifier: 3\."):
        optimizers.get(3)
    with pytest.raises(TypeError, match=r"apply only when get\(\) creates the optimizer"):
        optimizers.get(optimizers.Adam(), learning_rate=0.1)


def test_build_every_identifier_kind():
    model = make_model()
    params = list(model.parameters())
    built = optimizers.build("rmsprop", model.parameters())
    assert isinstance(built, optimizers.RMSprop) and built.built
    instance = optimizers.Adam()
    assert optimizers.build(instance, params) is instance and instance.built
    torch_instance = torch.optim.SGD(model[2].parameters(), lr=0.1)  # a subset: fine-tuning
    assert optimizers.build(torch_instance, params) is torch_instance
    from_class = optimizers.build(torch.optim.Adam, params)
    assert type(from_class) is torch.optim.Adam and from_class.param_groups[0]["params"] == params


def test_build_errors():
    params = list(make_model().parameters())
    foreign = torch.optim.SGD(make_model().parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"SGD optimizer was created for other parameters: 4 of"):
        optimizers.build(foreign, params)

    class NeedsLR(torch.optim.SGD):
        def __init__(self, params, lr):
            super().__init__(params, lr=lr)

    message = r"NeedsLR cannot be created from the parameters alone: it requires 'lr'\. Pass an"
    with pytest.raises(TypeError, match=message):
        optimizers.build(NeedsLR, params)


def test_cpu_optimizers_use_the_foreach_kernels_except_nadam():
    """foreach gives bitwise the torch default's numbers (the tests above compare against the
    default per-parameter loop) with fewer dispatches; Nadam's foreach path rounds differently."""
    for cls in (optimizers.SGD, optimizers.RMSprop, optimizers.Adam, optimizers.AdamW,
                optimizers.Adagrad, optimizers.Adadelta, optimizers.Adamax, optimizers.Nadam):
        optimizer = cls().build(make_model().parameters())
        assert optimizer.defaults["foreach"] is (None if cls is optimizers.Nadam else True), cls
