"""Stable numerics on the logit path (What must hold, item 6).

A logit of ±1000 gives a finite loss (1000 for the wrong class) and finite gradients;
softmax margins of 1600 too; and nothing is clipped: the loss keeps growing linearly in
the logit far past where a clipped probability (1e-15, loss ≈ 34.5) would stop it.
"""

from __future__ import annotations

import numpy as np
import pytest

import gdlab as gd
from gdlab.nn import activations, losses


@pytest.fixture(autouse=True)
def _no_floating_point_trouble():
    """Overflow, invalid operations and division by zero are errors in these tests."""
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        yield


def _logistic_unit(z_per_row: float) -> tuple[gd.Sequential, np.ndarray]:
    """A sigmoid unit whose logit is z_per_row on the rows x = 1 and -z on x = -1."""
    model = gd.Sequential([gd.Dense(1, activation="sigmoid")], input_dim=1)
    model.set_weights([np.array([[z_per_row]]), np.array([0.0])])
    model.compile(loss="binary_crossentropy")
    return model, np.array([[1.0], [-1.0]])


@pytest.mark.parametrize("z", [1000.0, -1000.0])
def test_bce_logit_of_1000_for_the_wrong_class(z):
    model, X = _logistic_unit(z)
    wrong = np.array([0.0, 1.0]) if z > 0 else np.array([1.0, 0.0])
    assert model.evaluate(X, wrong) == 1000.0
    gradient = model.gradient(X, wrong)
    assert np.all(np.isfinite(gradient))
    # dL/dz = σ(z) − y = ±1 on each row; dL/dw = mean(x (σ(z) − y)), dL/db = mean(σ(z) − y)
    sign = 1.0 if z > 0 else -1.0
    np.testing.assert_array_equal(gradient, [sign, 0.0])


@pytest.mark.parametrize("z", [1000.0, -1000.0])
def test_bce_logit_of_1000_for_the_right_class(z):
    model, X = _logistic_unit(z)
    right = np.array([1.0, 0.0]) if z > 0 else np.array([0.0, 1.0])
    assert model.evaluate(X, right) == 0.0
    np.testing.assert_array_equal(model.gradient(X, right), [0.0, 0.0])


@pytest.mark.parametrize("z", [-50.0, -100.0, -1e5, 40.0, 300.0])
def test_no_clipping_on_the_logit_path(z):
    """The wrong-class loss is |z| (to rounding), well past the clip's 34.5."""
    bce = losses.get("binary_crossentropy")
    y = np.array([[1.0 if z < 0 else 0.0]])
    value = bce.value_from_logits(y, np.array([[z]]))[0]
    assert value == pytest.approx(abs(z), rel=1e-15)
    assert value > -np.log(losses.EPS) or abs(z) < 35
    assert bce.gradient_wrt_logits(y, np.array([[z]]))[0, 0] == (-1.0 if z < 0 else 1.0)


def test_the_probability_path_does_clip_as_documented():
    bce = losses.get("binary_crossentropy")
    assert bce.value(np.array([[1.0]]), np.array([[0.0]]))[0] == pytest.approx(-np.log(1e-15))


@pytest.mark.parametrize("margin", [1600.0, -1600.0])
def test_softmax_margin_of_1600(margin):
    model = gd.Sequential([gd.Dense(2, activation="softmax")], input_dim=1)
    model.set_weights([np.array([[margin, 0.0]]), np.array([0.0, 0.0])])
    model.compile(loss="categorical_crossentropy")
    X = np.array([[1.0]])
    wrong = np.array([[0.0, 1.0]]) if margin > 0 else np.array([[1.0, 0.0]])
    assert model.evaluate(X, wrong) == 1600.0
    gradient = model.gradient(X, wrong)
    assert np.all(np.isfinite(gradient))
    # dL/dZ = Ŷ − Y = (±1, ∓1): W gets x·(Ŷ − Y) and b gets Ŷ − Y
    expected = np.array([1.0, -1.0]) if margin > 0 else np.array([-1.0, 1.0])
    np.testing.assert_array_equal(gradient, np.r_[expected, expected])
    right = wrong[:, ::-1]
    assert model.evaluate(X, right) == 0.0
    np.testing.assert_array_equal(model.predict(X).sum(axis=1), [1.0])


def test_sparse_softmax_with_three_classes_and_huge_logits():
    cce = losses.get("sparse_categorical_crossentropy")
    Z = np.array([[1600.0, 0.0, -1600.0], [-1e6, 1e6, 0.0]])
    Y = cce.check_target(np.array([2, 0]), 3)
    np.testing.assert_array_equal(cce.value_from_logits(Y, Z), [3200.0, 2e6])
    np.testing.assert_array_equal(cce.gradient_wrt_logits(Y, Z), [[1, 0, -1], [-1, 1, 0]])


@pytest.mark.parametrize("name", ["sigmoid", "softmax", "tanh", "relu", "linear"])
def test_activations_are_finite_for_huge_inputs(name):
    Z = np.array([[-1e4, -1000.0, 0.0, 1000.0, 1e4]])
    activation = activations.get(name)
    A = activation.forward(Z)
    assert np.all(np.isfinite(A))
    assert np.all(np.isfinite(activation.derivative(Z)))
    assert np.all(np.isfinite(activation.backward(Z, A, np.ones_like(Z))))


def test_sigmoid_saturates_exactly():
    np.testing.assert_array_equal(activations.sigmoid(np.array([-1000.0, 1000.0])), [0.0, 1.0])


def test_poisson_from_logits_stays_finite_for_large_logits():
    poisson = losses.get("poisson")
    Z = np.array([[-700.0], [700.0]])
    y = np.array([[3.0], [0.0]])
    assert np.all(np.isfinite(poisson.value_from_logits(y, Z)))
    assert np.all(np.isfinite(poisson.gradient_wrt_logits(y, Z)))
