"""Bad input gets a ValueError/TypeError naming the argument, the value and the fix (item 8).

Also: nothing the user passed is modified by fit, evaluate, predict or gradient.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

import gdlab as gd

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 2))
Y01 = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0])


def _model(activation="sigmoid", units=1, loss="binary_crossentropy", optimizer="sgd"):
    model = gd.Sequential([gd.Dense(units, activation=activation)], input_dim=2, seed=0)
    model.compile(loss=loss, optimizer=optimizer)
    return model


def _with(array, index, value):
    out = np.array(array, dtype=float)
    out[index] = value
    return out


def _fit(model=None, X=X, y=Y01, **kwargs):
    return (model or _model()).fit(X, y, verbose=0, **{"executor": "numpy", **kwargs})


FIT_ERRORS = [
    # (id, call, exception, message pattern: argument, value, fix)
    ("nan-X", lambda: _fit(X=_with(X, (2, 1), np.nan)), ValueError,
     r"X contains 1 NaN value\(s\) \(rows \[2\]\)\. Drop or impute"),
    ("inf-X", lambda: _fit(X=_with(X, (4, 0), -np.inf)), ValueError,
     r"X contains 1 inf value\(s\) \(rows \[4\]\)\. Drop or impute"),
    ("nan-y", lambda: _fit(y=_with(Y01, 0, np.nan)), ValueError,
     r"y contains 1 NaN value\(s\) \(rows \[0\]\)\. Drop or impute"),
    ("inf-y", lambda: _fit(_model("linear", loss="mse"), y=_with(Y01, 5, np.inf)), ValueError,
     r"y contains 1 inf value\(s\) \(rows \[5\]\)"),
    ("rows", lambda: _fit(y=Y01[:5]), ValueError,
     r"X has 6 rows but y has 5: they must describe the same observations"),
    ("empty", lambda: _fit(X=np.empty((0, 2)), y=np.empty(0)), ValueError,
     r"X is empty \(shape \(0, 2\)\); pass at least one row"),
    ("text-X", lambda: _fit(X=np.array([["a", "b"]] * 6)), TypeError,
     r"X must hold numbers; got dtype <U1\. Convert text columns to numbers"),
    ("text-frame", lambda: _fit(X=pd.DataFrame({"a": list("abcdef"), "b": range(6)})),
     TypeError, r"X has non-numeric columns \['a'\]; encode them as numbers"),
    ("text-y", lambda: _fit(y=np.array(list("abcdef"))), TypeError,
     r"y must hold numbers; got dtype <U1"),
    ("object-X", lambda: _fit(X=np.array([[1, None]] * 6)), TypeError,
     r"X must hold numbers; got dtype object"),
    ("ragged-X", lambda: _fit(X=[[1.0, 2.0], [3.0]], y=[0, 1]), TypeError,
     r"X could not be read as an array of numbers"),
    ("ndim-X", lambda: _fit(X=X[:, :, None]), ValueError,
     r"X must be 2-D \(rows × features\); got an array of shape \(6, 2, 1\)\. Reshape"),
    ("ndim-y", lambda: _fit(y=Y01[:, None, None]), ValueError,
     r"y must be 1-D .* got shape \(6, 1, 1\)\. Reshape"),
    ("features", lambda: _fit(X=np.ones((6, 3))), ValueError,
     r"X has 3 feature\(s\) but the model expects 2\. Pass the same columns"),
    ("bce-labels", lambda: _fit(y=Y01 * 2), ValueError,
     r"binary_crossentropy needs labels 0 or 1; y has \[2\.0\]\. Encode the classes as 0/1"),
    ("one-hot", lambda: _fit(_model("softmax", 3, "categorical_crossentropy"),
                             y=np.full((6, 3), 0.5)), ValueError,
     r"sum to 1; 6 row\(s\) do not, e\.g\. row 0 = \[0\.5, 0\.5, 0\.5\]\. One-hot encode"),
    ("classes", lambda: _fit(_model("softmax", 3, "categorical_crossentropy"),
                             y=np.eye(2)[[0, 1, 0, 1, 1, 0]]), ValueError,
     r"y has 2 column\(s\) but the output layer has 3 unit\(s\).*Give the last Dense layer"),
    ("sparse-classes", lambda: _fit(_model("softmax", 3, "sparse_categorical_crossentropy"),
                                    y=np.array([0, 1, 2, 3, 1, 0])), ValueError,
     r"integer labels in 0\.\.2 \(one per output unit\); y has \[3\.0\]\. Encode classes"),
    ("sparse-fractions", lambda: _fit(_model("softmax", 3, "sparse_categorical_crossentropy"),
                                      y=np.array([0, 1.5, 2, 1, 1, 0])), ValueError,
     r"y has \[1\.5\]"),
    ("poisson-negative", lambda: _fit(_model("exponential", loss="poisson"), y=-Y01),
     ValueError, r"poisson needs targets with y >= 0; 3 row\(s\) violate it \(e\.g\. y = -1\.0\)"),
    ("exposure-zero", lambda: _fit(_model("exponential", loss="poisson"),
                                   exposure=_with(np.ones(6), 3, 0.0)), ValueError,
     r"exposure must be > 0; 1 row\(s\) are not \(rows \[3\], e\.g\. 0\.0\)\. Drop rows"),
    ("exposure-negative", lambda: _fit(_model("exponential", loss="poisson"),
                                       exposure=-np.ones(6)), ValueError,
     r"exposure must be > 0; 6 row\(s\).*-1\.0"),
    ("exposure-length", lambda: _fit(_model("exponential", loss="poisson"),
                                     exposure=np.ones(5)), ValueError,
     r"exposure has 5 values but X has 6 rows"),
    ("exposure-bce", lambda: _fit(exposure=np.ones(6)), ValueError,
     r"exposure is for rate models .* not loss='binary_crossentropy'\. Drop exposure="),
    ("weights-negative", lambda: _fit(sample_weight=_with(np.ones(6), 1, -2.0)), ValueError,
     r"sample_weight must be >= 0 .* \(e\.g\. -2\.0\)"),
    ("weights-length", lambda: _fit(sample_weight=np.ones(4)), ValueError,
     r"sample_weight has 4 values but X has 6 rows; give one weight per row"),
    ("batch-size-0", lambda: _fit(batch_size=0), ValueError,
     r"batch_size must be >= 1; got batch_size=0\. Use 'full' for batch gradient descent"),
    ("batch-size-negative", lambda: _fit(batch_size=-3), ValueError,
     r"batch_size must be >= 1; got batch_size=-3"),
    ("batch-size-word", lambda: _fit(batch_size="all"), ValueError,
     r"got batch_size='all'\. Use 'full'"),
    ("batch-size-float", lambda: _fit(batch_size=2.5), TypeError, r"got batch_size=2\.5"),
    ("epochs-0", lambda: _fit(epochs=0), ValueError,
     r"epochs must be >= 1; got epochs=0\. Train for at least one epoch"),
    ("epochs-float", lambda: _fit(epochs=2.0), TypeError,
     r"epochs must be an integer; got epochs=2\.0"),
    ("validation-split", lambda: _fit(validation_split=1.0), ValueError,
     r"validation_split must be in \[0, 1\); got validation_split=1\.0\. e\.g\. 0\.2"),
    ("validation-data", lambda: _fit(validation_data=(X,)), ValueError,
     r"validation_data must be a tuple \(X_val, y_val"),
    ("seed", lambda: _fit(seed="a"), TypeError, r"seed must be an integer or None; got seed='a'"),
    ("trace", lambda: _fit(trace=-1), ValueError, r"trace must be True, False or a number"),
    ("executor", lambda: _fit(executor="gpu"), ValueError, r"executor must be .*'gpu'"),
    ("callbacks", lambda: _fit(callbacks=[print]), TypeError,
     r"callbacks must be gdlab Callback objects"),
    ("not-compiled", lambda: gd.Sequential([gd.Dense(1)]).fit(X, Y01, verbose=0), ValueError,
     r"not compiled: call model\.compile\(loss=\.\.\., optimizer=\.\.\.\) first"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), [c[1:] for c in FIT_ERRORS],
                         ids=[c[0] for c in FIT_ERRORS])
def test_fit_rejects_bad_input(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


NAME_ERRORS = [
    ("activation", lambda: gd.Dense(1, activation="sigmod"), ValueError,
     r"Unknown activation 'sigmod'\. Use one of: exponential, linear, relu, sigmoid"),
    ("activation-type", lambda: gd.Dense(1, activation=3), TypeError,
     r"activation must be a string"),
    ("loss", lambda: _model(loss="msee"), ValueError,
     r"Unknown loss 'msee'\. Use one of: binary_crossentropy, .*mse"),
    ("loss-accuracy", lambda: _model(loss="accuracy"), ValueError,
     r"loss='accuracy' cannot be trained.*metrics=\['accuracy'\]"),
    ("optimizer", lambda: _model(optimizer="sgdd"), ValueError,
     r"Unknown optimizer 'sgdd'\. Use one of: adam, momentum, nadam, rmsprop, sgd"),
    ("metric", lambda: _model().compile(loss="mse", metrics=["r2"]), ValueError,
     r"Unknown metric 'r2'"),
    ("initializer", lambda: gd.Dense(1, kernel_initializer="xavier"), ValueError,
     r"Unknown kernel_initializer 'xavier'\. Use one of: .*glorot_uniform"),
    ("units", lambda: gd.Dense(0), ValueError, r"units must be >= 1; got units=0"),
    ("use-bias", lambda: gd.Dense(1, use_bias="yes"), TypeError, r"use_bias must be True or False"),
    ("layers", lambda: gd.Sequential([]), TypeError, r"non-empty list of gdlab\.Dense layers"),
    ("tweedie-power", lambda: gd.losses.get("tweedie", power=2.5), ValueError,
     r"power must be in \(1, 2\).*got power=2\.5.*loss='gamma'"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), [c[1:] for c in NAME_ERRORS],
                         ids=[c[0] for c in NAME_ERRORS])
def test_unknown_names_and_bad_layers(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


LEARNING_RATE_ERRORS = [
    (gd.SGD, 0, ValueError, r"learning_rate must be > 0; got learning_rate=0\. Typical values"),
    (gd.SGD, -0.1, ValueError, r"got learning_rate=-0\.1"),
    (gd.Adam, 0.0, ValueError, r"got learning_rate=0\.0"),
    (gd.RMSprop, -1, ValueError, r"got learning_rate=-1"),
    (gd.SGD, float("nan"), ValueError, r"got learning_rate=nan"),
    (gd.SGD, float("inf"), ValueError, r"got learning_rate=inf"),
    (gd.SGD, "big", TypeError, r"learning_rate must be a number; got learning_rate='big'"),
    (gd.SGD, None, TypeError, r"got learning_rate=None"),
]


@pytest.mark.parametrize(("optimizer", "value", "error", "pattern"), LEARNING_RATE_ERRORS)
def test_learning_rate_must_be_positive(optimizer, value, error, pattern):
    with pytest.raises(error, match=pattern):
        optimizer(learning_rate=value)


@pytest.mark.parametrize(("make", "pattern"), [
    (lambda: gd.SGD(momentum=1.0), r"momentum must be in \[0, 1\); got momentum=1\.0\. Use 0\.0"),
    (lambda: gd.Adam(beta_1=1.5), r"beta_1 must be in \[0, 1\); got beta_1=1\.5"),
    (lambda: gd.StepDecay(0.1, every=0), r"every must be >= 1; got every=0"),
    (lambda: gd.ExponentialDecay(-0.1, decay_steps=10, decay_rate=0.9),
     r"initial_learning_rate must be > 0; got initial_learning_rate=-0\.1"),
    (lambda: gd.EarlyStopping(patience=0), r"patience must be >= 1; got patience=0"),
    (lambda: gd.ReduceLROnPlateau(factor=2), r"factor must be < 1 .* got factor=2\. e\.g\. 0\.1"),
    (lambda: gd.schedules.get({"kind": "cosine"}),
     r"Unknown kind 'cosine'\. Use one of: constant, exponential"),
])
def test_hyperparameters_are_checked(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_predict_evaluate_and_gradient_check_their_input_too():
    model = _model()
    with pytest.raises(ValueError, match=r"X has 3 feature\(s\) but the model expects 2"):
        model.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"X contains 1 NaN"):
        model.evaluate(_with(X, (0, 0), np.nan), Y01)
    with pytest.raises(ValueError, match=r"labels 0 or 1"):
        model.gradient(X, Y01 + 0.5)
    with pytest.raises(ValueError, match=r"exposure must be > 0"):
        model.predict(X, exposure=np.zeros(6))
    with pytest.raises(ValueError, match=r"X has 6 rows but y has 2"):
        model.train_on_batch(X, Y01[:2])


# --- nothing the user passed is modified ---------------------------------------------------
def _snapshot(value):
    return copy.deepcopy(value)


def _assert_same(before, after):
    if isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(before, after)
    elif isinstance(before, list | tuple):
        assert len(before) == len(after)
        for a, b in zip(before, after, strict=True):
            _assert_same(a, b)
    else:
        np.testing.assert_array_equal(before, after)
        assert np.asarray(before).dtype == np.asarray(after).dtype


@pytest.mark.parametrize("executor", ["numpy", "auto"])
@pytest.mark.parametrize("kind", ["float64", "int", "frame", "readonly"])
def test_fit_modifies_nothing_it_was_given(kind, executor):
    rng = np.random.default_rng(1)
    X_in = rng.normal(size=(20, 2))
    counts = rng.poisson(1.0, size=20).astype(float)
    exposure = rng.uniform(0.5, 1.5, size=20)
    weights = rng.uniform(0.5, 2.0, size=20)
    if kind == "int":
        X_in, counts = np.round(X_in * 3).astype(int), counts.astype(int)
    if kind == "frame":
        X_in = pd.DataFrame(X_in, columns=["a", "b"])
    arrays = [X_in, counts, exposure, weights]
    if kind == "readonly":
        for array in arrays:
            array.flags.writeable = False
    validation = (X_in[:5] if kind != "frame" else X_in.iloc[:5], counts[:5])
    callbacks = [gd.EarlyStopping(monitor="val_loss", patience=3)]
    theta0 = np.linspace(-0.1, 0.1, 3)
    before = _snapshot([arrays, validation, theta0])
    model = gd.Sequential([gd.Dense(1, activation="exponential")], input_dim=2)
    model.theta = theta0
    model.compile(loss="poisson", optimizer=gd.SGD(learning_rate=0.01))
    model.fit(X_in, counts, exposure=exposure, sample_weight=weights, batch_size=4, epochs=3,
              validation_data=validation, callbacks=callbacks, verbose=0, executor=executor)
    model.evaluate(X_in, counts, exposure=exposure, sample_weight=weights)
    model.predict(X_in, exposure=exposure)
    model.gradient(X_in, counts, exposure=exposure, sample_weight=weights)
    model.train_on_batch(X_in, counts, exposure=exposure, sample_weight=weights)
    gd.gradcheck(model, X_in, counts, exposure=exposure)
    _assert_same(before, [arrays, validation, theta0])
    assert len(callbacks) == 1
    assert not np.array_equal(model.theta, theta0)  # the model did train


def test_set_weights_keeps_the_caller_s_arrays():
    W, b = np.array([[1.0], [2.0]]), np.array([-10.0])
    model = _model("linear", loss="mse")
    model.set_weights([W, b])
    model.fit(X, Y01, epochs=2, verbose=0, executor="numpy")
    np.testing.assert_array_equal(W, [[1.0], [2.0]])
    np.testing.assert_array_equal(b, [-10.0])


def test_theta_is_read_only():
    model = _model()
    with pytest.raises(ValueError, match="read-only"):
        model.theta[0] = 1.0
    weights = model.get_weights()
    weights[0][...] = 99.0
    assert not np.any(model.theta == 99.0)


def test_the_finite_check_reads_x_once_and_is_exact():
    """The check sums X (one read, no temporary); a sum that overflows falls back to the
    entry-wise check, so huge finite values pass and a NaN or inf among them does not."""
    from gdlab.io.data import check_X

    huge = np.full((3, 2), 1e308)  # finite, but its sum overflows to inf
    assert check_X(huge) is not None
    for bad in (np.nan, np.inf):
        with pytest.raises(gd.UserError, match=r"X contains 1 (NaN|inf) value\(s\) \(rows \[1\]\)"):
            check_X(_with(huge, (1, 0), bad))
    with pytest.raises(gd.UserError, match=r"X contains 2 inf"):  # inf - inf: a NaN sum
        check_X(np.array([[np.inf, -np.inf], [1.0, 2.0]]))
