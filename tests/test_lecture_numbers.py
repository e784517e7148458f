"""The lecture's worked examples, number for number (What must hold, item 1)."""

from __future__ import annotations

import numpy as np
import pytest

import gdlab as gd

X_LECTURE = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])


def _linear_model(theta0=(0.0, 0.0)) -> gd.Sequential:
    model = gd.Sequential([gd.Dense(1)], input_dim=1)
    model.theta = np.array(theta0, dtype=float)
    return model


def test_forward_pass_sigmoid():
    model = gd.Sequential([gd.Dense(1, activation="sigmoid")], input_dim=2)
    model.set_weights([np.array([[1.0], [2.0]]), np.array([-10.0])])
    _, caches = model.forward(X_LECTURE)
    np.testing.assert_array_equal(caches[0].Z[:, 0], [-5.0, 1.0, 7.0])
    np.testing.assert_allclose(model.predict(X_LECTURE)[:, 0], [0.00669, 0.73106, 0.99909],
                               atol=5e-6)
    np.testing.assert_allclose(model.predict(X_LECTURE)[:, 0], 1 / (1 + np.exp([5.0, -1, -7])),
                               rtol=1e-15)
    assert model.param_names == ["w_1", "w_2", "b"]


def test_forward_pass_softmax():
    model = gd.Sequential([gd.Dense(2, activation="softmax")], input_dim=2)
    model.set_weights([np.array([[1.0, 3.0], [2.0, 4.0]]), np.array([-10.0, -20.0])])
    _, caches = model.forward(X_LECTURE)
    np.testing.assert_array_equal(caches[0].Z, [[-5, -9], [1, 5], [7, 19]])
    A = model.predict(X_LECTURE)
    np.testing.assert_allclose(A, [[0.98201, 0.01799], [0.01799, 0.98201], [6.144e-06, 0.99999]],
                               atol=5e-6)
    assert A[2, 0] == pytest.approx(6.144e-06, rel=1e-3)
    np.testing.assert_allclose(A.sum(axis=1), 1.0, rtol=1e-15)
    assert model.param_names == ["w_{1,1}", "w_{1,2}", "w_{2,1}", "w_{2,2}", "b_1", "b_2"]


SGD_ROWS = np.array([[5.0], [9.0]]), np.array([5.0, 17.0])


def test_sgd_steps_through_train_on_batch():
    model = _linear_model()
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01))
    X, y = SGD_ROWS
    first = model.train_on_batch(X[:1], y[:1])
    assert first.loss == 25.0
    np.testing.assert_allclose(first.gradient, [-50.0, -10.0], rtol=1e-15)
    np.testing.assert_allclose(first.theta_after, [0.5, 0.1], rtol=1e-15)
    second = model.train_on_batch(X[1:], y[1:])
    np.testing.assert_allclose(second.theta_before, [0.5, 0.1], rtol=1e-15)
    np.testing.assert_allclose(second.gradient, [-223.2, -24.8], rtol=1e-13)
    np.testing.assert_allclose(second.theta_after, [2.732, 0.348], rtol=1e-13)
    np.testing.assert_allclose(model.theta, [2.732, 0.348], rtol=1e-13)
    assert (first.learning_rate, second.step, second.variant) == (0.01, 1, "stochastic")
    assert first.param_names == ["w", "b"]


def test_sgd_steps_through_fit_with_batch_size_one():
    model = _linear_model()
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01))
    history = model.fit(*SGD_ROWS, batch_size=1, shuffle=False, epochs=1, verbose=0, trace=True)
    first, second = history.trace
    np.testing.assert_allclose(first.gradient, [-50.0, -10.0], rtol=1e-15)
    np.testing.assert_allclose(first.theta_after, [0.5, 0.1], rtol=1e-15)
    np.testing.assert_allclose(second.gradient, [-223.2, -24.8], rtol=1e-13)
    np.testing.assert_allclose(model.theta, [2.732, 0.348], rtol=1e-13)
    assert [s.rows.tolist() for s in history.trace] == [[0], [1]]
    np.testing.assert_allclose(history.step_loss[0], [25.0, (0.5 * 9 + 0.1 - 17) ** 2])


def _batch_gd_data():
    # the lecture's numpy.random.seed(111); np.random.randn(3), without touching global state
    x = np.array([1.0, 2.0, 3.0])
    y = 2 * x - 1 + 0.01 * np.random.RandomState(111).randn(3)
    return x, y


def test_batch_gd_data_is_the_lecture_s():
    _, y = _batch_gd_data()
    np.testing.assert_allclose(y, [0.98866, 3.00384, 5.01497], atol=5e-6)


def test_batch_gradient_descent_two_steps():
    x, y = _batch_gd_data()
    model = _linear_model()
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.1))
    history = model.fit(x, y, batch_size="full", epochs=2, verbose=0, trace=True)
    first, second = history.trace
    np.testing.assert_allclose(first.gradient, [-14.694, -6.005], atol=5e-4)
    np.testing.assert_allclose(first.theta_after, [1.46942, 0.60050], atol=5e-6)
    np.testing.assert_allclose(second.gradient, [1.42, 1.07], atol=5e-3)
    np.testing.assert_allclose(second.theta_after, [1.32718, 0.49313], atol=5e-6)
    np.testing.assert_allclose(model.theta, [1.32718, 0.49313], atol=5e-6)
    # the gradient is the mean of the per-row derivatives 2(ŷ − y)x and 2(ŷ − y)
    residual = 0.0 - y
    np.testing.assert_allclose(first.gradient, [np.mean(2 * residual * x), np.mean(2 * residual)],
                               rtol=1e-14)
    assert history.params["variant"] == "batch"
    assert [len(s.rows) for s in history.trace] == [3, 3]


def test_batch_gd_per_row_gradients_are_the_lecture_table():
    """The table of the lecture: per-row dL/dw = 2(ŷ−y)x and dL/db = 2(ŷ−y) at θ₀ = 0."""
    x, y = _batch_gd_data()
    model = _linear_model()
    model.compile(loss="mse")
    per_row_loss, per_row_grad = model.per_row_gradients(
        model.loss, x[:, None], y[:, None])
    np.testing.assert_allclose(per_row_grad, [[-1.98, -1.98], [-12.02, -6.01], [-30.09, -10.03]],
                               atol=5e-3)
    np.testing.assert_allclose(per_row_loss, [0.98, 9.02, 25.15], atol=5e-3)
    np.testing.assert_allclose(per_row_grad.mean(axis=0), model.gradient(x, y), rtol=1e-14)


@pytest.mark.parametrize("executor", ["numpy", "auto"])
def test_both_executors_reach_the_lecture_s_theta(executor):
    sgd = _linear_model()
    sgd.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01))
    sgd.fit(*SGD_ROWS, batch_size=1, shuffle=False, epochs=1, verbose=0, executor=executor)
    np.testing.assert_allclose(sgd.theta, [2.732, 0.348], rtol=1e-13)
    x, y = _batch_gd_data()
    batch = _linear_model()
    batch.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.1))
    history = batch.fit(x, y, batch_size="full", epochs=2, verbose=0, executor=executor)
    np.testing.assert_allclose(batch.theta, [1.32718, 0.49313], atol=5e-6)
    # the epoch losses are the batch losses at θ₀ and θ₁ (one step per epoch)
    np.testing.assert_allclose(history.history["loss"][0], np.mean(y**2), rtol=1e-14)
