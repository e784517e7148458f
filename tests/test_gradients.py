"""Every analytic gradient against central differences (gd.gradcheck), within 1e-6 relative.

The grid covers each output activation × loss pair the engine computes (the fused links and
non-fused pairs such as sigmoid + MSE), networks with 0, 1 and 2 hidden layers, with and
without bias, with and without sample weights and exposure; then every activation as a
hidden layer. ReLU inputs are kept away from its kink at 0 so differences are valid.
"""

from __future__ import annotations

import numpy as np
import pytest

import gdlab as gd
from gdlab.nn import losses

N_ROWS, N_FEATURES = 7, 3

#: (output activation, units, loss, target kind); fused pairs first, then non-fused ones.
PAIRS = [
    ("linear", 1, "mse", "real"),
    ("linear", 2, "mse", "real"),
    ("sigmoid", 1, "binary_crossentropy", "binary"),
    ("sigmoid", 2, "binary_crossentropy", "binary"),
    ("softmax", 3, "categorical_crossentropy", "onehot"),
    ("softmax", 3, "sparse_categorical_crossentropy", "labels"),
    ("exponential", 1, "poisson", "counts"),
    ("exponential", 1, "gamma", "positive"),
    ("exponential", 1, "tweedie", "positive"),
    ("tanh", 1, "mse", "real"),
    ("sigmoid", 1, "mse", "real"),
    ("exponential", 1, "mse", "real"),
    ("relu", 1, "mse", "real"),
    ("sigmoid", 1, "poisson", "counts"),
    ("sigmoid", 1, "gamma", "positive"),
    ("softmax", 2, "mse", "real"),
]
PAIR_IDS = [f"{act}{units}-{loss}" for act, units, loss, _ in PAIRS]


def _target(kind: str, units: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "real":
        return rng.normal(size=(N_ROWS, units)) if units > 1 else rng.normal(size=N_ROWS)
    if kind == "binary":
        y = rng.integers(0, 2, size=(N_ROWS, units)).astype(float)
        return y[:, 0] if units == 1 else y
    if kind == "onehot":
        return np.eye(units)[rng.integers(0, units, size=N_ROWS)]
    if kind == "labels":
        return rng.integers(0, units, size=N_ROWS)
    if kind == "counts":
        return rng.poisson(1.5, size=N_ROWS).astype(float)
    return rng.gamma(2.0, 1.0, size=N_ROWS)


def _relu_margin(model: gd.Sequential, X: np.ndarray) -> float:
    """Smallest |Z| over the ReLU units: the distance of the data from the kink."""
    _, caches = model.forward(X)
    margins = [np.abs(c.Z).min() for layer, c in zip(model.layers, caches, strict=True)
               if layer.activation.name == "relu"]
    return min(margins, default=np.inf)


def _model(hidden: list[str], output: str, units: int, loss: str, *, use_bias: bool,
           X: np.ndarray) -> gd.Sequential:
    """A small network whose ReLU units are at least 1e-3 away from 0 on every row."""
    for seed in range(50):
        layers = [gd.Dense(4, activation=a, use_bias=use_bias) for a in hidden]
        layers.append(gd.Dense(units, activation=output, use_bias=use_bias))
        model = gd.Sequential(layers, input_dim=N_FEATURES, seed=seed)
        model.compile(loss=loss, optimizer="sgd")
        if _relu_margin(model, X) > 1e-3:
            return model
    raise RuntimeError("no seed keeps the ReLU inputs away from 0")  # pragma: no cover


def _five_point(model, X, y, h: float = 1e-3, **kwargs) -> np.ndarray:
    r"""Fourth-order central differences of the loss over θ (error :math:`O(h^4)`)."""
    theta = model.theta.copy()

    def loss_at(j: int, shift: float) -> float:
        shifted = theta.copy()
        shifted[j] += shift
        model.theta = shifted
        return model.evaluate(X, y, **kwargs)

    numeric = np.array([(8 * (loss_at(j, h) - loss_at(j, -h))
                         - (loss_at(j, 2 * h) - loss_at(j, -2 * h))) / (12 * h)
                        for j in range(theta.size)])
    model.theta = theta
    return numeric


def _check(model, X, y, **kwargs) -> None:
    """Every entry of the analytic gradient within 1e-6 relative of central differences.

    The witness is gd.gradcheck. Its two-point differences carry a round-off of about
    eps·Loss/h (~1e-11 absolute), which exceeds 1e-6 relative for entries below ~1e-5;
    where that happens the entries are checked again, strictly, against a fourth-order
    stencil (accurate to ~1e-12).
    """
    result = gd.gradcheck(model, X, y, h=1e-5, **kwargs)
    analytic = result.analytic
    assert np.abs(analytic).max() > 1e-4  # the check compared something non-trivial
    error = np.abs(analytic - result.numeric)
    assert np.all(error <= 1e-6 * np.abs(result.numeric) + 1e-10), f"{result!r}\n{result.worst()}"
    if result.passed:
        return
    strict = _five_point(model, X, y, **kwargs)
    relative = np.abs(analytic - strict) / np.maximum(np.abs(analytic) + np.abs(strict), 1e-8)
    worst = int(relative.argmax())
    assert relative[worst] < 1e-6, (model.param_names[worst], analytic[worst], strict[worst])


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("depth", [0, 1, 2], ids=["0hidden", "1hidden", "2hidden"])
@pytest.mark.parametrize(("output", "units", "loss", "kind"), PAIRS, ids=PAIR_IDS)
def test_output_pairs_match_central_differences(output, units, loss, kind, depth, use_bias,
                                                weighted):
    rng = np.random.default_rng(depth * 10 + use_bias)
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    y = _target(kind, units, rng)
    model = _model(["tanh", "relu"][:depth], output, units, loss, use_bias=use_bias, X=X)
    kwargs = {}
    if weighted:
        kwargs["sample_weight"] = rng.uniform(0.2, 3.0, size=N_ROWS)
        if losses.get(loss).accepts_exposure:
            kwargs["exposure"] = rng.uniform(0.3, 2.0, size=N_ROWS)
    _check(model, X, y, **kwargs)


HIDDEN = ["linear", "sigmoid", "softmax", "relu", "tanh", "exponential"]
HEADS = [("linear", 1, "mse", "real"), ("sigmoid", 1, "binary_crossentropy", "binary"),
         ("softmax", 3, "categorical_crossentropy", "onehot"),
         ("exponential", 1, "poisson", "counts")]


@pytest.mark.parametrize("depth", [1, 2], ids=["1hidden", "2hidden"])
@pytest.mark.parametrize("head", HEADS, ids=[h[2] for h in HEADS])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_every_hidden_activation_matches_central_differences(hidden, head, depth):
    output, units, loss, kind = head
    rng = np.random.default_rng(7)
    X = 0.3 * rng.normal(size=(N_ROWS, N_FEATURES))  # exp(exp(z)) stays moderate
    y = _target(kind, units, rng)
    model = _model([hidden] * depth, output, units, loss, use_bias=True, X=X)
    kwargs = {"sample_weight": rng.uniform(0.2, 3.0, size=N_ROWS)}
    if loss == "poisson":
        kwargs["exposure"] = rng.uniform(0.3, 2.0, size=N_ROWS)
    _check(model, X, y, **kwargs)


def test_gradcheck_catches_a_wrong_gradient(monkeypatch):
    """The witness can fail: a derivative off by 1% is reported, with the parameter named."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    model = _model(["tanh"], "linear", 1, "mse", use_bias=True, X=X)
    tanh = model.layers[0].activation
    monkeypatch.setattr(tanh, "backward", lambda Z, A, dA: 1.01 * dA * (1.0 - A * A))
    result = gd.gradcheck(model, X, rng.normal(size=N_ROWS))
    assert not result.passed
    assert result.worst(1)["param"].iloc[0].startswith(("w^(1)", "b^(1)"))


# --- the losses alone: dL/dy_hat and dL/dz against differences of the per-row value -------
LOSS_CASES = [
    ("mse", "real", 2, (-2.0, 2.0)),
    ("binary_crossentropy", "binary", 2, (0.05, 0.95)),
    ("categorical_crossentropy", "onehot", 3, (0.05, 0.95)),
    ("poisson", "counts", 1, (0.2, 3.0)),
    ("gamma", "positive", 1, (0.2, 3.0)),
    ("tweedie", "positive", 1, (0.2, 3.0)),
]


def _numeric_derivative(f, V: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of the per-row f(V) (n,) with respect to each entry of V."""
    out = np.empty_like(V)
    for index in np.ndindex(V.shape):
        up, down = V.copy(), V.copy()
        up[index] += h
        down[index] -= h
        out[index] = (f(up)[index[0]] - f(down)[index[0]]) / (2 * h)
    return out


LOSS_GRID = [(*case, exposure) for case in LOSS_CASES for exposure in (False, True)
             if not exposure or losses.get(case[0]).accepts_exposure]


@pytest.mark.parametrize(("name", "kind", "units", "bounds", "with_exposure"), LOSS_GRID,
                         ids=[c[0] + ("-exposure" if c[4] else "") for c in LOSS_GRID])
def test_loss_derivatives_match_central_differences(name, kind, units, bounds, with_exposure):
    loss = losses.get(name)
    rng = np.random.default_rng(11)
    Y = loss.check_target(_target(kind, units, rng), units)
    e = rng.uniform(0.5, 2.0, size=N_ROWS) if with_exposure else None
    y_pred = rng.uniform(*bounds, size=(N_ROWS, units))
    if name == "categorical_crossentropy":
        y_pred /= y_pred.sum(axis=1, keepdims=True)
    numeric = _numeric_derivative(lambda P: loss.value(Y, P, exposure=e), y_pred)
    np.testing.assert_allclose(loss.gradient(Y, y_pred, exposure=e), numeric, rtol=1e-6,
                               atol=1e-8)
    Z = rng.normal(size=(N_ROWS, units))
    numeric_z = _numeric_derivative(lambda V: loss.value_from_logits(Y, V, exposure=e), Z)
    np.testing.assert_allclose(loss.gradient_wrt_logits(Y, Z, exposure=e), numeric_z,
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["mse", "binary_crossentropy", "categorical_crossentropy",
                                  "poisson", "gamma", "tweedie"])
def test_fused_value_equals_value_of_the_link(name):
    """value_from_logits(Z) is value(φ(Z)) for the loss's link: the two paths agree."""
    loss = losses.get(name)
    units = 3 if name == "categorical_crossentropy" else 1
    kind = {"mse": "real", "binary_crossentropy": "binary", "categorical_crossentropy": "onehot",
            "poisson": "counts"}.get(name, "positive")
    rng = np.random.default_rng(5)
    Y = loss.check_target(_target(kind, units, rng), units)
    Z = rng.normal(size=(N_ROWS, units))
    A = gd.activations.get(losses.FUSED_LINK[name]).forward(Z)
    np.testing.assert_allclose(loss.value_from_logits(Y, Z), loss.value(Y, A), rtol=1e-12)


@pytest.mark.parametrize("depth", [0, 1, 2])
@pytest.mark.parametrize(("output", "units", "loss", "kind"),
                         [PAIRS[0], PAIRS[3], PAIRS[5], PAIRS[6], PAIRS[9]],
                         ids=[PAIR_IDS[i] for i in (0, 3, 5, 6, 9)])
def test_per_row_gradients_average_to_the_batch_gradient(output, units, loss, kind, depth):
    """Each row's own gradient (for the trace's tables): their weighted mean is the batch's."""
    rng = np.random.default_rng(21)
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    model = _model(["tanh", "sigmoid"][:depth], output, units, loss, use_bias=True, X=X)
    Y = model.loss.check_target(_target(kind, units, rng), units)
    w = rng.uniform(0.2, 3.0, size=N_ROWS)
    e = rng.uniform(0.5, 2.0, size=N_ROWS) if model.loss.accepts_exposure else None
    per_row_loss, per_row_grad = model.per_row_gradients(model.loss, X, Y, exposure=e)
    batch = model.loss_and_gradient(model.loss, X, Y, sample_weight=w, exposure=e)
    np.testing.assert_allclose(w @ per_row_grad / w.sum(), batch.gradient, rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(w @ per_row_loss / w.sum(), batch.loss, rtol=1e-13)
    for i in (0, N_ROWS - 1):  # row i's gradient is the batch gradient of row i alone
        alone = model.loss_and_gradient(model.loss, X[i:i + 1], Y[i:i + 1],
                                        exposure=None if e is None else e[i:i + 1])
        np.testing.assert_allclose(per_row_grad[i], alone.gradient, rtol=1e-12, atol=1e-15)
