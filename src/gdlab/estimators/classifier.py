"""The classifier: any labels, binary (sigmoid) or multinomial (softmax) cross-entropy."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from gdlab._checks import UserError, check_choice
from gdlab._typing import FloatArray
from gdlab.estimators._base import GDEstimator
from gdlab.nn import losses as losses_module

__all__ = ["GDClassifier"]


class GDClassifier(ClassifierMixin, GDEstimator):
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
    early_stopping, validation_fraction, patience, random_state, verbose, executor
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
                 random_state=None, verbose=0, executor="auto"):
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
        self.executor = executor

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
                raise UserError(
                    f"GDClassifier needs at least 2 classes; y has 1 class "
                    f"({labels.tolist()}). Check the target column."
                )
            self.classes_ = labels
        codes = np.searchsorted(self.classes_, y)
        unknown = (codes >= self.classes_.size) | (self.classes_[codes.clip(
            max=self.classes_.size - 1)] != y)
        if unknown.any():
            raise UserError(
                f"y has labels {np.unique(y[unknown])[:5].tolist()} that are not in "
                f"classes_ {self.classes_.tolist()}; pass every class to the first partial_fit "
                "(classes=...)."
            )
        return codes[:, None].astype(float) if self.classes_.size == 2 else np.eye(
            self.classes_.size)[codes]

    # --- the scikit-learn API ------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train from scratch on labelled rows; returns self."""
        return self._fit(X, y, sample_weight, None, partial=False)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch on these rows; the first call needs ``classes`` (all the labels)."""
        if not hasattr(self, "model_") and classes is None:
            raise UserError("The first call to partial_fit needs classes=, the list of all "
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
