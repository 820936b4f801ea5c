"""``SKLearnClassifier`` and ``SKLearnRegressor``: Keras 3's ``keras.wrappers`` for torchfit.

Semantics follow Keras 3's ``keras/src/wrappers/sklearn_wrapper.py``: the estimator's parameters
are ``model`` (a function that builds a *compiled* model, or a compiled ``torchfit.Model``),
``model_kwargs`` (keywords of that function), ``fit_kwargs`` (keywords of ``Model.fit``) and
``warm_start`` (plus scikit-learn's usual ``random_state``, see below); ``fit`` validates the
data with scikit-learn's ``validate_data`` (so ``n_features_in_`` and ``feature_names_in_`` are
set), builds the model from the *validated* ``X`` and the *encoded* ``y``, and trains it; the fitted model is ``model_``, its
``History.history`` ``history_``. A classifier passes the build function ``y`` one-hot encoded
(``y.shape[1]`` is the number of classes), as Keras does, and a regressor ``y`` as a 2-D array.

Where torchfit differs from Keras's wrapper, and why:

- The build function is called ``model(X, y, **model_kwargs)`` (positionally, so any parameter
  names work; Keras passes ``X=``, ``y=`` by keyword).
- A ``torchfit.Model`` instance is deep-copied before training unless ``warm_start=True``
  (Keras re-initialises it with ``clone_model``; a torch module has no general re-initialiser,
  so the copy starts from the instance's weights).
- Classifiers feed the model the labels its loss expects (class indices for sparse losses and
  ``nn.CrossEntropyLoss``, a 0/1 column for one output unit, one-hot otherwise; see
  ``torchfit.wrappers.targets``) and add ``predict_proba``. There is no ``decision_function``
  (Keras returns the raw outputs, probabilities or logits alike, which fails scikit-learn's
  consistency checks).
- ``fit`` and ``predict`` run with ``verbose=0`` unless ``fit_kwargs`` (or ``fit``'s keywords)
  say otherwise; ``sample_weight`` goes to ``Model.fit``. ``fit_kwargs`` is never modified
  (Keras's ``fit`` updates it in place).
- Regressors accept several targets (``y`` of shape ``(n, k)``; Keras's accepts one column).
- ``random_state`` (an int, a ``RandomState`` or ``None``, the default): when set, building and
  training run with torch's generators seeded from it (and restored afterwards), so that ``fit``
  is reproducible on CPU and scikit-learn's reproducibility checks run and pass; Keras's
  wrapper has no such parameter and declares itself non-deterministic, as these do with
  ``random_state=None``.

scikit-learn's own estimator checks (``sklearn.utils.estimator_checks``) pass, with and without
``random_state``, except the one listed in ``EXPECTED_FAILED_CHECKS`` with its reason:
``check_sample_weight_equivalence_on_dense_data`` (a sample weight of 2 is not the sample
repeated for mini-batch training). Keras 3's wrapper lists eight expected failures for its
classifier.
"""

import contextlib
import io
import pickle
import weakref

import numpy as np
import torch

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
except ImportError as error:  # an optional extra: say how to get it
    raise ImportError(
        'torchfit.wrappers needs scikit-learn (1.6 or later). Install it with: pip install '
        '"torchfit[sklearn]" (or pip install scikit-learn).'
    ) from error

from torchfit.model import Model
from torchfit.wrappers import targets

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "EXPECTED_FAILED_CHECKS"]

# scikit-learn's estimator checks that fail, and why (see tests/wrappers/test_sklearn_wrapper.py).
_WEIGHTS_ARE_NOT_REPEATS = (
    "mini-batch training with sample_weight=2 is not training on the sample twice: the "
    "batches, their number and the loss's mean over the batch differ (Keras's wrapper fails it "
    "too, and so does any SGD-trained estimator)"
)
EXPECTED_FAILED_CHECKS = {
    "SKLearnClassifier": {"check_sample_weight_equivalence_on_dense_data":
                          _WEIGHTS_ARE_NOT_REPEATS},
    "SKLearnRegressor": {"check_sample_weight_equivalence_on_dense_data":
                         _WEIGHTS_ARE_NOT_REPEATS},
}


class _Pickler(pickle.Pickler):
    """Pickles weak references as weak references to the (pickled) object they point to.

    A compiled ``torchfit.Model`` refers to itself weakly (its compiled metrics know their
    owner), which plain ``pickle`` refuses and ``copy.deepcopy`` leaves pointing at the original
    model; this pickler keeps the link inside the copy.
    """

    def reducer_override(self, obj):
        if type(obj) is weakref.ReferenceType and obj() is not None:
            return weakref.ref, (obj(),)
        return NotImplemented


def _dumps(obj):
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


class _SKLearnBase(BaseEstimator):
    """What the classifier and the regressor share: parameters, model building, fit, predict."""

    def __init__(self, model, model_kwargs=None, fit_kwargs=None, warm_start=False,
                 random_state=None):
        self.model = model
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs
        self.warm_start = warm_start
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Random initialisation and shuffling (as Keras says), unless random_state fixes them.
        tags.non_deterministic = self.random_state is None
        return tags

    def __getstate__(self):
        # The fitted model (and a model given as `model`) pickle through `_Pickler`.
        return {"torchfit_pickle": _dumps(super().__getstate__())}

    def __setstate__(self, state):
        if "torchfit_pickle" in state:
            state = pickle.loads(state["torchfit_pickle"])
        super().__setstate__(state)

    @property
    def epoch_(self):
        """The number of epochs the last ``fit`` ran."""
        check_is_fitted(self)
        return len(next(iter(self.history_.values()), []))

    def _build(self, X, y):
        if self.warm_start and hasattr(self, "model_"):
            return self.model_
        if isinstance(self.model, Model):
            model = self.model if self.warm_start else pickle.loads(_dumps(self.model))
        elif callable(self.model):
            model = self.model(X, y, **(self.model_kwargs or {}))
        else:
            raise TypeError(
                f"{type(self).__name__}(model=...) takes a function build(X, y, **model_kwargs) "
                "that returns a compiled torchfit.Model, or a compiled torchfit.Model. "
                f"Received: model={self.model!r}"
            )
        if not isinstance(model, Model):
            raise TypeError(
                f"The build function must return a torchfit.Model. Received: "
                f"{type(model).__name__} from {getattr(self.model, '__name__', self.model)!r}. "
                "Wrap the module, torchfit.Model(module), and compile it before returning it."
            )
        if not model.compiled or model.compiled_loss is None or model.optimizer is None:
            raise ValueError(
                f"{type(self).__name__} trains a compiled model with a loss and an optimizer. "
                "Received a model that is not compiled. Call model.compile(optimizer=..., "
                "loss=...) in the build function."
            )
        return model

    def _validate(self, X, y="no_validation", reset=False):
        # Floats for the model: integers and objects become float32, float64 stays (torchfit
        # casts floating inputs to the module's dtype).
        return validate_data(self, X, y, reset=reset, dtype=[np.float32, np.float64],
                             **({} if isinstance(y, str) else self._y_checks))

    def _seeded(self):
        """torch's generators seeded from ``random_state`` for this fit, restored afterwards
        (nothing changes when it is ``None``)."""
        if self.random_state is None:
            return contextlib.nullcontext()
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        stack = contextlib.ExitStack()
        # Every CUDA device too (torch.manual_seed seeds them all), so that none keeps the seed.
        cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        stack.enter_context(torch.random.fork_rng(devices=cuda))
        torch.manual_seed(seed)
        return stack

    def _fit(self, X, y, target_for, sample_weight, kwargs):
        """Builds and trains the model; ``target_for(model)`` gives the targets to fit."""
        fit_kwargs = {"verbose": 0, **(self.fit_kwargs or {}), **kwargs}
        if sample_weight is not None:
            fit_kwargs["sample_weight"] = _check_sample_weight(sample_weight, X, dtype=np.float32)
        with self._seeded():
            model = self._build(X, y)
            self.history_ = dict(model.fit(X, target_for(model), **fit_kwargs).history)
        self.model_ = model
        return self

    def _outputs(self, X):
        check_is_fitted(self)
        X = self._validate(X)
        outputs = self.model_.predict(X, verbose=0)
        if not isinstance(outputs, np.ndarray):
            raise ValueError(
                f"{type(self).__name__} needs a model with a single tensor output. Received "
                f"outputs of type {type(outputs).__name__}."
            )
        return outputs


class SKLearnClassifier(ClassifierMixin, _SKLearnBase):
    """A scikit-learn classifier that trains the ``torchfit.Model`` ``model(X, y)`` builds.

    Args:
        model: a function ``build(X, y, **model_kwargs)`` returning a compiled
            ``torchfit.Model``, called at each ``fit`` with the validated ``X`` and the
            one-hot ``y`` (``(n_samples, n_classes)`` float32); or a compiled
            ``torchfit.Model``, deep-copied at each ``fit`` unless ``warm_start``.
        model_kwargs: keywords for ``model`` (a dict; searchable with ``GridSearchCV``).
        fit_kwargs: keywords for ``Model.fit`` (``epochs``, ``batch_size``, ...); those given
            to ``fit`` itself take precedence. ``verbose`` defaults to 0.
        warm_start: reuse the fitted model (or the given instance) and continue training it.
        random_state: seed torch's generators for each ``fit`` (initialisation, shuffling,
            dropout), restoring them afterwards; ``None`` (the default) leaves them alone.

    Attributes:
        model_: the fitted ``torchfit.Model``.
        history_: its ``History.history`` dict.
        classes_: the sorted labels (any type ``np.unique`` sorts: strings, ints, ...).
        n_features_in_: the number of features of ``X``.

    The labels reach the model as its loss expects (see ``torchfit.wrappers.targets``):
    class indices for sparse losses, a 0/1 column for one output unit, one-hot otherwise.
    ``predict_proba`` turns the outputs into probabilities by the same loss (softmax/sigmoid of
    logits); ``predict`` returns the most probable label.

    Example:
        >>> from torchfit.wrappers import SKLearnClassifier
        >>> def build(X, y):
        ...     model = torchfit.Sequential(nn.Linear(X.shape[1], 2), device="cpu")
        ...     model.compile(optimizer="adam", loss=nn.CrossEntropyLoss())  # class indices
        ...     return model
        >>> X = np.random.rand(20, 3)
        >>> clf = SKLearnClassifier(build).fit(X, np.array(["cat", "dog"] * 10))
        >>> set(clf.predict(X)) <= {"cat", "dog"}, clf.n_features_in_
        (True, 3)
    """

    _y_checks = {"y_numeric": False}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True  # a few epochs on the checks' tiny data sets
        return tags

    def fit(self, X, y, sample_weight=None, **kwargs):
        """Encodes the labels, builds the model and trains it; ``kwargs`` go to ``Model.fit``."""
        X, y = self._validate(X, y, reset=True)
        check_classification_targets(y)
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                "A classifier needs at least two classes to learn from. Received labels with "
                f"one class only: {classes.tolist()!r}."
            )
        self.classes_ = classes
        one_hot = targets.encode("one_hot", codes, len(classes))

        def target_for(model):
            loss = targets.compiled_loss_of(model)
            width = np.asarray(model.predict_on_batch(X[:1])).shape[-1]
            self._target_kind = targets.target_kind(loss, width, len(classes))
            return targets.encode(self._target_kind, codes, len(classes))

        return self._fit(X, one_hot, target_for, sample_weight, kwargs)

    def predict_proba(self, X):
        """Class probabilities, ``(n_samples, n_classes)`` in ``classes_`` order."""
        outputs = self._outputs(X)
        return targets.probabilities(targets.compiled_loss_of(self.model_), outputs)

    def predict(self, X):
        """The most probable label of each sample."""
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]


class SKLearnRegressor(RegressorMixin, _SKLearnBase):
    """A scikit-learn regressor that trains the ``torchfit.Model`` ``model(X, y)`` builds.

    Args: as ``SKLearnClassifier``; the build function receives ``y`` as a float32
    ``(n_samples, n_targets)`` array (one column for a 1-D ``y``), and ``predict`` returns the
    shape ``y`` had.

    Example:
        >>> from torchfit.wrappers import SKLearnRegressor
        >>> def build(X, y):
        ...     model = torchfit.Sequential(nn.Linear(X.shape[1], y.shape[1]), device="cpu")
        ...     model.compile(optimizer="sgd", loss="mse")
        ...     return model
        >>> X = np.random.rand(32, 2)
        >>> reg = SKLearnRegressor(build, fit_kwargs={"epochs": 3}).fit(X, X.sum(1))
        >>> reg.predict(X).shape
        (32,)
    """

    _y_checks = {"y_numeric": True, "multi_output": True}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y, sample_weight=None, **kwargs):
        """Builds the model and trains it; ``kwargs`` go to ``Model.fit``."""
        X, y = self._validate(X, y, reset=True)
        self._y_ndim = y.ndim
        y = np.asarray(y, dtype=np.float32).reshape(len(y), -1)
        return self._fit(X, y, lambda model: y, sample_weight, kwargs)

    def predict(self, X):
        """The predictions, shaped as the ``y`` given to ``fit`` (1-D for a 1-D ``y``)."""
        outputs = self._outputs(X).astype(np.float64)  # scikit-learn's float precision
        if self._y_ndim == 1 and outputs.ndim == 2 and outputs.shape[1] == 1:
            return outputs[:, 0]
        return outputs
