"""Traces: the lecture's per-row tables, exports, and memory-bounded recording."""

from __future__ import annotations

import gc
import os
import re
import shutil
import subprocess
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest

import gdlab as gd
from gdlab.train import loop
from gdlab.train.batch import RowRange
from gdlab.train.trace import Step, format_number, latex_name


def lecture_batch_trace() -> gd.Trace:
    """The lecture's batch GD: x = 1, 2, 3; y = 2x - 1 + 0.01 ε (seed 111); θ₀ = 0; η = 0.1."""
    x = np.arange(1.0, 4.0)
    y = 2 * x - 1 + 0.01 * np.random.RandomState(111).randn(3)
    model = gd.Sequential([gd.Dense(1)], input_dim=1)
    model.set_weights([np.zeros((1, 1)), np.zeros(1)])
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.1))
    return model.fit(x[:, None], y, batch_size="full", epochs=2, trace=True, verbose=0).trace


LECTURE_TABLES = {
    0: {"x": [1, 2, 3], "y": [0.99, 3.00, 5.01], "y_hat": [0.0, 0.0, 0.0],
        "loss": [0.98, 9.02, 25.15], "dL/dw": [-1.98, -12.02, -30.09],
        "dL/db": [-1.98, -6.01, -10.03], "nabla": [-14.69, -6.00], "theta": [1.47, 0.60]},
    1: {"x": [1, 2, 3], "y": [0.99, 3.00, 5.01], "y_hat": [2.07, 3.54, 5.01],
        "loss": [1.17, 0.29, 0.00], "dL/dw": [2.16, 2.14, -0.04],
        "dL/db": [2.16, 1.07, -0.01], "nabla": [1.42, 1.07], "theta": [1.33, 0.49]},
}


@pytest.fixture(scope="module")
def lecture_trace() -> gd.Trace:
    return lecture_batch_trace()


@pytest.mark.parametrize("index", [0, 1], ids=["first-step", "second-step"])
def test_lecture_batch_gd_tables(lecture_trace, index):
    step, expected = lecture_trace[index], LECTURE_TABLES[index]
    table = step.table.round(2)
    assert list(table.columns) == ["x", "y", "y_hat", "loss", "dL/dw", "dL/db"]
    for column in ["x", "y", "y_hat", "loss", "dL/dw", "dL/db"]:
        assert table[column].tolist() == pytest.approx(expected[column], abs=1e-12), column
    assert np.round(step.gradient, 2).tolist() == pytest.approx(expected["nabla"])
    assert np.round(step.theta_after, 2).tolist() == pytest.approx(expected["theta"])
    # the batch gradient is the mean of the per-row columns, as in the lecture
    means = step.table[["dL/dw", "dL/db"]].mean().to_numpy()
    np.testing.assert_allclose(means, step.gradient, rtol=0, atol=1e-12)


def test_step_fields(lecture_trace):
    first, second = lecture_trace
    assert (first.step, first.epoch, second.step, second.epoch) == (0, 0, 1, 1)
    assert first.variant == "batch" and first.rows.tolist() == [0, 1, 2]
    assert first.learning_rate == 0.1
    np.testing.assert_array_equal(first.theta_after, second.theta_before)
    np.testing.assert_allclose(first.theta_after,
                               first.theta_before - 0.1 * first.gradient, atol=1e-15)
    assert first.param_names == ["w", "b"]
    assert first.state_after is second.state_before


def test_trace_to_frame(lecture_trace):
    frame = lecture_trace.to_frame()
    assert frame["step"].tolist() == [0, 1] and frame["epoch"].tolist() == [0, 1]
    np.testing.assert_allclose(frame[["grad[w]", "grad[b]"]].to_numpy(),
                               [s.gradient for s in lecture_trace])
    np.testing.assert_allclose(frame[["theta[w]", "theta[b]"]].to_numpy(),
                               [s.theta_before for s in lecture_trace])
    np.testing.assert_allclose(frame["loss"], [s.loss for s in lecture_trace])


# --- any model: column order and the batch gradient as the mean of the rows ----------
def _random_case(case: str, rng: np.random.Generator):
    n, p = 7, 3
    X = rng.normal(size=(n, p))
    if case == "mse-mlp":
        layers, loss, y = [gd.Dense(4, "tanh"), gd.Dense(2)], "mse", rng.normal(size=(n, 2))
    elif case == "bce-relu":
        layers = [gd.Dense(5, "relu"), gd.Dense(3, "sigmoid"), gd.Dense(1, "sigmoid")]
        loss, y = "binary_crossentropy", rng.integers(0, 2, n).astype(float)
    elif case == "softmax":
        layers, loss = [gd.Dense(4, "sigmoid"), gd.Dense(3, "softmax")], "categorical_crossentropy"
        y = np.eye(3)[rng.integers(0, 3, n)]
    elif case == "sparse":
        layers = [gd.Dense(3, "softmax")]
        loss, y = "sparse_categorical_crossentropy", rng.integers(0, 3, n).astype(float)
    elif case == "poisson":
        layers, loss = [gd.Dense(3, "tanh"), gd.Dense(1, "exponential")], "poisson"
        y = rng.poisson(1.0, n).astype(float)
    else:  # gamma, no bias in the first layer
        layers = [gd.Dense(3, "relu", use_bias=False), gd.Dense(1, "exponential")]
        loss, y = "gamma", rng.gamma(2.0, 1.0, n)
    return layers, loss, X, y


CASES = ["mse-mlp", "bce-relu", "softmax", "sparse", "poisson", "gamma"]


@pytest.mark.parametrize("weighted", [False, True], ids=["mean", "weighted"])
@pytest.mark.parametrize("case", CASES)
def test_mean_of_row_columns_is_the_gradient(case, weighted):
    rng = np.random.default_rng(CASES.index(case))
    layers, loss, X, y = _random_case(case, rng)
    model = gd.Sequential(layers, input_dim=X.shape[1], seed=3)
    model.compile(loss=loss, optimizer=gd.SGD(learning_rate=0.05))
    w = rng.uniform(0.5, 2.0, X.shape[0]) if weighted else None
    e = rng.uniform(0.5, 2.0, X.shape[0]) if case == "poisson" else None
    expected = model.gradient(X, y, sample_weight=w, exposure=e)
    step = model.train_on_batch(X, y, sample_weight=w, exposure=e)
    table = step.table
    partials = table[[f"dL/d{name}" for name in model.param_names]].to_numpy()
    mean = np.average(partials, axis=0, weights=w)
    np.testing.assert_allclose(mean, expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(step.gradient, expected, rtol=0, atol=1e-12)
    loss_mean = np.average(table["loss"], weights=w)
    assert loss_mean == pytest.approx(step.loss, abs=1e-12)
    assert ("weight" in table.columns) == weighted
    assert ("exposure" in table.columns) == (e is not None)


def test_column_order_and_names():
    X = np.arange(12.0).reshape(4, 3) / 10
    model = gd.Sequential([gd.Dense(2, "relu"), gd.Dense(2, "softmax")], input_dim=3, seed=0)
    model.compile(loss="categorical_crossentropy")
    step = model.train_on_batch(X, np.eye(2)[[0, 1, 1, 0]])
    names = model.param_names
    assert names[:2] == ["w^(1)_{1,1}", "w^(1)_{1,2}"] and names[-1] == "b^(2)_2"
    expected = ["x_1", "x_2", "x_3", "y_1", "y_2", "y_hat_1", "y_hat_2", "loss",
                *[f"dL/d{n}" for n in names]]
    assert list(step.table.columns) == expected
    np.testing.assert_allclose(step.table[["y_hat_1", "y_hat_2"]].sum(axis=1), 1.0)
    assert step.table.index.tolist() == [0, 1, 2, 3]


def test_sparse_targets_show_the_class():
    model = gd.Sequential([gd.Dense(3, "softmax")], input_dim=1, seed=0)
    model.compile(loss="sparse_categorical_crossentropy")
    step = model.train_on_batch(np.array([[0.5], [1.0]]), np.array([2.0, 0.0]))
    assert step.table["y"].tolist() == [2.0, 0.0]


def test_table_for_limits_columns_and_rejects_unknown_names():
    model = gd.Sequential([gd.Dense(3, "tanh"), gd.Dense(1)], input_dim=2, seed=0)
    model.compile(loss="mse")
    step = model.train_on_batch(np.ones((2, 2)), np.ones(2))
    table = step.table_for(params=["b^(2)_1", "w^(1)_{2,3}"])
    assert list(table.columns) == ["x_1", "x_2", "y", "y_hat", "loss",
                                   "dL/db^(2)_1", "dL/dw^(1)_{2,3}"]
    np.testing.assert_allclose(table["dL/db^(2)_1"], step.table["dL/db^(2)_1"])
    with pytest.raises(ValueError, match=r"names no parameter \['w_9'\]"):
        step.table_for(params=["w_9"])


def test_table_needs_context():
    step = Step(step=0, epoch=0, variant="batch", rows=np.arange(2), learning_rate=0.1,
                loss=1.0, theta_before=np.zeros(2), gradient=np.ones(2),
                theta_after=-0.1 * np.ones(2), param_names=["w", "b"])
    with pytest.raises(ValueError, match="no data attached"):
        _ = step.table


# --- exports ---------------------------------------------------------------------------
def _numbers(text: str) -> list[str]:
    return sorted(re.findall(r"-?\d+\.\d\d\b", text))


def test_markdown_shows_the_lecture_update(lecture_trace):
    text = lecture_trace[0].to_markdown()
    assert "| row | x | y | y_hat | loss | dL/dw | dL/db |" in text
    assert "| 2 | 3.00 | 5.01 | 0.00 | 25.15 | -30.09 | -10.03 |" in text
    assert "∇ = (-14.69, -6.00)" in text
    assert "θ₁ = θ₀ − η∇ = (0.00, 0.00) − 0.1 × (-14.69, -6.00) = (0.00, 0.00) + (1.47, 0.60)" \
        in text
    assert "New θ: θ₁ = (1.47, 0.60)" in lecture_trace[0].to_markdown()
    assert "New θ: θ₂ = (1.33, 0.49)" in lecture_trace[1].to_markdown()


def _check_balanced(latex: str) -> None:
    depth = 0
    for char in re.sub(r"\\[{}]", "", latex):
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0
    begins = re.findall(r"\\begin\{(\w+\*?)\}", latex)
    ends = re.findall(r"\\end\{(\w+\*?)\}", latex)
    assert sorted(begins) == sorted(ends)
    assert latex.count(r"\[") == latex.count(r"\]")


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_markdown_and_latex_have_the_same_numbers(lecture_trace, optimizer):
    if optimizer == "sgd":
        step = lecture_trace[1]
    else:
        model = gd.Sequential([gd.Dense(2, "tanh"), gd.Dense(1)], input_dim=2, seed=1)
        model.compile(loss="mse", optimizer=gd.Adam(learning_rate=0.1))
        X = np.array([[0.3, -1.2], [2.0, 0.5], [1.1, 1.0]])
        step = model.train_on_batch(X, np.array([1.0, -1.0, 0.5]))
    markdown, latex = step.to_markdown(decimals=2), step.to_latex(decimals=2)
    assert _numbers(markdown) == _numbers(latex) and len(_numbers(latex)) > 10
    _check_balanced(latex)
    _check_balanced(step.to_latex(standalone=True))
    assert r"\frac{\partial \text{Loss}_i}{\partial" in latex
    if optimizer == "sgd":
        assert r"\boldsymbol{\theta}_{2} &= \boldsymbol{\theta}_{1} - \eta \nabla" in latex
        assert r"\begin{pmatrix} 1.33 \\ 0.49 \end{pmatrix}." in latex
    else:  # the optimizer's Δθ, not -η∇
        assert "Δθ" in markdown and r"\Delta\boldsymbol{\theta}" in latex
        assert "Adam" in markdown


def _pdflatex() -> str:
    """The pdflatex program; skipped without it, except under CI (``CI`` set): a failure."""
    program = shutil.which("pdflatex")
    if program is None:
        reason = "pdflatex is not installed (Debian: apt-get install texlive-latex-base)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; .ci/run installs it, so under CI this is a failure")
        pytest.skip(reason)
    return program


@pytest.mark.parametrize("index", [0, 1])
def test_latex_compiles(lecture_trace, tmp_path, index):
    """Each iteration of the lecture's batch GD, as a standalone document, gives a PDF."""
    (tmp_path / "step.tex").write_text(lecture_trace[index].to_latex(standalone=True),
                                       encoding="utf-8")
    result = subprocess.run([_pdflatex(), "-interaction=nonstopmode", "-halt-on-error",
                             "step.tex"], cwd=tmp_path, capture_output=True, timeout=120)
    log = result.stdout.decode("utf-8", "replace")
    assert result.returncode == 0, log[-2000:]
    assert re.search(r"Output written on step\.pdf \(1 page, \d+ bytes\)", log), log[-2000:]
    assert "Missing character" not in (tmp_path / "step.log").read_text(errors="replace")
    pdf = (tmp_path / "step.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-1024:] and len(pdf) > 10_000


def test_formatting_helpers():
    assert format_number(-0.004, 2) == "0.00" and format_number(-0.005001, 2) == "-0.01"
    assert format_number(0.5 + 2.232, None) == "2.732"
    assert latex_name("dL/db^(3)_2") == r"$\frac{\partial \text{Loss}_i}{\partial b^{(3)}_2}$"
    assert latex_name("x") == "$x$" and latex_name("weight") == r"$\text{weight}_i$"


# --- memory: trace=N keeps N steps and references X -----------------------------------
class _StopAfter(gd.Callback):
    per_step = True

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def on_train_batch_end(self, step, logs=None):
        if step + 1 >= self.steps:
            self.model.stop_training = True


def _trace_bytes(n: int, keep: int) -> tuple[int, gd.History, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 1))
    y = 2.0 * X[:, 0]
    model = gd.Sequential([gd.Dense(1)], input_dim=1, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01))
    gc.collect()
    tracemalloc.start()
    try:
        history = model.fit(X, y, batch_size=1, epochs=1, trace=keep, verbose=0,
                            callbacks=[_StopAfter(3 * keep)])
        steps = list(history.trace)
        with_trace = tracemalloc.get_traced_memory()[0]
        history.trace.clear()
        del steps
        gc.collect()
        without_trace = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return with_trace - without_trace, history, X


def test_trace_n_memory_does_not_grow_with_n():
    keep = 20
    _trace_bytes(1000, keep)  # warm-up: lazy imports and caches are not the trace's
    small, _, _ = _trace_bytes(100_000, keep)
    large, history, _ = _trace_bytes(1_000_000, keep)
    assert history.params["n"] == 1_000_000
    assert len(history.step_loss[0]) == 3 * keep  # stopped early by the callback
    # a few vectors of size P per step; one array of size n would be 0.8 MB and 8 MB
    assert 0 < small < keep * 4096 and 0 < large < keep * 4096
    assert abs(large - small) < 64 * 1024


def test_trace_n_keeps_first_n_steps_referencing_x():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1000, 2))
    model = gd.Sequential([gd.Dense(1)], input_dim=2, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01))
    y = X.sum(axis=1) + rng.normal(scale=0.1, size=1000)
    history = model.fit(X, y, batch_size=1, epochs=2, trace=5, verbose=0)
    trace = history.trace
    assert [s.step for s in trace] == [0, 1, 2, 3, 4]
    assert all(s.context.X is trace[0].context.X for s in trace)
    assert np.shares_memory(trace[0].context.X, X)  # referenced, never copied
    assert all(s.rows.base is None or s.rows.base.size == 1 for s in trace)
    assert all(s.param_names is trace[0].param_names for s in trace)
    row = int(trace[3].rows[0])
    pd.testing.assert_series_equal(
        trace[3].table.loc[row, ["x_1", "x_2"]],
        pd.Series(X[row], index=["x_1", "x_2"], name=row), check_names=False)


# --- memory: consecutive rows are two numbers; trace=True has a budget ------------------
def test_twenty_traced_full_batch_steps_on_200k_rows_keep_under_4_mb():
    """A full batch is a run of consecutive rows: kept as a RowRange, not 200,000 indices
    per step (which took 30 MB for 20 steps)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200_000, 1))
    model = gd.Sequential([gd.Dense(1)], input_dim=1, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.1))
    gc.collect()
    tracemalloc.start()
    try:
        history = model.fit(X, 2.0 * X[:, 0], batch_size="full", epochs=20, trace=True,
                            verbose=0)
        with_trace = tracemalloc.get_traced_memory()[0]
        steps = len(history.trace)
        history.trace.clear()
        gc.collect()
        kept = with_trace - tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert steps == 20 and 0 < kept < 4 * 2**20


def test_consecutive_rows_are_a_row_range_that_reads_like_an_array():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(10, 2))
    y = X.sum(axis=1)
    model = gd.Sequential([gd.Dense(1)], input_dim=2, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.1))
    history = model.fit(X, y, batch_size=4, shuffle=False, epochs=1, trace=True, verbose=0)
    first, last = history.trace[0], history.trace[-1]
    assert isinstance(first.rows, RowRange) and isinstance(last.rows, RowRange)
    assert first.rows.tolist() == [0, 1, 2, 3] and list(last.rows) == [8, 9]
    np.testing.assert_array_equal(X[first.rows], X[:4])
    assert first.table.index.tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(first.per_row_gradients().mean(axis=0), first.gradient,
                               rtol=1e-12)
    shuffled = model.fit(X, y, batch_size=4, epochs=1, trace=True, verbose=0, seed=1)
    assert isinstance(shuffled.trace[0].rows, np.ndarray)  # a permutation's rows


def test_trace_true_over_the_budget_warns_and_keeps_the_first_steps(monkeypatch):
    monkeypatch.setattr(loop, "TRACE_BUDGET_BYTES", 50 * 1024)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 2))
    model = gd.Sequential([gd.Dense(1)], input_dim=2, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01))
    with pytest.warns(UserWarning, match=r"trace=True would keep 400 steps .* keeping the "
                                         r"first \d+ .*trace=N"):
        history = model.fit(X, X.sum(axis=1), batch_size=1, epochs=2, trace=True, verbose=0)
    kept = len(history.trace)
    assert 10 < kept < 400 and [s.step for s in history.trace] == list(range(kept))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an explicit N is what the user asked for
        model.fit(X, X.sum(axis=1), batch_size=1, epochs=2, trace=400, verbose=0)
