"""Tests for torchfit.losses: each loss against an independent NumPy version of Keras's formula."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from torchfit import losses

N, C = 16, 5
EPS = 1e-7


# ---------------------------------------------------------------------------------------------
# NumPy references, written from Keras's documented formulas (float64)
# ---------------------------------------------------------------------------------------------


def np_clip(p):
    return np.clip(p, EPS, 1 - EPS)


def np_log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def np_softmax(x):
    return np.exp(np_log_softmax(x))


def ref_bce(y, p, label_smoothing=0.0):
    y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    p = np_clip(p)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(-1)


def ref_bce_logits(y, x, label_smoothing=0.0):
    y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    # tf.nn.sigmoid_cross_entropy_with_logits: max(x, 0) - x * z + log(1 + exp(-abs(x)))
    return (np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))).mean(-1)


def ref_cce(y, p, label_smoothing=0.0):
    y = y * (1 - label_smoothing) + label_smoothing / y.shape[-1]
    p = np_clip(p / p.sum(-1, keepdims=True))
    return -(y * np.log(p)).sum(-1)


def ref_cce_logits(y, x, label_smoothing=0.0):
    y = y * (1 - label_smoothing) + label_smoothing / y.shape[-1]
    return -(y * np_log_softmax(x)).sum(-1)


def ref_scce(labels, p):
    # tf.keras 2.x: log(clip(p)) fed to a softmax crossentropy.
    return -np.take_along_axis(np_log_softmax(np.log(np_clip(p))), labels[:, None], -1)[:, 0]


def ref_scce_logits(labels, x):
    return -np.take_along_axis(np_log_softmax(x), labels[:, None], -1)[:, 0]


def ref_mse(y, p):
    return ((y - p) ** 2).mean(-1)


def ref_mae(y, p):
    return np.abs(y - p).mean(-1)


def ref_mape(y, p):
    return 100 * np.abs((y - p) / np.maximum(np.abs(y), EPS)).mean(-1)


def ref_msle(y, p):
    return ((np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(y, EPS) + 1)) ** 2).mean(-1)


def ref_huber(y, p, delta=1.0):
    e = np.abs(p - y)
    return np.where(e <= delta, 0.5 * e**2, delta * e - 0.5 * delta**2).mean(-1)


def ref_log_cosh(y, p):
    return np.log(np.cosh(p - y)).mean(-1)


def ref_kld(y, p):
    y, p = np.clip(y, EPS, 1), np.clip(p, EPS, 1)
    return (y * np.log(y / p)).sum(-1)


def ref_poisson(y, p):
    return (p - y * np.log(p + EPS)).mean(-1)


def to_signed(y):
    return 2 * y - 1 if np.isin(y, [0, 1]).all() else y


def ref_hinge(y, p):
    return np.maximum(1 - to_signed(y) * p, 0).mean(-1)


def ref_squared_hinge(y, p):
    return (np.maximum(1 - to_signed(y) * p, 0) ** 2).mean(-1)


def ref_categorical_hinge(y, p):
    pos = (y * p).sum(-1)
    neg = ((1 - y) * p).max(-1)
    return np.maximum(neg - pos + 1, 0)


def ref_cosine(y, p):
    y = y / np.linalg.norm(y, axis=-1, keepdims=True)
    p = p / np.linalg.norm(p, axis=-1, keepdims=True)
    return -(y * p).sum(-1)


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def rng():
    return np.random.default_rng(0)


def regression():
    r = rng()
    return r.normal(size=(N, C)), r.normal(size=(N, C))


def positive():
    r = rng()
    return r.uniform(0, 3, (N, C)), r.uniform(0.1, 3, (N, C))


def binary_probs():
    r = rng()
    return r.integers(0, 2, (N, C)).astype(float), r.uniform(0.01, 0.99, (N, C))


def binary_logits():
    r = rng()
    return r.integers(0, 2, (N, C)).astype(float), 3 * r.normal(size=(N, C))


def one_hot_probs():
    r = rng()
    return np.eye(C)[r.integers(0, C, N)], np_softmax(r.normal(size=(N, C)))


def one_hot_logits():
    r = rng()
    return np.eye(C)[r.integers(0, C, N)], 3 * r.normal(size=(N, C))


def distributions():
    r = rng()
    return np_softmax(r.normal(size=(N, C))), np_softmax(r.normal(size=(N, C)))


def signed_labels():
    r = rng()
    return r.choice([-1.0, 1.0], (N, C)), r.normal(size=(N, C))


def sparse_probs():
    r = rng()
    return r.integers(0, C, N), np_softmax(r.normal(size=(N, C)))


def sparse_logits():
    r = rng()
    return r.integers(0, C, N), 3 * r.normal(size=(N, C))


# (id, class, class kwargs, function name, function kwargs, reference, inputs)
CASES = [
    ("bce", losses.BinaryCrossentropy, {}, "binary_crossentropy", {}, ref_bce, binary_probs),
    ("bce_logits", losses.BinaryCrossentropy, {"from_logits": True}, "binary_crossentropy",
     {"from_logits": True}, ref_bce_logits, binary_logits),
    ("cce", losses.CategoricalCrossentropy, {}, "categorical_crossentropy", {}, ref_cce,
     one_hot_probs),
    ("cce_logits", losses.CategoricalCrossentropy, {"from_logits": True},
     "categorical_crossentropy", {"from_logits": True}, ref_cce_logits, one_hot_logits),
    ("scce", losses.SparseCategoricalCrossentropy, {}, "sparse_categorical_crossentropy", {},
     ref_scce, sparse_probs),
    ("scce_logits", losses.SparseCategoricalCrossentropy, {"from_logits": True},
     "sparse_categorical_crossentropy", {"from_logits": True}, ref_scce_logits, sparse_logits),
    ("mse", losses.MeanSquaredError, {}, "mean_squared_error", {}, ref_mse, regression),
    ("mae", losses.MeanAbsoluteError, {}, "mean_absolute_error", {}, ref_mae, regression),
    ("mape", losses.MeanAbsolutePercentageError, {}, "mean_absolute_percentage_error", {},
     ref_mape, regression),
    ("msle", losses.MeanSquaredLogarithmicError, {}, "mean_squared_logarithmic_error", {},
     ref_msle, positive),
    ("huber", losses.Huber, {}, "huber", {}, ref_huber, regression),
    ("huber_delta", losses.Huber, {"delta": 0.3}, "huber", {"delta": 0.3},
     lambda y, p: ref_huber(y, p, 0.3), regression),
    ("log_cosh", losses.LogCosh, {}, "log_cosh", {}, ref_log_cosh, regression),
    ("kld", losses.KLDivergence, {}, "kl_divergence", {}, ref_kld, distributions),
    ("poisson", losses.Poisson, {}, "poisson", {}, ref_poisson, positive),
    ("hinge_01", losses.Hinge, {}, "hinge", {}, ref_hinge, binary_logits),
    ("hinge_signed", losses.Hinge, {}, "hinge", {}, ref_hinge, signed_labels),
    ("squared_hinge", losses.SquaredHinge, {}, "squared_hinge", {}, ref_squared_hinge,
     binary_logits),
    ("categorical_hinge", losses.CategoricalHinge, {}, "categorical_hinge", {},
     ref_categorical_hinge, one_hot_logits),
    ("cosine", losses.CosineSimilarity, {}, "cosine_similarity", {}, ref_cosine, regression),
]


def assert_close(actual, expected, rtol=1e-6, atol=1e-9):
    np.testing.assert_allclose(torch.as_tensor(actual).detach().numpy(), expected, rtol=rtol,
                               atol=atol)


@pytest.fixture(params=CASES, ids=[case[0] for case in CASES])
def case(request):
    _, cls, kwargs, fn_name, fn_kwargs, ref, inputs = request.param
    y, p = inputs()
    fn = getattr(losses, fn_name)
    return cls, kwargs, fn, fn_kwargs, torch.tensor(y), torch.tensor(p), ref(y, p)


# ---------------------------------------------------------------------------------------------
# Every loss: formula, reductions, sample weights
# ---------------------------------------------------------------------------------------------


def test_per_sample_losses_match_reference(case):
    cls, kwargs, fn, fn_kwargs, y, p, expected = case
    assert_close(cls(**kwargs).call(y, p), expected)
    assert_close(fn(y, p, **fn_kwargs), expected)


def test_default_reduction_is_mean_over_batch(case):
    cls, kwargs, _, _, y, p, expected = case
    result = cls(**kwargs)(y, p)
    assert result.dim() == 0 and result.dtype == torch.float64
    assert_close(result, expected.mean())


def test_sample_weight_divides_by_batch_size_not_weight_sum(case):
    cls, kwargs, _, _, y, p, expected = case
    loss = cls(**kwargs)
    w = np.random.default_rng(1).uniform(0, 2, N)
    assert_close(loss(y, p, sample_weight=torch.tensor(w)), (w * expected).sum() / N)
    assert_close(loss(y, p, sample_weight=w.reshape(N, 1)), (w * expected).sum() / N)
    assert_close(loss(y, p, sample_weight=[2.0] * N), 2 * expected.mean())


def test_sum_and_none_reductions(case):
    cls, kwargs, _, _, y, p, expected = case
    w = np.random.default_rng(1).uniform(0, 2, N)
    assert_close(cls(**kwargs, reduction="sum")(y, p), expected.sum())
    assert_close(cls(**kwargs, reduction="sum")(y, p, sample_weight=w), (w * expected).sum())
    assert_close(cls(**kwargs, reduction="none")(y, p), expected)
    assert_close(cls(**kwargs, reduction="none")(y, p, sample_weight=w), w * expected)


def test_gradients_flow(case):
    cls, kwargs, _, _, y, p, _ = case
    p = p.clone().requires_grad_()
    cls(**kwargs)(y, p).backward()
    assert p.grad is not None and torch.isfinite(p.grad).all()


def test_float32_inputs_keep_float32():
    y, p = regression()
    result = losses.MeanSquaredError()(torch.tensor(y, dtype=torch.float32),
                                       torch.tensor(p, dtype=torch.float32))
    assert result.dtype == torch.float32
    assert_close(result, ref_mse(y, p).mean(), rtol=1e-5)


def test_accepts_numpy_and_lists():
    y, p = regression()
    assert_close(losses.MeanSquaredError()(y, p), ref_mse(y, p).mean())
    assert_close(losses.mean_absolute_error(y.tolist(), torch.tensor(p)), ref_mae(y, p))


# ---------------------------------------------------------------------------------------------
# Crossentropies: logits, clipping, label smoothing, label formats
# ---------------------------------------------------------------------------------------------


def test_logits_and_probabilities_agree():
    y, x = binary_logits()
    y, x = torch.tensor(y), torch.tensor(x)
    assert_close(losses.BinaryCrossentropy()(y, torch.sigmoid(x)),
                 losses.BinaryCrossentropy(from_logits=True)(y, x).item(), rtol=1e-5)
    labels, x = sparse_logits()
    labels, x = torch.tensor(labels), torch.tensor(x)
    assert_close(losses.SparseCategoricalCrossentropy()(labels, x.softmax(-1)),
                 F.cross_entropy(x, labels).item(), rtol=1e-5)
    assert_close(losses.SparseCategoricalCrossentropy(from_logits=True)(labels, x),
                 F.cross_entropy(x, labels).item())
    one_hot = F.one_hot(labels, C).double()
    assert_close(losses.CategoricalCrossentropy()(one_hot, x.softmax(-1)),
                 F.cross_entropy(x, labels).item(), rtol=1e-5)
    assert_close(losses.CategoricalCrossentropy(from_logits=True)(one_hot, x),
                 F.cross_entropy(x, labels).item())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_probability_zero_is_clipped_to_finite_loss(dtype):
    expected = -math.log(EPS)
    # Only the lower bound: in float32, 1 - 1e-7 rounds to 1 - 2**-23.
    bce = losses.BinaryCrossentropy()(torch.tensor([[1.0], [1.0]], dtype=dtype),
                                      torch.tensor([[0.0], [0.0]], dtype=dtype))
    cce = losses.CategoricalCrossentropy()(torch.tensor([[1.0, 0.0]], dtype=dtype),
                                           torch.tensor([[0.0, 1.0]], dtype=dtype))
    scce = losses.SparseCategoricalCrossentropy()(torch.tensor([0]),
                                                  torch.tensor([[0.0, 1.0]], dtype=dtype))
    for result in (bce, cce, scce):
        assert torch.isfinite(result)
        assert_close(result, expected, rtol=1e-5)
    assert_close(losses.binary_crossentropy(torch.ones(2, 1), torch.zeros(2, 1)),
                 [expected] * 2, rtol=1e-5)
    upper = losses.binary_crossentropy(torch.zeros(1, dtype=torch.float64),
                                       torch.ones(1, dtype=torch.float64))
    assert_close(upper, [expected], rtol=1e-5)


def test_categorical_crossentropy_normalises_probabilities():
    y, p = one_hot_probs()
    scaled = torch.tensor(p * 3.0)
    assert_close(losses.CategoricalCrossentropy()(torch.tensor(y), scaled), ref_cce(y, p).mean())


@pytest.mark.parametrize("smoothing", [0.1, 0.4])
def test_label_smoothing(smoothing):
    y, p = binary_probs()
    bce = losses.BinaryCrossentropy(label_smoothing=smoothing)
    assert_close(bce(torch.tensor(y), torch.tensor(p)), ref_bce(y, p, smoothing).mean())
    y, x = binary_logits()
    bce = losses.BinaryCrossentropy(from_logits=True, label_smoothing=smoothing)
    assert_close(bce(torch.tensor(y), torch.tensor(x)), ref_bce_logits(y, x, smoothing).mean())
    assert_close(bce.call(torch.tensor(y), torch.tensor(x)), ref_bce_logits(y, x, smoothing))
    y, p = one_hot_probs()
    cce = losses.CategoricalCrossentropy(label_smoothing=smoothing)
    assert_close(cce(torch.tensor(y), torch.tensor(p)), ref_cce(y, p, smoothing).mean())
    y, x = one_hot_logits()
    cce = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)
    assert_close(cce(torch.tensor(y), torch.tensor(x)), ref_cce_logits(y, x, smoothing).mean())
    assert_close(cce.call(torch.tensor(y), torch.tensor(x)), ref_cce_logits(y, x, smoothing))


@pytest.mark.parametrize("dtype",
                         [torch.int8, torch.uint8, torch.int32, torch.int64, torch.float32])
@pytest.mark.parametrize("column", [False, True])
def test_sparse_labels_any_integer_dtype_and_column_shape(dtype, column):
    labels, x = sparse_logits()
    expected = ref_scce_logits(labels, x)
    target = torch.tensor(labels).to(dtype)
    if column:
        target = target[:, None]
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert_close(loss(target, torch.tensor(x)), expected.mean())
    assert_close(loss(target, torch.tensor(x), sample_weight=torch.full((N, 1), 2.0)),
                 2 * expected.mean())


def test_sparse_crossentropy_over_a_sequence():
    r = rng()
    labels, x = r.integers(0, C, (4, 6)), r.normal(size=(4, 6, C))
    expected = ref_scce_logits(labels.reshape(-1), x.reshape(-1, C)).reshape(4, 6)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert_close(loss.call(torch.tensor(labels), torch.tensor(x)), expected)
    assert_close(loss(torch.tensor(labels), torch.tensor(x)), expected.mean())
    # A (batch,) weight weights every timestep of its sample.
    w = r.uniform(0, 2, 4)
    assert_close(loss(torch.tensor(labels), torch.tensor(x), sample_weight=w),
                 (w[:, None] * expected).mean())


def test_categorical_crossentropy_class_axis():
    y, x = one_hot_logits()
    expected = ref_cce_logits(y, x)
    loss = losses.CategoricalCrossentropy(from_logits=True, axis=0)
    assert_close(loss.call(torch.tensor(y.T), torch.tensor(x.T)), expected)
    assert_close(loss(torch.tensor(y.T), torch.tensor(x.T)), expected.mean())


def test_bce_probabilities_under_autocast_use_the_explicit_formula():
    y, p = binary_probs()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        result = losses.BinaryCrossentropy()(torch.tensor(y), torch.tensor(p))
    assert_close(result, ref_bce(y, p).mean())


def test_hinge_keeps_labels_that_are_not_binary():
    y = np.array([[0.0, 1.0, 0.5]])
    p = np.array([[0.3, -0.2, 2.0]])
    assert_close(losses.hinge(torch.tensor(y), torch.tensor(p)), np.maximum(1 - y * p, 0).mean(-1))


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------


def test_rank_mismatch_by_trailing_one_is_aligned():
    y, p = regression()
    y, p = y[:, 0], p[:, :1]  # (N,) targets, (N, 1) outputs
    expected = (y - p[:, 0]) ** 2
    loss = losses.MeanSquaredError()
    assert_close(loss.call(torch.tensor(y), torch.tensor(p)), expected)
    assert_close(loss.call(torch.tensor(y[:, None]), torch.tensor(p[:, 0])), expected)
    w = np.arange(N, dtype=float)
    assert_close(loss(torch.tensor(y), torch.tensor(p), sample_weight=w), (w * expected).mean())


def test_one_dimensional_outputs_give_one_loss_per_sample():
    y, p = binary_probs()
    y, p = y[:, 0], p[:, 0]
    expected = ref_bce(y[:, None], p[:, None])
    assert_close(losses.BinaryCrossentropy(reduction="none")(torch.tensor(y), torch.tensor(p)),
                 expected)
    w = np.linspace(0, 2, N)
    assert_close(losses.BinaryCrossentropy()(torch.tensor(y), torch.tensor(p), sample_weight=w),
                 (w * expected).mean())


def test_incompatible_shapes_raise():
    with pytest.raises(ValueError, match=r"y_true.shape=\(16, 3\), y_pred.shape=\(16, 5\)"):
        losses.MeanSquaredError()(torch.zeros(N, 3), torch.zeros(N, C))
    with pytest.raises(ValueError, match=r"y_true.shape=\(16,\), y_pred.shape=\(16, 5\).*"
                                         r"use SparseCategoricalCrossentropy"):
        losses.CategoricalCrossentropy()(torch.zeros(N, dtype=torch.long), torch.zeros(N, C))
    with pytest.raises(ValueError, match=r"shape \(16,\).*Received: y_true.shape=\(16, 5\).*"
                                         r"use CategoricalCrossentropy"):
        losses.SparseCategoricalCrossentropy()(torch.zeros(N, C), torch.rand(N, C))


def test_sample_weight_of_wrong_length_raises():
    with pytest.raises(ValueError, match=r"sample_weight.shape=\(3,\).*losses of shape \(16,\)"):
        losses.MeanSquaredError()(torch.zeros(N, C), torch.ones(N, C), sample_weight=torch.ones(3))


# ---------------------------------------------------------------------------------------------
# Base class, config, reductions
# ---------------------------------------------------------------------------------------------


def test_custom_subclass_gets_weighting_and_reduction():
    class ScaledMSE(losses.Loss):
        def call(self, y_true, y_pred):
            return 2.0 * ((y_true - y_pred) ** 2).mean(dim=-1)

    loss = ScaledMSE()
    assert loss.name == "scaled_mse"
    assert_close(loss(torch.zeros(4, 3), torch.ones(4, 3)), 2.0)
    assert_close(loss(torch.zeros(4, 3), torch.ones(4, 3), torch.full((4,), 2.0)), 4.0)


def test_invalid_reduction_raises():
    with pytest.raises(ValueError, match=r"Received: reduction='mean'. Expected one of: "
                                         r"'sum_over_batch_size', 'sum', 'none'"):
        losses.MeanSquaredError(reduction="mean")
    assert losses.MeanSquaredError(reduction="auto").reduction == "sum_over_batch_size"


def test_get_config_round_trips():
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, reduction="sum",
                                          name="cce")
    config = loss.get_config()
    assert config == {"from_logits": True, "label_smoothing": 0.1, "axis": -1, "name": "cce",
                      "reduction": "sum"}
    clone = losses.CategoricalCrossentropy.from_config(config)
    assert clone.get_config() == config
    assert losses.Huber(delta=2.0).get_config()["delta"] == 2.0
    assert "CategoricalCrossentropy(from_logits=True" in repr(loss)


# ---------------------------------------------------------------------------------------------
# get()
# ---------------------------------------------------------------------------------------------

EXPECTED_NAMES = {
    losses.BinaryCrossentropy: ["BinaryCrossentropy", "binary_crossentropy"],
    losses.CategoricalCrossentropy: ["CategoricalCrossentropy", "categorical_crossentropy"],
    losses.SparseCategoricalCrossentropy: ["SparseCategoricalCrossentropy",
                                           "sparse_categorical_crossentropy"],
    losses.MeanSquaredError: ["MeanSquaredError", "mean_squared_error", "mse", "MSE"],
    losses.MeanAbsoluteError: ["MeanAbsoluteError", "mean_absolute_error", "mae", "MAE"],
    losses.MeanAbsolutePercentageError: ["MeanAbsolutePercentageError",
                                         "mean_absolute_percentage_error", "mape", "MAPE"],
    losses.MeanSquaredLogarithmicError: ["MeanSquaredLogarithmicError",
                                         "mean_squared_logarithmic_error", "msle", "MSLE"],
    losses.Huber: ["Huber", "huber", "huber_loss"],
    losses.LogCosh: ["LogCosh", "log_cosh", "logcosh"],
    losses.KLDivergence: ["KLDivergence", "kl_divergence", "kld", "KLD",
                          "kullback_leibler_divergence"],
    losses.Poisson: ["Poisson", "poisson"],
    losses.Hinge: ["Hinge", "hinge"],
    losses.SquaredHinge: ["SquaredHinge", "squared_hinge"],
    losses.CategoricalHinge: ["CategoricalHinge", "categorical_hinge"],
    losses.CosineSimilarity: ["CosineSimilarity", "cosine_similarity"],
}


@pytest.mark.parametrize("cls,name",
                         [(cls, name) for cls, names in EXPECTED_NAMES.items() for name in names])
def test_get_every_name(cls, name):
    loss = losses.get(name)
    assert type(loss) is cls
    assert loss.name == cls().name
    assert type(losses.get(loss.name)) is cls  # the canonical name round-trips
    if name != "huber_loss":  # Huber's default name, not a Keras function
        assert callable(getattr(losses, name))  # each name is also a module attribute


def test_get_registry_has_no_unexpected_names():
    listed = {name for names in EXPECTED_NAMES.values() for name in names}
    assert set(losses._REGISTRY) == listed


def test_function_aliases_are_the_same_function():
    assert losses.mse is losses.MSE is losses.mean_squared_error
    assert losses.kld is losses.kullback_leibler_divergence is losses.kl_divergence
    assert losses.logcosh is losses.log_cosh


def test_get_passes_through_and_wraps():
    assert losses.get(None) is None
    loss = losses.Huber(delta=2.0)
    assert losses.get(loss) is loss
    assert type(losses.get(losses.Poisson)) is losses.Poisson
    module = nn.CrossEntropyLoss()
    wrapped = losses.get(module)
    assert isinstance(wrapped, losses.TorchLossWrapper) and wrapped.module is module
    assert isinstance(losses.get(nn.MSELoss), losses.TorchLossWrapper)

    def my_loss(y_true, y_pred):
        return (y_true - y_pred).abs().mean(-1)

    wrapped = losses.get(my_loss)
    assert isinstance(wrapped, losses.LossFunctionWrapper) and wrapped.name == "my_loss"


def test_get_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError, match=r"^Unknown loss: 'sparse_categorical_crossentropyy'\. "
                                         r"Did you mean 'sparse_categorical_crossentropy'\? "
                                         r"Valid names: 'BinaryCrossentropy', "):
        losses.get("sparse_categorical_crossentropyy")
    with pytest.raises(ValueError, match=r"^Unknown loss: 'zzz'\. Valid names: .*'mse'"):
        losses.get("zzz")


def test_get_rejects_other_objects():
    with pytest.raises(TypeError, match=r"Received: loss=3 \(of type int\)\. Expected a loss name"):
        losses.get(3)


# ---------------------------------------------------------------------------------------------
# Wrappers
# ---------------------------------------------------------------------------------------------


def test_torch_cross_entropy_wrapper():
    labels, x = sparse_logits()
    labels, x = torch.tensor(labels), torch.tensor(x)
    loss = losses.TorchLossWrapper(nn.CrossEntropyLoss())
    assert loss.name == "cross_entropy_loss"
    assert_close(loss(labels, x), F.cross_entropy(x, labels).item())
    w = torch.linspace(0, 2, N, dtype=torch.float64)
    per_sample = F.cross_entropy(x, labels, reduction="none")
    assert_close(loss(labels, x, sample_weight=w), (w * per_sample).sum().item() / N)
    assert_close(loss(labels, x, sample_weight=torch.full((N,), 2.0)), 2 * per_sample.mean().item())
    assert loss.module.reduction == "mean"  # the user's module is untouched


def test_torch_mse_wrapper_reduces_non_batch_dims_by_mean():
    y, p = regression()
    y, p = torch.tensor(y), torch.tensor(p)
    loss = losses.get(nn.MSELoss())
    assert_close(loss(y, p), F.mse_loss(p, y).item())
    w = np.random.default_rng(1).uniform(0, 2, N)
    assert_close(loss(y, p, sample_weight=w), (w * ref_mse(y.numpy(), p.numpy())).sum() / N)
    summed = losses.get(nn.MSELoss(reduction="sum"))
    assert_close(summed(y, p), F.mse_loss(p, y, reduction="sum").item())
    assert summed.reduction == "sum"


def test_torch_kl_div_batchmean_sums_per_sample():
    y, p = distributions()
    y, p = torch.tensor(y), torch.tensor(p)
    loss = losses.get(nn.KLDivLoss(reduction="batchmean"))
    per_sample = F.kl_div(p.log(), y, reduction="none").sum(-1)
    assert_close(loss(y, p.log()), per_sample.mean().item())
    assert_close(loss(y, p.log(), sample_weight=torch.full((N,), 2.0)),
                 2 * per_sample.mean().item())


def test_torch_wrapper_copy_shares_buffers():
    module = nn.CrossEntropyLoss(weight=torch.ones(C))
    loss = losses.TorchLossWrapper(module)
    module.double()
    assert loss._unreduced.weight.dtype == torch.float64


def test_torch_wrapper_rejects_non_loss_modules():
    with pytest.raises(TypeError, match=r"expects a torch.nn loss module.*Received: Linear"):
        losses.TorchLossWrapper(nn.Linear(2, 2))


def test_loss_function_wrapper():
    def scaled_abs(y_true, y_pred, scale=1.0):
        return scale * (y_true - y_pred).abs().mean(-1)

    y, p = regression()
    loss = losses.LossFunctionWrapper(scaled_abs, scale=3.0)
    assert loss.name == "scaled_abs"
    assert_close(loss(torch.tensor(y), torch.tensor(p)), 3 * ref_mae(y, p).mean())
    w = np.random.default_rng(1).uniform(0, 2, N)
    assert_close(loss(torch.tensor(y), torch.tensor(p), sample_weight=w),
                 3 * (w * ref_mae(y, p)).sum() / N)
    assert losses.LossFunctionWrapper(scaled_abs, name="custom").name == "custom"
    # (N,) targets are aligned to (N, 1) outputs, giving one loss per sample.
    unreduced = losses.LossFunctionWrapper(scaled_abs, reduction="none")
    per_sample = unreduced(y[:, 0], torch.tensor(p[:, :1]))
    assert_close(per_sample, np.abs(y[:, 0] - p[:, 0]))
    # A scalar-returning function is weighted Keras-style: loss * mean(weights).
    scalar = losses.LossFunctionWrapper(lambda t, q: ((t - q) ** 2).mean())
    assert_close(scalar(torch.tensor(y), torch.tensor(p), sample_weight=[2.0] * N),
                 2 * ref_mse(y, p).mean())
    with pytest.raises(TypeError, match="expects a callable"):
        losses.LossFunctionWrapper("mse")
