"""SKLearnClassifier / SKLearnRegressor: scikit-learn's own estimator checks, pipelines and
searches, label encoding, parameters, cloning, pickling and warm starts."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import torchfit

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from torchfit.wrappers import SKLearnClassifier, SKLearnRegressor  # noqa: E402
from torchfit.wrappers.sklearn_wrapper import EXPECTED_FAILED_CHECKS  # noqa: E402


def mlp(X, y, hidden=8, loss=None, learning_rate=0.02):
    """The build function: sizes from the validated X and the encoded y, as in Keras's test."""
    model = torchfit.Sequential(nn.Linear(X.shape[1], hidden), nn.ReLU(),
                                nn.Linear(hidden, y.shape[1]), device="cpu")
    model.compile(optimizer=torchfit.optimizers.Adam(learning_rate=learning_rate),
                  loss=loss or torchfit.losses.CategoricalCrossentropy(from_logits=True))
    return model


def sparse_mlp(X, y, hidden=8):
    return mlp(X, y, hidden, loss=nn.CrossEntropyLoss())  # class indices, torch order


def one_unit(X, y):
    model = torchfit.Sequential(nn.Linear(X.shape[1], 1), device="cpu")
    model.compile(optimizer=torchfit.optimizers.Adam(learning_rate=0.05),
                  loss=nn.BCEWithLogitsLoss())
    return model


def regression_mlp(X, y, hidden=8):
    return mlp(X, y, hidden, loss="mse")


FAST = {"epochs": 5, "batch_size": 16}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models train several times faster on one thread on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@parametrize_with_checks(
    [SKLearnClassifier(mlp, fit_kwargs=FAST, random_state=0),
     SKLearnRegressor(regression_mlp, fit_kwargs=FAST, random_state=0)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS[type(estimator).__name__],
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks(
    [SKLearnClassifier(sparse_mlp, fit_kwargs=FAST),  # class indices; unseeded
     SKLearnRegressor(regression_mlp, fit_kwargs=FAST)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS[type(estimator).__name__],
)
def test_sklearn_estimator_checks_sparse_and_unseeded(estimator, check):
    check(estimator)


def _blobs(n=60, seed=0):
    X, y = make_classification(n_samples=n, n_features=4, n_informative=3, n_redundant=0,
                               n_classes=3, n_clusters_per_class=1, class_sep=2.0,
                               random_state=seed)
    return X, y


def test_pipeline_grid_search_and_cross_val_score():
    X, y = _blobs(90)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("clf", SKLearnClassifier(mlp, fit_kwargs={"epochs": 5, "batch_size": 8},
                                               random_state=0))])
    grid = GridSearchCV(pipe, {"clf__model_kwargs": [{"hidden": 4}, {"hidden": 16}],
                               "clf__fit_kwargs": [{"epochs": 1, "batch_size": 8},
                                                   {"epochs": 10, "batch_size": 8}]}, cv=2)
    grid.fit(X, y)
    assert grid.best_params_["clf__fit_kwargs"]["epochs"] == 10  # more training wins
    assert grid.best_score_ > 0.8
    assert grid.predict(X).shape == (90,) and set(grid.predict(X)) <= {0, 1, 2}
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8


def test_predictions_agree_with_the_underlying_model():
    X, y = _blobs()
    clf = SKLearnClassifier(mlp, fit_kwargs=FAST, random_state=0).fit(X, y)
    logits = clf.model_.predict(X.astype(np.float32), verbose=0)
    expected = torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), logits.argmax(1))
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    reg = SKLearnRegressor(regression_mlp, fit_kwargs=FAST).fit(X, y)
    np.testing.assert_array_equal(reg.predict(X), reg.model_.predict(X, verbose=0)[:, 0])
    assert reg.predict(X).dtype == np.float64
    assert reg.history_.keys() == {"loss"} and reg.epoch_ == 5


@pytest.mark.parametrize("build", [mlp, sparse_mlp, one_unit])
def test_string_labels_round_trip(build):
    X, y = _blobs(64)
    X, y = X[y < 2], y[y < 2]  # two classes
    labels = np.array(["cat", "dog"])[y]
    clf = SKLearnClassifier(build, fit_kwargs={"epochs": 20, "batch_size": 8},
                            random_state=0).fit(X, labels)
    assert clf.classes_.tolist() == ["cat", "dog"]
    predicted = clf.predict(X)
    assert predicted.dtype == labels.dtype and set(predicted) <= {"cat", "dog"}
    assert (predicted == labels).mean() > 0.9
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], predicted)


def test_targets_follow_the_loss():
    X, y = _blobs(30)
    seen = {}

    def spy(build):
        def built(X, y, **kwargs):
            model = build(X, y, **kwargs)
            fit = model.fit
            model.fit = lambda x, y, **kw: seen.setdefault(build.__name__, y) is None or fit(
                x, y, **kw)
            return model
        return built

    SKLearnClassifier(spy(mlp), fit_kwargs={"epochs": 1}).fit(X, y + 10)
    SKLearnClassifier(spy(sparse_mlp), fit_kwargs={"epochs": 1}).fit(X, y + 10)
    np.testing.assert_array_equal(seen["mlp"], np.eye(3, dtype=np.float32)[y])
    np.testing.assert_array_equal(seen["sparse_mlp"], y)
    assert seen["sparse_mlp"].dtype == np.int64


def test_numeric_labels_keep_their_values():
    X, y = _blobs(45)
    labels = np.array([3, 7, 11])[y]
    clf = SKLearnClassifier(mlp, fit_kwargs=FAST).fit(X, labels)
    assert clf.classes_.tolist() == [3, 7, 11] and set(clf.predict(X)) <= {3, 7, 11}


def test_get_set_params_and_clone():
    clf = SKLearnClassifier(mlp, model_kwargs={"hidden": 4}, fit_kwargs={"epochs": 1})
    assert clf.get_params() == {"model": mlp, "model_kwargs": {"hidden": 4},
                                "fit_kwargs": {"epochs": 1}, "warm_start": False,
                                "random_state": None}
    clf.set_params(model_kwargs={"hidden": 6}, warm_start=True)
    assert clf.model_kwargs == {"hidden": 6} and clf.warm_start
    X, y = _blobs(30)
    clf.fit(X, y)
    assert clf.model_.module[0].out_features == 6
    copy = clone(clf)
    assert copy is not clf and copy.get_params() == clf.get_params()
    assert copy.model_kwargs is not clf.model_kwargs
    assert not hasattr(copy, "model_")
    assert clf.fit_kwargs == {"epochs": 1}  # fit never writes into its parameters


def test_warm_start_continues_the_same_model():
    X, y = _blobs(30)
    clf = SKLearnClassifier(mlp, warm_start=True).fit(X, y, epochs=1)
    first = clf.model_
    weights = first.module[0].weight.detach().clone()
    clf.fit(X, y, epochs=0)
    assert clf.model_ is first and torch.equal(first.module[0].weight, weights)
    clf.fit(X, y, epochs=1)
    assert clf.model_ is first and not torch.equal(first.module[0].weight, weights)
    cold = SKLearnClassifier(mlp).fit(X, y, epochs=1)
    previous = cold.model_
    assert cold.fit(X, y, epochs=1).model_ is not previous


def test_a_model_instance_is_copied_unless_warm_start():
    X, y = _blobs(30)
    model = mlp(X, np.eye(3)[y])
    weights = model.module[0].weight.detach().clone()
    clf = SKLearnClassifier(model, fit_kwargs={"epochs": 2}).fit(X, y)
    assert clf.model_ is not model and torch.equal(model.module[0].weight, weights)
    assert clf.model_.compiled_metrics._owner() is clf.model_  # the copy knows itself
    warm = SKLearnClassifier(model, warm_start=True, fit_kwargs={"epochs": 2}).fit(X, y)
    assert warm.model_ is model and not torch.equal(model.module[0].weight, weights)


def test_random_state_makes_fit_reproducible_and_leaves_torch_alone():
    X, y = _blobs(30)
    state = torch.random.get_rng_state()
    a = SKLearnClassifier(mlp, fit_kwargs=FAST, random_state=3).fit(X, y).predict_proba(X)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = SKLearnClassifier(mlp, fit_kwargs=FAST, random_state=3).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_pickle_round_trip_keeps_predictions():
    X, y = _blobs(30)
    clf = SKLearnClassifier(mlp, fit_kwargs=FAST).fit(X, np.array(["a", "b", "c"])[y])
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    assert restored.model_.compiled_metrics._owner() is restored.model_
    restored.fit(X, y)  # and it trains again


def test_errors_say_what_to_do():
    X, y = _blobs(30)
    with pytest.raises(TypeError, match="must return a torchfit.Model. Received: Linear"):
        SKLearnClassifier(lambda X, y: nn.Linear(4, 3)).fit(X, y)
    with pytest.raises(ValueError, match="not compiled.*model.compile"):
        SKLearnClassifier(lambda X, y: torchfit.Sequential(nn.Linear(4, 3))).fit(X, y)
    with pytest.raises(TypeError, match=r"takes a function build\(X, y"):
        SKLearnClassifier("mlp").fit(X, y)
    with pytest.raises(ValueError, match="at least two classes.*\\['only'\\]"):
        SKLearnClassifier(mlp).fit(X, np.array(["only"] * 30))
    with pytest.raises(ValueError, match="2 output units, but the labels have 3 classes"):
        SKLearnClassifier(lambda X, y: mlp(X, y[:, :2])).fit(X, y)


def test_imports_are_lazy_and_a_missing_sklearn_names_the_extra():
    """`import torchfit` imports neither scikit-learn nor matplotlib; `import torchfit.wrappers`
    without scikit-learn says how to install it (one subprocess for both: imports are slow)."""
    code = ("import sys, torch, numpy; before = set(sys.modules); import torchfit\n"
            "print([m for m in ('sklearn', 'matplotlib') if m in sys.modules "
            "and m not in before])\n"
            "sys.modules['sklearn'] = None\n"
            "try:\n    import torchfit.wrappers\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    first, message = out.stdout.strip().split("\n", 1)
    assert first == "[]"
    assert "torchfit.wrappers needs scikit-learn" in message
    assert 'pip install "torchfit[sklearn]"' in message
