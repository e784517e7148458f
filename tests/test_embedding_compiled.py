"""Embeddings in the compiled executor: the same lookup and scatter-add as the reference.

Same data, same seed: θ, the optimizer state and the history (losses and gradient norms,
the tables' ``grad_norm[0]`` included) agree with the reference executor on every path
(row by row, blocks, the full batch in threads), with weights, exposure and float32.
"""

from __future__ import annotations

import numpy as np
import pytest

import gdlab as gd
from gdlab.kernels import choice

RTOL = 1e-12
LEVELS = (5, 7)


def _data(n=600, seed=0):
    """Three numeric columns, then the codes of two categorical columns."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n, 3))
    codes = np.column_stack([rng.integers(0, k, n) for k in LEVELS])
    effect = np.linspace(-0.6, 0.6, LEVELS[0])[codes[:, 0]] + 0.1 * (codes[:, 1] % 3)
    exposure = rng.uniform(0.2, 1.0, n)
    y = rng.poisson(exposure * np.exp(0.3 * numeric[:, 0] + effect)).astype(float)
    weight = rng.uniform(0.5, 2.0, n)
    return np.column_stack([numeric, codes]).astype(float), y, exposure, weight


def _model(hidden=(6, 4), dtype="float64", optimizer=None):
    inputs = gd.Inputs(numeric=3, categorical=[gd.Embedding(LEVELS[0], 2, name="brand"),
                                               gd.Embedding(LEVELS[1], 3, name="region")])
    layers = [gd.Dense(h, "tanh") for h in hidden] + [gd.Dense(1, "exponential")]
    model = gd.Sequential(layers, inputs=inputs, seed=4, dtype=dtype)
    model.compile(loss="poisson", optimizer=optimizer or gd.Nadam(0.02))
    return model


def _fit_both(batch_size, *, n=600, dtype="float64", weighted=False, epochs=3, **kwargs):
    X, y, exposure, weight = _data(n)
    out = []
    for executor in ("numpy", "compiled"):
        model = _model(dtype=dtype, **kwargs)
        history = model.fit(X, y, exposure=exposure, sample_weight=weight if weighted else None,
                            batch_size=batch_size, epochs=epochs, seed=2, verbose=0,
                            executor=executor)
        assert history.params["executor"] == executor
        out.append((model, history))
    return out


@pytest.mark.parametrize(("batch_size", "n", "weighted"), [
    (1, 200, False),  # the row path
    (5, 600, True),  # the row path, weighted
    (64, 600, False),  # the block path
    (250, 600, True),
    ("full", 600, False),
    ("full", 5000, True),  # more than 2048 rows: blocks on threads, gathered (looked up)
])
def test_both_executors_agree_on_every_path(batch_size, n, weighted):
    (ref, h_ref), (com, h_com) = _fit_both(batch_size, n=n, weighted=weighted)
    np.testing.assert_allclose(com.theta, ref.theta, rtol=RTOL, atol=1e-14)
    assert set(h_com.history) == set(h_ref.history)
    assert "grad_norm[0]" in h_com.history  # the tables' group (layer 0: A⁰)
    for key, values in h_ref.history.items():
        np.testing.assert_allclose(h_com.history[key], values, rtol=1e-10, err_msg=key)
    for a, b in zip(h_com.step_loss, h_ref.step_loss, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11)
    for a, b in zip(com.optimizer_state[2:], ref.optimizer_state[2:], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-15)


def test_the_tables_move_on_the_compiled_executor():
    """The scatter-add reaches every level seen in training, and only those."""
    X, y, exposure, _ = _data(300)
    X[:, 4] = np.minimum(X[:, 4], 5)  # region levels 6 never occurs
    model = _model(hidden=(4,))
    before = [t.copy() for t in model.inputs.get_weights()]
    model.fit(X, y, exposure=exposure, batch_size=32, epochs=2, verbose=0,
              executor="compiled")
    brand, region = model.inputs.get_weights()
    assert np.all(brand != before[0])
    assert np.all(region[:6] != before[1][:6])
    np.testing.assert_array_equal(region[6], before[1][6])


def test_float32_models_agree_to_single_precision():
    for batch_size in (7, 128, "full"):
        (ref, _), (com, _) = _fit_both(batch_size, dtype="float32", epochs=2)
        assert com.theta.dtype == np.float32
        np.testing.assert_allclose(com.theta, ref.theta, rtol=1e-4, atol=1e-5)


def test_sgd_with_momentum_and_a_glm_with_embeddings():
    """One output unit without hidden layers is not the GLM path when it has embeddings."""
    (ref, _), (com, _) = _fit_both(16, hidden=(), optimizer=gd.SGD(0.05, momentum=0.9))
    assert not choice.is_glm(com)
    np.testing.assert_allclose(com.theta, ref.theta, rtol=RTOL, atol=1e-14)


def test_codes_outside_the_tables_are_refused_before_compiled_training():
    X, y, exposure, _ = _data(100)
    X[7, 3] = LEVELS[0]  # one level more than the brand table holds
    model = _model()
    theta = model.theta.copy()
    with pytest.raises(ValueError, match="'brand'.*integer codes 0 … 4"):
        model.fit(X, y, exposure=exposure, epochs=1, verbose=0, executor="compiled")
    np.testing.assert_array_equal(model.theta, theta)


def test_auto_picks_the_compiled_executor_for_a_large_embedding_fit():
    """The cost model no longer refuses embeddings; a big fit pays for the compile."""
    model = _model()
    assert gd.kernels.unsupported(model) is None
    executor, why = choice.choose(model, n=600_000, batch_size=10_000, epochs=50)
    assert executor == "compiled", why
