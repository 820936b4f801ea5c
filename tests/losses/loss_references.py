"""Shared by tests/losses: NumPy versions of Keras's loss formulas (float64), and inputs."""

import numpy as np
import torch

from torchfit import losses

N, C = 16, 5


EPS = 1e-7


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
    # Keras 3 (torch backend): -log(clip(p_y / sum(p))).
    p = np_clip(p / p.sum(-1, keepdims=True))
    return -np.log(np.take_along_axis(p, labels[:, None], -1)[:, 0])


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


def np_bce_elements(y, p):
    p = np_clip(p)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def ref_bfce(y, p, gamma=2.0, alpha=0.25, apply_class_balancing=False, from_logits=False):
    # Keras 3: logits through a sigmoid, then the clipped binary crossentropy times (1 - p_t)^gamma.
    if from_logits:
        p = 1 / (1 + np.exp(-p))
    p_t = y * p + (1 - y) * (1 - p)
    focal = (1 - p_t) ** gamma * np_bce_elements(y, p)
    if apply_class_balancing:
        focal = (y * alpha + (1 - y) * (1 - alpha)) * focal
    return focal.mean(-1)


def ref_cfce(y, p, alpha=0.25, gamma=2.0, from_logits=False):
    if from_logits:
        p = np_softmax(p)
    p = np_clip(p / p.sum(-1, keepdims=True))
    return (alpha * (1 - p) ** gamma * -y * np.log(p)).sum(-1)


def ref_gce(labels, p, q=0.5):
    return (1 - np.take_along_axis(p, labels[:, None].astype(int), -1)[:, 0] ** q) / q


def ref_dice(y, p):
    return 1 - 2 * (y * p).sum(1) / (y.sum(1) + p.sum(1) + EPS)


def ref_tversky(y, p, alpha=0.5, beta=0.5):
    tp, fp, fn = (y * p).sum(1), ((1 - y) * p).sum(1), (y * (1 - p)).sum(1)
    return 1 - tp / (tp + alpha * fp + beta * fn + EPS)


def ref_circle(labels, x, gamma=80.0, margin=0.4, remove_diagonal=True):
    # Sun et al. 2020 as Keras 3 writes it: cosine distances d, per-pair weights and margins.
    d = np.maximum(1 - x @ x.T, 0)
    pos = labels[:, None] == labels[None, :]
    neg = ~pos
    if remove_diagonal:
        pos = pos & ~np.eye(len(labels), dtype=bool)
    pos_terms = -gamma * np.maximum((margin + d) * pos, 0) * (margin - d)
    neg_terms = gamma * np.maximum((1 + margin - d) * neg, 0) * (1 - margin - d)

    def logsumexp(values, mask):  # -inf for a row with no pair
        top = np.where(mask, values, -np.inf).max(1, keepdims=True)
        shift = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(divide="ignore"):  # log(0) = -inf on purpose
            return (shift + np.log((np.exp(values - shift) * mask).sum(1, keepdims=True)))[:, 0]

    return np.logaddexp(0, logsumexp(pos_terms, pos) + logsumexp(neg_terms, neg))


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


def masks():
    r = rng()
    return r.integers(0, 2, (N, C)).astype(float), r.uniform(0, 1, (N, C))


def embeddings():
    r = rng()
    x = r.normal(size=(N, C))
    return r.integers(0, 3, N), x / np.linalg.norm(x, axis=-1, keepdims=True)


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
    ("bfce", losses.BinaryFocalCrossentropy, {}, "binary_focal_crossentropy", {}, ref_bfce,
     binary_probs),
    ("bfce_balanced_logits", losses.BinaryFocalCrossentropy,
     {"apply_class_balancing": True, "alpha": 0.4, "gamma": 3.0, "from_logits": True},
     "binary_focal_crossentropy",
     {"apply_class_balancing": True, "alpha": 0.4, "gamma": 3.0, "from_logits": True},
     lambda y, p: ref_bfce(y, p, 3.0, 0.4, True, True), binary_logits),
    ("cfce", losses.CategoricalFocalCrossentropy, {}, "categorical_focal_crossentropy", {},
     ref_cfce, one_hot_probs),
    ("cfce_logits", losses.CategoricalFocalCrossentropy,
     {"alpha": 0.5, "gamma": 1.5, "from_logits": True}, "categorical_focal_crossentropy",
     {"alpha": 0.5, "gamma": 1.5, "from_logits": True},
     lambda y, p: ref_cfce(y, p, 0.5, 1.5, True), one_hot_logits),
    ("gce", losses.CategoricalGeneralizedCrossEntropy, {"q": 0.3},
     "categorical_generalized_cross_entropy", {"q": 0.3}, lambda y, p: ref_gce(y, p, 0.3),
     sparse_probs),
    ("dice", losses.Dice, {"axis": 1}, "dice", {"axis": 1}, ref_dice, masks),
    ("tversky", losses.Tversky, {"alpha": 0.3, "beta": 0.7, "axis": 1}, "tversky",
     {"alpha": 0.3, "beta": 0.7, "axis": 1}, lambda y, p: ref_tversky(y, p, 0.3, 0.7), masks),
    ("circle", losses.Circle, {"gamma": 2.0}, "circle", {"gamma": 2.0},
     lambda y, p: ref_circle(y, p, gamma=2.0), embeddings),
]


def assert_close(actual, expected, rtol=1e-6, atol=1e-9):
    np.testing.assert_allclose(torch.as_tensor(actual).detach().numpy(), expected, rtol=rtol,
                               atol=atol)
