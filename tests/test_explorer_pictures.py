"""The playground's loss pictures: contour lines on their levels, views that hold θ₀, the
minimum and every path."""

import warnings

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the explorer needs the explore extra (starlette)")
pytest.importorskip("httpx", reason="starlette's TestClient needs httpx (test extra)")

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from starlette.testclient import TestClient

import gdlab as gd  # noqa: E402
from gdlab.explorer import datasets  # noqa: E402
from gdlab.explorer.app import create_app  # noqa: E402
from gdlab.explorer.isolines import isolines, loss_levels  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as test_client:
        yield test_client


def lecture_loss(w, b):
    data = datasets.lecture()
    return float(np.mean((w * data.X[:, 0] + b - data.y) ** 2))


def inside(box, point, margin=0.05):
    (a0, a1), (b0, b1) = box
    ma, mb = margin * (a1 - a0), margin * (b1 - b0)
    return a0 + ma <= point[0] <= a1 - ma and b0 + mb <= point[1] <= b1 - mb


def test_the_lecture_view_holds_theta0_and_the_minimum_w2_b_minus1(client):
    key = client.post("/api/playground/init", json={"dataset": "lecture"}).json()["session"]
    c = client.post("/api/playground/contours", json={"session": key, "i": 0, "j": 1}).json()
    box = [[c["a"][0], c["a"][-1]], [c["b"][0], c["b"][-1]]]
    X1 = np.column_stack([datasets.lecture().X, np.ones(3)])
    best = np.linalg.lstsq(X1, datasets.lecture().y, rcond=None)[0]
    np.testing.assert_allclose(c["optimum"], best)  # w ≈ 2.01, b ≈ −1.02
    assert inside(box, [0.0, 0.0]) and inside(box, c["optimum"])


def test_every_line_lies_on_its_level(client):
    key = client.post("/api/playground/init", json={"dataset": "lecture"}).json()["session"]
    c = client.post("/api/playground/contours", json={"session": key, "i": 0, "j": 1}).json()
    levels = c["levels"]
    assert len(levels) == 10 and np.all(np.diff(levels) > 0)
    assert levels[-1] / levels[0] <= 1e3 * (1 + 1e-9)
    checked = 0
    for line in c["lines"]:
        assert line["paths"], line["level"]  # every level crosses the view
        for path in line["paths"]:
            for w, b in path[:: max(1, len(path) // 5)]:
                assert lecture_loss(w, b) == pytest.approx(line["level"], rel=0.03)
                checked += 1
    assert checked > 50


def test_the_view_follows_the_paths_of_both_runs(client):
    spec = {"dataset": "lecture", "runs": [{"batch_size": "full", "learning_rate": 0.17},
                                           {"batch_size": 1, "learning_rate": 0.05}]}
    key = client.post("/api/playground/init", json=spec).json()["session"]
    runs = client.post("/api/playground/step", json={"session": key, "steps": 30}).json()["runs"]
    c = client.post("/api/playground/contours", json={"session": key, "i": 0, "j": 1}).json()
    box = [[c["a"][0], c["a"][-1]], [c["b"][0], c["b"][-1]]]
    for run in runs:
        for theta in run["path"]:
            assert inside(box, theta, margin=0.04), theta


def test_a_model_without_a_known_minimum_has_lines_and_no_star(client):
    key = client.post("/api/playground/init", json={
        "dataset": "blobs", "model": "mlp", "hidden": 3, "n": 300}).json()["session"]
    c = client.post("/api/playground/contours", json={"session": key, "i": 0, "j": 4}).json()
    assert c["optimum"] is None and sum(len(line["paths"]) for line in c["lines"]) > 5


def test_isolines_of_a_bowl_are_ellipses_through_the_level():
    a = b = np.linspace(-2.0, 2.0, 25)
    A, B = np.meshgrid(a, b)
    loss = 1.0 + A**2 + 4 * B**2
    for line in isolines(a, b, loss, [2.0, 3.0]):
        (path,) = line["paths"]  # one closed curve each
        p = np.array(path)
        np.testing.assert_allclose(1 + p[:, 0] ** 2 + 4 * p[:, 1] ** 2, line["level"],
                                   rtol=0.02)
        np.testing.assert_allclose(p[0], p[-1], atol=1e-9)  # closed
    assert loss_levels(np.full((3, 3), 2.0)) == []
    assert isolines(a, b, np.full((25, 25), np.nan), [1.0]) == []



@pytest.mark.parametrize(("spec", "layers", "loss"), [
    ({"dataset": "logistic", "model": "logistic", "n": 300},
     lambda: [gd.Dense(1, activation="sigmoid")], "binary_crossentropy"),
    ({"dataset": "iris", "model": "softmax"},
     lambda: [gd.Dense(3, activation="softmax")], "sparse_categorical_crossentropy"),
    ({"dataset": "blobs", "model": "mlp", "hidden": 2, "n": 300},
     lambda: [gd.Dense(2, activation="tanh"), gd.Dense(3, activation="softmax")],
     "sparse_categorical_crossentropy"),
], ids=["logistic", "softmax", "mlp"])
def test_every_grid_point_is_the_models_loss(client, spec, layers, loss):
    """One pass for a one-layer model (Z is linear in θ), a loop for the others: both are
    model.evaluate at the grid point, the other parameters at run A's θ."""
    key = client.post("/api/playground/init", json=spec).json()["session"]
    run = client.post("/api/playground/step", json={"session": key, "steps": 4}).json()["runs"][0]
    c = client.post("/api/playground/contours", json={"session": key, "i": 1, "j": 0}).json()
    data = datasets.load(spec["dataset"], n=spec.get("n", 200))
    model = gd.Sequential(layers(), input_dim=2)
    model.compile(loss=loss)
    for row, col in [(0, 0), (5, 17), (20, 9)]:
        theta = np.array(run["theta"])
        theta[1], theta[0] = c["a"][col], c["b"][row]
        model.set_theta(theta)
        assert c["loss"][row][col] == pytest.approx(model.evaluate(data.X, data.y), rel=1e-10)
