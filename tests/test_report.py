"""The HTML report: complete, self-contained, escaped, and written atomically."""

import base64
import html
import io
import os
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

import gdlab as gd
from _report_data import example_sweep_table
from gdlab.show import report
from gdlab.show.report import Run, write_report

VOID = {"meta", "img", "source", "br", "hr", "input", "link"}


class Page(HTMLParser):
    """Sections, tables (as rows of cell texts), images and every attribute of a page."""

    def __init__(self, text):
        super().__init__()
        self.stack, self.attrs, self.images, self.tables = [], [], [], {}
        self.section = None
        self.headings = []
        self._table = self._row = self._text = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.attrs.extend((tag, k, v or "") for k, v in attrs.items())
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "section":
            self.section = attrs["id"]
        elif tag == "img":
            self.images.append(attrs)
        elif tag == "table":
            self._table = []
            self.tables.setdefault(self.section, []).append(self._table)
        elif tag == "tr":
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th", "h1", "h2", "h3"):
            self._text = []

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (self.stack[-3:], tag)
        self.stack.pop()
        if tag in ("td", "th"):
            self._row.append("".join(self._text).strip())
            self._text = None
        elif tag in ("h1", "h2", "h3"):
            self.headings.append("".join(self._text).strip())
            self._text = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


@pytest.fixture(scope="module")
def run():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] - X[:, 1] > 0).astype(float)
    model = gd.Sequential([gd.Dense(1, activation="sigmoid")], input_dim=2, seed=0)
    model.compile(loss="binary_crossentropy", optimizer=gd.SGD(learning_rate=0.5))
    history = model.fit(X, y, batch_size=8, epochs=4, verbose=0, executor="numpy", trace=7, seed=0,
                        validation_split=0.25)
    sweep_table = example_sweep_table()
    figure = Figure(figsize=(4, 3))
    figure.add_subplot().plot([0, 1], [1, 0])
    return Run(title="Logistic regression <on two features>",
               data_summary={"file": "toy.csv", "rows": 40, "features": ["x1", "x2"]},
               model_summary={"layers": "Dense(1, sigmoid)", "parameters": 3},
               settings={"variant": "mini-batch", "learning_rate": 0.5, "epochs": 4,
                         "seed": 0},
               history=history, metrics={"loss": 0.123456789, "accuracy": 0.95},
               figures={"A straight line": figure}, sweep_table=sweep_table,
               steps=list(history.trace), timing={"fit": 0.25, "report": 0.0004},
               extra_tables={"Coefficients": pd.DataFrame({"w": [1.5, -2.0]})})


@pytest.fixture(scope="module")
def page(run, tmp_path_factory):
    path = write_report(tmp_path_factory.mktemp("report") / "report.html", run)
    return path, Page(path.read_text(encoding="utf-8"))


def _kv(page, section):
    """The key → value rows of the small tables of a section."""
    return {row[0]: row[1] for table in page.tables[section] for row in table if len(row) == 2}


def test_the_report_says_what_was_trained(run, page):
    path, parsed = page
    assert path.name == "report.html"
    assert parsed.headings[0] == run.title  # escaped in the source, intact in the page
    values = _kv(parsed, "trained")
    assert values["rows"] == "40" and values["features"] == "x1, x2"
    assert values["layers"] == "Dense(1, sigmoid)"
    assert values["learning_rate"] == "0.5" and values["seed"] == "0"
    assert values["numpy"] == np.__version__ and values["pandas"] == pd.__version__
    assert values["gdlab"] == gd.__version__


def test_sections_appear_in_order_with_their_numbers(run, page):
    path, parsed = page
    order = ["What was trained", "Final metrics", "Learning curves", "Figures",
             "Learning-rate sweep", "Traced steps", "Tables", "Timing"]
    h2 = [h for h in parsed.headings if h in order]
    assert h2 == order
    text = path.read_text(encoding="utf-8")
    assert 'loss<b>0.123457</b>' in text and 'accuracy<b>0.95</b>' in text
    sweep = parsed.tables["sweep"][0]
    assert sweep[0] == list(run.sweep_table.columns)
    assert [row[0] for row in sweep[1:]] == ["0.01", "1"]
    assert [row[-1] for row in sweep[1:]] == run.sweep_table["verdict"].tolist()
    timing = _kv(parsed, "timing")
    assert timing == {"fit": "0.25 s", "report": "0.4 ms"}
    history_rows = parsed.tables["learning-curves"][0]
    assert len(history_rows) == 1 + len(run.history.history["loss"])
    assert history_rows[0][0] == "epoch" and [r[0] for r in history_rows[1:]] == [
        "1", "2", "3", "4"]  # counted from 1, like the plot's axis; history.epoch is 0…3
    assert run.history.epoch == [0, 1, 2, 3]


def test_sweep_tables_for_people_count_epochs_and_steps_from_1(tmp_path):
    table = example_sweep_table()
    table["diverged"] = [False, True]
    table["diverged_epoch"], table["diverged_step"] = [None, 2], [None, 13]
    shown = report.counted_from_one(table)
    assert shown["diverged_epoch"].tolist()[1:] == [3] and pd.isna(shown["diverged_epoch"][0])
    assert shown["diverged_step"].tolist()[1:] == [14] and pd.isna(shown["diverged_step"][0])
    assert table["diverged_epoch"].tolist()[1] == 2  # the data is left as it is
    path = write_report(tmp_path / "r.html", Run("Sweep", {}, {}, {}, sweep_table=table))
    rows = Page(path.read_text(encoding="utf-8")).tables["sweep"][0]
    column = rows[0].index("diverged_epoch")
    assert [row[column] for row in rows[1:]] == ["—", "3"]
    assert [row[column + 1] for row in rows[1:]] == ["—", "14"]


def test_the_first_traced_steps_show_theta_gradient_and_the_rows(run, page):
    _, parsed = page
    tables = parsed.tables["steps"]
    assert len(tables) == 2 * 5  # 5 of the 7 steps: the update, the per-row table
    assert [h for h in parsed.headings if h.startswith("Step ")][:2] == [
        "Step 1: θ0 → θ1 (epoch 1, mini-batch)", "Step 2: θ1 → θ2 (epoch 1, mini-batch)"]
    for step, update, rows in zip(run.steps, tables[0::2], tables[1::2], strict=False):
        assert update[0] == ["parameter", f"θ{report._sub(step.step)}", "gradient ∇",
                             "change", f"θ{report._sub(step.step + 1)}"]
        cells = np.array([[float(c) for c in row[1:]] for row in update[1:]])
        np.testing.assert_allclose(cells[:, 0], step.theta_before, rtol=1e-5)
        np.testing.assert_allclose(cells[:, 1], step.gradient, rtol=1e-5, atol=1e-12)
        np.testing.assert_allclose(cells[:, 3], step.theta_after, rtol=1e-5)
        assert [row[0] for row in update[1:]] == step.param_names
        assert len(rows) == 1 + len(step.rows)  # header + one line per row of the batch
        header = rows[0]
        losses = [float(r[header.index("loss")]) for r in rows[1:]]
        assert np.mean(losses) == pytest.approx(step.loss, rel=1e-5)


def test_images_are_embedded_pngs(page):
    _, parsed = page
    assert len(parsed.images) == 2  # the learning curves and the one figure given
    for image in parsed.images:
        head, data = image["src"].split(",", 1)
        assert head == "data:image/png;base64"
        picture = Image.open(io.BytesIO(base64.b64decode(data)))
        assert picture.format == "PNG" and picture.width >= 300
        assert image["alt"]


def test_the_page_needs_nothing_from_outside(page):
    path, parsed = page
    text = path.read_text(encoding="utf-8")
    tags = {tag for tag, _, _ in parsed.attrs}
    assert not tags & {"script", "link", "iframe", "object", "embed", "base"}
    for tag, name, value in parsed.attrs:
        if name in ("src", "href", "srcset", "action", "poster", "data"):
            assert value.startswith(("data:", "#")), (tag, name, value[:60])
    outside = re.search(r"url\(|@import|https?:|//[a-z]", re.sub(r'"data:[^"]*"', "", text))
    assert outside is None, text[outside.start() - 80:outside.end() + 80]
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert "@media (max-width: 600px)" in text


def test_minimal_run_and_steps_without_tables(tmp_path):
    bare = SimpleNamespace(step=0, epoch=0, variant="batch", rows=np.arange(3),
                           learning_rate=0.1, loss=1.0, theta_before=np.array([0.0, 1.0]),
                           gradient=np.array([2.0, -1.0]), theta_after=np.array([-0.2, 1.1]),
                           param_names=["w", "b"])
    detached = gd.Step(step=1, epoch=0, variant="batch", rows=np.arange(3), learning_rate=0.1,
                       loss=0.5, theta_before=np.zeros(2), gradient=np.ones(2),
                       theta_after=-0.1 * np.ones(2), param_names=["w", "b"])
    path = write_report(tmp_path / "r.html", Run("Bare", {}, {}, {}, steps=[bare, detached]))
    parsed = Page(path.read_text(encoding="utf-8"))
    assert [h for h in parsed.headings if h in ("Traced steps", "Learning curves")] == [
        "Traced steps"]
    text = path.read_text(encoding="utf-8")
    assert "No per-row table: this step does not provide one." in text
    assert "No per-row table: This step has no data attached" in text
    assert parsed.images == []


def test_write_is_atomic(run, tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    target.write_text("old report")
    write_report(target, Run("New", {}, {}, {}))
    assert "<title>New</title>" in target.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_report(target, Run("Newer", {}, {}, {}))
    assert "<title>New</title>" in target.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_bad_arguments_are_explained(tmp_path):
    with pytest.raises(TypeError, match="run must be a gdlab.show.report.Run"):
        write_report(tmp_path / "r.html", {"title": "x"})
    with pytest.raises(ValueError, match="existing folder"):
        write_report(tmp_path / "missing" / "r.html", Run("x", {}, {}, {}))


def test_text_is_escaped(tmp_path):
    run = Run("<script>alert(1)</script>", {"<b>": "<i>x</i>"}, {}, {},
              metrics={"a&b": "<1>"})
    text = write_report(tmp_path / "r.html", run).read_text(encoding="utf-8")
    assert "<script>" not in text and "<b>:" not in text and "<i>x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "a&amp;b" in text


def test_a_large_batch_shows_its_first_rows_only(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 1))
    y = 2.0 * X[:, 0] + rng.normal(size=500)
    model = gd.Sequential([gd.Dense(1)], input_dim=1, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.1))
    step = model.fit(X, y, batch_size="full", epochs=1, verbose=0, executor="numpy",
                     trace=1).trace[0]
    path = write_report(tmp_path / "r.html", Run("Big", {}, {}, {}, steps=[step]))
    text = path.read_text(encoding="utf-8")
    assert "The first 60 of the batch's 500 rows" in text
    rows = Page(text).tables["steps"][1]
    header = rows[0]
    shown = [float(r[header.index("loss")]) for r in rows[1:]]
    np.testing.assert_allclose(shown, step.table["loss"].to_numpy()[:60], rtol=1e-5)


def test_given_learning_curves_replace_the_drawn_ones(run, tmp_path):
    figure = Figure(figsize=(4, 3))
    figure.add_subplot().plot([1, 2], [2, 1])
    given = Run("Curves given", {}, {}, {}, history=run.history,
                figures={"Learning curves of the run": figure})
    parsed = Page(write_report(tmp_path / "r.html", given).read_text(encoding="utf-8"))
    assert "Figures" not in parsed.headings  # the one figure sits under Learning curves
    assert [image["alt"] for image in parsed.images] == ["Learning curves of the run"]


def test_a_diverged_run_is_flagged(tmp_path):
    X = np.linspace(-1.0, 1.0, 12)[:, None]
    model = gd.Sequential([gd.Dense(1)], input_dim=1, seed=0)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=50.0))
    with pytest.warns(gd.DivergenceWarning):
        history = model.fit(X, 3 * X[:, 0], batch_size=4, epochs=20, verbose=0,
                            executor="numpy")
    text = write_report(tmp_path / "r.html", Run("Diverged", {}, {}, {}, history=history)
                        ).read_text(encoding="utf-8")
    message = history.diverged["message"]
    assert f'<p class="warn">{html.escape(message)}</p>' in text
