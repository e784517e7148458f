"""A too-large learning rate stops training and says so (What must hold, item 7).

Two paths: the loss (or gradient) becomes non-finite at a step, or the epoch loss
explodes (above 1e4 × the loss at θ₀) while staying finite. Either way training
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
    assert "epoch 3, step 3" in message  # diverged["epoch"] == 2: the 3rd epoch, step
    assert "learning rate 2 is probably too large" in message
    assert "learning_rate=0.2" in message
    assert "restored to its value at the end of epoch 1" in message  # counted from 1
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
    assert "epoch 3 (loss = 2.411e+12)" in message and "learning_rate=0.1" in message
    assert "too large" in message
    assert model.evaluate(*poisson_data) == pytest.approx(loss[1], rel=1e-12)
    assert model.stop_training


def test_stochastic_blow_up_within_the_first_epoch():
    """SGD that overflows within the first epoch gets its initial θ back, with a finite loss."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) * 10
    y = X.sum(axis=1)
    model = gd.Sequential([gd.Dense(1)], input_dim=3, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=1.0))
    initial = model.theta.copy()
    with pytest.warns(gd.DivergenceWarning, match=r"epoch 1 .*learning_rate=0\.1"):
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


# --- the optimizer state after a divergence (issue 12, item 1) ----------------------------
def _line_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 1))
    return X, 2 * X[:, 0] + 5 + 0.1 * rng.normal(size=100)


def _momentum_fit(executor, learning_rate=3.0, epochs=20):
    model = gd.Sequential([gd.Dense(1)], input_dim=1, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate, momentum=0.9))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(*_line_data(), batch_size="full", epochs=epochs, verbose=0,
                            executor=executor)
    return model, history, caught


@pytest.mark.parametrize("executor", ["numpy", "compiled"])
def test_a_refit_at_a_small_learning_rate_goes_downhill(executor):
    """The issue's evidence: SGD(3.0, momentum=0.9) diverges in epoch 5 (diverged["epoch"]
    == 4); θ goes back to the end of epoch 3. The velocity built at η = 3 is not carried
    into the refit at η = 0.01 (it took the loss from 1.7e5 to 4.6e6), so the refit only
    goes down."""
    model, history, caught = _momentum_fit(executor)
    message = _only_divergence_warning(caught)
    assert history.diverged["epoch"] == 4
    assert "end of epoch 3" in message and "optimizer's state was reset" in message
    np.testing.assert_array_equal(model.optimizer_state.velocity, 0.0)
    assert model.step_count == 3  # the schedule's clock is the snapshot's
    restored = model.evaluate(*_line_data())
    model.optimizer.learning_rate = 0.01
    refit = model.fit(*_line_data(), batch_size="full", epochs=50, verbose=0,
                      executor=executor)
    loss = np.array(refit.history["loss"])
    assert refit.diverged is None and loss[0] == pytest.approx(restored, rel=1e-12)
    assert (loss <= restored).all()  # momentum rings, but never above the start
    assert loss[-1] < restored / 100


@pytest.mark.parametrize("executor", ["numpy", "compiled"])
def test_the_message_names_the_restored_theta_and_its_loss_truthfully(executor):
    model, history, caught = _momentum_fit(executor)
    diverged = history.diverged
    initial = history.params["initial_loss"]
    loss_now = model.evaluate(*_line_data())
    assert diverged["restored_epoch"] == 2
    assert diverged["restored_loss"] == pytest.approx(loss_now, rel=1e-12)
    assert math.isfinite(loss_now) and loss_now <= 1e4 * initial  # the guard's threshold
    assert f"end of epoch 3 (training loss {loss_now:.4g})" in diverged["message"]


def test_plain_sgd_has_no_state_to_reset_and_does_not_say_so(poisson_data):
    _, history, _ = _poisson_fit(poisson_data, 2.0, "numpy")
    assert "reset" not in history.diverged["message"]


@pytest.mark.parametrize("make", [lambda: gd.SGD(3.0, momentum=0.9), lambda: gd.Adam(30.0)],
                         ids=["momentum", "adam"])
def test_executors_agree_on_the_state_after_a_divergence(make):
    X, y = _line_data()
    states = []
    for executor in ("numpy", "compiled"):
        model = gd.Sequential([gd.Dense(4, activation="exponential"), gd.Dense(1)],
                              input_dim=1, seed=0)
        model.compile(loss="mse", optimizer=make())
        with pytest.warns(gd.DivergenceWarning):
            history = model.fit(X, y, batch_size=10, epochs=30, verbose=0,
                                executor=executor)
        states.append((model.theta.copy(), model.optimizer_state, model.step_count,
                       history.diverged))
    (theta_a, state_a, count_a, div_a), (theta_b, state_b, count_b, div_b) = states
    np.testing.assert_allclose(theta_a, theta_b, rtol=1e-12)
    assert count_a == count_b and type(state_a) is type(state_b)
    for a, b in zip(state_a, state_b, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert div_a["epoch"] == div_b["epoch"] and div_a["step"] == div_b["step"]
    assert div_a["restored_epoch"] == div_b["restored_epoch"]


@pytest.mark.parametrize("executor", ["numpy", "compiled"])
def test_a_non_finite_gradient_never_updates_the_state(poisson_data, executor, monkeypatch):
    """When the divergence is found, θ, the optimizer state and the step count are those
    after the last finite step (the failed step changed nothing), on both executors."""
    seen = {}
    original = gd.callbacks.DivergenceGuard.restore

    def spy(guard, **kwargs):
        model = guard.model
        seen.update(theta=model.theta.copy(), state=model.optimizer_state,
                    steps=model.step_count)
        return original(guard, **kwargs)

    monkeypatch.setattr(gd.callbacks.DivergenceGuard, "restore", spy)
    model = gd.Sequential([gd.Dense(1, activation="exponential")], input_dim=2, seed=0)
    model.compile(loss="poisson", optimizer=gd.SGD(learning_rate=0.5, momentum=0.5))
    with pytest.warns(gd.DivergenceWarning):
        history = model.fit(*poisson_data, batch_size=5, epochs=50, verbose=0,
                            executor=executor)
    assert (history.diverged["epoch"], history.diverged["step"]) == (3, 13)  # inf at a step
    assert history.diverged["restored_epoch"] == 1  # epoch 2's θ has a too large loss
    assert np.isfinite(seen["theta"]).all() and np.isfinite(seen["state"].velocity).all()
    assert seen["steps"] == history.diverged["step"]  # the failed step was not counted


# --- the yardstick without a pass over X (issue 13) --------------------------------------
def _count_evaluations(monkeypatch):
    """Record the rows of every loss evaluation (Sequential._evaluate) fit makes."""
    rows = []
    original = gd.Sequential._evaluate

    def spy(model, batch, *args, **kwargs):
        rows.append(batch.X.shape[0])
        return original(model, batch, *args, **kwargs)

    monkeypatch.setattr(gd.Sequential, "_evaluate", spy)
    return rows


@pytest.mark.parametrize("executor", ["numpy", "compiled"])
def test_a_full_batch_fit_takes_the_initial_loss_from_its_first_step(executor, monkeypatch):
    X, y = _line_data()
    model = gd.Sequential([gd.Dense(1)], input_dim=1, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(0.1))
    at_theta0 = model.evaluate(X, y)
    rows = _count_evaluations(monkeypatch)
    history = model.fit(X, y, batch_size="full", epochs=3, verbose=0, executor=executor)
    assert rows == []  # no pass over X but the steps' own
    assert history.params["initial_loss"] == pytest.approx(at_theta0, rel=1e-12)
    assert history.params["initial_loss_rows"] == 100
    assert history.history["loss"][0] == history.params["initial_loss"]
    assert model._divergence_guard.reference == history.params["initial_loss"]


@pytest.mark.parametrize("executor", ["numpy", "compiled"])
def test_a_mini_batch_yardstick_reads_at_most_4096_evenly_spaced_rows(executor, monkeypatch):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(10_000, 2))
    y = X @ [1.0, -2.0] + 3
    w = rng.uniform(0.5, 2.0, size=10_000)
    model = gd.Sequential([gd.Dense(1)], input_dim=2, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(0.01))
    on_sample = model.evaluate(X[::3], y[::3], sample_weight=w[::3])  # ⌈10000 / 4096⌉ = 3
    rows = _count_evaluations(monkeypatch)
    history = model.fit(X, y, batch_size=32, epochs=1, verbose=0, sample_weight=w,
                        executor=executor)
    assert rows == [3334]
    assert history.params["initial_loss_rows"] == 3334
    assert history.params["initial_loss"] == pytest.approx(on_sample, rel=1e-12)
    assert model._divergence_guard.reference == history.params["initial_loss"]


def test_a_mini_batch_blow_up_on_many_rows_is_measured_against_theta0():
    """The sample's loss at θ₀ is the yardstick (not the first epoch's, which the blow-up
    inflates): the first epoch that exceeds 1e4 × it stops the fit."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8_192, 1))
    y = 2 * X[:, 0] + 1
    model = gd.Sequential([gd.Dense(1)], input_dim=1, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(1.5))
    with pytest.warns(gd.DivergenceWarning):
        history = model.fit(X, y, batch_size=4096, shuffle=False, epochs=40, verbose=0,
                            executor="numpy")
    reference = history.params["initial_loss"]
    assert history.params["initial_loss_rows"] == 4096
    loss = history.history["loss"]
    assert history.diverged["step"] is None  # exploded, still finite
    assert history.diverged["epoch"] == 3
    assert loss[-1] > 1e4 * reference >= max(loss[:-1])
    assert loss[-1] < 1e4 * loss[0]  # the first epoch's loss would not have stopped it yet
    assert model._divergence_guard.reference == pytest.approx(reference)


def test_a_guard_told_no_initial_loss_takes_the_first_epochs():
    X, y = _line_data()
    model = gd.Sequential([gd.Dense(1)], input_dim=1, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(0.1))
    guard = gd.callbacks.DivergenceGuard()
    model.fit(X, y, batch_size=10, epochs=1, verbose=0)
    guard.set_model(model)
    guard.on_train_begin({})
    assert guard.reference is None
    guard.on_epoch_end(0, {"loss": 7.0})
    assert guard.reference == pytest.approx(model.history.params["initial_loss"])
    model.history.params.clear()
    guard.on_train_begin({})
    guard.on_epoch_end(0, {"loss": 7.0})
    assert guard.reference == 7.0
