"""The explorer's export: the run's θ path and losses (CSV, JSON), its step tables, and the
current step's table in LaTeX, equal to gdlab's own numbers."""

import io
import json
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("starlette", reason="the explorer needs the explore extra (starlette)")
pytest.importorskip("httpx", reason="starlette's TestClient needs httpx (test extra)")

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from starlette.testclient import TestClient

import gdlab as gd  # noqa: E402
from gdlab.explorer import datasets  # noqa: E402
from gdlab.explorer.app import create_app  # noqa: E402
from gdlab.explorer.playground import EXPORT_TABLES  # noqa: E402

SPEC = {"dataset": "logistic", "n": 60, "seed": 3, "model": "logistic", "epochs": 10,
        "runs": [{"batch_size": 16, "learning_rate": 0.5},
                 {"batch_size": "full", "learning_rate": 0.2, "optimizer": "adam"}]}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def session(client):
    key = client.post("/api/playground/init", json=SPEC).json()["session"]
    runs = client.post("/api/playground/step", json={"session": key, "steps": 6}).json()["runs"]
    return key, runs


def fit_trace(theta0, batch_size, optimizer, steps):
    data = datasets.load("logistic", n=60, seed=3)
    model = gd.Sequential([gd.Dense(1, activation="sigmoid")], input_dim=2)
    model.set_theta(np.asarray(theta0, dtype=float))
    model.compile(loss="binary_crossentropy", optimizer=optimizer)
    return model.fit(data.X, data.y, batch_size=batch_size, epochs=10, seed=3, verbose=0,
                     trace=steps).trace, data


def test_the_path_csv_is_theta_and_the_losses_of_every_step(client, session):
    key, runs = session
    out = client.get("/api/playground/export", params={"session": key, "format": "csv"})
    assert out.status_code == 200 and out.headers["content-type"].startswith("text/csv")
    assert 'filename="gdlab-run-path.csv"' in out.headers["content-disposition"]
    frame = pd.read_csv(io.StringIO(out.text))
    assert list(frame.columns) == ["run", "step", "epoch", "batch_loss", "full_loss",
                                   "w_1", "w_2", "b"]
    for name, run in zip("AB", runs, strict=True):
        rows = frame[frame["run"] == name]
        assert rows["step"].tolist() == [-1, 0, 1, 2, 3, 4, 5]
        np.testing.assert_allclose(rows[["w_1", "w_2", "b"]].to_numpy()[1:], run["path"],
                                   rtol=1e-15)
        np.testing.assert_allclose(rows["full_loss"].to_numpy()[1:], run["full_loss"])
        np.testing.assert_allclose(rows["batch_loss"].to_numpy()[1:], run["batch_loss"])
    trace, _ = fit_trace(frame.iloc[0][["w_1", "w_2", "b"]], 16, gd.SGD(learning_rate=0.5), 6)
    rows = frame[frame["run"] == "A"]
    np.testing.assert_allclose(rows["batch_loss"].to_numpy()[1:], [s.loss for s in trace],
                               rtol=1e-12)
    assert rows["epoch"].tolist() == [0, 0, 0, 0, 0, 1, 1]  # θ₀, then 4 batches per epoch


def test_the_tables_csv_and_the_json_hold_every_steps_table(client, session):
    key, _ = session
    out = client.get("/api/playground/export", params={"session": key, "format": "csv",
                                                       "what": "tables"})
    tables = pd.read_csv(io.StringIO(out.text))
    theta0 = client.get("/api/playground/export", params={"session": key}).json()["theta0"]
    trace, data = fit_trace(theta0, 16, gd.SGD(learning_rate=0.5), 6)
    a = tables[tables["run"] == "A"]
    assert a["step"].nunique() == 6 and len(a) == 5 * 16 + 12  # batches of 16, 16, 16, 12, 16, 16
    step = trace[4]  # the first step of epoch 1
    rows = a[a["step"] == 4]
    assert rows["row"].tolist() == step.rows.tolist()
    np.testing.assert_allclose(rows[["x_1", "x_2"]].to_numpy(), data.X[step.rows])
    np.testing.assert_allclose(rows[["dL/dw_1", "dL/dw_2", "dL/db"]].mean().to_numpy(),
                               step.gradient, rtol=1e-10)
    answer = client.get("/api/playground/export", params={"session": key, "format": "json"})
    body = answer.json()
    assert body["param_names"] == ["w_1", "w_2", "b"] and len(body["runs"]) == 2
    assert body["runs"][1]["optimizer"] == "adam" and str(EXPORT_TABLES) in body["tables_note"]
    assert len(body["path"]) == 14 and len(body["tables"]) == len(tables)
    assert body["path"][0]["batch_loss"] is None  # θ₀ has no batch: null, never NaN
    json.loads(answer.text)  # strict JSON


def test_the_current_step_in_latex(client, session):
    key, runs = session
    out = client.get("/api/playground/export", params={"session": key, "format": "latex",
                                                       "run": "0"})
    assert out.status_code == 200 and 'filename="gdlab-step-A.tex"' in \
        out.headers["content-disposition"]
    text = out.text
    assert text.startswith("\\documentclass{article}") and text.rstrip().endswith(
        "\\end{document}")
    assert "\\frac{\\partial \\text{Loss}_i}{\\partial w_1}" in text
    table = runs[0]["table"]
    first = table["row_index"][0]
    assert f"\n{first} & " in text  # the data set's row numbers
    assert "\\boldsymbol{\\theta}_{6} &= \\boldsymbol{\\theta}_{5} - \\eta" in text
    assert "% Iteration 6 (epoch 2):" in text  # 4 batches per epoch; counted from 1
    for value in table["theta_after"]:
        assert f"{value:.4f}" in text


@pytest.mark.parametrize(("params", "status", "word"), [
    ({"session": "nope"}, 404, "Unknown session"),
    ({"format": "xlsx"}, 400, "format must be"),
    ({"format": "latex", "run": "7"}, 400, "run must be"),
], ids=["session", "format", "run"])
def test_bad_exports_say_why(client, session, params, status, word):
    out = client.get("/api/playground/export", params={"session": session[0], **params})
    assert out.status_code == status and word in out.json()["error"]


def test_latex_before_any_step_says_press_step(client):
    key = client.post("/api/playground/init", json={"dataset": "lecture"}).json()["session"]
    out = client.get("/api/playground/export", params={"session": key, "format": "latex"})
    assert out.status_code == 400 and "press Step" in out.json()["error"]


def test_what_a_run_keeps_for_the_export_is_bounded(client, monkeypatch):
    """A full batch of 20,000 rows: tables of one step only (EXPORT_ROWS), not 100 × 20,000
    row indices; the path stops growing at EXPORT_STEPS."""
    from gdlab.explorer import playground

    monkeypatch.setattr(playground, "EXPORT_STEPS", 5)
    key = client.post("/api/playground/init", json={
        "dataset": "logistic", "n": 20_000, "model": "logistic"}).json()["session"]
    client.post("/api/playground/step", json={"session": key, "steps": 8})
    body = client.get("/api/playground/export", params={"session": key}).json()
    assert {r["step"] for r in body["tables"]} == {0} and len(body["tables"]) == 20_000
    assert [r["step"] for r in body["path"]] == [-1, 0, 1, 2, 3, 4]
