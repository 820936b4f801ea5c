"""MultiOptimizer and OptimizerMap: Keras 3's multi_optimizer_test.py ported (Keras's numbers),
path matching, the torch-optimizer contract (state_dict round trip, schedulers, hooks) and fit.

Keras 3 cases (keras/src/optimizers/multi_optimizer_test.py, 16): 13 portable, all passing with
Keras's numbers; not portable: test_stateless_apply (JAX's stateless API),
test_tensorboard_logging_with_multi_optimizer (Keras's private
``TensorBoard._collect_learning_rate``), test_swap_ema_weights_with_multi_optimizer (torchfit
optimizers have no EMA). Deliberate differences, kept as tests of torchfit's behaviour:
inner optimizers take no ``loss_scale_factor`` (torchfit has none; the MultiOptimizer's own is
what Keras's test checks); ``MultiOptimizer(opt_sgd)`` (not a map nor a selector) is refused at
construction, not at build; torchfit's LossScaleOptimizer leaves the wrapped MultiOptimizer's
``loss_scale_factor`` alone (it is None here).
"""

import copy

import numpy as np
import pytest
import torch
from torch import nn

import torchfit
from torchfit import optimizers
from torchfit.callbacks import LearningRateScheduler, ReduceLROnPlateau
from torchfit.optimizers import MultiOptimizer, OptimizerMap


def _var(value):
    return nn.Parameter(torch.tensor(value))


def _two_layer():
    """Keras's Sequential([Dense(2, "ones", use_bias=False), Dense(1, "ones", use_bias=False)])."""
    net = nn.Sequential(nn.Linear(1, 2, bias=False), nn.Linear(2, 1, bias=False))
    for layer in net:
        nn.init.ones_(layer.weight)
    model = torchfit.Model(net, device="cpu")
    return model, net


# ---------------------------------------------------------------- Keras 3 ports


def _three_way():
    opt_adam, opt_sgd = optimizers.Adam(learning_rate=1e-3), optimizers.SGD(learning_rate=1e-2)
    default_opt = optimizers.RMSprop(learning_rate=1e-4)
    opt_map = OptimizerMap(default_optimizer=default_opt)
    opt_map["^dense_1/.*"] = opt_adam
    opt_map["^dense_2/.*"] = opt_sgd
    return MultiOptimizer(opt_map), (opt_adam, opt_sgd, default_opt)


def _named_vars(*values, names=("dense_1/kernel", "dense_2/kernel", "other/kernel")):
    return [(name, _var(value)) for name, value in zip(names, values)]


def test_multi_optimizer_initialization():
    multi_opt, expected = _three_way()
    multi_opt.build(_named_vars([[1.0]], [[1.0]], [[1.0]]))
    assert len(multi_opt.optimizers) == 3
    assert all(a is b for a, b in zip(multi_opt.optimizers, expected))


def test_default_fallback():
    opt_adam, default_opt = optimizers.Adam(learning_rate=1e-3), optimizers.SGD(learning_rate=1e-2)
    opt_map = OptimizerMap(default_optimizer=default_opt)
    opt_map["^dense_1/.*"] = opt_adam
    multi_opt = MultiOptimizer(opt_map)
    (_, w_mapped), (_, w_unmapped) = pairs = _named_vars(
        [[1.0]], [[1.0]], names=("dense_1/kernel", "other/kernel"))
    multi_opt.build(pairs)
    assert opt_adam.param_groups[0]["params"] == [w_mapped]
    assert default_opt.param_groups[0]["params"] == [w_unmapped]


def test_stateful_apply():
    opt_map = OptimizerMap(default_optimizer=optimizers.SGD(learning_rate=0.0))
    opt_map["^dense_1/.*"] = optimizers.SGD(learning_rate=0.1)
    opt_map["^dense_2/.*"] = optimizers.SGD(learning_rate=1.0)
    multi_opt = MultiOptimizer(opt_map)
    pairs = _named_vars([[2.0, 2.0]], [[3.0, 3.0]], [[4.0, 4.0]])
    multi_opt.build(pairs)
    ws = [w for _, w in pairs]
    multi_opt.apply_gradients(zip([torch.ones(1, 2)] * 3, ws))
    np.testing.assert_allclose(ws[0].detach().numpy(), [[1.9, 1.9]], rtol=1e-6)
    np.testing.assert_allclose(ws[1].detach().numpy(), [[2.0, 2.0]])
    np.testing.assert_allclose(ws[2].detach().numpy(), [[4.0, 4.0]])
    assert multi_opt.iterations == 1
    assert [opt.iterations for opt in multi_opt.optimizers] == [1, 1, 1]


def test_serialization():
    multi_opt, _ = _three_way()
    pairs = _named_vars([[1.0]], [[1.0]], [[1.0]])
    multi_opt.build(pairs)
    reconstructed = optimizers.deserialize(optimizers.serialize(multi_opt))
    reconstructed.build(pairs)
    names = [type(opt).__name__ for opt in reconstructed.optimizers]
    assert names == ["Adam", "SGD", "RMSprop"]
    assert type(reconstructed.optimizers[0]).__name__ == "Adam"
    assert reconstructed.optimizers[0].param_groups[0]["params"] == [pairs[0][1]]
    assert reconstructed.optimizers[2].learning_rate == pytest.approx(1e-4)


def test_loss_scaling():
    # Keras gives the inner optimizers loss_scale_factor=3, 4, 8 (torchfit's take none: the
    # MultiOptimizer's factor is what the test checks).
    multi_opt, _ = _three_way()
    multi_opt.loss_scale_factor = 5.0
    multi_opt.build(_named_vars([[1.0]]))
    assert float(multi_opt.scale_loss(torch.tensor(2.0))) == pytest.approx(10.0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'loss_scale_factor'"):
        optimizers.Adam(learning_rate=1e-3, loss_scale_factor=3.0)


def test_gradient_unscaling():
    opt_sgd = optimizers.SGD(learning_rate=0.1)
    opt_map = OptimizerMap(default_optimizer=opt_sgd)
    opt_map["^dense_1/.*"] = opt_sgd
    multi_opt = MultiOptimizer(opt_map, loss_scale_factor=5.0)
    pairs = _named_vars([[2.0, 2.0]])
    multi_opt.build(pairs)
    multi_opt.apply_gradients([(torch.full((1, 2), 10.0), pairs[0][1])])
    np.testing.assert_allclose(pairs[0][1].detach().numpy(), [[1.8, 1.8]], rtol=1e-6)


def test_custom_callable_function():
    opt_adam, opt_sgd = optimizers.Adam(learning_rate=1e-3), optimizers.SGD(learning_rate=1e-2)

    def optimizer_selector(variable):
        return opt_adam if "dense_1" in getattr(variable, "path", "") else opt_sgd

    multi_opt = MultiOptimizer(optimizer_selector)
    pairs = _named_vars([[1.0]], [[1.0]], names=("dense_1/kernel", "dense_2/kernel"))
    multi_opt.build(pairs)
    assert len(multi_opt.optimizers) == 2
    assert multi_opt.optimizers[0] is opt_adam and multi_opt.optimizers[1] is opt_sgd
    multi_opt.apply_gradients(zip([torch.ones(1, 1)] * 2, [w for _, w in pairs]))
    np.testing.assert_allclose(pairs[1][1].detach().numpy(), [[0.99]], rtol=1e-6)


def _fit_map(default_lr=0.1):
    return MultiOptimizer(OptimizerMap(
        default_optimizer=optimizers.SGD(learning_rate=default_lr),
        optimizer_map={"0/.*": optimizers.SGD(learning_rate=1e-3),   # Keras: ".*dense_1/.*"
                       "1/.*": optimizers.SGD(learning_rate=1e-2)}))  # Keras: ".*dense_2/.*"


def test_multi_optimizer_with_model_fit():
    model, net = _two_layer()
    optimizer = _fit_map()
    model.compile(loss="mse", optimizer=optimizer)
    model.fit(np.ones((1, 1), "float32"), np.zeros((1, 1), "float32"), batch_size=1, epochs=1,
              verbose=0)
    np.testing.assert_allclose(net[0].weight.detach().numpy().T, [[0.996, 0.996]], rtol=1e-6)
    np.testing.assert_allclose(net[1].weight.detach().numpy().T, [[0.96], [0.96]], rtol=1e-6)
    assert optimizer.iterations == 1
    assert [opt.iterations for opt in optimizer.optimizers] == [1, 1, 0]


def test_learning_rate_scheduler_with_multi_optimizer():
    opt_1, opt_2 = optimizers.SGD(learning_rate=0.1), optimizers.SGD(learning_rate=0.01)
    model, _ = _two_layer()
    model.compile(loss="mse", optimizer=MultiOptimizer(OptimizerMap(opt_2, {"0/.*": opt_1})))
    scheduler = LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    scheduler.set_model(model)
    scheduler.on_epoch_begin(1)
    assert opt_1.learning_rate == pytest.approx(0.05)
    assert opt_2.learning_rate == pytest.approx(0.005)


def test_reduce_lr_on_plateau_with_multi_optimizer():
    opt_1, opt_2 = optimizers.SGD(learning_rate=0.1), optimizers.SGD(learning_rate=0.01)
    model, _ = _two_layer()
    model.compile(loss="mse", optimizer=MultiOptimizer(OptimizerMap(opt_2, {"0/.*": opt_1})))
    reduce_lr = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1)
    reduce_lr.set_model(model)
    reduce_lr.on_train_begin()
    reduce_lr.on_epoch_end(0, logs={"val_loss": 1.0})
    assert (opt_1.learning_rate, opt_2.learning_rate) == pytest.approx((0.1, 0.01))
    reduce_lr.on_epoch_end(1, logs={"val_loss": 1.0})
    assert (opt_1.learning_rate, opt_2.learning_rate) == pytest.approx((0.05, 0.005))


def test_multi_optimizer_wrapped_in_loss_scale_optimizer():
    # Keras's LossScaleOptimizer sets the MultiOptimizer's loss_scale_factor to None; torchfit's
    # leaves it alone, so the MultiOptimizer here has none.
    multi_opt = MultiOptimizer(OptimizerMap(optimizers.SGD(learning_rate=0.1),
                                            {".*dense_1/.*": optimizers.SGD(learning_rate=0.1)}))
    lso_opt = optimizers.LossScaleOptimizer(multi_opt, initial_scale=10.0,
                                            dynamic_growth_steps=1000)
    pairs = _named_vars([[2.0, 2.0]], [[2.0, 2.0]], names=("dense_1/kernel", "dense_2/kernel"))
    lso_opt.build(pairs)
    assert float(lso_opt.scale_loss(torch.tensor(2.0))) == pytest.approx(20.0)
    lso_opt.apply_gradients(zip([torch.full((1, 2), 10.0) for _ in pairs], [w for _, w in pairs]))
    for _, w in pairs:
        np.testing.assert_allclose(w.detach().numpy(), [[1.9, 1.9]], rtol=1e-6)


def test_multi_optimizer_blocks_nested_optimizers():
    opt_sgd = optimizers.SGD(learning_rate=0.1)
    opt_lso = optimizers.LossScaleOptimizer(opt_sgd)
    # Keras accepts MultiOptimizer(opt_sgd) until build; torchfit refuses it at once.
    with pytest.raises(TypeError, match="optimizer_map must be an OptimizerMap or a callable"):
        MultiOptimizer(opt_sgd)
    opt_multi = MultiOptimizer(OptimizerMap(optimizers.SGD()))
    opt_map = OptimizerMap(default_optimizer=opt_sgd)
    with pytest.raises(ValueError, match="optimizer cannot be LossScaleOptimizer."):
        opt_map[".*"] = opt_lso
    with pytest.raises(ValueError, match="optimizer cannot be MultiOptimizer."):
        opt_map[".*"] = opt_multi
    direct = OptimizerMap(default_optimizer=opt_sgd)
    direct._optimizer_map = {".*dense_1/.*": opt_lso, ".*dense_2/.*": opt_multi}
    with pytest.raises(ValueError, match="LossScaleOptimizer cannot be used inside an Multi"):
        MultiOptimizer(direct).build(_named_vars([[1.0]], names=("dense_1/kernel",)))
    with pytest.raises(ValueError, match="MultiOptimizer cannot be used inside an MultiOpt"):
        MultiOptimizer(direct).build(_named_vars([[1.0]], names=("dense_2/kernel",)))


# ---------------------------------------------------------------- paths and errors


def test_learning_rate_raises_and_build_needs_names():
    multi = MultiOptimizer(OptimizerMap(optimizers.SGD()), name="multi")
    with pytest.raises(AttributeError, match="Learning rate cannot be accessed on a Multi"):
        multi.learning_rate
    with pytest.raises(AttributeError, match="Learning rate cannot be set on a MultiOptimizer"):
        multi.learning_rate = 0.1
    with pytest.raises(RuntimeError, match="MultiOptimizer 'multi' is not built yet"):
        multi.apply_gradients([(torch.ones(1), _var([1.0]))])
    with pytest.raises(ValueError, match="needs their names. Received: a Parameter without"):
        multi.build([_var([1.0])])
    assert MultiOptimizer(OptimizerMap(optimizers.SGD())).name == "multi_optimizer"


def test_compile_refuses_loss_scale_factor():
    model, _ = _two_layer()
    with pytest.raises(ValueError, match="compile\\(\\) does not scale the loss"):
        model.compile(loss="mse", optimizer=MultiOptimizer(
            OptimizerMap(optimizers.SGD()), loss_scale_factor=2.0))


# ---------------------------------------------------------------- torch optimizer contract


def _data(n=16):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, generator=g), torch.randn(n, 1, generator=g)


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))


def _adam_sgd():
    return MultiOptimizer(OptimizerMap(optimizers.SGD(0.05, momentum=0.9),
                                       {"0/.*": optimizers.Adam(learning_rate=0.01)}))


def test_fit_equals_two_hand_stepped_optimizers_bit_for_bit():
    x, y = _data()
    net = _net()
    reference = copy.deepcopy(net)
    model = torchfit.Model(net, device="cpu")
    model.compile(loss="mse", optimizer=_adam_sgd())
    model.fit(x.numpy(), y.numpy(), batch_size=4, epochs=3, shuffle=False, verbose=0)
    adam = optimizers.Adam(learning_rate=0.01).build(list(reference[0].parameters()))
    sgd = optimizers.SGD(0.05, momentum=0.9).build(list(reference[2].parameters()))
    for _ in range(3):
        for start in range(0, 16, 4):
            loss = ((reference(x[start:start + 4]) - y[start:start + 4]) ** 2).mean()
            loss.backward()
            adam.step(), sgd.step()
            adam.zero_grad(), sgd.zero_grad()
    for ours, theirs in zip(net.parameters(), reference.parameters()):
        assert torch.equal(ours, theirs)
    assert model.optimizer.iterations == 12
    assert [opt.iterations for opt in model.optimizer.optimizers] == [12, 12]


def _train(net, opt, x, y, steps):
    for step in range(steps):
        loss = ((net(x[step % 4 * 4:step % 4 * 4 + 4]) - y[step % 4 * 4:step % 4 * 4 + 4]) ** 2)
        loss.mean().backward()
        opt.step()
        opt.zero_grad()


def test_state_dict_round_trip_resumes_bit_exact():
    x, y = _data()
    net = _net()
    opt = _adam_sgd().build(net.named_parameters())
    _train(net, opt, x, y, 3)
    saved_net, saved_state = copy.deepcopy(net.state_dict()), copy.deepcopy(opt.state_dict())
    assert sorted(saved_state["state"]) == [0, 1, 2, 3]
    assert [g["params"] for g in saved_state["param_groups"]] == [[0, 1], [2, 3]]
    _train(net, opt, x, y, 5)
    resumed = _net(seed=1)
    resumed.load_state_dict(saved_net)
    opt2 = _adam_sgd().build(resumed.named_parameters())
    opt2.load_state_dict(saved_state)
    assert opt2.iterations == 3 and [o.iterations for o in opt2.optimizers] == [3, 3]
    _train(resumed, opt2, x, y, 5)
    for ours, theirs in zip(net.parameters(), resumed.parameters()):
        assert torch.equal(ours, theirs)
    with pytest.raises(ValueError, match="not one of a MultiOptimizer with the same inner"):
        opt2.load_state_dict({"state": {}, "param_groups": []})


def test_model_save_and_load_restore_the_optimizer(tmp_path):
    x, y = _data()
    model = torchfit.Model(_net(), device="cpu")
    model.compile(loss="mse", optimizer=_adam_sgd())
    model.fit(x.numpy(), y.numpy(), batch_size=4, epochs=1, verbose=0)
    model.save(str(tmp_path / "m.pt"))
    other = torchfit.Model(_net(seed=3), device="cpu")
    other.compile(loss="mse", optimizer=_adam_sgd())
    other.load(str(tmp_path / "m.pt"))
    for a, b in zip(model.optimizer.state_dict()["state"].values(),
                    other.optimizer.state_dict()["state"].values()):
        assert all(torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))
    assert other.optimizer.iterations == model.optimizer.iterations == 4


def test_torch_lr_scheduler_and_hooks_drive_the_inner_optimizers():
    net = _net()
    opt = _adam_sgd().build(net.named_parameters())
    calls = []
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append(o.iterations))
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    scheduler.step()
    assert opt.optimizers[0].learning_rate == pytest.approx(0.005)
    assert opt.optimizers[1].learning_rate == pytest.approx(0.025)
    assert calls == [1]
    assert set(opt.state) == set(net.parameters())
    assert set(opt.state[net[0].weight]) == {"momentum", "velocity"}  # Adam's slots
    assert set(opt.state[net[2].weight]) == {"momentum"}  # SGD's


def test_masked_nonfinite_step_keeps_weights():
    model = torchfit.Model(_net(), device="cpu")
    model.compile(loss="mse", optimizer=_adam_sgd(), skip_nonfinite_steps=True)
    before = [p.detach().clone() for p in model.parameters()]
    x = np.full((4, 3), np.nan, "float32")
    model.fit(x, np.zeros((4, 1), "float32"), batch_size=4, verbose=0, check_finite=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
