"""The regressor: real targets (squared error), counts and amounts (log-link deviances)."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.validation import check_is_fitted, validate_data

from gdlab import metrics
from gdlab._checks import check_choice
from gdlab._typing import FloatArray
from gdlab.estimators._base import RATE_LOSSES, GDEstimator
from gdlab.nn import losses as losses_module

__all__ = ["GDRegressor"]


class GDRegressor(RegressorMixin, GDEstimator):
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
    executor : {"auto", "numpy", "compiled"}, default "auto"
        Where the epochs run (as in :meth:`gdlab.Sequential.fit`): ``"numpy"`` step by
        step, ``"compiled"`` in numba, ``"auto"`` whichever it estimates faster; the
        results agree to ~1e-12. ``history_.params["executor"]`` and
        ``["executor_reason"]`` say which ran and why.

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
                 random_state=None, verbose=0, executor="auto"):
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
        self.executor = executor

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = self.loss in RATE_LOSSES
        return tags

    # --- the estimator-specific pieces ---------------------------------------------------
    def _loss(self) -> losses_module.Loss:
        check_choice("loss", self.loss, ["mse", *RATE_LOSSES])
        if self.loss == "tweedie":
            return losses_module.Tweedie(power=self.power)
        return losses_module.get(self.loss)

    def _output_activation(self) -> str:
        return "linear" if self.loss == "mse" else "exponential"

    def _target(self, y, *, first, classes):
        return self._loss().check_target(y, 1)

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
