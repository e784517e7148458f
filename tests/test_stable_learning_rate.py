"""gd.stable_learning_rate: 2/λ_max of the loss's Hessian, exact for a linear model's MSE."""

import math

import numpy as np
import pytest

import gdlab as gd
from gdlab.show.lecture import batch_gd_data
from gdlab.train.stability import hessian_max_eigenvalue


def full_hessian(model, X, y, h=1e-5, **kw):
    """The Hessian by central differences of the exact gradient, column by column."""
    theta = model.theta.copy()
    columns = []
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h
        model.set_theta(theta + e)
        plus = model.gradient(X, y, **kw)
        model.set_theta(theta - e)
        minus = model.gradient(X, y, **kw)
        columns.append((plus - minus) / (2 * h))
    model.set_theta(theta)
    H = np.column_stack(columns)
    return (H + H.T) / 2


def linear(p, units=1, learning_rate=0.1):
    model = gd.Sequential([gd.Dense(units)], input_dim=p)
    model.set_weights([np.zeros((p, units)), np.zeros(units)])
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=learning_rate))
    return model


def test_the_lecture_model_bound_is_2_over_lambda_max_of_2_over_n_xtx():
    X, y = batch_gd_data()
    X1 = np.column_stack([X, np.ones(3)])
    expected = 2 / np.linalg.eigvalsh(2 / 3 * X1.T @ X1)[-1]
    assert gd.stable_learning_rate(linear(1), X, y) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.1803, abs=1e-4)  # the lecture's η = 0.1 is stable


@pytest.mark.parametrize("factor", [0.95, 1.05])
def test_a_linear_model_converges_below_the_bound_and_diverges_above(factor):
    rng = np.random.default_rng(4)
    X = rng.normal(2.0, 1.5, (200, 3)) * [1.0, 3.0, 0.5]  # unequal scales: a narrow valley
    y = X @ [0.5, -1.0, 2.0] + 3.0 + 0.1 * rng.standard_normal(200)
    eta = factor * gd.stable_learning_rate(linear(3), X, y)
    model = linear(3, learning_rate=eta)
    best = np.linalg.lstsq(np.column_stack([X, np.ones(200)]), y, rcond=None)[0]
    if factor < 1:
        model.fit(X, y, batch_size="full", epochs=3000, verbose=0, executor="numpy")
        np.testing.assert_allclose(model.theta, best, rtol=1e-6, atol=1e-6)
    else:
        with pytest.warns(gd.DivergenceWarning, match="diverged"):
            model.fit(X, y, batch_size="full", epochs=3000, verbose=0, executor="numpy")


def test_weights_exposure_and_several_outputs_match_the_numerical_hessian():
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((50, 2)), rng.standard_normal((50, 2))
    w, e = rng.uniform(0.5, 2.0, 50), rng.uniform(0.5, 1.5, 50)
    model = linear(2, units=2)
    exact = hessian_max_eigenvalue(model, X, Y, sample_weight=w, exposure=e)
    H = full_hessian(model, X, Y, sample_weight=w, exposure=e)
    assert exact == pytest.approx(np.linalg.eigvalsh(H)[-1], rel=1e-7)


@pytest.mark.parametrize("kind", ["logistic", "tanh-mlp", "relu-poisson"])
def test_power_iteration_finds_the_largest_eigenvalue(kind):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((80, 2))
    if kind == "logistic":
        layers, loss = [gd.Dense(1, activation="sigmoid")], "binary_crossentropy"
        y = (X[:, 0] - X[:, 1] > 0).astype(float)
    elif kind == "tanh-mlp":
        layers, loss = [gd.Dense(3, activation="tanh"), gd.Dense(1)], "mse"
        y = np.sin(2 * X[:, 0]) + X[:, 1]
    else:
        layers, loss = [gd.Dense(3, activation="relu"), gd.Dense(1, activation="exp")], \
            "poisson"
        y = rng.poisson(np.exp(0.3 * X[:, 0])).astype(float)
    model = gd.Sequential(layers, input_dim=2, seed=5)
    model.compile(loss=loss, optimizer="sgd")
    theta = model.theta.copy()
    eigenvalues = np.linalg.eigvalsh(full_hessian(model, X, y))
    found = hessian_max_eigenvalue(model, X, y, iterations=500, tol=1e-10)
    assert found == pytest.approx(eigenvalues[-1], rel=1e-3)
    assert gd.stable_learning_rate(model, X, y, iterations=500, tol=1e-10) == \
        pytest.approx(2 / eigenvalues[-1], rel=1e-3)
    np.testing.assert_array_equal(model.theta, theta)  # θ is left where it was


def test_a_negative_dominant_eigenvalue_is_shifted_away():
    """A concave direction with |λ| larger than the convex one: λ_max is still found."""
    class Saddle:  # L(θ) = θ₀²/2 − 2θ₁², H = diag(1, −4)
        loss = object()
        layers = ()
        theta = np.array([0.3, 0.2])

        def set_theta(self, value):
            self.theta = np.asarray(value, dtype=float)

        def gradient(self, X, y, **kw):
            return np.array([self.theta[0], -4.0 * self.theta[1]])

    assert hessian_max_eigenvalue(Saddle(), None, None) == pytest.approx(1.0, rel=1e-6)


def test_bad_calls_say_what_to_do():
    model = gd.Sequential([gd.Dense(1)], input_dim=1)
    with pytest.raises(ValueError, match="compile"):
        gd.stable_learning_rate(model, np.ones((3, 1)), np.ones(3))
    model.compile(loss="mse")
    with pytest.raises(ValueError, match="iterations"):
        gd.stable_learning_rate(model, np.ones((3, 1)), np.ones(3), iterations=0)
    flat = gd.Sequential([gd.Dense(1, use_bias=False)], input_dim=1)
    flat.compile(loss="mse")  # x = 0 on every row: the loss does not depend on θ
    assert math.isinf(gd.stable_learning_rate(flat, np.zeros((3, 1)), np.zeros(3)))


def test_lr_sweep_prints_the_bound_and_the_rates_above_it(tmp_path, capsys):
    import pandas as pd

    from gdlab.cli import main

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3, 60)
    pd.DataFrame({"x": x, "y": 2 * x - 1 + 0.1 * rng.standard_normal(60)}).to_csv(
        tmp_path / "line.csv", index=False)
    code = main(["lr-sweep", str(tmp_path / "line.csv"), "--target", "y", "--batch-size",
                 "full", "--epochs", "40", "--executor", "numpy", "--learning-rates",
                 "0.01,0.5,5", "--out", str(tmp_path / "sweep")])
    out = capsys.readouterr().out
    assert code in (0, None)
    line = next(s for s in out.splitlines() if s.startswith("Largest stable learning rate"))
    bound = float(line.split("= ")[1].split(" ")[0])
    assert 0.01 < bound < 5 and "exact" in line
    assert line.endswith("above it: " + ", ".join(
        f"{r:g}" for r in (0.5, 5) if r > bound) + ".")
    report = (tmp_path / "sweep" / "report.html").read_text(encoding="utf-8")
    assert "largest stable η" in report and f"2/λ_max = {bound:.4g}" in report


def test_the_sweeps_note_samples_a_large_data_set(monkeypatch):
    from gdlab.train import stability

    rng = np.random.default_rng(3)
    X = rng.standard_normal((3000, 2))
    y = (X[:, 0] > 0).astype(float)
    model = gd.Sequential([gd.Dense(1, activation="sigmoid")], input_dim=2, seed=1)
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    full = gd.stable_learning_rate(model, X, y)
    seen = []
    original = stability.stable_learning_rate

    def spy(model, X, y, **kw):
        seen.append(len(X))
        return original(model, X, y, **kw)

    monkeypatch.setattr(stability, "stable_learning_rate", spy)
    note = stability.stability_note(model, X, y, rates=[100.0], max_rows=1000)
    assert seen == [1000] and "a guide" in note
    sampled = float(note.split("= ")[1].split(" ")[0])
    assert sampled == pytest.approx(full, rel=0.15)
