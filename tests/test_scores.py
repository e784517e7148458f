"""The shared scores of train/scores.py: the null model's bias, the compiled metrics,
and the optimizer built from its name in one place (optim.optimizers.get)."""

from __future__ import annotations

import numpy as np
import pytest

import gdlab as gd
from gdlab.cli.presets import build_model, optimizer_from_name
from gdlab.estimators import GDClassifier, GDRegressor
from gdlab.optim import optimizers
from gdlab.train.scores import accuracy, metric, null_bias

RNG = np.random.default_rng(7)
N = 60
X = RNG.normal(size=(N, 2))
W = RNG.uniform(0.5, 2.0, size=N)
E = RNG.uniform(0.2, 1.5, size=N)

CASES = {  # output activation, loss, target, exposure
    "linear": ("linear", "mse", RNG.normal(3.0, 1.0, size=N), E),
    "exponential": ("exponential", "poisson", RNG.poisson(2.0, size=N).astype(float), E),
    "sigmoid": ("sigmoid", "binary_crossentropy", (RNG.uniform(size=N) < 0.3) * 1.0, None),
    "softmax": ("softmax", "sparse_categorical_crossentropy", RNG.integers(0, 3, N), None),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("weighted", [False, True])
def test_null_bias_is_the_optimum_of_the_constant_model(name, weighted):
    """At zero weights and the null bias, the (weighted) loss has zero gradient: the null
    model's score equation holds, with exposure and sample weights."""
    activation, loss, y, e = CASES[name]
    units = 3 if name == "softmax" else 1
    model = gd.Sequential([gd.Dense(units, activation=activation)], input_dim=2, seed=0)
    model.compile(loss=loss)
    w = W if weighted else None
    Y = model.loss.check_target(y, units)
    model.set_weights([np.zeros((2, units)), null_bias(activation, Y, sample_weight=w,
                                                       exposure=e)])
    gradient = model.gradient(X, y, sample_weight=w, exposure=e)
    np.testing.assert_allclose(gradient[-units:], 0.0, atol=1e-12)


def test_null_bias_refuses_an_output_without_a_null_model():
    with pytest.raises(ValueError, match="activation='tanh'"):
        null_bias("tanh", np.zeros((3, 1)))


def test_the_cli_preset_and_the_estimator_start_at_the_same_bias():
    _, _, y, e = CASES["exponential"]
    preset = build_model("poisson", 2, y, exposure=e, n_classes=0, hidden=[],
                         activation="relu", optimizer=gd.SGD(), seed=0)
    estimator = GDRegressor(loss="poisson", optimizer="sgd", learning_rate=1e-300, epochs=1,
                            batch_size="full").fit(X, y, exposure=e)
    assert preset.layers[-1].b[0] == pytest.approx(estimator.intercept_, rel=1e-12)


def test_the_estimator_starts_the_classifier_at_the_class_shares():
    y = CASES["softmax"][2]
    model = GDClassifier(optimizer="sgd", learning_rate=1e-300, epochs=1, batch_size="full")
    model.fit(X, y)
    shares = np.bincount(y, minlength=3) / N
    probabilities = model.predict_proba(X[:1])[0]
    np.testing.assert_allclose(probabilities, shares, rtol=1e-9)


def test_accuracy_is_weighted_and_reads_one_or_several_columns():
    Y = np.array([[1.0], [0.0], [1.0]])
    mu = np.array([[0.9], [0.6], [0.2]])
    assert accuracy(Y, mu) == pytest.approx(1 / 3)
    assert accuracy(Y, mu, np.array([2.0, 1.0, 1.0])) == pytest.approx(0.5)
    assert accuracy(np.eye(2), np.array([[0.2, 0.8], [0.3, 0.7]])) == 0.5
    assert metric("mse", Y, mu, None) == pytest.approx((0.01 + 0.36 + 0.64) / 3)


@pytest.mark.parametrize(("name", "expected"), [
    ("sgd", gd.SGD(learning_rate=0.3)),
    ("momentum", gd.SGD(learning_rate=0.3, momentum=0.9)),
    ("adam", gd.Adam(learning_rate=0.3)),
    ("rmsprop", gd.RMSprop(learning_rate=0.3)),
])
def test_optimizer_names_are_read_in_one_place(name, expected):
    assert optimizers.get(name, learning_rate=0.3).get_config() == expected.get_config()
    assert optimizer_from_name(name, 0.3).get_config() == expected.get_config()
    if name != "rmsprop":  # the estimators take sgd, momentum, adam
        fitted = GDRegressor(optimizer=name, learning_rate=0.3, epochs=1).fit(X, X[:, 0])
        assert fitted.model_.optimizer.get_config() == expected.get_config()
    assert optimizers.get(name).get_config()["learning_rate"] != 0.3  # the default otherwise
