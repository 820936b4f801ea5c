"""scikit-learn estimators around torchfit models: ``SKLearnClassifier``, ``SKLearnRegressor``.

Keras 3's ``keras.wrappers`` for torchfit: a function that builds and compiles a
``torchfit.Model`` becomes an estimator that ``Pipeline``, ``GridSearchCV``,
``cross_val_score`` and ``clone`` accept. scikit-learn is an optional extra
(``pip install "torchfit[sklearn]"``): ``import torchfit`` never imports this package or
scikit-learn; ``import torchfit.wrappers`` does, and says how to install it when it is missing.

Example:
    >>> from torchfit.wrappers import SKLearnClassifier
    >>> def build(X, y, hidden=8):
    ...     model = torchfit.Sequential(nn.Linear(X.shape[1], hidden), nn.ReLU(),
    ...                                 nn.Linear(hidden, y.shape[1]), device="cpu")
    ...     model.compile(optimizer="adam", loss=torchfit.losses.CategoricalCrossentropy(
    ...         from_logits=True))
    ...     return model
    >>> X = np.random.rand(40, 3)
    >>> labels = np.where(X[:, 0] > 0.5, "big", "small")
    >>> clf = SKLearnClassifier(build, model_kwargs={"hidden": 4}, fit_kwargs={"epochs": 2})
    >>> clf.fit(X, labels).classes_.tolist()
    ['big', 'small']
    >>> clf.predict(X[:2]).shape, clf.predict_proba(X[:2]).shape
    ((2,), (2, 2))
"""

from torchfit.wrappers.sklearn_wrapper import SKLearnClassifier, SKLearnRegressor

__all__ = ["SKLearnClassifier", "SKLearnRegressor"]
