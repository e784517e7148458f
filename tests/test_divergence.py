"""A too-large learning rate stops training and says so (What must hold, item 7).

Two paths: the loss (or gradient) becomes non-finite at a step, or the epoch loss
explodes (above 1e4 × the first epoch's) while staying finite. Either way training
stops, θ goes back to the last θ whose loss was computed and finite, history.diverged
says where, and a DivergenceWarning names the epoch (and step) and suggests a smaller
learning rate. Both executors behave the same.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import gdlab as gd

EXECUTORS = ["numpy", "auto"]


@pytest.fixture(scope="module")
def poisson_data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 2)), rng.poisson(2.0, size=20).astype(float)


def _poisson_fit(data, learning_rate, executor, epochs=100):
    model = gd.Sequential([gd.Dense(1, activation="exponential")], input_dim=2, seed=0)
    model.compile(loss="poisson", optimizer=gd.SGD(learning_rate=learning_rate))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(*data, batch_size="full", epochs=epochs, verbose=0,
                            executor=executor)
    return model, history, caught


def _only_divergence_warning(caught) -> str:
    """Exactly one warning, a DivergenceWarning (numpy's overflow warnings stay quiet)."""
    assert [w.category for w in caught] == [gd.DivergenceWarning], [str(w.message)
                                                                    for w in caught]
    return str(caught[0].message)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_non_finite_loss_stops_and_restores_the_last_finite_theta(poisson_data, executor):
    model, history, caught = _poisson_fit(poisson_data, 2.0, executor)
    message = _only_divergence_warning(caught)
    assert history.diverged["epoch"] == 2 and history.diverged["step"] == 2
    assert math.isinf(history.diverged["loss"]) and history.diverged["learning_rate"] == 2.0
    assert "epoch 2, step 2" in message
    assert "learning rate 2 is probably too large" in message
    assert "learning_rate=0.2" in message
    assert "restored to its value at the end of epoch 0" in message
    assert len(history.history["loss"]) == 2  # epochs 0 and 1 finished
    assert np.isfinite(model.theta).all()
    # θ after epoch 0 is θ₁; the full-batch loss of epoch 1 was computed there
    assert model.evaluate(*poisson_data) == pytest.approx(history.history["loss"][1], rel=1e-12)
    reference, _, _ = _poisson_fit(poisson_data, 2.0, "numpy", epochs=1)
    np.testing.assert_allclose(model.theta, reference.theta, rtol=1e-12)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_exploding_loss_stops_and_restores(poisson_data, executor):
    model, history, caught = _poisson_fit(poisson_data, 1.0, executor)
    message = _only_divergence_warning(caught)
    loss = history.history["loss"]
    assert history.diverged["epoch"] == 2 and history.diverged["step"] is None
    assert loss[2] > 1e4 * loss[0] and math.isfinite(loss[2])  # exploded, still finite
    assert "epoch 2 (loss = 2.411e+12)" in message and "learning_rate=0.1" in message
    assert "too large" in message
    assert model.evaluate(*poisson_data) == pytest.approx(loss[1], rel=1e-12)
    assert model.stop_training


def test_stochastic_blow_up_within_the_first_epoch():
    """SGD that overflows within epoch 0 gets its initial θ back, with a finite loss."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) * 10
    y = X.sum(axis=1)
    model = gd.Sequential([gd.Dense(1)], input_dim=3, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=1.0))
    initial = model.theta.copy()
    with pytest.warns(gd.DivergenceWarning, match=r"epoch 0 .*learning_rate=0\.1"):
        history = model.fit(X, y, batch_size=1, epochs=50, verbose=0, executor="numpy")
    np.testing.assert_array_equal(model.theta, initial)
    assert math.isfinite(model.evaluate(X, y))
    assert history.diverged["epoch"] == 0
    assert "restored to its value at the start of fit" in history.diverged["message"]


def test_adam_divergence_is_caught_too():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 2))
    y = rng.poisson(3.0, size=30).astype(float)
    model = gd.Sequential([gd.Dense(8, activation="exponential"),
                           gd.Dense(1, activation="exponential")], input_dim=2, seed=0)
    model.compile(loss="poisson", optimizer=gd.Adam(learning_rate=50.0))
    with pytest.warns(gd.DivergenceWarning, match="learning_rate=5"):
        history = model.fit(X, y, batch_size=5, epochs=30, verbose=0, executor="numpy")
    assert history.diverged is not None
    assert np.isfinite(model.theta).all() and math.isfinite(model.evaluate(X, y))


def test_a_good_learning_rate_does_not_diverge(poisson_data):
    model, history, caught = _poisson_fit(poisson_data, 0.1, "numpy", epochs=30)
    assert caught == [] and history.diverged is None
    assert history.history["loss"][-1] < history.history["loss"][0]
