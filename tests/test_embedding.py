"""Embeddings: lookup forward, scatter-add backward, gradcheck, traces, save/load, bad codes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gdlab as gd
from gdlab.nn.embedding import Embedding, Inputs
from gdlab.train.diagnostics import DeadUnitWarning, dead_units

LEVELS = (4, 3)


def _data(n=40, seed=0):
    """Two numeric columns, then codes of two categorical columns (4 and 3 levels)."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n, 2))
    codes = np.column_stack([rng.integers(0, k, n) for k in LEVELS])
    effect = np.array([-0.5, 0.0, 0.3, 0.8])[codes[:, 0]] + np.array([0.2, -0.2, 0.0])[codes[:, 1]]
    exposure = rng.uniform(0.2, 1.0, n)
    y = rng.poisson(exposure * np.exp(0.3 * numeric[:, 0] + effect))
    return np.column_stack([numeric, codes]).astype(float), y, exposure


def _model(seed=0, hidden=(3,)):
    inputs = gd.Inputs(numeric=2, categorical=[gd.Embedding(4, 2, name="brand"),
                                               gd.Embedding(3, 1, name="region")])
    layers = [gd.Dense(h, "tanh") for h in hidden] + [gd.Dense(1, "exponential")]
    model = gd.Sequential(layers, inputs=inputs, seed=seed)
    model.compile(loss="poisson", optimizer=gd.Nadam(0.02))
    return model


def test_theta_holds_the_tables_after_the_dense_layers_with_names():
    model = _model()
    dense = 5 * 3 + 3 + 3 * 1 + 1  # A⁰ has 2 + 2 + 1 columns
    assert model.input_dim == 4 and model.layers[0].input_dim == 5
    assert model.n_params == dense + 4 * 2 + 3 * 1
    assert model.param_names[dense:dense + 3] == ["e^(brand)_{0,1}", "e^(brand)_{0,2}",
                                                  "e^(brand)_{1,1}"]
    assert model.param_names[-1] == "e^(region)_{2,1}"
    brand = model.inputs.categorical[0].E
    assert np.shares_memory(brand, model.theta) and np.abs(brand).max() <= 0.05
    np.testing.assert_array_equal(model.get_weights()[-2], brand)


def test_forward_is_a_lookup_equal_to_a_one_hot_product():
    """E[c] = onehot(c) · E: the network sees [x, E_brand[c1], E_region[c2]]."""
    X, _, _ = _data()
    model = _model()
    E1, E2 = model.get_weights()[-2:]
    codes = X[:, 2:].astype(int)
    A0 = np.column_stack([X[:, :2], np.eye(4)[codes[:, 0]] @ E1, np.eye(3)[codes[:, 1]] @ E2])
    plain = gd.Sequential([gd.Dense(3, "tanh"), gd.Dense(1, "exponential")], input_dim=5)
    plain.set_weights(model.get_weights()[:-2])
    np.testing.assert_allclose(model.predict(X), plain.predict(A0), rtol=1e-14)


def test_backward_is_a_scatter_add_as_a_loop_over_rows():
    embedding = Embedding(3, 2)
    codes = np.array([2, 0, 2, 2, 1, 2])
    dA = np.arange(12.0).reshape(6, 2)
    out = np.zeros((3, 2))
    embedding.backward(dA, codes, out)
    expected = np.zeros((3, 2))
    for i, level in enumerate(codes):  # the slow twin: one row at a time
        expected[level] += dA[i]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("hidden", [(), (3,), (4, 2)], ids=["glm", "one-hidden", "two-hidden"])
def test_gradcheck_covers_the_tables(hidden):
    X, y, exposure = _data()
    model = _model(hidden=hidden)
    result = gd.gradcheck(model, X, y, exposure=exposure)
    assert result.passed, result
    tables = [i for i, name in enumerate(model.param_names) if name.startswith("e^")]
    assert np.abs(result.analytic[tables]).min() > 0  # every level occurs: no free pass


def test_a_level_absent_from_the_batch_gets_zero_gradient():
    X, y, exposure = _data()
    keep = X[:, 2] != 3
    model = _model()
    grad = model.gradient(X[keep], y[keep], exposure=exposure[keep])
    names = model.param_names
    assert all(grad[names.index(f"e^(brand)_{{3,{u}}}")] == 0 for u in (1, 2))


def test_step_table_has_the_tables_columns_and_their_mean_is_the_gradient():
    X, y, exposure = _data()
    model = _model()
    history = model.fit(X, y, exposure=exposure, batch_size=16, epochs=1, verbose=0, trace=True)
    step = history.trace[1]
    table = step.table
    columns = [c for c in table.columns if c.startswith("dL/d")]
    assert "dL/de^(region)_{2,1}" in columns and len(columns) == model.n_params
    np.testing.assert_allclose(table[columns].mean().to_numpy(), step.gradient, atol=1e-15)


def test_training_learns_the_levels_on_either_executor():
    X, y, exposure = _data(n=400)
    for executor in ("numpy", "compiled"):  # agreement: tests/test_embedding_compiled.py
        model = _model(hidden=())
        before = model.evaluate(X, y, exposure=exposure)
        model.fit(X, y, exposure=exposure, batch_size=50, epochs=60, verbose=0,
                  executor=executor)
        assert model.evaluate(X, y, exposure=exposure) < 0.85 * before


def test_save_and_load_keep_the_embeddings(tmp_path):
    X, y, exposure = _data()
    model = _model()
    model.fit(X, y, exposure=exposure, batch_size=16, epochs=2, verbose=0)
    loaded = gd.load(model.save(tmp_path / "model.npz"))
    assert loaded.inputs.get_config() == model.inputs.get_config()
    assert loaded.param_names == model.param_names
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    for m in (model, loaded):
        m.fit(X, y, exposure=exposure, batch_size=16, epochs=1, verbose=0, seed=3)
    np.testing.assert_array_equal(loaded.theta, model.theta)


@pytest.mark.parametrize(("code", "problem"), [(4.0, "4.0"), (-1.0, "-1.0"), (1.5, "1.5")],
                         ids=["unseen-level", "negative", "not-an-integer"])
def test_codes_outside_the_levels_are_refused_by_name(code, problem):
    X, _, _ = _data()
    model = _model()
    X[7, 2] = code
    pattern = rf"'brand' \(column 2 of X\).*0 … 3.*rows \[7\].*{problem}"
    with pytest.raises(ValueError, match=pattern):
        model.predict(X)


def test_bad_inputs_are_refused():
    with pytest.raises(TypeError, match="non-empty list of gdlab.Embedding"):
        Inputs(numeric=2, categorical=[])
    with pytest.raises(ValueError, match="numeric must be"):
        Inputs(numeric=-1, categorical=[Embedding(2, 1)])
    with pytest.raises(ValueError, match="names must differ"):
        Inputs(1, [Embedding(2, 1, name="a"), Embedding(3, 1, name="a")])
    with pytest.raises(ValueError, match="input_dim"):
        Embedding(0, 2)
    with pytest.raises(TypeError, match="inputs must be a gdlab.Inputs"):
        gd.Sequential([gd.Dense(1)], inputs=[Embedding(2, 1)])
    with pytest.raises(ValueError, match="does not match the inputs"):
        gd.Sequential([gd.Dense(1)], input_dim=5, inputs=Inputs(1, [Embedding(2, 1)]))
    with pytest.raises(ValueError, match="the model expects 2"):
        gd.Sequential([gd.Dense(1)], inputs=Inputs(1, [Embedding(2, 1)])).predict(np.ones((3, 3)))


def test_correct_balance_shifts_the_output_bias_not_a_table_entry():
    X, y, exposure = _data(n=200)
    model = _model()
    tables = model.theta[-11:].copy()
    delta = gd.metrics.correct_balance(model, X, y, exposure=exposure)
    assert delta != 0
    np.testing.assert_array_equal(model.theta[-11:], tables)
    mu = model.predict(X, exposure=exposure)[:, 0]
    assert mu.sum() == pytest.approx(y.sum(), rel=1e-12)


# --- the embedding tables in the gradient checks (issue 15 follow-up) --------------------
def _inf_in_the_tables_at_call(monkeypatch, call):
    """Make the tables' gradient of the ``call``-th backward pass (from 1) hold an inf;
    the dense layers' gradient stays finite."""
    original, calls = Inputs.backward, []

    def backward(self, dA0, X, out):
        original(self, dA0, X, out)
        calls.append(1)
        if len(calls) == call:
            out[0] = np.inf

    monkeypatch.setattr(Inputs, "backward", backward)


def test_a_non_finite_gradient_in_the_tables_alone_is_a_divergence(monkeypatch):
    """The step whose tables' gradient holds an inf is refused (θ never sees it)."""
    X, y, exposure = _data()
    model = _model()
    _inf_in_the_tables_at_call(monkeypatch, 3)
    with pytest.warns(gd.DivergenceWarning, match="epoch 1, step 3"):
        history = model.fit(X, y, exposure=exposure, batch_size=10, epochs=2, verbose=0,
                            executor="numpy")
    assert (history.diverged["epoch"], history.diverged["step"]) == (0, 2)
    assert np.isfinite(model.theta).all()


def test_gradient_groups_are_the_layers_then_all_the_tables():
    model = _model(hidden=(3,))
    groups = model.gradient_groups()
    assert groups[:-1] == model.layer_slices()
    assert groups[-1] == slice(model.layer_slices()[-1].stop, model.n_params)
    assert groups[-1].stop - groups[-1].start == 4 * 2 + 3 * 1
    plain = gd.Sequential([gd.Dense(3, "tanh"), gd.Dense(1)], input_dim=2)
    assert plain.gradient_groups() == plain.layer_slices()


def test_the_tables_gradient_norm_is_grad_norm_0():
    """One entry per group: grad_norm[1], grad_norm[2] for the layers, grad_norm[0] for the
    tables (they make A⁰, the input layer); full batch: the norm of the gradient at θ₀."""
    X, y, exposure = _data()
    model = _model(hidden=(3,))
    gradient = model.gradient(X, y, exposure=exposure)
    history = model.fit(X, y, exposure=exposure, batch_size="full", epochs=1, verbose=0,
                        executor="numpy")
    keys = sorted(k for k in history.history if k.startswith("grad_norm["))
    assert keys == ["grad_norm[0]", "grad_norm[1]", "grad_norm[2]"]
    for number, part in zip((1, 2, 0), model.gradient_groups(), strict=True):
        expected = np.linalg.norm(gradient[part])
        assert history.history[f"grad_norm[{number}]"][0] == pytest.approx(expected, rel=1e-12)


def test_the_dead_relu_check_pushes_the_codes_through_the_tables():
    """An embedding model's ReLU unit whose pre-activation is negative on every row is
    reported with its layer and unit numbers; alive units are not."""
    X, y, exposure = _data(n=300)
    inputs = gd.Inputs(numeric=2, categorical=[gd.Embedding(4, 2, name="brand")])
    model = gd.Sequential([gd.Dense(3, "relu"), gd.Dense(1, "exponential")], inputs=inputs,
                          seed=0)
    model.compile(loss="poisson", optimizer=gd.SGD(1e-4))
    X = X[:, :3]
    layer = model.layers[0]
    layer.W[...] = 0.0
    layer.W[2, :] = 1.0  # the brand's first dimension drives every unit…
    layer.b[...] = 0.0
    model.inputs.categorical[0].E[:, 0] = [1.0, 2.0, 3.0, 4.0]  # …and is positive
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeadUnitWarning)
        model.fit(X, y, exposure=exposure, batch_size=50, epochs=1, verbose=0)
    layer.b[1] = -10.0  # unit 2: z = E_c,1 − 10 < 0 for every level
    with pytest.warns(DeadUnitWarning, match=r"layer 1 \(Dense\(3, activation='relu'\)\): "
                                             r"unit 2 output 0 for all 300 training rows"):
        model.fit(X, y, exposure=exposure, batch_size=50, epochs=1, verbose=0)
    model.inputs.categorical[0].E[:, 0] = -1.0  # the tables kill every unit
    assert dead_units(model.layers, X, inputs=model.inputs)[1].tolist() == [1, 2, 3]


@pytest.mark.parametrize("batch_size", ["full", 16], ids=["full-batch", "mini-batch"])
def test_a_streamed_fit_records_the_tables_norm_as_in_memory(batch_size):
    """Dask arrays in blocks (no shuffle): the same grad_norm[0], [1], [2] as in memory."""
    da = pytest.importorskip("dask.array")
    X, y, exposure = _data(n=120)
    blocks = [da.from_array(a, chunks=(50,) + a.shape[1:]) for a in (X, y, exposure)]
    streamed, memory = _model(), _model()
    got = streamed.fit(blocks[0], blocks[1], exposure=blocks[2], batch_size=batch_size,
                       epochs=2, shuffle=False, verbose=0, executor="numpy").history
    expected = memory.fit(X, y, exposure=exposure, batch_size=batch_size, epochs=2,
                          shuffle=False, verbose=0, executor="numpy").history
    for number in (0, 1, 2):
        key = f"grad_norm[{number}]"
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-9)


def test_the_gradient_plot_labels_the_tables_embeddings():
    from gdlab.show import plots

    X, y, exposure = _data()
    history = _model().fit(X, y, exposure=exposure, batch_size=16, epochs=3, verbose=0,
                           executor="numpy")
    lines = {line.get_label(): line for line in plots.plot_gradients(history).axes[0].lines}
    assert {"embeddings", "layer 1", "layer 2"} <= set(lines) and "layer 0" not in lines
    np.testing.assert_array_equal(lines["embeddings"].get_ydata(),
                                  history.history["grad_norm[0]"])
