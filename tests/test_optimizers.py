"""Optimizers: convergence on a parabola and on Rosenbrock, updates rebuilt from the formula,
learning-rate schedules, and configs."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gdlab as gd
from gdlab.optim import optimizers, schedules

A = np.array([[3.0, 0.5], [0.5, 1.0]])
B = np.array([1.0, -2.0])


def _parabola_gradient(theta):
    r"""Gradient of :math:`\tfrac12 \theta^\top A \theta - b^\top \theta`; minimum A⁻¹b."""
    return A @ theta - B


def _rosenbrock_gradient(theta):
    r"""Gradient of :math:`(1 - x)^2 + 100 (y - x^2)^2`; minimum (1, 1)."""
    x, y = theta
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


OPTIMIZERS = [  # (id, factory, steps)
    ("sgd", lambda: gd.SGD(learning_rate=1e-3), 20_000),
    ("momentum", lambda: gd.SGD(learning_rate=1e-3, momentum=0.9), 5_000),
    ("nesterov", lambda: gd.SGD(learning_rate=1e-3, momentum=0.9, nesterov=True), 5_000),
    ("adam", lambda: gd.Adam(gd.ExponentialDecay(2e-2, decay_steps=1000, decay_rate=0.5)), 5_000),
    ("rmsprop", lambda: gd.RMSprop(gd.ExponentialDecay(1e-2, decay_steps=500, decay_rate=0.5)),
     5_000),
    ("nadam", lambda: gd.Nadam(gd.ExponentialDecay(2e-2, decay_steps=1000, decay_rate=0.5)),
     5_000),
]
PROBLEMS = [  # (id, gradient, start, minimum, tolerance)
    ("parabola", _parabola_gradient, np.zeros(2), np.linalg.solve(A, B), 1e-5),
    ("rosenbrock", _rosenbrock_gradient, np.array([-1.0, 1.0]), np.ones(2), 5e-3),
]


@pytest.mark.parametrize(("gradient", "start", "minimum", "tolerance"),
                         [p[1:] for p in PROBLEMS], ids=[p[0] for p in PROBLEMS])
@pytest.mark.parametrize(("make", "steps"), [o[1:] for o in OPTIMIZERS],
                         ids=[o[0] for o in OPTIMIZERS])
def test_every_optimizer_converges(make, steps, gradient, start, minimum, tolerance):
    optimizer = make()
    theta = start.copy()
    state = optimizer.init(theta)
    for step in range(steps):
        delta, state = optimizer.update(gradient(theta), state,
                                        learning_rate=optimizer.learning_rate_at(step))
        theta = theta + delta
    np.testing.assert_allclose(theta, minimum, atol=tolerance, rtol=0)


@pytest.mark.parametrize("make", [o[1] for o in OPTIMIZERS], ids=[o[0] for o in OPTIMIZERS])
def test_every_optimizer_fits_least_squares_through_fit(make):
    """The same rules inside fit: a linear model reaches the least-squares solution."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = X @ np.array([1.0, -0.5]) + 0.25 + 0.1 * rng.normal(size=40)
    reference, *_ = np.linalg.lstsq(np.column_stack([X, np.ones(40)]), y, rcond=None)
    optimizer = make()  # adaptive rules hover at a distance ~η from the minimum: decay η
    optimizer.learning_rate = (0.05 if isinstance(optimizer, gd.SGD) else
                               gd.ExponentialDecay(0.05, decay_steps=150, decay_rate=0.5))
    model = gd.Sequential([gd.Dense(1, kernel_initializer="zeros")], input_dim=2)
    model.compile(loss="mse", optimizer=optimizer)
    model.fit(X, y, batch_size="full", epochs=1500, verbose=0, executor="numpy")
    np.testing.assert_allclose(model.theta, reference, atol=1e-4)


# --- updates rebuilt from the formulas ------------------------------------------------------
GRADIENTS = [np.array([0.5, -2.0]), np.array([1.5, 0.25]), np.array([-1.0, 3.0])]


def _run(optimizer, learning_rate=0.1):
    state = optimizer.init(np.zeros(2))
    deltas, states = [], []
    for g in GRADIENTS:
        delta, state = optimizer.update(g, state, learning_rate=learning_rate)
        deltas.append(delta)
        states.append(state)
    return deltas, states


def test_sgd_is_minus_eta_times_the_gradient():
    deltas, _ = _run(gd.SGD())
    for delta, g in zip(deltas, GRADIENTS, strict=True):
        np.testing.assert_array_equal(delta, -0.1 * g)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_rebuilt(nesterov):
    mu, eta = 0.9, 0.1
    deltas, states = _run(gd.SGD(momentum=mu, nesterov=nesterov), eta)
    v = np.zeros(2)
    for delta, state, g in zip(deltas, states, GRADIENTS, strict=True):
        v = mu * v - eta * g
        expected = mu * v - eta * g if nesterov else v
        np.testing.assert_allclose(delta, expected, rtol=1e-15)
        np.testing.assert_allclose(state.velocity, v, rtol=1e-15)


def test_adam_rebuilt():
    beta_1, beta_2, eps, eta = 0.8, 0.95, 1e-6, 0.1
    deltas, states = _run(gd.Adam(beta_1=beta_1, beta_2=beta_2, epsilon=eps), eta)
    m = v = np.zeros(2)
    for t, (delta, state, g) in enumerate(zip(deltas, states, GRADIENTS, strict=True), start=1):
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        m_hat, v_hat = m / (1 - beta_1**t), v / (1 - beta_2**t)
        np.testing.assert_allclose(delta, -eta * m_hat / (np.sqrt(v_hat) + eps), rtol=1e-14)
        assert state.t == t
        np.testing.assert_allclose(state.m, m, rtol=1e-15)
        np.testing.assert_allclose(state.v, v, rtol=1e-15)
    # the first step of Adam moves every parameter by about η, whatever the gradient's scale
    np.testing.assert_allclose(np.abs(deltas[0]), eta, rtol=1e-4)


def test_rmsprop_rebuilt():
    rho, eps, eta = 0.9, 1e-7, 0.1
    deltas, states = _run(gd.RMSprop(rho=rho, epsilon=eps), eta)
    s = np.zeros(2)
    for delta, state, g in zip(deltas, states, GRADIENTS, strict=True):
        s = rho * s + (1 - rho) * g**2
        np.testing.assert_allclose(delta, -eta * g / (np.sqrt(s) + eps), rtol=1e-14)
        np.testing.assert_allclose(state.s, s, rtol=1e-15)


def test_update_rules_are_pure():
    """A state is never changed by update: the trace can keep states before and after."""
    for optimizer in (gd.SGD(momentum=0.9), gd.Adam(), gd.RMSprop(), gd.Nadam()):
        state = optimizer.init(np.zeros(2))
        snapshot = [np.copy(part) for part in state]
        gradient = GRADIENTS[0].copy()
        optimizer.update(gradient, state, learning_rate=0.1)
        for before, after in zip(snapshot, state, strict=True):
            np.testing.assert_array_equal(before, after)
        np.testing.assert_array_equal(gradient, GRADIENTS[0])


def test_train_on_batch_records_the_optimizer_state():
    model = gd.Sequential([gd.Dense(1)], input_dim=1)
    model.theta = np.zeros(2)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01, momentum=0.5))
    first = model.train_on_batch(np.array([[5.0]]), np.array([5.0]))
    second = model.train_on_batch(np.array([[9.0]]), np.array([17.0]))
    np.testing.assert_array_equal(first.state_before.velocity, [0.0, 0.0])
    np.testing.assert_allclose(first.state_after.velocity, [0.5, 0.1])
    np.testing.assert_array_equal(second.state_before.velocity, first.state_after.velocity)
    v = 0.5 * first.state_after.velocity - 0.01 * second.gradient
    np.testing.assert_allclose(second.theta_after, second.theta_before + v, rtol=1e-15)


# --- schedules ---------------------------------------------------------------------------
@pytest.mark.parametrize(("schedule", "values"), [
    (gd.Constant(0.1), {0: 0.1, 1: 0.1, 10_000: 0.1}),
    (gd.StepDecay(0.1, every=10, factor=0.5), {0: 0.1, 9: 0.1, 10: 0.05, 25: 0.025}),
    (gd.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5),
     {0: 0.1, 5: 0.1 * 0.5**0.5, 10: 0.05, 30: 0.0125}),
    (gd.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True),
     {0: 0.1, 9: 0.1, 10: 0.05, 19: 0.05, 20: 0.025}),
    (gd.InverseTimeDecay(0.1, decay_steps=1, decay_rate=1.0), {0: 0.1, 1: 0.05, 3: 0.025}),
    (gd.InverseTimeDecay(0.1, decay_steps=4, decay_rate=0.5, staircase=True),
     {0: 0.1, 3: 0.1, 4: 0.1 / 1.5, 8: 0.05}),
], ids=["constant", "step", "exponential", "exponential-staircase", "inverse-time",
        "inverse-time-staircase"])
def test_schedule_values(schedule, values):
    for step, expected in values.items():
        assert schedule(step) == pytest.approx(expected, rel=1e-14)
    rebuilt = schedules.get(schedule.get_config())
    assert type(rebuilt) is type(schedule) and rebuilt.get_config() == schedule.get_config()
    assert all(rebuilt(step) == schedule(step) for step in values)


def test_fit_uses_the_schedule_at_every_global_step():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(10, 1)), rng.normal(size=10)
    schedule = gd.StepDecay(0.1, every=3, factor=0.5)
    model = gd.Sequential([gd.Dense(1)], input_dim=1, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=schedule))
    history = model.fit(X, y, batch_size=4, epochs=3, verbose=0, trace=True)
    steps = np.concatenate(history.step_learning_rate)
    np.testing.assert_array_equal(steps, [schedule(t) for t in range(9)])
    assert [s.learning_rate for s in history.trace] == [schedule(t) for t in range(9)]
    assert history.history["learning_rate"] == [schedule(2), schedule(5), schedule(8)]


# --- names and configs ---------------------------------------------------------------------
@pytest.mark.parametrize(("name", "cls", "learning_rate"), [
    ("sgd", gd.SGD, 0.01), ("momentum", gd.SGD, 0.01), ("adam", gd.Adam, 0.001),
    ("rmsprop", gd.RMSprop, 0.001), ("nadam", gd.Nadam, 0.001)])
def test_get_by_name(name, cls, learning_rate):
    optimizer = optimizers.get(name)
    assert type(optimizer) is cls and optimizer.learning_rate == learning_rate
    if name == "momentum":
        assert optimizer.momentum == 0.9


@pytest.mark.parametrize("optimizer", [
    gd.SGD(0.05, momentum=0.8, nesterov=True), gd.Adam(0.002, beta_1=0.8),
    gd.Nadam(0.002, beta_2=0.99, epsilon=1e-8),
    gd.RMSprop(gd.ExponentialDecay(0.01, decay_steps=5, decay_rate=0.9))])
def test_config_round_trip(optimizer):
    config = optimizer.get_config()
    rebuilt = optimizers.get(config)
    assert rebuilt.get_config() == config
    assert optimizers.get(optimizer) is optimizer
    assert math.isclose(rebuilt.learning_rate_at(7), optimizer.learning_rate_at(7))
    assert config == optimizer.get_config()  # get did not consume the caller's dict


def test_a_schedule_config_is_accepted_as_learning_rate():
    config = gd.StepDecay(0.1, every=2).get_config()
    optimizer = gd.SGD(learning_rate=config)
    assert optimizer.learning_rate_at(5) == pytest.approx(0.025)
    assert optimizer.get_config()["learning_rate"] == config
