r"""scikit-learn estimators over the gdlab engine: :class:`GDRegressor`, :class:`GDClassifier`.

Both build a :class:`gdlab.Sequential` (hidden Dense layers, then an output layer whose
activation is the loss's link) and train it with :meth:`gdlab.Sequential.fit`: there is
no second implementation of the math. They follow the scikit-learn contract (``__init__``
only stores; ``fit`` validates and returns ``self``; fitted state ends in ``_``), so they
work in ``Pipeline``, ``ColumnTransformer``, ``GridSearchCV`` and ``cross_val_score``.

=====================  ==============================  ===================================
estimator, ``loss``    output layer                    ``predict``
=====================  ==============================  ===================================
regressor ``"mse"``    1 unit, linear                  :math:`\hat{y}` (× exposure)
``"poisson"``,         1 unit, exponential (log link)  rate :math:`\hat{y}`; with
``"gamma"``,                                           ``exposure``, :math:`\mu = e\hat{y}`
``"tweedie"``
classifier, 2 classes  1 unit, sigmoid                 the class of the larger probability
classifier, k classes  k units, softmax                idem
=====================  ==============================  ===================================

With ``exposure`` (rate models) the target ``y`` is the observed count or amount of the
row, and the loss compares it with :math:`\mu_i = e_i\hat{y}_i`. For Poisson this is the
same as scikit-learn's convention (target ``y/e``, ``sample_weight=e``): the deviances
agree row by row, :math:`e\,D(y/e, \hat{y}) = D(y, e\hat{y})`.

The output bias starts at the fitted null model (the link of the weighted mean, e.g.
:math:`b = \log(\sum w y / \sum w e)`), and without hidden layers the weights start at
0: the fit starts from the intercept-only model, which is what a GLM solver does.
"""

from __future__ import annotations

import copy
import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from gdlab import metrics
from gdlab._checks import check_choice, check_fraction, check_positive_int, check_positive_number
from gdlab._typing import FloatArray
from gdlab.io.data import check_exposure
from gdlab.nn import losses as losses_module
from gdlab.nn.layers import Dense
from gdlab.optim import optimizers as optimizers_module
from gdlab.optim.batches import check_batch_size
from gdlab.train.callbacks import EarlyStopping
from gdlab.train.model import Sequential

__all__ = ["GDClassifier", "GDRegressor"]

_OPTIMIZERS = ("sgd", "momentum", "adam")
_RATE_LOSSES = ("poisson", "gamma", "tweedie")


def _check_hidden(sizes: Any) -> tuple[int, ...]:
    if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
        sizes = (sizes,)
    if not isinstance(sizes, tuple | list):
        raise TypeError(f"hidden_layer_sizes must be a tuple of layer widths, e.g. (32, 16), "
                        f"or () for none; got hidden_layer_sizes={sizes!r}.")
    return tuple(check_positive_int("hidden_layer_sizes", units, hint="e.g. (32, 16).")
                 for units in sizes)


#: The parameters' checks, declared once (name -> check); run at the start of fit.
_CONSTRAINTS = {
    "hidden_layer_sizes": _check_hidden,
    "activation": lambda v: check_choice("activation", v, ["relu", "tanh", "sigmoid",
                                                           "linear"]),
    "optimizer": lambda v: v if isinstance(v, optimizers_module.Optimizer)
    else check_choice("optimizer", v, list(_OPTIMIZERS)),
    "learning_rate": lambda v: check_positive_number("learning_rate", v, hint="e.g. 0.01."),
    "batch_size": check_batch_size,
    "epochs": lambda v: check_positive_int("epochs", v, hint="e.g. 100."),
    "early_stopping": lambda v: v if isinstance(v, bool) else _not_bool("early_stopping", v),
    "validation_fraction": lambda v: check_fraction("validation_fraction", v,
                                                    hint="e.g. 0.1 (used with early_stopping)."),
    "patience": lambda v: check_positive_int("patience", v, hint="e.g. 10 epochs."),
    "verbose": lambda v: v if isinstance(v, numbers.Integral) and v >= 0
    else _not_bool("verbose", v),
}


def _not_bool(name: str, value: Any) -> None:
    raise TypeError(f"{name} must be True/False (or 0/1); got {name}={value!r}.")


class _GDEstimator(BaseEstimator):
    """What the regressor and the classifier share: building, training, the fitted state."""

    def _check_params(self) -> None:
        for name, check in _CONSTRAINTS.items():
            if name in self.get_params(deep=False):
                check(getattr(self, name))

    def _seed(self) -> int | None:
        if self.random_state is None or isinstance(self.random_state, numbers.Integral):
            return None if self.random_state is None else int(self.random_state)
        return int(check_random_state(self.random_state).randint(2**31 - 1))

    def _optimizer(self) -> optimizers_module.Optimizer:
        if isinstance(self.optimizer, optimizers_module.Optimizer):
            return copy.deepcopy(self.optimizer)
        if self.optimizer == "adam":
            return optimizers_module.Adam(learning_rate=self.learning_rate)
        momentum = 0.9 if self.optimizer == "momentum" else 0.0
        return optimizers_module.SGD(learning_rate=self.learning_rate, momentum=momentum)

    def _build(self, n_features: int, Y: FloatArray, w: FloatArray | None,
               e: FloatArray | None) -> Sequential:
        """The network: hidden layers, the output layer of the link, the null-model bias."""
        hidden = _check_hidden(self.hidden_layer_sizes)
        layers = [Dense(units, activation=self.activation) for units in hidden]
        layers.append(Dense(Y.shape[1], activation=self._output_activation(),
                            kernel_initializer="glorot_uniform" if hidden else "zeros"))
        model = Sequential(layers, input_dim=n_features, seed=self._seed_)
        model.layers[-1].b[...] = self._initial_bias(Y, w, e)
        model.compile(loss=self._loss(), optimizer=self._optimizer())
        return model

    def _train(self, X: FloatArray, Y: FloatArray, w: FloatArray | None, e: FloatArray | None,
               *, epochs: int, early_stopping: bool) -> None:
        """Run the engine's fit loop and append to the fitted learning curves."""
        seed = None if self._seed_ is None else self._seed_ + self.n_iter_
        callbacks, validation = [], None
        if early_stopping:
            X, Y, w, e, validation = self._split(X, Y, w, e)
            callbacks.append(EarlyStopping("val_loss", patience=self.patience))
        history = self.model_.fit(X, Y, batch_size=self.batch_size, epochs=epochs, seed=seed,
                                  validation_data=validation, sample_weight=w, exposure=e,
                                  callbacks=callbacks, verbose=int(self.verbose),
                                  executor="numpy")
        self.history_ = history
        self.loss_curve_ = [*self.loss_curve_, *history.history.get("loss", [])]
        self.validation_loss_curve_ = [*self.validation_loss_curve_,
                                       *history.history.get("val_loss", [])]
        self.n_iter_ += len(history.epoch)

    def _split(self, X, Y, w, e):
        """Hold out validation_fraction of the rows (seeded; stratified for classifiers)."""
        rows = np.arange(X.shape[0])
        stratify = Y.argmax(axis=1) if Y.shape[1] > 1 else (
            Y[:, 0] if isinstance(self, ClassifierMixin) else None)
        train, test = train_test_split(rows, test_size=self.validation_fraction,
                                       random_state=self._seed_, stratify=stratify)

        def take(a, r):
            return None if a is None else a[r]

        validation = tuple(take(a, test) for a in (X, Y, w, e))
        return (*(take(a, train) for a in (X, Y, w, e)), validation)

    def _fit(self, X: Any, y: Any, sample_weight: Any, exposure: Any, *, partial: bool,
             classes: Any = None) -> _GDEstimator:
        """fit (``partial=False``) or one epoch of partial_fit (``partial=True``)."""
        first = not (partial and hasattr(self, "model_"))
        if first:
            self._check_params()
        X, y = validate_data(self, X, y, reset=first, dtype=np.float64,
                             y_numeric=not isinstance(self, ClassifierMixin))
        Y = self._target(y, first=first, classes=classes)
        w = None if sample_weight is None else _check_sample_weight(sample_weight, X,
                                                                     dtype=np.float64)
        loss = self._loss()
        e = check_exposure(exposure, X.shape[0], loss_name=loss.name,
                           accepts=loss.accepts_exposure)
        if first:
            self._seed_ = self._seed()
            self.loss_curve_, self.validation_loss_curve_, self.n_iter_ = [], [], 0
            self.model_ = self._build(X.shape[1], Y, w, e)
        self._train(X, Y, w, e, epochs=1 if partial else self.epochs,
                    early_stopping=self.early_stopping and not partial)
        return self

    def _initial_bias(self, Y, w, e):
        raise NotImplementedError

    def _output_activation(self) -> str:
        raise NotImplementedError

    def _loss(self) -> losses_module.Loss:
        raise NotImplementedError

    def _target(self, y, *, first, classes):
        raise NotImplementedError

    def _linear_layer(self) -> Dense:
        check_is_fitted(self)
        if len(self.model_.layers) != 1:
            raise AttributeError("coef_ and intercept_ exist only without hidden layers "
                                 "(hidden_layer_sizes=()); see model_.get_weights().")
        return self.model_.layers[0]


class GDRegressor(RegressorMixin, _GDEstimator):
    r"""A dense network trained by gradient descent, for real targets, counts and amounts.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default ()
        Widths of the hidden layers; ``()`` is a (generalised) linear model.
    activation : {"relu", "tanh", "sigmoid", "linear"}, default "relu"
        Activation of the hidden layers.
    loss : {"mse", "poisson", "gamma", "tweedie"}, default "mse"
        Squared error with a linear output, or a deviance with the log link
        (exponential output): Poisson for claim counts (:math:`y \ge 0`), Gamma for
        severities (:math:`y > 0`), Tweedie (``power`` in (1, 2)) for pure premiums.
    power : float, default 1.5
        Tweedie power, used with ``loss="tweedie"``.
    optimizer : {"sgd", "momentum", "adam"} or gdlab optimizer, default "adam"
        ``"momentum"`` is SGD with momentum 0.9. An optimizer instance (e.g.
        ``gd.Adam(learning_rate=gd.ExponentialDecay(...))``) overrides ``learning_rate``.
    learning_rate : float, default 0.01
    batch_size : "full", 1 or int, default 32
        ``"full"``: batch gradient descent; ``1``: stochastic; ``k``: mini-batch.
    epochs : int, default 100
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the rows, stop when their loss has not
        improved for ``patience`` epochs, and keep the best epoch's weights.
    validation_fraction : float, default 0.1
    patience : int, default 10
    random_state : int, RandomState or None, default None
        Seed of the initial weights, the shuffling and the validation split.
    verbose : int, default 0
        1 prints a progress line per epoch.

    Attributes
    ----------
    model_ : gdlab.Sequential
        The trained network (θ, ``param_names``, ``get_weights()``, ``history``).
    history_ : gdlab.History
        The History of the last call to ``fit`` or ``partial_fit``.
    loss_curve_ : list of float
        Training loss per epoch, over all calls (``validation_loss_curve_`` likewise,
        empty without early stopping).
    n_iter_ : int
        Epochs run.
    balance_ratio_ : float
        :math:`\sum w\mu / \sum w y` on the rows passed to fit (1 at the optimum with a
        canonical link; see :meth:`correct_balance`).
    coef_, intercept_ : ndarray of shape (p,), float
        Without hidden layers: the weights and bias (on the scale of the link).
    n_features_in_, feature_names_in_
        As in scikit-learn.

    Examples
    --------
    >>> import numpy as np
    >>> from gdlab.estimators import GDRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 2)); e = rng.uniform(0.5, 1.0, 1000)
    >>> y = rng.poisson(e * np.exp(0.5 * X[:, 0] - 1.0))     # claim counts
    >>> model = GDRegressor(loss="poisson", optimizer="sgd", learning_rate=1.0,
    ...                     batch_size="full", epochs=300).fit(X, y, exposure=e)
    >>> model.coef_.round(2), round(model.intercept_, 2), round(model.balance_ratio_, 6)
    (array([0.52, 0.02]), -1.01, 1.0)
    """

    def __init__(self, hidden_layer_sizes=(), activation="relu", loss="mse", power=1.5,
                 optimizer="adam", learning_rate=0.01, batch_size=32, epochs=100,
                 early_stopping=False, validation_fraction=0.1, patience=10,
                 random_state=None, verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.power = power
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = self.loss in _RATE_LOSSES
        return tags

    # --- the estimator-specific pieces ---------------------------------------------------
    def _loss(self) -> losses_module.Loss:
        check_choice("loss", self.loss, ["mse", *_RATE_LOSSES])
        if self.loss == "tweedie":
            return losses_module.Tweedie(power=self.power)
        return losses_module.get(self.loss)

    def _output_activation(self) -> str:
        return "linear" if self.loss == "mse" else "exponential"

    def _target(self, y, *, first, classes):
        return self._loss().check_target(y, 1)

    def _initial_bias(self, Y, w, e):
        e = np.ones(Y.shape[0]) if e is None else e
        w = np.ones(Y.shape[0]) if w is None else w
        if self.loss == "mse":  # least squares of y on e·b
            return (w * e) @ Y[:, 0] / ((w * e) @ e)
        mean_rate = (w @ Y[:, 0]) / (w @ e)
        return np.log(max(mean_rate, 1e-12))

    # --- the scikit-learn API ------------------------------------------------------------
    def fit(self, X, y, sample_weight=None, exposure=None):
        """Train from scratch; ``exposure`` makes the prediction a rate (μ = exposure · ŷ).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n, p)
        y : array-like of shape (n,)
            Targets (counts or amounts of the row, not divided by exposure).
        sample_weight, exposure : array-like of shape (n,), optional

        Returns
        -------
        self
        """
        self._fit(X, y, sample_weight, exposure, partial=False)
        self._set_balance(X, y, sample_weight, exposure)
        return self

    def partial_fit(self, X, y, sample_weight=None, exposure=None):
        """One epoch on these rows (starting the model on the first call); returns self."""
        self._fit(X, y, sample_weight, exposure, partial=True)
        self._set_balance(X, y, sample_weight, exposure)
        return self

    def predict(self, X, exposure=None):
        """The rate ŷ of each row, or μ = exposure · ŷ when ``exposure`` is given."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.model_.predict(X, exposure=exposure)[:, 0]

    def score(self, X, y, sample_weight=None, exposure=None):
        """:math:`R^2` for ``loss="mse"``; else :math:`D^2`, the deviance explained."""
        if self.loss == "mse":
            return r2_score(y, self.predict(X, exposure=exposure), sample_weight=sample_weight)
        return metrics.d2_score(y, self.predict(X), loss=self.loss, power=self.power,
                                exposure=exposure, sample_weight=sample_weight)

    def correct_balance(self, X, y, sample_weight=None, exposure=None):
        r"""Shift the output bias so that :math:`\sum w\mu = \sum w y` on these rows.

        See :func:`gdlab.metrics.correct_balance`; ``balance_ratio_`` becomes 1.
        Returns self.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        metrics.correct_balance(self.model_, X, y, sample_weight=sample_weight,
                                exposure=exposure)
        self._set_balance(X, y, sample_weight, exposure)
        return self

    def _set_balance(self, X, y, sample_weight, exposure):
        rate = self.model_.predict(validate_data(self, X, reset=False, dtype=np.float64))
        try:
            self.balance_ratio_ = metrics.balance_ratio(
                np.asarray(y, dtype=float), rate[:, 0], exposure=exposure,
                sample_weight=sample_weight)
        except ValueError:  # y sums to 0: no ratio
            self.balance_ratio_ = float("nan")
        if self.verbose:
            print(f"balance: sum of predictions / sum of y = {self.balance_ratio_:.6f}")

    @property
    def coef_(self) -> FloatArray:
        """The weights of a model without hidden layers, shape (p,)."""
        return self._linear_layer().W[:, 0].copy()

    @property
    def intercept_(self) -> float:
        """The bias of a model without hidden layers (on the link scale)."""
        return float(self._linear_layer().b[0])


class GDClassifier(ClassifierMixin, _GDEstimator):
    r"""A dense network trained by gradient descent on the cross-entropy, any labels.

    Two classes: one sigmoid unit and the binary cross-entropy (logistic regression
    without hidden layers). More classes: a softmax unit per class and the categorical
    cross-entropy (multinomial logistic regression). ``classes_`` are the sorted labels
    (numbers or strings).

    Parameters
    ----------
    loss : {"crossentropy"}, default "crossentropy"
        The only loss; binary or multinomial is chosen from the labels.
    hidden_layer_sizes, activation, optimizer, learning_rate, batch_size, epochs,
    early_stopping, validation_fraction, patience, random_state, verbose
        As in :class:`GDRegressor` (the validation split is stratified).

    Attributes
    ----------
    classes_ : ndarray of shape (k,)
    model_, history_, loss_curve_, n_iter_, n_features_in_, feature_names_in_
        As in :class:`GDRegressor`.
    coef_, intercept_ : ndarray of shape (1 or k, p), (1 or k,)
        Without hidden layers: the weights and biases on the logit scale.

    Examples
    --------
    >>> import numpy as np
    >>> from gdlab.estimators import GDClassifier
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array(["no", "no", "yes", "yes"])
    >>> model = GDClassifier(learning_rate=0.5, batch_size="full", epochs=200,
    ...                      random_state=0).fit(X, y)
    >>> model.predict([[0.5], [2.5]]).tolist(), model.classes_.tolist()
    (['no', 'yes'], ['no', 'yes'])
    """

    def __init__(self, hidden_layer_sizes=(), activation="relu", loss="crossentropy",
                 optimizer="adam", learning_rate=0.01, batch_size=32, epochs=100,
                 early_stopping=False, validation_fraction=0.1, patience=10,
                 random_state=None, verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.verbose = verbose

    # --- the estimator-specific pieces ---------------------------------------------------
    def _loss(self) -> losses_module.Loss:
        check_choice("loss", self.loss, ["crossentropy"])
        if len(self.classes_) == 2:
            return losses_module.get("binary_crossentropy")
        return losses_module.get("categorical_crossentropy")

    def _output_activation(self) -> str:
        return "sigmoid" if len(self.classes_) == 2 else "softmax"

    def _target(self, y, *, first, classes):
        check_classification_targets(y)
        if first:
            labels = np.unique(y if classes is None else classes)
            if labels.size < 2:
                raise ValueError(
                    f"GDClassifier needs at least 2 classes; y has 1 class "
                    f"({labels.tolist()}). Check the target column."
                )
            self.classes_ = labels
        codes = np.searchsorted(self.classes_, y)
        unknown = (codes >= self.classes_.size) | (self.classes_[codes.clip(
            max=self.classes_.size - 1)] != y)
        if unknown.any():
            raise ValueError(
                f"y has labels {np.unique(y[unknown])[:5].tolist()} that are not in "
                f"classes_ {self.classes_.tolist()}; pass every class to the first partial_fit "
                "(classes=...)."
            )
        return codes[:, None].astype(float) if self.classes_.size == 2 else np.eye(
            self.classes_.size)[codes]

    def _initial_bias(self, Y, w, e):
        share = np.clip(np.average(Y, axis=0, weights=w), 1e-6, 1.0 - 1e-6)
        if Y.shape[1] == 1:
            return np.log(share / (1.0 - share))
        log_share = np.log(share)
        return log_share - log_share.mean()

    # --- the scikit-learn API ------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train from scratch on labelled rows; returns self."""
        return self._fit(X, y, sample_weight, None, partial=False)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch on these rows; the first call needs ``classes`` (all the labels)."""
        if not hasattr(self, "model_") and classes is None:
            raise ValueError("The first call to partial_fit needs classes=, the list of all "
                             "labels (later batches may miss some).")
        return self._fit(X, y, sample_weight, None, partial=True, classes=classes)

    def predict_proba(self, X):
        """Class probabilities, shape (n, k), columns in the order of ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        P = self.model_.predict(X)
        return np.hstack([1.0 - P, P]) if self.classes_.size == 2 else P

    def predict(self, X):
        """The most probable class of each row."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    @property
    def coef_(self) -> FloatArray:
        """The weights of a model without hidden layers, shape (1 or k, p)."""
        return self._linear_layer().W.T.copy()

    @property
    def intercept_(self) -> FloatArray:
        """The biases of a model without hidden layers, shape (1 or k,)."""
        return self._linear_layer().b.copy()
