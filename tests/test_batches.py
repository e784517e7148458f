"""Batch, stochastic and mini-batch descent as one batch plan (What must hold, item 4).

Counted from fit(trace=True): full batch = 1 step per epoch, stochastic = n steps of one
row, mini-batch k = ceil(n / k) steps (the last one partial); every epoch visits every row
exactly once; shuffle=False keeps the data order.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import gdlab as gd
from gdlab.optim.batches import BatchPlan, check_batch_size, variant_name

EPOCHS = 3


def _data(n: int):
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 2))
    return X, X @ np.array([1.0, -2.0]) + 0.5


def _fit(n, batch_size, *, shuffle=True, seed=0):
    model = gd.Sequential([gd.Dense(1)], input_dim=2, seed=1)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01))
    history = model.fit(*_data(n), batch_size=batch_size, epochs=EPOCHS, shuffle=shuffle,
                        seed=seed, verbose=0, trace=True)
    return model, history


def _epochs(history) -> list[list[np.ndarray]]:
    by_epoch: list[list[np.ndarray]] = [[] for _ in range(EPOCHS)]
    for step in history.trace:
        by_epoch[step.epoch].append(step.rows)
    return by_epoch


CASES = [  # (n, batch_size, steps per epoch, variant)
    (10, "full", 1, "batch"),
    (10, 1, 10, "stochastic"),
    (10, 3, 4, "mini-batch"),
    (10, 5, 2, "mini-batch"),
    (10, 10, 1, "batch"),
    (10, 32, 1, "batch"),
    (7, 2, 4, "mini-batch"),
]


@pytest.mark.parametrize(("n", "batch_size", "steps", "variant"), CASES,
                         ids=[f"n{c[0]}-{c[1]}" for c in CASES])
@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffle", "ordered"])
def test_steps_and_rows(n, batch_size, steps, variant, shuffle):
    model, history = _fit(n, batch_size, shuffle=shuffle)
    k = n if batch_size == "full" else min(batch_size, n)
    assert steps == math.ceil(n / k)
    assert len(history.trace) == EPOCHS * steps == model.step_count
    assert [s.step for s in history.trace] == list(range(EPOCHS * steps))
    assert history.params["steps"] == steps and history.params["variant"] == variant
    assert [a.size for a in history.step_loss] == [steps] * EPOCHS
    for rows in _epochs(history):
        assert [r.size for r in rows] == [k] * (steps - 1) + [n - k * (steps - 1)]
        visited = np.concatenate(rows)
        np.testing.assert_array_equal(np.sort(visited), np.arange(n))  # each row once
        if not shuffle or steps == 1:  # a full batch is never reordered
            np.testing.assert_array_equal(visited, np.arange(n))
    assert {s.variant for s in history.trace} == {variant}


def test_shuffle_reorders_every_epoch():
    _, history = _fit(10, 1, shuffle=True)
    orders = [np.concatenate(rows) for rows in _epochs(history)]
    assert not np.array_equal(orders[0], np.arange(10))
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])


def test_each_step_uses_exactly_its_rows():
    """The recorded gradient is the mean gradient of the step's rows at θ before."""
    X, y = _data(10)
    _, history = _fit(10, 3, shuffle=True)
    probe = gd.Sequential([gd.Dense(1)], input_dim=2)
    probe.compile(loss="mse")
    for step in history.trace:
        probe.theta = step.theta_before
        np.testing.assert_allclose(probe.gradient(X[step.rows], y[step.rows]), step.gradient,
                                   rtol=1e-13)
        np.testing.assert_allclose(step.theta_after, step.theta_before - 0.01 * step.gradient,
                                   rtol=1e-15)
    for before, after in zip(history.trace[1:], history.trace[:-1], strict=True):
        np.testing.assert_array_equal(before.theta_before, after.theta_after)


def test_epoch_loss_is_the_row_weighted_mean_of_the_step_losses():
    _, history = _fit(7, 2, shuffle=True)
    sizes = np.array([2, 2, 2, 1])
    for epoch in range(EPOCHS):
        expected = sizes @ history.step_loss[epoch] / 7
        assert history.history["loss"][epoch] == pytest.approx(expected, rel=1e-14)


def test_batch_plan_directly():
    plan = BatchPlan(5, 2, shuffle=False, rng=np.random.default_rng(0))
    assert [b.tolist() for b in plan.epoch()] == [[0, 1], [2, 3], [4]]
    assert (plan.steps_per_epoch, plan.variant) == (3, "mini-batch")
    full = BatchPlan(5, "full", shuffle=True, rng=np.random.default_rng(0))
    assert [b.tolist() for b in full.epoch()] == [[0, 1, 2, 3, 4]]
    shuffled = BatchPlan(6, 1, shuffle=True, rng=np.random.default_rng(0))
    first, second = ([int(b[0]) for b in shuffled.epoch()] for _ in range(2))
    assert sorted(first) == sorted(second) == list(range(6)) and first != second


@pytest.mark.parametrize(("batch_size", "n", "name"),
                         [("full", 5, "batch"), (1, 5, "stochastic"), (2, 5, "mini-batch"),
                          (5, 5, "batch"), (9, 5, "batch"), (1, 1, "batch")])
def test_variant_names(batch_size, n, name):
    assert variant_name(batch_size, n) == name


def test_check_batch_size_accepts_numpy_integers():
    assert check_batch_size(np.int64(4)) == 4
    assert check_batch_size("full") == "full"
