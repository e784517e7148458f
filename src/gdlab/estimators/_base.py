"""What :class:`GDRegressor` and :class:`GDClassifier` share: the checks of their
parameters (declared once, run at the start of ``fit``) and the base class that builds
the network, trains it with :meth:`gdlab.Sequential.fit` and keeps the fitted state.
"""

from __future__ import annotations

import copy
import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from gdlab._checks import (
    UserError,
    UserTypeError,
    check_choice,
    check_fraction,
    check_positive_int,
    check_positive_number,
)
from gdlab._typing import FloatArray
from gdlab.io.data import check_exposure
from gdlab.nn import losses as losses_module
from gdlab.nn.layers import Dense
from gdlab.optim import optimizers as optimizers_module
from gdlab.optim.batches import check_batch_size
from gdlab.train.callbacks import EarlyStopping
from gdlab.train.model import Sequential
from gdlab.train.scores import null_bias

__all__ = ["GDEstimator", "RATE_LOSSES"]

_OPTIMIZERS = ("sgd", "momentum", "adam")
RATE_LOSSES = ("poisson", "gamma", "tweedie")


def _check_hidden(sizes: Any) -> tuple[int, ...]:
    if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
        sizes = (sizes,)
    if not isinstance(sizes, tuple | list):
        raise UserTypeError(f"hidden_layer_sizes must be a tuple of layer widths, e.g. (32, 16), "
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
    "executor": lambda v: check_choice("executor", v, ["auto", "numpy", "compiled"]),
}


def _not_bool(name: str, value: Any) -> None:
    raise UserTypeError(f"{name} must be True/False (or 0/1); got {name}={value!r}.")


class GDEstimator(BaseEstimator):
    """What the regressor and the classifier share: building, training, the fitted state."""

    def _check_params(self) -> None:
        for name, check in _CONSTRAINTS.items():
            if name in self.get_params(deep=False):
                check(getattr(self, name))
        if self.early_stopping and self.validation_fraction == 0.0:
            raise UserError("early_stopping=True needs validation rows, but "
                            "validation_fraction=0.0 holds out none. Use e.g. "
                            "validation_fraction=0.1, or early_stopping=False.")

    def _seed(self) -> int | None:
        if self.random_state is None or isinstance(self.random_state, numbers.Integral):
            return None if self.random_state is None else int(self.random_state)
        return int(check_random_state(self.random_state).randint(2**31 - 1))

    def _optimizer(self) -> optimizers_module.Optimizer:
        if isinstance(self.optimizer, optimizers_module.Optimizer):
            return copy.deepcopy(self.optimizer)
        return optimizers_module.get(self.optimizer, learning_rate=self.learning_rate)

    def _build(self, n_features: int, Y: FloatArray, w: FloatArray | None,
               e: FloatArray | None) -> Sequential:
        """The network: hidden layers, the output layer of the link, the null-model bias."""
        hidden = _check_hidden(self.hidden_layer_sizes)
        layers = [Dense(units, activation=self.activation) for units in hidden]
        layers.append(Dense(Y.shape[1], activation=self._output_activation(),
                            kernel_initializer="glorot_uniform" if hidden else "zeros"))
        model = Sequential(layers, input_dim=n_features, seed=self._seed_)
        model.layers[-1].b[...] = null_bias(self._output_activation(), Y, sample_weight=w,
                                            exposure=e)
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
                                  executor=self.executor)
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
        fraction = self.validation_fraction
        fix = ("use a validation_fraction that holds out rows of every class, e.g. 0.1 to "
               "0.2, more rows, or early_stopping=False")
        try:
            train, test = train_test_split(rows, test_size=fraction,
                                           random_state=self._seed_, stratify=stratify)
        except ValueError as error:  # scikit-learn speaks of test_size: say what we asked
            reason = str(error).replace("test_size", "validation size").split(". ")[0]
            raise UserError(f"validation_fraction={fraction!r} cannot split these "
                            f"{rows.size} rows for early_stopping ({reason}); {fix}.") from None

        def take(a, r):
            return None if a is None else a[r]

        validation = tuple(take(a, test) for a in (X, Y, w, e))
        return (*(take(a, train) for a in (X, Y, w, e)), validation)

    def _fit(self, X: Any, y: Any, sample_weight: Any, exposure: Any, *, partial: bool,
             classes: Any = None) -> GDEstimator:
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
