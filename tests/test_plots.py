"""Each figure draws the data it was given: line data checked against the run, not pixels."""

import io
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, QuadMesh
from matplotlib.figure import Figure
from PIL import Image

import gdlab as gd
from gdlab.nn import activations
from gdlab.show import plots
from gdlab.train.callbacks import History
from gdlab.train.sweep import SweepResult, learning_rate_sweep


def _line(ax, label):
    """The one line of ``ax`` with this legend label."""
    found = [line for line in ax.get_lines() if line.get_label() == label]
    assert len(found) == 1, [line.get_label() for line in ax.get_lines()]
    return found[0]


def _assert_readable(figure, ax):
    assert isinstance(figure, Figure)
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert ax.get_legend() is not None
    width, height = figure.get_size_inches()
    assert 4 <= width <= 12 and 3 <= height <= 8


@pytest.fixture(scope="module")
def linear_data():
    rng = np.random.default_rng(0)
    X = np.linspace(-1.0, 1.0, 24)[:, None]
    y = 3.0 * X[:, 0] + 1.0 + 0.3 * rng.normal(size=24)
    return X, y


def _linear_model(learning_rate=0.1, w=-1.0, b=2.0):
    model = gd.Sequential([gd.Dense(1)], input_dim=1, seed=0)
    model.set_weights([np.array([[w]]), np.array([b])])
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=learning_rate))
    return model


@pytest.fixture(scope="module")
def logistic_run():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] + 2.0 * X[:, 1] > 0.2).astype(float)
    model = gd.Sequential([gd.Dense(1, activation="sigmoid")], input_dim=2, seed=0)
    schedule = gd.ExponentialDecay(0.5, decay_steps=10, decay_rate=0.5)
    model.compile(loss="binary_crossentropy", optimizer=gd.SGD(learning_rate=schedule))
    history = model.fit(X, y, batch_size=8, epochs=6, verbose=0, executor="numpy",
                        validation_split=0.25, seed=0)
    return model, X, y, history


# ---------------------------------------------------------------- activations


@pytest.mark.parametrize("name", ["sigmoid", "relu", "tanh", "linear", "exponential"])
def test_activation_curves_are_the_activation_and_its_derivative(name):
    figure = plots.plot_activation(name)
    ax = figure.axes[0]
    _assert_readable(figure, ax)
    value, slope = ax.get_lines()[:2]
    z = value.get_xdata()
    activation = activations.get(name)
    np.testing.assert_allclose(value.get_ydata(), activation.forward(z[:, None])[:, 0])
    np.testing.assert_allclose(slope.get_ydata(), activation.derivative(z[:, None])[:, 0])
    assert z.min() < 0 < z.max()


def test_softmax_is_drawn_for_two_classes_against_z1_minus_z2():
    ax = plots.plot_activation("softmax").axes[0]
    value, slope = ax.get_lines()[:2]
    d = value.get_xdata()
    sigmoid = 1.0 / (1.0 + np.exp(-d))  # softmax of (z1, z2) is sigmoid(z1 - z2)
    np.testing.assert_allclose(value.get_ydata(), sigmoid, rtol=1e-12)
    np.testing.assert_allclose(slope.get_ydata(), sigmoid * (1 - sigmoid), rtol=1e-12)
    assert "z₁ − z₂" in ax.get_xlabel()


def test_several_activations_get_one_panel_each_and_an_ax_is_reused():
    figure = plots.plot_activation(["sigmoid", "relu", "tanh", "softmax"])
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["sigmoid", "relu", "tanh", "softmax"]
    host = Figure()
    ax = host.add_subplot()
    assert plots.plot_activation(["sigmoid", "tanh"], ax=ax) is host
    assert len(ax.get_lines()) == 4 + 4  # two curves each, plus the two axis lines each
    with pytest.raises(ValueError, match="name_or_names is empty"):
        plots.plot_activation([])


# ---------------------------------------------------------------- history


def test_history_lines_equal_the_losses_per_epoch_and_per_step(logistic_run):
    _, _, _, history = logistic_run
    figure = plots.plot_history(history)
    ax = figure.axes[0]
    _assert_readable(figure, ax)
    epochs = np.arange(1, 7, dtype=float)
    train = _line(ax, "training loss")
    np.testing.assert_array_equal(train.get_xdata(), epochs)
    np.testing.assert_array_equal(train.get_ydata(), history.history["loss"])
    np.testing.assert_array_equal(_line(ax, "validation loss").get_ydata(),
                                  history.history["val_loss"])
    steps = history.params["steps"]
    per_step = _line(ax, "loss of each step (batch of 8)")
    expected_x = np.concatenate([e + (np.arange(steps) + 1) / steps for e in range(6)])
    np.testing.assert_allclose(per_step.get_xdata(), expected_x)
    np.testing.assert_array_equal(per_step.get_ydata(), np.concatenate(history.step_loss))
    best = int(np.argmin(history.history["val_loss"]))
    star = [line for line in ax.get_lines() if line.get_label().startswith("best epoch")]
    assert star[0].get_label().startswith(f"best epoch {best + 1} (val_loss")
    assert star[0].get_xdata()[0] == best + 1


def test_history_draws_a_changing_learning_rate_on_a_second_axis(logistic_run):
    _, _, _, history = logistic_run
    figure = plots.plot_history(history)
    assert len(figure.axes) == 2
    rate = figure.axes[1].get_lines()[0]
    np.testing.assert_array_equal(rate.get_ydata(), np.concatenate(history.step_learning_rate))
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert "learning rate η (per step)" in labels


def test_full_batch_history_has_no_step_noise_and_no_rate_axis(linear_data):
    X, y = linear_data
    history = _linear_model().fit(X, y, batch_size="full", epochs=5, verbose=0, executor="numpy")
    figure = plots.plot_history(history)
    assert len(figure.axes) == 1
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert not any(label.startswith("loss of each step") for label in labels)
    with pytest.raises(ValueError, match="no epochs"):
        plots.plot_history(History())


def test_gradient_norms_are_drawn_per_layer(logistic_run):
    X = logistic_run[1]
    y = logistic_run[2]
    model = gd.Sequential([gd.Dense(3, activation="tanh"), gd.Dense(1, activation="sigmoid")],
                          input_dim=2, seed=0)
    model.compile(loss="binary_crossentropy", optimizer=gd.SGD(learning_rate=0.3))
    history = model.fit(X, y, batch_size=16, epochs=4, verbose=0, executor="numpy", seed=0)
    figure = plots.plot_gradients(history)
    ax = figure.axes[0]
    _assert_readable(figure, ax)
    for layer in (1, 2):
        np.testing.assert_array_equal(_line(ax, f"layer {layer}").get_ydata(),
                                      history.history[f"grad_norm[{layer}]"])


# ---------------------------------------------------------------- learning rates


def test_learning_rate_curves_equal_the_sweep_histories(linear_data):
    X, y = linear_data
    model = _linear_model()
    figure = plots.plot_learning_rates(model, X, y, [0.001, 0.3, 50.0], epochs=8,
                                       batch_size=6, seed=0)
    ax = figure.axes[0]
    _assert_readable(figure, ax)
    assert ax.get_yscale() == "log"
    result = learning_rate_sweep(model, X, y, [0.001, 0.3, 50.0], epochs=8, batch_size=6,
                                 seed=0)
    for _, row in result.table.iterrows():
        line = _line(ax, f"η = {row['learning_rate']:g}: {row['verdict']}")
        history = result.histories[row["learning_rate"]]
        np.testing.assert_allclose(line.get_ydata(),
                                   [row["initial_loss"], *history.history["loss"]])
    assert result.table["verdict"].tolist() == ["too small", "good", "too large"]
    crosses = [line for line in ax.get_lines() if line.get_marker() == "X"]
    assert len(crosses) == int(result.table["diverged"].sum()) == 1
    assert np.array_equal(model.theta, [-1.0, 2.0])  # the sweep left the model alone


def _history(losses, *, steps, diverged=None):
    history = History()
    history.history = {"loss": list(losses)}
    history.epoch = list(range(len(losses)))
    history.params = {"steps": steps}
    history.diverged = diverged
    return history


def test_a_diverged_run_ends_at_the_step_where_it_diverged():
    histories = {0.1: _history([1.0, 0.5, 0.3, 0.2], steps=5),
                 3.0: _history([2.0, 40.0], steps=5, diverged={"epoch": 2, "step": 13})}
    table = pd.DataFrame({"learning_rate": [0.1, 3.0], "initial_loss": [1.5, 1.5],
                          "final_loss": [0.2, math.inf], "diverged": [False, True],
                          "diverged_epoch": [None, 2], "diverged_step": [None, 13],
                          "verdict": ["good", "too large"]})
    ax = plots.plot_sweep(SweepResult(table=table, histories=histories)).axes[0]
    crosses = [line for line in ax.get_lines() if line.get_marker() == "X"]
    assert len(crosses) == 1
    assert crosses[0].get_xdata()[0] == pytest.approx(2 + (13 - 2 * 5 + 1) / 5)  # 2.8 epochs
    notes = [t.get_text() for t in ax.texts]
    assert notes == ["η = 3 diverged at step 14"]  # step 13 counted from 0: the 14th step
    np.testing.assert_array_equal(_line(ax, "η = 3: too large").get_ydata(), [1.5, 2.0, 40.0])


def test_a_divergence_in_the_third_epoch_says_epoch_3_where_the_axis_says_3():
    """Messages, labels and the x axis count epochs from 1 (the progress bar's "Epoch 1/5");
    history.diverged and the sweep table keep the data's 0-based epoch."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 2)), rng.poisson(2.0, size=20).astype(float)
    model = gd.Sequential([gd.Dense(1, activation="exponential")], input_dim=2, seed=0)
    model.compile(loss="poisson", optimizer=gd.SGD(0.1))
    result = learning_rate_sweep(model, X, y, [0.1, 1.0], epochs=10, batch_size="full",
                                 executor="numpy")
    history = result.histories[1.0]
    assert history.diverged["epoch"] == 2 and history.diverged["step"] is None  # the 3rd
    assert result.table["diverged_epoch"].iloc[1] == 2
    assert history.diverged["message"].startswith("Training diverged at epoch 3 (loss = ")
    assert "restored to its value at the end of epoch 1 (training loss" in (
        history.diverged["message"])  # θ₁: loss[1], drawn at x = 2 (epoch 2's loss, at θ₁)
    ax = plots.plot_sweep(result).axes[0]
    (cross,) = [line for line in ax.get_lines() if line.get_marker() == "X"]
    assert cross.get_xdata()[0] == 3.0
    assert [t.get_text() for t in ax.texts] == ["η = 1 diverged in epoch 3"]
    curve = _line(ax, "η = 1: too large")
    assert curve.get_xdata()[-1] == 3.0 and curve.get_ydata()[-1] > 1e4  # the 3rd epoch's
    ax = plots.plot_history(history).axes[0]
    assert [t.get_text() for t in ax.texts] == ["diverged at epoch 3"]
    assert _line(ax, "training loss").get_xdata().tolist() == [1.0, 2.0, 3.0]


# ---------------------------------------------------------------- loss surface


@pytest.fixture(scope="module")
def three_traces(linear_data):
    X, y = linear_data
    traces = []
    for batch_size in ("full", 1, 6):
        model = _linear_model()
        traces.append(model.fit(X, y, batch_size=batch_size, epochs=2, verbose=0,
                                executor="numpy", trace=True, seed=0).trace)
    return model, traces


def test_loss_surface_paths_are_the_traced_thetas(linear_data, three_traces):
    X, y = linear_data
    model, traces = three_traces
    labels = ["batch", "stochastic", "mini-batch"]
    figure = plots.plot_loss_surface(model, X, y, traces, labels, resolution=15)
    ax = figure.axes[0]
    _assert_readable(figure, ax)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("w", "b")
    for trace, label in zip(traces, labels, strict=True):
        line = _line(ax, f"{label} ({len(trace)} steps)")
        expected = np.array([s.theta_before for s in trace] + [trace[-1].theta_after])
        np.testing.assert_array_equal(line.get_xdata(), expected[:, 0])
        np.testing.assert_array_equal(line.get_ydata(), expected[:, 1])
        assert line.get_xdata()[0] == -1.0 and line.get_ydata()[0] == 2.0  # θ0


def test_loss_surface_contours_span_the_loss_on_the_drawn_grid(linear_data, three_traces):
    X, y = linear_data
    model, traces = three_traces
    before = model.theta.copy()
    (w_best, b_best), *_ = np.linalg.lstsq(np.column_stack([X[:, 0], np.ones(len(X))]), y,
                                           rcond=None)
    ax = plots.plot_loss_surface(model, X, y, traces[:1], ["batch"], resolution=9,
                                 optimum=(w_best, b_best)).axes[0]
    np.testing.assert_array_equal(model.theta, before)  # θ restored
    contour = ax.collections[0]
    w_grid, b_grid = np.meshgrid(np.linspace(*ax.get_xlim(), 9), np.linspace(*ax.get_ylim(), 9))
    fitted = np.stack([w_grid.ravel(), b_grid.ravel()], axis=1)
    losses = np.mean((fitted[:, :1] * X[:, 0] + fitted[:, 1:] - y) ** 2, axis=1)
    assert contour.levels[0] == pytest.approx(losses.min())
    assert contour.levels[-1] == pytest.approx(losses.max())
    lowest = _line(ax, "lowest loss in view")
    w, b = lowest.get_xdata()[0], lowest.get_ydata()[0]
    assert np.mean((w * X[:, 0] + b - y) ** 2) == pytest.approx(losses.min())


def test_loss_surface_of_a_bigger_model_varies_the_named_parameters(linear_data):
    X, y = linear_data
    model = gd.Sequential([gd.Dense(2, activation="tanh"), gd.Dense(1)], input_dim=1, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.1))
    trace = model.fit(X, y, batch_size="full", epochs=3, verbose=0, executor="numpy",
                      trace=True).trace
    names = model.param_names
    ax = plots.plot_loss_surface(model, X, y, [trace], ["batch"], params=[names[0], 4],
                                 resolution=5).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == (names[0], names[4])
    assert "other parameters fixed" in ax.get_title()
    path = _line(ax, "batch (3 steps)")
    np.testing.assert_array_equal(path.get_ydata(), [s.theta_before[4] for s in trace]
                                  + [trace[-1].theta_after[4]])
    with pytest.raises(ValueError, match="not a parameter"):
        plots.plot_loss_surface(model, X, y, [trace], params=["w", "nope"])
    with pytest.raises(ValueError, match="one entry per trace"):
        plots.plot_loss_surface(model, X, y, [trace], labels=["a", "b"])


# ---------------------------------------------------------------- decision boundary


def test_decision_boundary_shows_the_predicted_probabilities_and_the_data(logistic_run):
    model, X, y, _ = logistic_run
    figure = plots.plot_decision_boundary(model, X, y, resolution=30)
    ax = figure.axes[0]
    _assert_readable(figure, ax)
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    a = np.linspace(X[:, 0].min() - pad[0], X[:, 0].max() + pad[0], 30)
    b = np.linspace(X[:, 1].min() - pad[1], X[:, 1].max() + pad[1], 30)
    A, B = np.meshgrid(a, b)
    expected = model.predict(np.column_stack([A.ravel(), B.ravel()]))[:, 0]
    np.testing.assert_allclose(np.asarray(mesh.get_array()).ravel(), expected)
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points) == 2
    np.testing.assert_array_equal(points[0].get_offsets(), X[y == 0])
    np.testing.assert_array_equal(points[1].get_offsets(), X[y == 1])


def test_decision_boundary_of_three_classes_colours_the_predicted_class():
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 2.0], [-2.0, -1.0], [2.0, -1.0]])
    labels = np.repeat(np.arange(3), 15)
    X = centres[labels] + 0.5 * rng.normal(size=(45, 2))
    model = gd.Sequential([gd.Dense(3, activation="softmax")], input_dim=2, seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=gd.SGD(learning_rate=0.5))
    model.fit(X, labels, batch_size="full", epochs=30, verbose=0, executor="numpy")
    ax = plots.plot_decision_boundary(model, X, labels, resolution=20).axes[0]
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    assert set(np.unique(np.asarray(mesh.get_array()))) == {0, 1, 2}
    with pytest.raises(ValueError, match="two columns"):
        plots.plot_decision_boundary(model, X[:, :1], labels)


def test_a_regression_output_is_drawn_as_a_value_surface():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 2))
    y = X @ np.array([1.0, -2.0]) + 0.5
    model = gd.Sequential([gd.Dense(1)], input_dim=2, seed=0)
    model.set_weights([np.array([[1.0], [-2.0]]), np.array([0.5])])
    ax = plots.plot_decision_boundary(model, X, y, resolution=12).axes[0]
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    pad = 0.1 * np.ptp(X, axis=0) + 1e-9  # the plane spans the data and 10% more
    a = np.linspace(X[:, 0].min() - pad[0], X[:, 0].max() + pad[0], 12)
    b = np.linspace(X[:, 1].min() - pad[1], X[:, 1].max() + pad[1], 12)
    A, B = np.meshgrid(a, b)
    np.testing.assert_allclose(np.asarray(mesh.get_array()).ravel(),
                               A.ravel() - 2.0 * B.ravel() + 0.5)  # ŷ = x1 − 2 x2 + 0.5
    points = next(c for c in ax.collections if isinstance(c, PathCollection))
    np.testing.assert_array_equal(points.get_array(), y)  # coloured by the target
    assert mesh.norm.vmin <= y.min() and mesh.norm.vmax >= y.max()


def test_a_diverged_history_says_so(linear_data):
    X, y = linear_data
    with pytest.warns(gd.DivergenceWarning):
        history = _linear_model(learning_rate=5.0).fit(X, y, batch_size=4, epochs=30,
                                                        verbose=0, executor="numpy")
    ax = plots.plot_history(history).axes[0]
    assert [t.get_text() for t in ax.texts] == [
        f"diverged at epoch {history.diverged['epoch'] + 1}"]  # counted from 1, as the axis
    np.testing.assert_array_equal(_line(ax, "training loss").get_ydata(),
                                  history.history["loss"])


def test_figures_do_not_touch_pyplot():
    """Drawing every kind of picture never imports pyplot (no display, no global state)."""
    code = ("import sys, numpy as np, gdlab as gd; from gdlab import plots\n"
            "X = np.linspace(-1, 1, 8)[:, None] * [1.0, -1.0]; y = X[:, 0] + 1\n"
            "m = gd.Sequential([gd.Dense(1)], input_dim=2, seed=0); m.compile(loss='mse')\n"
            "h = m.fit(X, y, batch_size=4, epochs=2, verbose=0, trace=True, executor='numpy')\n"
            "plots.plot_activation('relu'); plots.plot_history(h); plots.plot_gradients(h)\n"
            "plots.plot_learning_rates(m, X, y, [0.1], epochs=1)\n"
            "plots.plot_loss_surface(m, X, y, [h], resolution=5)\n"
            "plots.plot_decision_boundary(m, X, y, resolution=5).savefig(__import__('io')."
            "BytesIO())\n"
            "print('matplotlib.pyplot' in sys.modules, 'matplotlib' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["False", "True"]


def _state(model):
    """Everything a picture could change: θ, optimizer state, steps, history, config."""
    snapshot = model.snapshot()
    state = snapshot.optimizer_state
    return (snapshot.theta.tobytes(), snapshot.step_count, model.get_config(),
            [np.asarray(v).tobytes() for v in (state or ())],
            {k: list(v) for k, v in model.history.history.items()}, len(model.history.trace))


def test_no_picture_trains_or_changes_the_model(linear_data, monkeypatch):
    X1, y = linear_data
    X = np.column_stack([X1[:, 0], X1[:, 0] ** 2])
    model = gd.Sequential([gd.Dense(1)], input_dim=2, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.1, momentum=0.9))
    history = model.fit(X, y, batch_size=4, epochs=3, verbose=0, trace=True, executor="numpy")
    before = _state(model)

    def refuse(*args, **kwargs):
        raise AssertionError("a picture set the model's θ")

    monkeypatch.setattr(model, "set_theta", refuse)
    monkeypatch.setattr(model, "restore", refuse)
    monkeypatch.setattr(model, "advance", refuse)
    monkeypatch.setattr(model, "fit", refuse)
    plots.plot_history(history)
    plots.plot_gradients(history)
    plots.plot_loss_surface(model, X, y, [history], resolution=7)
    plots.plot_loss_surface(model, X, y, [history], params=["w_1", "b"], resolution=5,
                            exposure=np.ones(len(y)))
    plots.plot_learning_rates(model, X, y, [0.01, 0.1, 50.0], epochs=2, batch_size=4)
    plots.plot_decision_boundary(model, X, y, resolution=9)
    assert _state(model) == before


def test_the_gallery_page_shows_the_generated_pictures():
    root = Path(__file__).resolve().parents[1]
    page = (root / "docs" / "gallery.md").read_text(encoding="utf-8")
    shown = re.findall(r"!\[[^\]]*\]\((gallery/[^)]+\.png)\)", page)
    assert len(shown) >= 6
    for name in shown:
        picture = Image.open(root / "docs" / name)
        assert picture.width >= 500 and (root / "docs" / name).stat().st_size < 150_000


# ---------------------------------------------------------------- pictures that teach


def _drawn(figure):
    """Draw the figure (as savefig does) and return its renderer."""
    figure.savefig(io.BytesIO(), format="png")
    return figure._get_renderer()


def _overlaps(one, other):
    return (one.x0 < other.x1 and other.x0 < one.x1) and (one.y0 < other.y1 and other.y0 < one.y1)


def _figures_with_legends(linear_data, logistic_run, three_traces):
    X, y = linear_data
    model, traces = three_traces
    logistic_model, X2, y2, history = logistic_run
    return {
        "history": plots.plot_history(history),
        "gradients": plots.plot_gradients(history),
        "learning rates": plots.plot_learning_rates(_linear_model(), X, y, [0.001, 0.3, 50.0],
                                                    epochs=8, batch_size=6),
        "loss surface": plots.plot_loss_surface(model, X, y, traces, ["a", "b", "c"],
                                                resolution=9),
        "decision boundary": plots.plot_decision_boundary(logistic_model, X2, y2,
                                                          resolution=20),
        "activations": plots.plot_activation(["sigmoid", "relu", "softmax", "tanh"]),
    }


def test_legends_sit_beside_the_pictures_never_on_them(linear_data, logistic_run,
                                                       three_traces):
    for name, figure in _figures_with_legends(linear_data, logistic_run, three_traces).items():
        renderer = _drawn(figure)
        legends = [ax.get_legend() for ax in figure.axes if ax.get_legend() is not None]
        assert legends, name
        for legend in legends:
            box = legend.get_window_extent(renderer)
            assert figure.bbox.x0 <= box.x0 and box.x1 <= figure.bbox.x1, name  # not cut off
            assert figure.bbox.y0 <= box.y0 and box.y1 <= figure.bbox.y1, name
            for ax in figure.axes:  # no data area, axis label or tick label under it
                covered = [ax.get_window_extent(renderer), ax.xaxis.label.get_window_extent(
                    renderer), *(t.get_window_extent(renderer) for t in ax.get_xticklabels()
                                 if t.get_text())]
                assert not any(_overlaps(box, other) for other in covered), name


def test_the_view_widens_to_a_minimum_on_its_edge_and_holds_every_mark(linear_data):
    X, y = linear_data
    model = _linear_model(learning_rate=0.1)  # θ₀ = (-1, 2); the optimum (3.0, 0.97) is out
    trace = model.fit(X, y, batch_size="full", epochs=5, verbose=0, executor="numpy",
                      trace=True).trace  # of the first view, w in [-1.5, 0.75]
    (w, b), *_ = np.linalg.lstsq(np.column_stack([X[:, 0], np.ones(len(X))]), y, rcond=None)
    ax = plots.plot_loss_surface(model, X, y, [trace], ["batch"], resolution=31).axes[0]
    (left, right), (bottom, top) = ax.get_xlim(), ax.get_ylim()
    lowest = _line(ax, "lowest loss in view")  # not "on its edge": the view grew to it
    step_w, step_b = (right - left) / 30, (top - bottom) / 30
    assert abs(lowest.get_xdata()[0] - w) <= step_w and abs(lowest.get_ydata()[0] - b) <= step_b
    for line in ax.get_lines():  # every path point and marker is inside the view
        xs, ys = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        assert ((left < xs) & (xs < right) & (bottom < ys) & (ys < top)).all(), line.get_label()
    slow = _linear_model(learning_rate=0.001)  # a path too short for the view to reach it
    slow_trace = slow.fit(X, y, batch_size="full", epochs=2, verbose=0, executor="numpy",
                          trace=True).trace
    figure = plots.plot_loss_surface(slow, X, y, [slow_trace], ["batch"], resolution=9)
    edge_ax, renderer = figure.axes[0], _drawn(figure)
    assert "lowest loss in view" not in [line.get_label() for line in edge_ax.get_lines()]
    (note,) = [t for t in edge_ax.texts if t.get_text() == "lower loss beyond"]
    box, frame = note.get_window_extent(renderer), edge_ax.get_window_extent(renderer)
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 <= frame.y1
    far = plots.plot_loss_surface(model, X, y, [trace], ["batch"], resolution=9,
                                  optimum=(w, b)).axes[0]
    marked = _line(far, "optimum")
    assert (marked.get_xdata()[0], marked.get_ydata()[0]) == (w, b)
    with pytest.raises(ValueError, match="optimum must be"):
        plots.plot_loss_surface(model, X, y, [trace], optimum=(1.0,))


def test_contour_lines_carry_their_loss(linear_data, three_traces):
    X, y = linear_data
    model, traces = three_traces
    ax = plots.plot_loss_surface(model, X, y, traces[:1], ["batch"], resolution=15).axes[0]
    lines = ax.collections[1]  # the contour lines, drawn over the filled contours
    labels = [t.get_text() for t in ax.texts if t.get_text() != "lower loss beyond"]
    assert len(labels) >= 3
    assert set(labels) <= {f"{level:.3g}" for level in lines.levels}


def test_every_path_keeps_its_own_style_and_the_shorter_ones_lie_on_top(linear_data,
                                                                        three_traces):
    X, y = linear_data
    model, traces = three_traces
    labels = ["batch", "stochastic", "mini-batch"]
    ax = plots.plot_loss_surface(model, X, y, traces, labels, resolution=9).axes[0]
    paths = [_line(ax, f"{label} ({len(trace)} steps)")
             for label, trace in zip(labels, traces, strict=True)]
    assert len({(p.get_linestyle(), p.get_marker()) for p in paths}) == 3
    by_length = sorted(paths, key=lambda p: len(p.get_xdata()))
    assert [p.get_zorder() for p in by_length] == sorted((p.get_zorder() for p in paths),
                                                         reverse=True)


def test_a_late_divergence_note_stays_inside_the_axes():
    histories = {0.1: _history([1.0, 0.5, 0.3, 0.2, 0.1, 0.05], steps=1),
                 3.0: _history([2.0, 3.0, 4.0, 5.0, 6.0], steps=1,
                               diverged={"epoch": 5, "step": 5})}
    table = pd.DataFrame({"learning_rate": [0.1, 3.0], "initial_loss": [1.5, 1.5],
                          "final_loss": [0.05, math.inf], "diverged": [False, True],
                          "diverged_epoch": [None, 5], "diverged_step": [None, 5],
                          "verdict": ["good", "too large"]})
    figure = plots.plot_sweep(SweepResult(table=table, histories=histories))
    ax = figure.axes[0]
    renderer = _drawn(figure)
    frame = ax.get_window_extent(renderer)
    (note,) = ax.texts
    box = note.get_window_extent(renderer)
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 <= frame.y1


@pytest.mark.parametrize("epochs", [5, 30, 200])
def test_the_best_epoch_star_stays_inside_the_axes_and_epochs_are_whole(epochs):
    """The last epoch is often the best: its star must not hang over the right edge
    (x ended 0.3 epoch after it: half the star outside at 30 epochs); an epoch axis
    shows 1, 2, 3, never 2.5."""
    history = _history(np.linspace(2.0, 1.0, epochs), steps=1)
    history.history["grad_norm[1]"] = list(np.linspace(1.0, 0.5, epochs))
    figure = plots.plot_history(history)
    ax, renderer = figure.axes[0], _drawn(figure)
    frame = ax.get_window_extent(renderer)
    star = _line(ax, f"best epoch {epochs} (loss = 1)")
    box = star.get_window_extent(renderer)
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 <= box.y1 <= frame.y1
    for drawn in (figure, plots.plot_gradients(history)):
        ax = drawn.axes[0]
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
