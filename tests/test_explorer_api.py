"""The explorer's JSON API (no browser): every number equals gdlab's, bad input gets a 400."""

import warnings

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the explorer needs the explore extra (starlette)")
pytest.importorskip("httpx", reason="starlette's TestClient needs httpx (test extra)")

with warnings.catch_warnings():  # starlette ≥ 1.0 prefers the httpx2 fork; httpx still works
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from starlette.testclient import TestClient

import gdlab as gd  # noqa: E402
from gdlab.explorer import datasets, hidden  # noqa: E402
from gdlab.explorer.app import create_app  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as test_client:
        yield test_client


def model_at(theta, layers, loss, input_dim):
    model = gd.Sequential(layers, input_dim=input_dim)
    model.theta = np.asarray(theta, dtype=float)
    model.compile(loss=loss, optimizer="sgd")
    return model


def test_function_points_and_curve_match_numpy(client):
    x = np.array([-2.5, 0.0, 1.3])
    out = client.post("/api/function", json={"x": x.tolist()}).json()
    np.testing.assert_allclose(out["f"], x**4 / 20 - x**2 / 2 + x / 4 + 2, rtol=1e-15)
    np.testing.assert_allclose(out["df"], x**3 / 5 - x + 0.25, rtol=1e-15)
    curve = client.get("/api/function/curve").json()
    grid = np.linspace(-4, 4, 401)
    np.testing.assert_allclose(curve["x"], grid)
    np.testing.assert_allclose(curve["f"], hidden.hidden(grid))
    # the derivative is the slope of the function (central differences)
    h = 1e-6
    np.testing.assert_allclose(out["df"], (hidden.hidden(x + h) - hidden.hidden(x - h)) / (2 * h),
                               rtol=1e-7, atol=1e-8)


def test_descend_is_gradient_descent(client):
    out = client.post("/api/descend", json={"x": 2.8, "learning_rate": 0.3, "steps": 5}).json()
    x = 2.8
    for record in out["steps"]:
        df = x**3 / 5 - x + 0.25
        assert record["x"] == pytest.approx(x, rel=1e-15)
        assert record["df"] == pytest.approx(df, rel=1e-15)
        assert record["update"] == pytest.approx(-0.3 * df, rel=1e-15)
        x = x - 0.3 * df
        assert record["x_next"] == pytest.approx(x, rel=1e-15)


def test_descend_too_large_a_learning_rate_runs_off_without_a_crash(client):
    out = client.post("/api/descend", json={"x": 3.0, "learning_rate": 5, "steps": 50})
    assert out.status_code == 200
    assert out.json()["steps"][-1]["x_next"] is None or abs(out.json()["steps"][-1]["x_next"]) > 1e6


@pytest.mark.parametrize(("body", "word"), [
    ({"x": 1.0, "learning_rate": -1}, "learning_rate"),
    ({"x": "abc", "learning_rate": 0.1}, "x"),
    ({"x": 1.0, "learning_rate": 0.1, "steps": 10**6}, "steps"),
], ids=["negative-eta", "x-not-a-number", "too-many-steps"])
def test_descend_bad_input_is_a_400_with_a_message(client, body, word):
    out = client.post("/api/descend", json=body)
    assert out.status_code == 400
    assert word in out.json()["error"]


def test_lecture_batch_step_gives_the_lecture_theta_1(client):
    init = client.post("/api/playground/init", json={
        "dataset": "lecture", "model": "linear",
        "runs": [{"batch_size": "full", "learning_rate": 0.1}]}).json()
    assert init["param_names"] == ["w", "b"] and init["theta0"] == [0.0, 0.0]
    run = client.post("/api/playground/step", json={"session": init["session"]}).json()["runs"][0]
    assert np.round(run["theta"], 2).tolist() == [1.47, 0.6]
    table = run["table"]
    assert table["columns"] == ["x", "y", "y_hat", "loss", "dL/dw", "dL/db"]
    np.testing.assert_allclose(np.array(table["rows"])[:, 4].round(2), [-1.98, -12.02, -30.09])
    assert np.round(table["gradient"], 2).tolist() == [-14.69, -6.0]


def test_mini_batch_steps_equal_fit_trace(client):
    """Two runs from one θ₀; each step's table equals the trace of model.fit."""
    spec = {"dataset": "logistic", "n": 120, "seed": 3, "model": "logistic", "epochs": 2,
            "runs": [{"batch_size": 16, "learning_rate": 0.5, "optimizer": "momentum"},
                     {"batch_size": 1, "learning_rate": 0.05, "optimizer": "adam"}]}
    init = client.post("/api/playground/init", json=spec).json()
    runs = client.post("/api/playground/step",
                       json={"session": init["session"], "steps": 9}).json()["runs"]
    data = datasets.load("logistic", n=120, seed=3)
    for run, optimizer in zip(runs, [gd.SGD(learning_rate=0.5, momentum=0.9),
                                     gd.Adam(learning_rate=0.05)], strict=True):
        model = model_at(init["theta0"], [gd.Dense(1, activation="sigmoid")],
                         "binary_crossentropy", 2)
        model.compile(loss="binary_crossentropy", optimizer=optimizer)
        batch = 16 if optimizer.name == "sgd" else 1
        history = model.fit(data.X, data.y, batch_size=batch, epochs=2, seed=3, verbose=0,
                            trace=9)
        step = history.trace[8]
        table = run["table"]
        assert (table["step"], table["epoch"], table["n_rows"]) == (8, step.epoch, batch)
        assert table["row_index"] == step.rows[:50].tolist()
        np.testing.assert_allclose(table["theta_before"], step.theta_before, rtol=1e-12)
        np.testing.assert_allclose(table["gradient"], step.gradient, rtol=1e-12)
        np.testing.assert_allclose(table["theta_after"], step.theta_after, rtol=1e-12)
        np.testing.assert_allclose(run["path"][-1], step.theta_after, rtol=1e-12)
        at = model_at(step.theta_before, [gd.Dense(1, activation="sigmoid")],
                      "binary_crossentropy", 2)
        rows = step.rows
        per_row, grads = at.per_row_gradients(at.loss, data.X[rows], data.y[rows, None])
        got = np.array(table["rows"])
        np.testing.assert_allclose(got[:, :3], np.column_stack([data.X[rows], data.y[rows]]))
        np.testing.assert_allclose(got[:, 3], at.output(data.X[rows])[:, 0], rtol=1e-12)
        np.testing.assert_allclose(got[:, 4], per_row, rtol=1e-12)
        np.testing.assert_allclose(got[:, 5:], grads, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got[:, 5:].mean(axis=0), step.gradient, rtol=1e-10)


def test_contours_are_the_loss_at_each_grid_point(client):
    init = client.post("/api/playground/init", json={"dataset": "lecture"}).json()
    out = client.post("/api/playground/contours",
                      json={"session": init["session"], "i": 0, "j": 1}).json()
    data = datasets.lecture()
    for row, col in [(0, 0), (7, 19), (20, 3)]:
        model = model_at([out["a"][col], out["b"][row]], [gd.Dense(1)], "mse", 1)
        assert out["loss"][row][col] == pytest.approx(model.evaluate(data.X, data.y), rel=1e-12)


def test_too_large_a_learning_rate_is_reported_as_divergence(client):
    init = client.post("/api/playground/init", json={
        "dataset": "lecture", "runs": [{"batch_size": "full", "learning_rate": 0.5}]}).json()
    run = client.post("/api/playground/step",
                      json={"session": init["session"], "steps": 200}).json()["runs"][0]
    assert run["done"] and "Diverged" in run["diverged"] and "smaller learning rate" in \
        run["diverged"]
    assert len(run["path"]) < 200


def test_softmax_mlp_and_sklearn_sets_step(client):
    for dataset, model in [("iris", "softmax"), ("blobs", "mlp"), ("breast_cancer", "mlp")]:
        init = client.post("/api/playground/init", json={
            "dataset": dataset, "model": model, "hidden": 3,
            "runs": [{"batch_size": 8, "learning_rate": 0.1}]})
        assert init.status_code == 200, init.text
        run = client.post("/api/playground/step",
                          json={"session": init.json()["session"], "steps": 3}).json()["runs"][0]
        assert run["picture"]["kind"] == "boundary" and len(run["path"]) == 3


@pytest.mark.parametrize(("body", "word"), [
    ({"dataset": "nope"}, "dataset"),
    ({"dataset": "lecture", "model": "logistic"}, "0/1 target"),
    ({"dataset": "lecture", "runs": [{"learning_rate": 0}]}, "learning_rate"),
    ({"dataset": "lecture", "runs": [{"batch_size": 0}]}, "batch_size"),
    ({"dataset": "lecture", "runs": [{"optimizer": "lbfgs"}]}, "optimizer"),
    ({"dataset": "logistic", "n": 10**7}, "n must be"),
], ids=["dataset", "model-vs-target", "eta", "batch", "optimizer", "rows"])
def test_bad_settings_are_a_400_with_a_message(client, body, word):
    out = client.post("/api/playground/init", json=body)
    assert out.status_code == 400
    assert word in out.json()["error"]


def test_unknown_session_is_a_404_and_not_json_is_a_400(client):
    assert client.post("/api/playground/step", json={"session": "999"}).status_code == 404
    out = client.post("/api/playground/step", content=b"{not json")
    assert out.status_code == 400 and "JSON" in out.json()["error"]


@pytest.mark.parametrize(("body", "word"), [
    (bytes(range(256)) * 4, "not a text table"),
    (b"", "not a table"),
    (b"name,city\nann,paris\nbob,rome\n", "numeric columns"),
    (b"a,b\n1,2\n", "two complete rows"),
    (b"\x00\x01PK\x03\x04 zip", "not a table"),
], ids=["binary", "empty", "no-numbers", "one-row", "nul-bytes"])
def test_bad_uploads_are_a_400_with_a_message(client, body, word):
    out = client.post("/api/upload", content=body)
    assert out.status_code == 400
    assert word in out.json()["error"]


def test_an_uploaded_csv_trains(client):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 2))
    lines = ["a;b;label;note"] + [f"{u:.6f};{v:.6f};{int(u > v)};r{k}"
                                  for k, (u, v) in enumerate(x)]
    up = client.post("/api/upload", content="\n".join(lines).encode()).json()
    assert up["columns"] == ["a", "b", "label"] and up["n_rows"] == 50
    init = client.post("/api/playground/init", json={
        "dataset": "upload", "upload": up["upload"], "target": "label", "model": "logistic"})
    assert init.status_code == 200, init.text
    assert init.json()["kind"] == "binary" and init.json()["feature_names"] == ["a", "b"]
    bad = client.post("/api/playground/init", json={
        "dataset": "upload", "upload": up["upload"], "target": "note"})
    assert bad.status_code == 400 and "target" in bad.json()["error"]


def test_server_runs_in_a_thread_and_refuses_a_busy_port():
    import httpx

    from gdlab.explorer.server import ExplorerServer

    with ExplorerServer(port=0) as server:
        assert httpx.get(server.url + "api/function/info").json()["domain"] == [-4.0, 4.0]
        page = httpx.get(server.url)
        assert page.status_code == 200 and "gdlab explorer" in page.text
        assert httpx.get(server.url + "static/playground.js").status_code == 200
        with pytest.raises(ValueError, match="another port"):
            ExplorerServer(port=server.port).start()
    with pytest.raises(ValueError, match="port"):
        ExplorerServer(port=-1)


def test_main_serves_until_ctrl_c(monkeypatch, capsys):
    """`main(port, open_browser=False)` serves, prints the address, stops on Ctrl-C."""
    import httpx

    from gdlab.explorer import main
    from gdlab.explorer.server import ExplorerServer

    seen = {}

    def user_presses_ctrl_c(server):
        seen["answer"] = httpx.get(server.url + "api/datasets").json()
        seen["server"] = server
        raise KeyboardInterrupt

    monkeypatch.setattr(ExplorerServer, "wait", user_presses_ctrl_c)
    monkeypatch.setattr("webbrowser.open", lambda url: pytest.fail("no browser was asked for"))
    main(port=0, open_browser=False)
    assert "lecture" in seen["answer"]["datasets"]
    assert seen["server"]._thread is None  # stopped and joined
    assert "http://127.0.0.1:" in capsys.readouterr().out


def test_the_largest_stable_learning_rate_is_sent_once(client):
    init = client.post("/api/playground/init", json={"dataset": "lecture"}).json()
    assert init["stable_learning_rate"]["exact"] is True
    assert init["stable_learning_rate"]["value"] == pytest.approx(0.18029485, rel=1e-6)
    mlp = client.post("/api/playground/init", json={
        "dataset": "blobs", "model": "mlp", "n": 900}).json()["stable_learning_rate"]
    assert mlp["exact"] is False and 0 < mlp["value"] < 1e3


def test_a_nadam_run_steps_as_gdlabs_nadam(client):
    init = client.post("/api/playground/init", json={
        "dataset": "lecture", "runs": [{"batch_size": "full", "learning_rate": 0.1,
                                        "optimizer": "nadam"}]}).json()
    run = client.post("/api/playground/step",
                      json={"session": init["session"], "steps": 3}).json()["runs"][0]
    model = model_at(init["theta0"], [gd.Dense(1)], "mse", 1)
    model.compile(loss="mse", optimizer=gd.optimizers.get({"name": "nadam",
                                                           "learning_rate": 0.1}))
    data = datasets.lecture()
    for _ in range(3):
        model.train_on_batch(data.X, data.y)
    np.testing.assert_allclose(run["theta"], model.theta, rtol=1e-12)
