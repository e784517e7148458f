"""Full-batch gradient descent reaches the coefficients of independent references (item 3).

Seeded synthetic data with standardised features; every model starts at θ = 0 and runs
plain full-batch gradient descent. References: scikit-learn's LogisticRegression without
penalty (binary and multinomial), numpy.linalg.lstsq, and PoissonRegressor(alpha=0) with
exposure given as y / exposure with sample_weight = exposure.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import linear_model as sklearn_linear  # a dependency of gdlab: never skipped

import gdlab as gd

N, P = 300, 3
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    rng = np.random.default_rng(42)
    X = rng.normal(size=(N, P)) * [1.0, 3.0, 0.5] + [0.0, 2.0, -1.0]
    return (X - X.mean(axis=0)) / X.std(axis=0)


def _fit(X, y, *, units, activation, loss, learning_rate, epochs=400, **fit_kwargs):
    layer = gd.Dense(units, activation=activation, kernel_initializer="zeros")
    model = gd.Sequential([layer], input_dim=X.shape[1])
    model.compile(loss=loss, optimizer=gd.SGD(learning_rate=learning_rate))
    history = model.fit(X, y, batch_size="full", epochs=epochs, verbose=0,
                        executor="numpy", **fit_kwargs)
    assert len(history.history["loss"]) == epochs
    return model


def _logistic_regression(X, y):
    with warnings.catch_warnings():  # penalty=None is deprecated in scikit-learn >= 1.8
        warnings.simplefilter("ignore", FutureWarning)
        return sklearn_linear.LogisticRegression(penalty=None, tol=1e-12, max_iter=10_000).fit(X, y)


def test_logistic_regression_binary(X):
    rng = np.random.default_rng(1)
    logit = X @ np.array([1.0, -0.5, 0.25]) + 0.3
    y = (rng.uniform(size=N) < 1 / (1 + np.exp(-logit))).astype(float)
    reference = _logistic_regression(X, y)
    model = _fit(X, y, units=1, activation="sigmoid", loss="binary_crossentropy",
                 learning_rate=4.0)
    W, b = model.get_weights()
    np.testing.assert_allclose(W[:, 0], reference.coef_[0], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(b, reference.intercept_, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(model.predict(X)[:, 0], reference.predict_proba(X)[:, 1],
                               atol=TOLERANCE)


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_logistic_regression_multinomial(X, loss):
    """Softmax regression from θ = 0 stays where the class coefficients sum to 0, as lbfgs."""
    rng = np.random.default_rng(2)
    scores = X @ np.array([[1.0, -1.0, 0.0], [0.5, 0.0, -0.5], [0.0, 0.3, -0.3]])
    probabilities = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(3, p=row) for row in probabilities])
    reference = _logistic_regression(X, labels)
    target = labels if loss.startswith("sparse") else np.eye(3)[labels]
    model = _fit(X, target, units=3, activation="softmax", loss=loss, learning_rate=4.0)
    W, b = model.get_weights()
    np.testing.assert_allclose(W, reference.coef_.T, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(b, reference.intercept_, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(model.predict(X), reference.predict_proba(X), atol=TOLERANCE)


def test_least_squares(X):
    rng = np.random.default_rng(3)
    y = X @ np.array([2.0, -1.0, 0.5]) + 1.5 + rng.normal(scale=0.5, size=N)
    design = np.column_stack([X, np.ones(N)])
    reference, *_ = np.linalg.lstsq(design, y, rcond=None)
    model = _fit(X, y, units=1, activation="linear", loss="mse", learning_rate=0.3)
    np.testing.assert_allclose(model.theta, reference, atol=TOLERANCE, rtol=0)


def test_weighted_least_squares(X):
    """Sample weights give the weighted least-squares coefficients."""
    rng = np.random.default_rng(4)
    y = X @ np.array([1.0, 0.0, -2.0]) - 0.5 + rng.normal(size=N)
    w = rng.uniform(0.1, 5.0, size=N)
    design = np.column_stack([X, np.ones(N)]) * np.sqrt(w)[:, None]
    reference, *_ = np.linalg.lstsq(design, y * np.sqrt(w), rcond=None)
    model = _fit(X, y, units=1, activation="linear", loss="mse", learning_rate=0.3,
                 sample_weight=w)
    np.testing.assert_allclose(model.theta, reference, atol=TOLERANCE, rtol=0)


def test_poisson_regression_with_exposure(X):
    rng = np.random.default_rng(5)
    exposure = rng.uniform(0.2, 2.0, size=N)
    counts = rng.poisson(exposure * np.exp(X @ np.array([0.3, -0.2, 0.1]) - 0.5)).astype(float)
    reference = sklearn_linear.PoissonRegressor(alpha=0, tol=1e-12, max_iter=10_000).fit(
        X, counts / exposure, sample_weight=exposure)
    model = _fit(X, counts, units=1, activation="exponential", loss="poisson",
                 learning_rate=1.0, exposure=exposure)
    W, b = model.get_weights()
    np.testing.assert_allclose(W[:, 0], reference.coef_, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(b, [reference.intercept_], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(model.predict(X, exposure=exposure)[:, 0],
                               exposure * reference.predict(X), rtol=TOLERANCE)
