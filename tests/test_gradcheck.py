"""gd.gradcheck: central differences agree with back-propagation and name the worst entries."""

from __future__ import annotations

import numpy as np
import pytest

import gdlab as gd

CASES = {
    "mse-tanh": ("tanh", "linear", 2, "mse"),
    "bce-relu": ("relu", "sigmoid", 1, "binary_crossentropy"),
    "cce-sigmoid": ("sigmoid", "softmax", 3, "categorical_crossentropy"),
    "poisson-tanh": ("tanh", "exponential", 1, "poisson"),
    "gamma-relu": ("relu", "exponential", 1, "gamma"),
}


def _data(loss: str, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(12, 3))
    if loss == "mse":
        return X, rng.normal(size=(12, k))
    if loss == "binary_crossentropy":
        return X, rng.integers(0, 2, 12).astype(float)
    if loss == "categorical_crossentropy":
        return X, np.eye(k)[rng.integers(0, k, 12)]
    return X, rng.gamma(2.0, 1.0, 12)


@pytest.mark.parametrize("case", list(CASES))
def test_gradcheck_passes_on_random_mlps(case):
    hidden, output, k, loss = CASES[case]
    rng = np.random.default_rng(list(CASES).index(case))
    X, y = _data(loss, k, rng)
    model = gd.Sequential([gd.Dense(4, hidden), gd.Dense(k, output)], input_dim=3, seed=2)
    model.compile(loss=loss, metrics=["mae"])
    theta = model.theta.copy()
    result = gd.gradcheck(model, X, y, sample_weight=rng.uniform(0.5, 2, 12))
    assert result.passed and bool(result)
    assert isinstance(result.max_relative_error, float) and result.max_relative_error < 1e-6
    assert result.failures == []
    np.testing.assert_array_equal(model.theta, theta)  # θ restored
    assert model.metrics == ["mae"]  # metrics restored
    np.testing.assert_allclose(result.analytic, result.numeric, rtol=1e-5, atol=1e-8)


class _WrongGradient(gd.Sequential):
    """A model whose back-propagation is off in two known entries."""

    def gradient(self, X, y, **kwargs):
        grad = super().gradient(X, y, **kwargs).copy()
        grad[1] += 0.5
        grad[4] *= 1.01
        return grad


def test_gradcheck_names_the_worst_parameters():
    X, y = _data("mse", 1, np.random.default_rng(5))
    model = _WrongGradient([gd.Dense(2, "tanh"), gd.Dense(1)], input_dim=3, seed=0)
    model.compile(loss="mse")
    result = gd.gradcheck(model, X, y)
    assert not result.passed
    names = model.param_names
    assert result.failures == [names[1], names[4]]  # worst first
    worst = result.worst(2)
    assert worst["param"].tolist() == [names[1], names[4]]
    assert worst["index"].tolist() == [1, 4]
    assert worst["analytic"].iloc[0] - worst["numeric"].iloc[0] == pytest.approx(0.5, abs=1e-6)
    text = repr(result)
    assert "passed=False" in text and names[1] in text and "2 failing" in text


def test_tiny_entries_are_judged_against_the_gradient_scale():
    # a saturated sigmoid unit has a far smaller gradient than the rest; its rounding
    # noise must not fail the check
    X, y = _data("binary_crossentropy", 1, np.random.default_rng(7))
    model = gd.Sequential([gd.Dense(3, "sigmoid"), gd.Dense(1, "sigmoid")], input_dim=3,
                          seed=0)
    weights = model.get_weights()
    weights[1][0] = 30.0  # unit 1 saturated at 1 for every row: its w-derivatives ~1e-13
    model.set_weights(weights)
    model.compile(loss="binary_crossentropy")
    result = gd.gradcheck(model, X, y)
    assert np.abs(result.analytic[[0, 3, 6]]).max() < 1e-9
    assert result.passed, result.worst(3)
