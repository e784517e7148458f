"""Nadam: the update rebuilt from Keras's formula, its state saved and loaded, and the
compiled executor's Nadam kernel against the reference executor."""

from __future__ import annotations

import numpy as np
import pytest

import gdlab as gd
from gdlab.io.persistence import STATE_TYPES
from gdlab.optim.optimizers import NadamState

GRADIENTS = [np.array([0.5, -2.0]), np.array([1.5, 0.25]), np.array([-1.0, 3.0]),
             np.array([0.0, -0.5])]


def test_nadam_rebuilt_from_the_keras_formula():
    """Keras 3 (optimizers/nadam.py): u_t = β₁(1 − ½·0.96^t), Π_t = Π_{t−1}·u_t."""
    beta_1, beta_2, eps, eta = 0.8, 0.95, 1e-6, 0.1
    optimizer = gd.Nadam(beta_1=beta_1, beta_2=beta_2, epsilon=eps)
    state = optimizer.init(np.zeros(2))
    m = v = np.zeros(2)
    product = 1.0
    for t, g in enumerate(GRADIENTS, start=1):
        delta, state = optimizer.update(g, state, learning_rate=eta)
        u_t, u_next = (beta_1 * (1 - 0.5 * 0.96**k) for k in (t, t + 1))
        product *= u_t
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        m_hat = u_next * m / (1 - product * u_next) + (1 - u_t) * g / (1 - product)
        v_hat = v / (1 - beta_2**t)
        np.testing.assert_allclose(delta, -eta * m_hat / (np.sqrt(v_hat) + eps), rtol=1e-14)
        assert state.t == t and state.u_product == pytest.approx(product, rel=1e-15)
        np.testing.assert_allclose(state.m, m, rtol=1e-15)
        np.testing.assert_allclose(state.v, v, rtol=1e-15)


def test_nadam_differs_from_adam_by_the_look_ahead():
    """Same moments, different step: Nadam is not Adam under another name."""
    adam, nadam = gd.Adam(epsilon=1e-7), gd.Nadam()
    a_state, n_state = adam.init(np.zeros(2)), nadam.init(np.zeros(2))
    for g in GRADIENTS:
        a_delta, a_state = adam.update(g, a_state, learning_rate=0.1)
        n_delta, n_state = nadam.update(g, n_state, learning_rate=0.1)
        np.testing.assert_array_equal(a_state.m, n_state.m)
    assert np.abs(a_delta - n_delta).max() > 1e-3


def _poisson_data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = rng.poisson(np.exp(0.3 * X[:, 0] - 0.2 * X[:, 1]))
    return X, y


def test_nadam_state_is_saved_and_training_resumes_identically(tmp_path):
    assert STATE_TYPES["NadamState"] is NadamState
    X, y = _poisson_data()
    model = gd.Sequential([gd.Dense(3, "tanh"), gd.Dense(1, "exponential")], input_dim=2,
                          seed=1)
    model.compile(loss="poisson", optimizer=gd.Nadam(0.01))
    model.fit(X, y, batch_size=16, epochs=3, verbose=0)
    loaded = gd.load(model.save(tmp_path / "m.npz"))
    state = loaded.optimizer_state
    assert isinstance(state, NadamState)
    assert (state.t, state.u_product) == (model.optimizer_state.t,
                                          model.optimizer_state.u_product)
    np.testing.assert_array_equal(state.m, model.optimizer_state.m)
    for m in (model, loaded):
        m.fit(X, y, batch_size=16, epochs=2, verbose=0, seed=5)
    np.testing.assert_array_equal(loaded.theta, model.theta)


@pytest.mark.parametrize("batch_size", [1, 16, "full", 5000], ids=["rows", "blocks", "full",
                                                                    "large"])
@pytest.mark.parametrize("hidden", [(), (4,)], ids=["glm", "network"])
def test_the_compiled_executor_runs_nadam_as_the_reference_does(batch_size, hidden):
    """The Nadam kernel (kernels.updates) and the NumPy rule agree to ~1e-12."""
    X, y = _poisson_data(n=6000 if batch_size == 5000 else 200, seed=2)
    thetas = []
    for executor in ("numpy", "compiled"):
        layers = [gd.Dense(h, "tanh") for h in hidden] + [gd.Dense(1, "exponential")]
        model = gd.Sequential(layers, input_dim=2, seed=3)
        model.compile(loss="poisson", optimizer=gd.Nadam(gd.ExponentialDecay(
            0.02, decay_steps=50, decay_rate=0.5)))
        model.fit(X, y, batch_size=batch_size, epochs=3, verbose=0, executor=executor)
        thetas.append((model.theta.copy(), model.optimizer_state))
    (theta_np, state_np), (theta_c, state_c) = thetas
    np.testing.assert_allclose(theta_c, theta_np, rtol=1e-10, atol=1e-12)
    assert isinstance(state_c, NadamState) and state_c.t == state_np.t
    assert state_c.u_product == pytest.approx(state_np.u_product, rel=1e-13)
    np.testing.assert_allclose(state_c.v, state_np.v, rtol=1e-10, atol=1e-14)
