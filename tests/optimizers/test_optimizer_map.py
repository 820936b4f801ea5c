"""OptimizerMap: Keras 3's variable-path -> optimizer map (exact key, else one regex match), over
torch's parameter names and Keras's "/" spelling. Cases from Keras 3's multi_optimizer_test.py."""

import pytest
import torch
from torch import nn

from torchfit import optimizers
from torchfit.optimizers import OptimizerMap


def _var(value):
    return nn.Parameter(torch.tensor(value))


def test_optimizer_map_matching():
    w_dense, w_conv, w_other = _var([[1.0]]), _var([[1.0]]), _var([[1.0]])
    opt_adam, opt_sgd = optimizers.Adam(learning_rate=1e-3), optimizers.SGD(learning_rate=1e-2)
    default_opt = optimizers.RMSprop()
    opt_map = OptimizerMap(default_optimizer=default_opt)
    opt_map["^dense/.*"] = opt_adam
    opt_map["^conv/.*"] = opt_sgd
    info = optimizers.optimizer_map.ParameterPath
    assert opt_map(info("dense/kernel", w_dense)) is opt_adam
    assert opt_map(info("conv/kernel", w_conv)) is opt_sgd
    assert opt_map(info("bias", w_other)) is default_opt
    conflict = OptimizerMap(default_optimizer=default_opt)
    conflict[".*kernel.*"] = opt_adam
    conflict[".*dense.*"] = opt_sgd
    with pytest.raises(ValueError, match="Multiple optimizers assigned to variable dense/kernel"):
        conflict(info("dense/kernel", w_dense))


def test_keys_match_torch_and_keras_spellings_exact_key_first():
    sgd, adam, rms = optimizers.SGD(), optimizers.Adam(), optimizers.RMSprop()
    opt_map = OptimizerMap(rms, {"encoder/.*": sgd, "encoder.0.weight": adam})
    assert opt_map["encoder.0.weight"] is adam and opt_map["encoder/0/weight"] is adam
    assert opt_map["encoder.1.bias"] is sgd and opt_map["encoder/1/bias"] is sgd
    assert opt_map[r"decoder.0.weight"] is rms
    assert OptimizerMap(rms, {r"encoder\..*": sgd})["encoder/3/weight"] is sgd
    assert len(opt_map) == 2 and list(opt_map) == ["encoder/.*", "encoder.0.weight"]
    del opt_map["encoder/.*"]
    assert opt_map["encoder.1.bias"] is rms


def test_optimizer_map_refuses_bad_entries():
    sgd = optimizers.SGD()
    with pytest.raises(TypeError, match="default_optimizer must be a torchfit optimizer"):
        OptimizerMap(torch.optim.SGD([_var(1.0)], lr=0.1))
    with pytest.raises(TypeError, match="optimizer_map must be a dictionary. Received: \\[1\\]"):
        OptimizerMap(sgd, [1])
    with pytest.raises(ValueError, match="key must be a string. Received: 3"):
        OptimizerMap(sgd, {3: optimizers.Adam()})
    opt_map = OptimizerMap(sgd, {"a": optimizers.Adam()})
    with pytest.raises(ValueError, match="'a' already exists in the OptimizerMap"):
        opt_map["a"] = optimizers.Adam()
    with pytest.raises(ValueError, match="optimizer must be a torchfit optimizer instance"):
        opt_map["b"] = "adam"


def test_optimizer_map_config_round_trip():
    opt_map = OptimizerMap(optimizers.SGD(0.5), {"0/.*": optimizers.Adam(learning_rate=0.02)})
    config = opt_map.get_config()
    assert config["default_optimizer"]["class_name"] == "SGD"
    assert config["optimizer_map"]["0/.*"]["config"]["learning_rate"] == 0.02
    rebuilt = OptimizerMap.from_config(config)
    assert rebuilt["0.weight"].get_config() == opt_map["0.weight"].get_config()
    assert rebuilt.default_optimizer.get_config() == opt_map.default_optimizer.get_config()
