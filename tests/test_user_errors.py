"""gdlab's user-error types: mistakes in the input are UserError (still ValueError /
TypeError), so the command line can say them in one line and keep tracebacks for bugs."""

from __future__ import annotations

import numpy as np
import pytest

import gdlab as gd
from gdlab import metrics
from gdlab._checks import UserError, UserTypeError, check_positive_int
from gdlab.estimators import GDClassifier, GDRegressor

X = np.random.default_rng(0).normal(size=(20, 2))
y = X.sum(axis=1)


def _model():
    model = gd.Sequential([gd.Dense(1)], input_dim=2, seed=0)
    model.compile(loss="mse")
    return model


def test_the_types_stay_value_and_type_errors():
    assert gd.UserError is UserError and gd.UserTypeError is UserTypeError
    assert issubclass(UserError, ValueError)
    assert issubclass(UserTypeError, UserError) and issubclass(UserTypeError, TypeError)
    with pytest.raises(UserTypeError, match="epochs must be an integer"):
        check_positive_int("epochs", 1.5, hint="")


@pytest.mark.parametrize("estimator", [GDRegressor, GDClassifier])
def test_early_stopping_without_validation_rows_names_validation_fraction(estimator):
    target = y if estimator is GDRegressor else (y > 0).astype(int)
    with pytest.raises(UserError, match=r"validation_fraction=0\.0 .*early_stopping=False"):
        estimator(early_stopping=True, validation_fraction=0.0, epochs=2).fit(X, target)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda m: m.compile(metrics=["f1"]), UserError, "Unknown metric 'f1'"),
    (lambda m: m.fit(X, y, executor="gpu", verbose=0), UserError, "executor must be"),
    (lambda m: m.fit(X, y, trace=-1, verbose=0), UserError, "trace must be"),
    (lambda m: m.fit(X, y, epochs=0, verbose=0), UserError, "epochs must be >= 1"),
    (lambda m: m.fit(X, y, callbacks=[print], verbose=0), UserTypeError, "callbacks must be"),
    (lambda m: m.fit(X, y, validation_data=(X,), verbose=0), UserError, "validation_data"),
    (lambda m: m.fit(X, y, validation_split=0.99, verbose=0), UserError,
     "leaves no training rows"),
    (lambda m: gd.callbacks.ReduceLROnPlateau(factor=2.0), UserError, "factor must be < 1"),
    (lambda m: gd.sweep.learning_rate_sweep(m, X, y, [], epochs=1), UserError, "empty"),
    (lambda m: metrics.mean_deviance([1.0], [1.0], per="col"), UserError, "per must be"),
    (lambda m: gd.optimizers.get("adamw"), UserError, "Unknown optimizer 'adamw'"),
], ids=["metric", "executor", "trace", "epochs", "callbacks", "validation_data",
        "validation_split", "plateau", "sweep", "per", "optimizer"])
def test_the_api_raises_user_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(_model())
