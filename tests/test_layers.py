r"""One Dense layer's chain rule against central differences, and the network as its loop.

For a layer ``A = φ(A_prev W + b)`` and a fixed random ``G`` of A's shape, the scalar
:math:`f = \sum G \odot A` has :math:`\partial f/\partial A = G`; so ``Dense.backward(G,
cache)`` must return the central differences of f in A_prev, W and b. Then the network's
backward must be exactly the stack of its layers' backward passes, and its batch loss
exactly :func:`gdlab.nn.losses.batch_mean` of the per-row losses.
"""

from __future__ import annotations

import numpy as np
import pytest

import gdlab as gd
from gdlab.nn import activations, losses
from gdlab.nn.layers import Dense
from gdlab.nn.network import Network

H = 1e-6


def _layer(activation: str, inputs: int, units: int, rng: np.random.Generator, *,
           use_bias: bool = True) -> Dense:
    layer = Dense(units, activation=activation, use_bias=use_bias)
    layer.build(inputs)
    layer.bind(rng.normal(size=layer.n_params))  # W and b are views into this θ
    return layer


def _central_difference(f, x: np.ndarray) -> np.ndarray:
    """∂f/∂x entry by entry, x perturbed in place and restored."""
    grad = np.empty_like(x)
    for j in np.ndindex(x.shape):
        saved = x[j]
        x[j] = saved + H
        up = f()
        x[j] = saved - H
        down = f()
        x[j] = saved
        grad[j] = (up - down) / (2 * H)
    return grad


def _case(activation: str, seed: int):
    rng = np.random.default_rng(seed)
    n, inputs = rng.integers(1, 6), rng.integers(1, 5)
    units = rng.integers(2, 5) if activation == "softmax" else rng.integers(1, 4)
    layer = _layer(activation, inputs, units, rng)
    A_prev = rng.normal(size=(n, inputs))
    G = rng.normal(size=(n, units))
    return layer, A_prev, G


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("activation", activations.names())
def test_dense_backward_is_the_central_difference(activation, seed):
    layer, A_prev, G = _case(activation, seed)
    A, cache = layer.forward(A_prev)
    if activation == "relu":  # keep away from the kink at 0, where differences are invalid
        assert np.abs(cache.Z).min() > 10 * H
    dA_prev, dW, db = layer.backward(G, cache)

    def f() -> float:
        return float(np.sum(G * layer.forward(A_prev)[0]))

    assert dA_prev.shape == A_prev.shape and dW.shape == layer.W.shape
    np.testing.assert_allclose(dA_prev, _central_difference(f, A_prev), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dW, _central_difference(f, layer.W), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, _central_difference(f, layer.b), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_backward_from_Z_is_the_chain_rule_through_Z_only(activation):
    """From dZ the activation is already behind: the central differences of Σ G ⊙ Z."""
    layer, A_prev, G = _case(activation, 7)
    _, cache = layer.forward(A_prev)
    dA_prev, dW, db = layer.backward_from_Z(G, cache)

    def f() -> float:
        return float(np.sum(G * layer.forward(A_prev)[1].Z))

    np.testing.assert_allclose(dA_prev, _central_difference(f, A_prev), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dW, _central_difference(f, layer.W), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, _central_difference(f, layer.b), rtol=1e-6, atol=1e-8)


def test_a_layer_without_bias_has_no_db():
    rng = np.random.default_rng(0)
    layer = _layer("tanh", 3, 2, rng, use_bias=False)
    A, cache = layer.forward(rng.normal(size=(4, 3)))
    dA_prev, dW, db = layer.backward(np.ones_like(A), cache)
    assert db is None and dW.shape == (3, 2) and dA_prev.shape == (4, 3)


@pytest.mark.parametrize("use_bias", [True, False])
def test_the_buffer_variant_equals_backward_from_Z_bit_for_bit(use_bias):
    rng = np.random.default_rng(1)
    layer = _layer("sigmoid", 4, 3, rng, use_bias=use_bias)
    _, cache = layer.forward(rng.normal(size=(6, 4)))
    dZ = rng.normal(size=(6, 3))
    dA_prev, dW, db = layer.backward_from_Z(dZ, cache)
    grad = np.full(layer.n_params, np.nan)
    returned = layer._backward_from_Z_into(dZ, cache, grad)
    expected = np.concatenate([dW.ravel(), db]) if use_bias else dW.ravel()
    assert np.array_equal(grad, expected) and np.array_equal(returned, dA_prev)
    assert layer._backward_from_Z_into(dZ, cache, grad, need_dA_prev=False) is None


#: (hidden activations, output activation, units, loss, use_bias of each layer)
NETWORKS = [
    (["tanh", "relu"], "sigmoid", 1, "binary_crossentropy", [True, False, True]),
    (["sigmoid"], "softmax", 3, "sparse_categorical_crossentropy", [True, True]),
    (["relu", "tanh"], "sigmoid", 2, "mse", [True, True, False]),  # not fused: dA first
    ([], "exponential", 1, "poisson", [True]),
    (["softmax", "exponential"], "linear", 2, "mse", [False, True, True]),
]


def _network(hidden, output, units, use_bias, seed=0) -> Network:
    sizes = [4] * len(hidden) + [units]
    layers = [Dense(k, activation=a, use_bias=bias)
              for k, a, bias in zip(sizes, [*hidden, output], use_bias, strict=True)]
    return Network(layers, input_dim=3, seed=seed)


def _target(loss: str, units: int, n: int, rng: np.random.Generator) -> np.ndarray:
    if loss == "sparse_categorical_crossentropy":
        return rng.integers(0, units, n)
    if loss in ("binary_crossentropy", "poisson"):
        return rng.integers(0, 2, (n, units)).astype(float)
    return rng.normal(size=(n, units))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("hidden", "output", "units", "loss_name", "use_bias"), NETWORKS)
def test_network_backward_is_the_stack_of_layer_backwards(hidden, output, units, loss_name,
                                                          use_bias, weighted):
    rng = np.random.default_rng(len(hidden) + units)
    net = _network(hidden, output, units, use_bias)
    loss = gd.losses.get(loss_name)
    n = 9
    X = rng.normal(size=(n, 3))
    Y = loss.check_target(_target(loss_name, units, n, rng), units)
    w = rng.uniform(0.1, 2.0, n) if weighted else None
    result = net.loss_and_gradient(loss, X, Y, sample_weight=w)

    _, caches = net.forward(X)
    _, dZ = net._output_delta(loss, Y, caches, None)
    dZ = dZ * (1.0 / n if w is None else losses.batch_shares(w)[:, None])
    dA_prev, dW, db = net.layers[-1].backward_from_Z(dZ, caches[-1])
    pieces = [[dW.ravel()] + ([db] if db is not None else [])]
    for layer, cache in zip(reversed(net.layers[:-1]), reversed(caches[:-1]), strict=True):
        dA_prev, dW, db = layer.backward(dA_prev, cache)
        pieces.insert(0, [dW.ravel()] + ([db] if db is not None else []))
    stacked = np.concatenate([part for layer_parts in pieces for part in layer_parts])
    assert np.array_equal(result.gradient, stacked)  # bit for bit
    assert result.loss == losses.batch_mean(result.per_row_loss, w)  # the one batch mean


def test_batch_mean_is_the_mean_and_the_weighted_mean():
    per_row = np.array([1.0, 2.0, 4.0])
    assert losses.batch_mean(per_row) == float(per_row.sum()) / 3
    w = np.array([1.0, 0.0, 3.0])
    assert losses.batch_shares(w).tolist() == [0.25, 0.0, 0.75]
    assert losses.batch_mean(per_row, w) == 3.25
    assert losses.batch_shares(np.zeros(3)).tolist() == [0.0, 0.0, 0.0]
