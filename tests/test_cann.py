"""CANN: μ = e · μ_GLM · exp(z_NN), the GLM frozen, training starting exactly at the GLM."""

from __future__ import annotations

import numpy as np
import pytest

import gdlab as gd


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    e = rng.uniform(0.3, 1.0, n)
    y = rng.poisson(e * np.exp(-1.0 + 0.5 * X[:, 0] + 0.6 * X[:, 1] ** 2))
    return X, y, e


def _glm(X, y, e):
    glm = gd.Sequential([gd.Dense(1, "exponential")], input_dim=X.shape[1], seed=0)
    glm.compile(loss="poisson", optimizer=gd.Nadam(0.05))
    glm.fit(X, y, exposure=e, batch_size="full", epochs=300, verbose=0)
    return glm


def _network(p=2, seed=1):
    return gd.Sequential([gd.Dense(6, "tanh"), gd.Dense(1, "exponential")], input_dim=p,
                         seed=seed)


def test_training_starts_exactly_at_the_glm_and_improves_on_it():
    X, y, e = _data()
    glm = _glm(X, y, e)
    frozen = glm.theta.copy()
    model = gd.cann(glm, _network())
    np.testing.assert_array_equal(model.network.layers[-1].W, 0.0)
    np.testing.assert_array_equal(model.predict(X, exposure=e), glm.predict(X, exposure=e))
    model.compile(loss="poisson", optimizer=gd.Nadam(0.02))
    start = model.evaluate(X, y, exposure=e)
    assert start == pytest.approx(glm.evaluate(X, y, exposure=e), rel=1e-12)
    history = model.fit(X, y, exposure=e, batch_size=32, epochs=40, verbose=0)
    assert history.params["initial_loss"] == pytest.approx(start, rel=1e-12)
    assert model.evaluate(X, y, exposure=e) < 0.9 * start  # the x₂² the GLM misses
    np.testing.assert_array_equal(glm.theta, frozen)  # the GLM is frozen


def test_the_prediction_is_the_product_of_the_glm_and_the_network():
    X, y, e = _data(n=50)
    glm = _glm(X, y, e)
    model = gd.cann(glm, _network())
    model.network.set_theta(np.random.default_rng(3).normal(size=model.network.n_params))
    _, caches = model.network.forward(X)
    z = caches[-1].Z[:, 0]
    expected = e * glm.predict(X)[:, 0] * np.exp(z)
    np.testing.assert_allclose(model.predict(X, exposure=e)[:, 0], expected, rtol=1e-13)
    model.compile(loss="poisson")
    deviance = gd.metrics.mean_deviance(y, expected, loss="poisson")
    assert model.evaluate(X, y, exposure=e) == pytest.approx(deviance, rel=1e-12)


def test_the_glm_may_read_other_columns():
    X, y, e = _data()
    glm_X = np.column_stack([X, X[:, 1] ** 2])
    glm = _glm(glm_X, y, e)
    model = gd.cann(glm, _network())
    np.testing.assert_array_equal(model.predict(X, glm_X=glm_X),
                                  glm.predict(glm_X))
    with pytest.raises(ValueError, match="expects 3"):
        model.predict(X)  # the GLM needs its own columns


def test_bad_input_is_refused():
    X, y, e = _data(n=40)
    glm = _glm(X, y, e)
    with pytest.raises(ValueError, match="network must end in one 'exponential' unit"):
        gd.cann(glm, gd.Sequential([gd.Dense(3), gd.Dense(1, "sigmoid")], input_dim=2))
    softmax = gd.Sequential([gd.Dense(2, "softmax")], input_dim=2)
    with pytest.raises(ValueError, match="glm must end in one 'exponential' unit"):
        gd.cann(softmax, _network())
    with pytest.raises(ValueError, match="no input dimension"):
        gd.cann(glm, gd.Sequential([gd.Dense(1, "exponential")]))
    model = gd.cann(glm, _network())
    with pytest.raises(ValueError, match="log-link loss"):
        model.compile(loss="mse")
    model.compile(loss="poisson")
    for bad in (0.0, -0.5):
        exposure = e.copy()
        exposure[3] = bad
        with pytest.raises(ValueError, match=r"exposure must be > 0.*rows \[3\]"):
            model.fit(X, y, exposure=exposure, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(X, y, exposure=e, validation_data=(X, y), verbose=0)
