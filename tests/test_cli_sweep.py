"""gdlab.train.sweep.learning_rate_sweep: same θ₀ for every rate, model unchanged, verdicts."""

import numpy as np
import pandas as pd
import pytest

import gdlab as gd
from gdlab.train.sweep import COLUMNS, learning_rate_sweep, verdicts


def line_data():
    X = np.linspace(-2, 2, 40)[:, None]
    return X, 3 * X[:, 0] + 1


def model():
    m = gd.Sequential([gd.Dense(1)], input_dim=1, seed=4)
    m.compile(loss="mse", optimizer=gd.SGD(0.05))
    return m


def test_every_run_starts_from_the_models_theta_and_leaves_it_unchanged():
    X, y = line_data()
    m = model()
    theta0 = m.theta.copy()
    result = learning_rate_sweep(m, X, y, [0.1, 0.01], epochs=3, executor="numpy")
    assert m.theta.tobytes() == theta0.tobytes() and m.step_count == 0
    assert result.table["learning_rate"].tolist() == [0.01, 0.1]
    assert list(result.table.columns) == COLUMNS
    # one full-batch step by hand from θ0 reproduces each run's first epoch loss
    for rate, history in result.histories.items():
        w, b = theta0
        assert history.history["loss"][0] == pytest.approx(np.mean((w * X[:, 0] + b - y) ** 2))
        grad = np.array([np.mean(2 * (w * X[:, 0] + b - y) * X[:, 0]),
                         np.mean(2 * (w * X[:, 0] + b - y))])
        w1, b1 = theta0 - rate * grad
        assert history.history["loss"][1] == pytest.approx(np.mean((w1 * X[:, 0] + b1 - y) ** 2))


def test_divergence_is_recorded_not_raised():
    X, y = line_data()
    result = learning_rate_sweep(model(), X, y, [0.001, 0.2, 2.0], epochs=30, executor="numpy")
    table = result.table
    assert table["diverged"].tolist() == [False, False, True]
    assert table["verdict"].tolist() == ["too small", "good", "too large"]
    assert np.isinf(table["final_loss"].iloc[2])
    assert table["diverged_epoch"].iloc[2] is not None
    assert table["steps_run"].iloc[0] == 30 and table["steps_run"].iloc[2] < 30
    assert table["best_loss"].iloc[1] <= table["final_loss"].iloc[1] + 1e-12


def test_optimizer_kinds_and_minibatches():
    X, y = line_data()
    for optimizer in ("momentum", "adam", gd.RMSprop(0.5)):
        result = learning_rate_sweep(model(), X, y, [0.01, 0.1], epochs=2, batch_size=8,
                                     optimizer=optimizer, executor="numpy")
        assert (result.table["steps_run"] == 10).all()


def test_unbuilt_model_gets_its_seeded_theta0():
    X, y = line_data()
    m = gd.Sequential([gd.Dense(1)], seed=4)
    m.compile(loss="mse")
    result = learning_rate_sweep(m, X, y, [0.1], epochs=1, executor="numpy")
    assert result.table["initial_loss"].iloc[0] == pytest.approx(
        learning_rate_sweep(model(), X, y, [0.1], epochs=1, executor="numpy").table[
            "initial_loss"].iloc[0])
    assert not m.built


def test_verdict_rule():
    table = pd.DataFrame({"learning_rate": [0.1, 0.3, 1.0, 3.0, 9.0],
                          "initial_loss": [2.0] * 5, "final_loss": [0.8, 0.64, 0.5, 0.9, 3.0],
                          "diverged": [False] * 5})
    # best gap 1.5: 0.3 closed 1.36 >= 0.9 * 1.5 → good; 0.1 closed 1.2 < 1.35 (below the
    # best rate) → too small; 3.0 closed 1.1 < 1.35 (above) → too large; 9.0 went up
    assert verdicts(table) == ["too small", "good", "good", "too large", "too large"]


def test_bad_arguments():
    X, y = line_data()
    with pytest.raises(ValueError, match="learning_rates"):
        learning_rate_sweep(model(), X, y, [0.1, -1.0], epochs=1)
    with pytest.raises(ValueError, match="empty"):
        learning_rate_sweep(model(), X, y, [], epochs=1)
    uncompiled = gd.Sequential([gd.Dense(1)], input_dim=1)
    with pytest.raises(ValueError, match="compiled"):
        learning_rate_sweep(uncompiled, X, y, [0.1], epochs=1)
