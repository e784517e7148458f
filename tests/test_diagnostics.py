"""Diagnostics: dead ReLU units, refused losses/activations, per-layer gradient norms."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gdlab as gd
from gdlab.train import diagnostics
from gdlab.train.diagnostics import DeadReLU, DeadUnitWarning, check_combination, dead_units


def _model_with_dead_units() -> gd.Sequential:
    """A 3-4-2-1 ReLU network whose units 2 and 4 of layer 1 are dead on N(0, 1) inputs."""
    model = gd.Sequential([gd.Dense(4, "relu"), gd.Dense(2, "relu"), gd.Dense(1)],
                          input_dim=3, seed=0)
    weights = model.get_weights()
    weights[1][:] = [1.0, -100.0, 1.0, -100.0]
    weights[3][:] = 1.0
    model.set_weights(weights)
    return model


def _data(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(0).normal(size=(n, 3))
    return X, X.sum(axis=1)


def test_dead_units_finds_exactly_the_dead_ones():
    model = _model_with_dead_units()
    X, _ = _data(1000)
    dead = dead_units(model.layers, X)
    assert list(dead) == [1] and dead[1].tolist() == [2, 4]
    # brute force: the units whose ReLU output is 0 on every row
    A = np.maximum(X @ model.layers[0].W + model.layers[0].b, 0)
    assert (np.flatnonzero(~(A > 0).any(axis=0)) + 1).tolist() == [2, 4]


class _CountingDense(gd.Dense):
    rows = 0

    def forward(self, A_prev):
        _CountingDense.rows += A_prev.shape[0]
        return super().forward(A_prev)


def test_dead_unit_check_is_cheap_when_units_are_alive_or_known():
    model = gd.Sequential([_CountingDense(4, "relu"), gd.Dense(1)], input_dim=3, seed=0)
    X = np.random.default_rng(1).normal(size=(20_000, 3))
    weights = model.get_weights()
    weights[0][:] = [[1, -1, 1, -1]] * 3
    model.set_weights(weights)
    assert dead_units(model.layers, X) == {}
    assert _CountingDense.rows <= 256  # stopped after the first chunk
    model.layers[0].b[1] = -100.0
    _CountingDense.rows = 0
    assert dead_units(model.layers, X)[1].tolist() == [2]
    assert _CountingDense.rows == 20_000  # a dead unit needs every row
    _CountingDense.rows = 0
    assert dead_units(model.layers, X, ignore={1: {2}}) == {}
    assert _CountingDense.rows <= 256  # known dead units are not waited for


def test_dead_units_in_a_later_layer_and_none_without_relu():
    model = _model_with_dead_units()
    weights = model.get_weights()
    weights[3][:] = [5.0, -1e4]
    model.set_weights(weights)
    dead = dead_units(model.layers, _data()[0])
    assert dead[1].tolist() == [2, 4] and dead[2].tolist() == [2]
    tanh = gd.Sequential([gd.Dense(3, "tanh"), gd.Dense(1)], input_dim=3, seed=0)
    assert dead_units(tanh.layers, _data()[0]) == {}


def test_fit_warns_once_naming_layer_and_units():
    model = _model_with_dead_units()
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.001))
    X, y = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y, batch_size=32, epochs=3, verbose=0)
    messages = [str(w.message) for w in caught if w.category is DeadUnitWarning]
    assert len(messages) == 1  # once, not once per epoch
    assert "after epoch 1:" in messages[0]  # the first epoch, counted from 1
    assert "layer 1 (Dense(4, activation='relu')): units 2, 4" in messages[0]
    assert "all 300 training rows" in messages[0]


def test_no_warning_for_a_healthy_network():
    model = gd.Sequential([gd.Dense(8, "relu", kernel_initializer="he_uniform"), gd.Dense(1)],
                          input_dim=3, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01))
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeadUnitWarning)
        model.fit(X, y, batch_size=32, epochs=2, verbose=0)


def test_newly_dead_units_are_reported_in_a_later_epoch():
    model = _model_with_dead_units()
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=1e-6))

    class KillUnit(gd.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.layers[0].b[0] = -100.0  # unit 1 dies in the 2nd epoch's end

    X, y = _data()
    with pytest.warns(DeadUnitWarning) as record:
        model.fit(X, y, batch_size="full", epochs=3, verbose=0, callbacks=[KillUnit()])
    messages = [str(w.message) for w in record if w.category is DeadUnitWarning]
    assert len(messages) == 2
    assert "units 2, 4" in messages[0]
    assert "layer 1 (Dense(4, activation='relu')): unit 1 output" in messages[1]
    # the check ran before KillUnit at the 2nd epoch's end: it sees unit 1 after the 3rd
    assert "after epoch 1:" in messages[0] and "after epoch 3:" in messages[1]


def test_dead_relu_callback_without_data_does_nothing():
    callback = DeadReLU()
    callback.set_model(_model_with_dead_units())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        callback.on_epoch_end(0, {})


@pytest.mark.parametrize(
    ("layers", "loss", "match"),
    [([gd.Dense(1, "softmax")], "mse", "softmax over one unit is always 1"),
     ([gd.Dense(1, "softmax")], "binary_crossentropy", "softmax over one unit"),
     ([gd.Dense(2, "tanh"), gd.Dense(1, "sigmoid")], "categorical_crossentropy",
      "single class"),
     ([gd.Dense(1)], "sparse_categorical_crossentropy", "single class")],
    ids=["softmax-1-mse", "softmax-1-bce", "cce-1", "sparse-1"],
)
def test_compile_refuses_zero_gradient_combinations(layers, loss, match):
    with pytest.raises(ValueError, match=match):
        gd.Sequential(layers, input_dim=2).compile(loss=loss)


def test_accuracy_is_no_loss():
    with pytest.raises(ValueError, match="derivative is 0"):
        gd.Sequential([gd.Dense(1, "sigmoid")], input_dim=2).compile(loss="accuracy")


def test_check_combination_accepts_the_lecture_models():
    check_combination([gd.Dense(1, "sigmoid")], gd.losses.get("binary_crossentropy"))
    check_combination([gd.Dense(2, "softmax")], gd.losses.get("categorical_crossentropy"))
    check_combination([gd.Dense(1)], gd.losses.get("mse"))
    # a hidden softmax over several units has non-zero derivatives
    check_combination([gd.Dense(3, "softmax"), gd.Dense(1, "sigmoid")],
                      gd.losses.get("binary_crossentropy"))


def test_per_layer_gradient_norms_are_in_the_history():
    model = gd.Sequential([gd.Dense(4, "tanh"), gd.Dense(3, "tanh"), gd.Dense(1)],
                          input_dim=3, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01))
    X, y = _data()
    history = model.fit(X, y, batch_size="full", epochs=2, verbose=0, executor="numpy")
    slices = model.layer_slices()
    for layer in (1, 2, 3):
        assert len(history.history[f"grad_norm[{layer}]"]) == 2
    # full batch: epoch 2's norm is the norm of the gradient at θ after epoch 1
    model2 = gd.Sequential([gd.Dense(4, "tanh"), gd.Dense(3, "tanh"), gd.Dense(1)],
                           input_dim=3, seed=0)
    model2.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01))
    trace = model2.fit(X, y, batch_size="full", epochs=2, verbose=0, trace=True).trace
    for layer, part in enumerate(slices, start=1):
        expected = np.linalg.norm(trace[1].gradient[part])
        assert history.history[f"grad_norm[{layer}]"][1] == pytest.approx(expected)


# --- fits on data that is not in memory: the check on the first rows --------------------
def test_a_streamed_fit_checks_the_first_rows(monkeypatch):
    """Dask arrays in blocks of 300 rows: the check reads the first FIRST_ROWS rows once
    and says how many of the training rows it saw."""
    da = pytest.importorskip("dask.array")
    monkeypatch.setattr(diagnostics, "FIRST_ROWS", 500)
    X, y = _data(2000)
    blocks = [da.from_array(a, chunks=(300,) + a.shape[1:]) for a in (X, y)]
    read = []
    original = DeadReLU.__init__

    def spy(self, X=None, **kwargs):
        read.append(X.shape[0])
        original(self, X, **kwargs)

    monkeypatch.setattr(DeadReLU, "__init__", spy)
    model = _model_with_dead_units()
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.001))
    with pytest.warns(DeadUnitWarning) as record:
        model.fit(*blocks, batch_size=100, epochs=2, verbose=0, executor="numpy")
    messages = [str(w.message) for w in record if w.category is DeadUnitWarning]
    assert read == [500] and len(messages) == 1
    assert ("layer 1 (Dense(4, activation='relu')): units 2, 4 output 0 for all the 500 "
            "training rows checked (the first of 2,000)") in messages[0]
    healthy = gd.Sequential([gd.Dense(8, "relu", kernel_initializer="he_uniform"),
                             gd.Dense(1)], input_dim=3, seed=0)
    healthy.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeadUnitWarning)
        healthy.fit(*blocks, batch_size="full", epochs=2, verbose=0, executor="numpy")
    tanh = gd.Sequential([gd.Dense(3, "tanh"), gd.Dense(1)], input_dim=3, seed=0)
    tanh.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01))
    tanh.fit(*blocks, batch_size="full", epochs=1, verbose=0, executor="numpy")
    assert read == [500, 500]  # no ReLU layer: nothing read
