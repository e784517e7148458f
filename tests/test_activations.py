"""Property tests of the activations, and each formula against a slow per-element twin."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gdlab.nn import activations

# derandomized and without an example database: the same examples on every run, no files
FAST = settings(max_examples=25, deadline=None, derandomize=True, database=None)

finite = st.floats(min_value=-60.0, max_value=60.0, allow_nan=False, allow_infinity=False)
wide = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
matrices = hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1,
                                                   max_side=5), elements=finite)
wide_matrices = hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 5)),
                           elements=wide)
ELEMENTWISE = ["linear", "sigmoid", "relu", "tanh", "exponential"]


# --- slow twins: one Python float at a time --------------------------------------------------
def _slow_sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    return math.exp(z) / (1.0 + math.exp(z))


SLOW_FORWARD = {
    "linear": lambda z: z,
    "sigmoid": _slow_sigmoid,
    "relu": lambda z: z if z > 0 else 0.0,
    "tanh": math.tanh,
    "exponential": math.exp,
}
SLOW_DERIVATIVE = {
    "linear": lambda z: 1.0,
    "sigmoid": lambda z: _slow_sigmoid(z) * (1.0 - _slow_sigmoid(z)),
    "relu": lambda z: 1.0 if z > 0 else 0.0,
    "tanh": lambda z: 1.0 - math.tanh(z) ** 2,
    "exponential": math.exp,
}


def _slow_softmax_row(z: list[float]) -> list[float]:
    top = max(z)
    e = [math.exp(v - top) for v in z]
    return [v / sum(e) for v in e]


def _elementwise(f, Z: np.ndarray) -> np.ndarray:
    return np.array([[f(float(v)) for v in row] for row in Z])


@pytest.mark.parametrize("name", ELEMENTWISE)
@FAST
@given(Z=matrices)
def test_elementwise_value_and_derivative_match_the_slow_twin(name, Z):
    activation = activations.get(name)
    np.testing.assert_allclose(activation.forward(Z), _elementwise(SLOW_FORWARD[name], Z),
                               rtol=1e-14, atol=1e-300)
    # 1 − tanh² z cancels for large |z|: one ulp of tanh is 2e-16 absolute there
    np.testing.assert_allclose(activation.derivative(Z), _elementwise(SLOW_DERIVATIVE[name], Z),
                               rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", ELEMENTWISE)
@FAST
@given(Z=matrices, data=st.data())
def test_backward_is_dA_times_the_derivative(name, Z, data):
    activation = activations.get(name)
    dA = data.draw(hnp.arrays(np.float64, Z.shape, elements=finite))
    Z_copy, dA_copy = Z.copy(), dA.copy()
    dZ = activation.backward(Z, activation.forward(Z), dA)
    np.testing.assert_allclose(dZ, dA * activation.derivative(Z), rtol=1e-14, atol=1e-300)
    np.testing.assert_array_equal(Z, Z_copy)  # the inputs are never written into
    np.testing.assert_array_equal(dA, dA_copy)


@FAST
@given(Z=matrices)
def test_softmax_matches_the_slow_twin(Z):
    A = activations.Softmax().forward(Z)
    np.testing.assert_allclose(A, [_slow_softmax_row(list(row)) for row in Z], rtol=1e-13)
    np.testing.assert_allclose(activations.Softmax().derivative(Z), A * (1 - A), rtol=1e-15)


@FAST
@given(Z=matrices, data=st.data())
def test_softmax_backward_is_the_jacobian_product(Z, data):
    dA = data.draw(hnp.arrays(np.float64, Z.shape, elements=finite))
    A = activations.Softmax().forward(Z)
    dZ = activations.Softmax().backward(Z, A, dA)
    for i in range(Z.shape[0]):  # J[j, m] = A_j (δ_jm − A_m); dZ_m = Σ_j dA_j J[j, m]
        a = A[i]
        jacobian = np.diag(a) - np.outer(a, a)
        np.testing.assert_allclose(dZ[i], dA[i] @ jacobian, rtol=1e-9, atol=1e-12)


@FAST
@given(Z=wide_matrices)
def test_softmax_rows_sum_to_one(Z):
    A = activations.Softmax().forward(Z)
    assert np.all((A >= 0) & (A <= 1))
    np.testing.assert_allclose(A.sum(axis=1), 1.0, rtol=1e-14)
    assert np.all(A[np.arange(len(Z)), Z.argmax(axis=1)] == A.max(axis=1))  # order kept


@FAST
@given(Z=matrices, shift=finite)
def test_softmax_ignores_a_constant_added_to_a_row(Z, shift):
    np.testing.assert_allclose(activations.Softmax().forward(Z + shift),
                               activations.Softmax().forward(Z), rtol=1e-10, atol=1e-300)


@FAST
@given(z=hnp.arrays(np.float64, st.integers(1, 20), elements=wide))
def test_sigmoid_bounds_and_symmetry(z):
    s = activations.sigmoid(z)
    assert np.all((s >= 0.0) & (s <= 1.0))
    np.testing.assert_allclose(activations.sigmoid(-z), 1.0 - s, rtol=0, atol=4e-16)
    moderate = np.abs(z) < 30
    assert np.all((s[moderate] > 0.0) & (s[moderate] < 1.0))
    d = activations.Sigmoid().derivative(z)
    assert np.all((d >= 0.0) & (d <= 0.25))


@FAST
@given(z=hnp.arrays(np.float64, st.integers(1, 20), elements=wide))
def test_tanh_and_relu_bounds(z):
    t = activations.Tanh().forward(z)
    assert np.all(np.abs(t) <= 1.0)
    np.testing.assert_array_equal(activations.Tanh().forward(-z), -t)
    r = activations.ReLU().forward(z)
    assert np.all(r >= 0.0) and np.all(r >= z)
    assert np.all(activations.Exponential().forward(np.clip(z, -700, 700)) > 0.0)


@pytest.mark.parametrize("name", ELEMENTWISE)
@FAST
@given(z=hnp.arrays(np.float64, st.integers(2, 20), elements=finite))
def test_elementwise_activations_are_monotone(name, z):
    z = np.sort(z)
    a = activations.get(name).forward(z)
    assert np.all(np.diff(a) >= 0.0)
    assert np.all(activations.get(name).derivative(z) >= 0.0)


def test_names_and_get():
    assert activations.names() == ["exponential", "linear", "relu", "sigmoid", "softmax", "tanh"]
    for name in activations.names():
        activation = activations.get(name)
        assert activation.name == name and activation.get_config() == {"name": name}
        assert activations.get(activation) is activation
    assert activations.get(None).name == "linear"
    assert activations.get("identity").name == "linear"
