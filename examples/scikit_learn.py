"""A torchfit model as a scikit-learn estimator: `Pipeline`, `GridSearchCV`, `cross_val_score`.

`torchfit.wrappers.SKLearnClassifier(model=build, model_kwargs=..., fit_kwargs=...)` trains the
compiled `torchfit.Model` that `build(X, y, **model_kwargs)` returns; the grid search below tunes
the hidden width (a `model_kwargs` entry) and the number of epochs (a `fit_kwargs` entry) on
scikit-learn's 8x8 digits, scaled by a `StandardScaler` in the same pipeline. Needs the `sklearn`
extra: `pip install "torchfit[sklearn]"`. (The file is not named `sklearn.py`: it would shadow
scikit-learn itself when run from this folder.)

    python examples/scikit_learn.py
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

import torchfit
from torchfit.wrappers import SKLearnClassifier


def build_model(X, y, hidden=32, learning_rate=3e-3):
    """X: the scaled features; y: the labels one-hot encoded (y.shape[1] classes)."""
    model = torchfit.Model(nn.Sequential(nn.Linear(X.shape[1], hidden), nn.ReLU(),
                                         nn.Linear(hidden, y.shape[1])))
    model.compile(optimizer=torchfit.optimizers.Adam(learning_rate=learning_rate),
                  loss=torchfit.losses.CategoricalCrossentropy(from_logits=True))
    return model


def main(cv=3, verbose=1):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    pipeline = Pipeline([
        ("scale", StandardScaler()),
        ("net", SKLearnClassifier(build_model, fit_kwargs={"batch_size": 32}, random_state=0)),
    ])
    search = GridSearchCV(pipeline, {
        "net__model_kwargs": [{"hidden": 16}, {"hidden": 64}],
        "net__fit_kwargs": [{"epochs": 1, "batch_size": 32}, {"epochs": 5, "batch_size": 32}],
    }, cv=cv)
    search.fit(X_train, y_train)
    test_accuracy = search.score(X_test, y_test)
    best = search.best_estimator_
    scores = cross_val_score(best, X_test, y_test, cv=cv)
    if verbose:
        print("best parameters:", search.best_params_)
        print(f"cross-validated accuracy of the best: {search.best_score_:.3f}")
        print(f"held-out test accuracy: {test_accuracy:.3f}")
        print(f"cross_val_score on the test split: {scores.round(3).tolist()}")
    return search, test_accuracy, scores


if __name__ == "__main__":
    main()
