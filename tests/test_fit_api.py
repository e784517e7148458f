"""fit / evaluate / predict / train_on_batch: validation, sample weights, exposure, metrics."""

from __future__ import annotations

import numpy as np
import pytest

import gdlab as gd


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 2))
    y = (X @ np.array([1.5, -1.0]) + rng.normal(size=30) > 0).astype(float)
    return X, y


def _model(seed=0, loss="binary_crossentropy", activation="sigmoid", metrics=()):
    model = gd.Sequential([gd.Dense(3, activation="tanh"), gd.Dense(1, activation=activation)],
                          input_dim=2, seed=seed)
    model.compile(loss=loss, optimizer=gd.SGD(learning_rate=0.1), metrics=metrics)
    return model


def _fit(model, X, y, **kwargs):
    defaults = {"batch_size": "full", "epochs": 5, "verbose": 0, "executor": "numpy"}
    return model.fit(X, y, **{**defaults, **kwargs})


def test_validation_split_holds_out_the_last_rows(data):
    X, y = data
    model = _model()
    history = _fit(model, X, y, validation_split=0.2, epochs=3, trace=True)
    assert history.params["n"] == 24
    assert {int(r) for s in history.trace for r in s.rows} == set(range(24))
    assert len(history.history["val_loss"]) == 3
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(X[24:], y[24:]),
                                                            rel=1e-14)


def test_validation_data_gives_val_loss_and_val_metrics(data):
    X, y = data
    model = _model(metrics=["accuracy"])
    history = _fit(model, X[:20], y[:20], validation_data=(X[20:], y[20:]))
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    final = model.evaluate(X[20:], y[20:])
    assert history.history["val_loss"][-1] == pytest.approx(final["loss"], rel=1e-14)
    assert history.history["val_accuracy"][-1] == final["accuracy"]
    frame = history.to_frame()
    assert list(frame["epoch"]) == [0, 1, 2, 3, 4] and "val_loss" in frame


def test_validation_data_with_weights_and_exposure():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(25, 2))
    e = rng.uniform(0.5, 2.0, size=25)
    y = rng.poisson(e).astype(float)
    w = rng.uniform(0.5, 1.5, size=25)
    model = gd.Sequential([gd.Dense(1, activation="exponential")], input_dim=2, seed=0)
    model.compile(loss="poisson", optimizer=gd.SGD(learning_rate=0.1))
    history = _fit(model, X[:20], y[:20], exposure=e[:20],
                   validation_data=(X[20:], y[20:], w[20:], e[20:]))
    expected = model.evaluate(X[20:], y[20:], sample_weight=w[20:], exposure=e[20:])
    assert history.history["val_loss"][-1] == pytest.approx(expected, rel=1e-14)


def test_sample_weights_times_three_change_nothing(data):
    X, y = data
    w = np.random.default_rng(5).uniform(0.2, 2.0, size=len(y))
    one, three = _model(), _model()
    h1 = _fit(one, X, y, sample_weight=w, batch_size=7, seed=1)
    h3 = _fit(three, X, y, sample_weight=3 * w, batch_size=7, seed=1)
    np.testing.assert_allclose(one.theta, three.theta, rtol=1e-12)
    np.testing.assert_allclose(h1.history["loss"], h3.history["loss"], rtol=1e-12)


def test_integer_weights_equal_repeated_rows_in_full_batch(data):
    X, y = data
    counts = np.random.default_rng(6).integers(0, 4, size=len(y))
    counts[0] = 1
    weighted, repeated = _model(), _model()
    hw = _fit(weighted, X, y, sample_weight=counts)
    hr = _fit(repeated, np.repeat(X, counts, axis=0), np.repeat(y, counts))
    np.testing.assert_allclose(weighted.theta, repeated.theta, rtol=1e-12)
    np.testing.assert_allclose(hw.history["loss"], hr.history["loss"], rtol=1e-12)
    assert weighted.evaluate(X, y, sample_weight=counts) == pytest.approx(
        repeated.evaluate(np.repeat(X, counts, axis=0), np.repeat(y, counts)), rel=1e-12)


def test_unit_weights_equal_no_weights(data):
    X, y = data
    a, b = _model(), _model()
    _fit(a, X, y, batch_size=4, seed=2)
    _fit(b, X, y, batch_size=4, seed=2, sample_weight=np.ones(len(y)))
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-13)


def test_train_on_batch_is_one_step(data):
    X, y = data
    model = _model()
    theta0 = model.theta.copy()
    gradient = model.gradient(X, y)
    loss = model.evaluate(X, y)
    step = model.train_on_batch(X, y)
    np.testing.assert_array_equal(step.theta_before, theta0)
    np.testing.assert_allclose(step.gradient, gradient, rtol=1e-15)
    np.testing.assert_allclose(step.theta_after, theta0 - 0.1 * gradient, rtol=1e-15)
    np.testing.assert_array_equal(model.theta, step.theta_after)
    assert step.loss == pytest.approx(loss, rel=1e-15)
    assert (step.learning_rate, step.step, step.variant, model.step_count) == (0.1, 0, "batch", 1)
    assert len(step.param_names) == model.n_params
    assert model.train_on_batch(X, y).step == 1


def test_train_on_batch_matches_one_full_batch_epoch(data):
    X, y = data
    a, b = _model(), _model()
    a.train_on_batch(X, y)
    _fit(b, X, y, epochs=1)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-15)


def test_evaluate_returns_a_float_or_a_dict(data):
    X, y = data
    plain = _model()
    assert isinstance(plain.evaluate(X, y), float)
    with_metrics = _model(metrics=["accuracy", "mse", "mae"])
    result = with_metrics.evaluate(X, y)
    assert set(result) == {"loss", "accuracy", "mse", "mae"}
    p = with_metrics.predict(X)[:, 0]
    assert result["loss"] == pytest.approx(plain.evaluate(X, y), rel=1e-15)
    assert result["accuracy"] == pytest.approx(np.mean((p >= 0.5) == (y == 1)))
    assert result["mse"] == pytest.approx(np.mean((p - y) ** 2))
    assert result["mae"] == pytest.approx(np.mean(np.abs(p - y)))


def test_evaluate_with_sample_weight_is_the_weighted_mean(data):
    X, y = data
    model = _model()
    w = np.random.default_rng(8).uniform(0.1, 3.0, size=len(y))
    p = model.predict(X)[:, 0]
    per_row = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert model.evaluate(X, y, sample_weight=w) == pytest.approx(w @ per_row / w.sum(),
                                                                  rel=1e-12)


def test_predict_with_exposure_multiplies_the_rate():
    model = gd.Sequential([gd.Dense(1, activation="exponential")], input_dim=1)
    model.set_weights([np.array([[0.5]]), np.array([-1.0])])
    X = np.array([[0.0], [2.0]])
    e = np.array([2.0, 0.5])
    rate = np.exp(0.5 * X[:, 0] - 1.0)
    np.testing.assert_allclose(model.predict(X)[:, 0], rate, rtol=1e-15)
    np.testing.assert_allclose(model.predict(X, exposure=e)[:, 0], e * rate, rtol=1e-15)


def test_poisson_exposure_is_an_offset():
    """exposure e and a bias shift of log e are the same model for the Poisson loss."""
    rng = np.random.default_rng(9)
    X = rng.normal(size=(12, 2))
    y = rng.poisson(1.0, size=12).astype(float)
    model = gd.Sequential([gd.Dense(1, activation="exponential")], input_dim=2, seed=0)
    model.compile(loss="poisson")
    e = np.full(12, 2.5)
    with_exposure = model.evaluate(X, y, exposure=e)
    W, b = model.get_weights()
    model.set_weights([W, b + np.log(2.5)])
    assert model.evaluate(X, y) == pytest.approx(with_exposure, rel=1e-13)


def test_verbose_zero_prints_nothing(data, capsys):
    _fit(_model(), *data, epochs=3, verbose=0)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("executor", ["numpy", "auto"])
def test_rows_of_weight_zero_are_skipped_not_divergence(data, executor):
    """A stochastic step on a row of weight 0 has loss 0 and gradient 0: θ does not move."""
    X, y = data
    w = np.ones(len(y))
    w[[3, 10]] = 0.0
    masked, dropped = _model(), _model()
    history = _fit(masked, X, y, sample_weight=w, batch_size=1, shuffle=False, epochs=2,
                   executor=executor)
    keep = w > 0
    _fit(dropped, X[keep], y[keep], batch_size=1, shuffle=False, epochs=2, executor=executor)
    assert history.diverged is None
    np.testing.assert_allclose(masked.theta, dropped.theta, rtol=1e-12)
    assert history.step_loss[0][3] == 0.0 and history.step_loss[0][10] == 0.0


def test_theta_layout_and_names():
    """θ = W1 row-major, b1, W2, b2 (DESIGN.md); the layers' W and b are views into it."""
    model = gd.Sequential([gd.Dense(2, activation="relu"), gd.Dense(1, use_bias=True)],
                          input_dim=3)
    W1, b1 = np.arange(6.0).reshape(3, 2), np.array([10.0, 11.0])
    W2, b2 = np.array([[20.0], [21.0]]), np.array([30.0])
    model.set_weights([W1, b1, W2, b2])
    np.testing.assert_array_equal(model.theta, [0, 1, 2, 3, 4, 5, 10, 11, 20, 21, 30])
    assert model.param_names == [
        "w^(1)_{1,1}", "w^(1)_{1,2}", "w^(1)_{2,1}", "w^(1)_{2,2}", "w^(1)_{3,1}",
        "w^(1)_{3,2}", "b^(1)_1", "b^(1)_2", "w^(2)_{1,1}", "w^(2)_{2,1}", "b^(2)_1"]
    assert [s.stop - s.start for s in model.layer_slices()] == [8, 3]
    model.theta = np.zeros(11)
    assert np.all(model.layers[0].W == 0) and np.all(model.layers[1].b == 0)
    for got, expected in zip(model.get_weights(), [W1, b1, W2, b2], strict=True):
        assert got.shape == expected.shape
    with pytest.raises(ValueError, match=r"set_weights needs arrays of shapes"):
        model.set_weights([W1, b1])


def test_compiled_executor_that_cannot_run_the_fit_is_a_user_error(data):
    """The CLI shows gdlab.UserError as one line (no traceback): asking for the compiled
    executor where it cannot run (here: a traced fit) is the user's choice to fix."""
    with pytest.raises(gd.UserError, match="executor='compiled' cannot run this fit: "
                                           "tracing or a per-step callback needs it"):
        _fit(_model(), *data, epochs=1, trace=True, executor="compiled")


def test_a_float32_model_takes_float32_X_without_a_copy():
    """check_X keeps float32 (it used to make a float64 copy that fit then cast back)."""
    from gdlab.io.data import check_X

    X = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    assert check_X(X) is X
    assert check_X(X.astype(np.float16)).dtype == np.float64
    model = gd.Sequential([gd.Dense(1)], input_dim=3, dtype="float32")
    model.compile(loss="mse")
    assert np.shares_memory(model._prepare(X, X[:, 0]).X, X)
    as64 = gd.Sequential([gd.Dense(1)], input_dim=3)
    as64.compile(loss="mse")
    assert as64._prepare(X, X[:, 0]).X.dtype == np.float64
