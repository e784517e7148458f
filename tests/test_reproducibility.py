"""Same seed → bit-identical θ and history; another seed → another shuffle (item 5)."""

from __future__ import annotations

import numpy as np
import pytest

import gdlab as gd


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(40, 3))
    return X, (X @ np.array([1.0, -1.0, 0.5]) > 0).astype(float)


def _run(data, *, seed, model_seed=3, executor="numpy", trace=False):
    model = gd.Sequential([gd.Dense(4, activation="tanh"), gd.Dense(1, activation="sigmoid")],
                          input_dim=3, seed=model_seed)
    model.compile(loss="binary_crossentropy", optimizer=gd.Adam(learning_rate=0.01),
                  metrics=["accuracy"])
    history = model.fit(*data, batch_size=8, epochs=4, shuffle=True, seed=seed, verbose=0,
                        validation_split=0.25, executor=executor, trace=trace)
    return model, history


@pytest.mark.parametrize("executor", ["numpy", "auto"])
def test_same_seed_gives_bit_identical_theta_and_history(data, executor):
    first_model, first = _run(data, seed=42, executor=executor)
    second_model, second = _run(data, seed=42, executor=executor)
    np.testing.assert_array_equal(first_model.theta, second_model.theta)
    assert first.history == second.history  # floats compared exactly
    assert set(first.history) >= {"loss", "val_loss", "accuracy", "val_accuracy"}
    for a, b in zip(first.step_loss, second.step_loss, strict=True):
        np.testing.assert_array_equal(a, b)


def test_same_seed_gives_the_same_trace(data):
    _, first = _run(data, seed=5, trace=True)
    _, second = _run(data, seed=5, trace=True)
    assert len(first.trace) == len(second.trace) == 4 * 4
    for a, b in zip(first.trace, second.trace, strict=True):
        np.testing.assert_array_equal(a.rows, b.rows)
        np.testing.assert_array_equal(a.gradient, b.gradient)
        np.testing.assert_array_equal(a.theta_after, b.theta_after)


def test_a_different_seed_gives_a_different_shuffle(data):
    first_model, first = _run(data, seed=1, trace=True)
    second_model, second = _run(data, seed=2, trace=True)
    assert not np.array_equal(first.trace[0].rows, second.trace[0].rows)
    assert not np.array_equal(first_model.theta, second_model.theta)
    np.testing.assert_array_equal(first.trace[0].theta_before, second.trace[0].theta_before)


def test_the_model_seed_fixes_the_initial_weights_and_the_default_shuffle(data):
    a = gd.Sequential([gd.Dense(3, activation="relu"), gd.Dense(1)], input_dim=3, seed=9)
    b = gd.Sequential([gd.Dense(3, activation="relu"), gd.Dense(1)], input_dim=3, seed=9)
    c = gd.Sequential([gd.Dense(3, activation="relu"), gd.Dense(1)], input_dim=3, seed=10)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert not np.array_equal(a.theta, c.theta)
    model_a, history_a = _run(data, seed=None, model_seed=9, trace=True)
    model_b, history_b = _run(data, seed=None, model_seed=9, trace=True)
    np.testing.assert_array_equal(history_a.trace[0].rows, history_b.trace[0].rows)
    np.testing.assert_array_equal(model_a.theta, model_b.theta)


def test_fit_leaves_numpy_s_global_generator_alone(data):
    before = np.random.get_state()[1].copy()  # noqa: NPY002 (what must not change)
    _run(data, seed=3)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002


def test_lazy_build_at_first_fit_uses_the_seed(data):
    thetas = []
    for _ in range(2):
        model = gd.Sequential([gd.Dense(2, activation="tanh"), gd.Dense(1)], seed=4)
        model.compile(loss="mse", optimizer="sgd")
        model.fit(data[0], data[1], epochs=1, verbose=0, executor="numpy")
        thetas.append(model.theta.copy())
    np.testing.assert_array_equal(*thetas)
