"""The explorer driven in a real headless Chromium: what the page shows equals gdlab's numbers.

Needs the ``playwright`` Python package and Debian's ``/usr/bin/chromium`` (Playwright's
own browser download is not used). Without them the tests skip, unless ``CI`` is set, in
which case they fail. Screenshots go to ``test-artifacts/explorer/``.
"""

import statistics
import time

import numpy as np
import pytest
from tests._explorer_browser import ARTIFACTS, explorer_in_chromium

import gdlab as gd
from gdlab.explorer import datasets


@pytest.fixture(scope="module")
def page():
    with explorer_in_chromium() as (browser, url):
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(url)
        tab.wait_for_selector("body[data-gradient-ready='1']", timeout=10_000)
        yield tab
        assert not errors, f"JavaScript errors in the page: {errors}"


def shot(tab, name):
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def rows_of(tab, selector):
    return tab.eval_on_selector_all(
        selector, "rows => rows.map(r => [...r.cells].map(c => c.textContent))")


def number(text):
    return None if text == "—" else float(text)


def assert_shown(text, expected):
    """A shown number (6 significant digits) equals the expected one."""
    assert number(text) == pytest.approx(expected, rel=1e-5, abs=1e-12), (text, expected)


def f(x):
    return x**4 / 20 - x**2 / 2 + x / 4 + 2


def df(x):
    return x**3 / 5 - x + 0.25


def test_gradient_page_points_derivatives_reveal_descent(page):
    xs = [-2.5, 0.5, 2.8]
    for k, x in enumerate(xs):
        page.locator("#x-slider").fill(str(x))
        page.click("#add-point")
        page.wait_for_function(
            f"document.querySelectorAll('#points-table tbody tr').length == {k + 1}")
    shown = rows_of(page, "#points-table tbody tr")
    for row, x in zip(shown, xs, strict=True):
        assert_shown(row[1], x)
        assert_shown(row[2], f(x))
        assert row[3] == "?"  # the slope stays hidden until asked for
    shot(page, "1-points")
    page.check("#show-derivatives")
    for row, x in zip(rows_of(page, "#points-table tbody tr"), xs, strict=True):
        assert_shown(row[3], df(x))
        assert row[4] == ("← left" if df(x) > 0 else "right →")  # downhill = sign of -f'(x)
    page.check("#reveal-function")
    page.wait_for_function("Gradient.state.curve !== null")
    curve = page.evaluate("Gradient.state.curve")
    grid = np.linspace(-4, 4, 401)
    np.testing.assert_allclose(curve["f"], f(grid), rtol=1e-12)
    shot(page, "2-derivatives-revealed")
    page.fill("#descent-lr", "0.3")
    page.click("#descend")
    page.wait_for_function("document.querySelectorAll('#descent-table tbody tr').length == 1")
    page.click("#descend-10")
    page.wait_for_function("document.querySelectorAll('#descent-table tbody tr').length == 11")
    x = xs[-1]
    for step, row in enumerate(rows_of(page, "#descent-table tbody tr")):
        assert row[0] == str(step)
        assert_shown(row[1], x)
        assert_shown(row[2], f(x))
        assert_shown(row[3], df(x))
        assert_shown(row[4], -0.3 * df(x))
        x = x - 0.3 * df(x)
        assert_shown(row[5], x)
    shot(page, "3-descent")


def wait_ready(tab):
    tab.wait_for_function("document.body.dataset.pgReady === '1'", timeout=15_000)


def click_step(tab):
    before = tab.evaluate("Number(document.body.dataset.steps || 0)")
    started = time.perf_counter()
    tab.click("#pg-step")
    tab.wait_for_function(f"Number(document.body.dataset.steps || 0) > {before}")
    return time.perf_counter() - started


def expected_step(theta0, *, batch_size, optimizer, seed, n, steps):
    """The last of ``steps`` steps of model.fit with trace, from θ₀, and its data."""
    data = datasets.load("logistic", n=n, seed=seed)
    model = gd.Sequential([gd.Dense(1, activation="sigmoid")], input_dim=2)
    model.theta = np.asarray(theta0, dtype=float)
    model.compile(loss="binary_crossentropy", optimizer=optimizer)
    history = model.fit(data.X, data.y, batch_size=batch_size, epochs=1, seed=seed,
                        verbose=0, trace=steps)
    return history.trace[steps - 1], data


def check_table(tab, run, step, data):
    """The shown table equals the trace step's per-row numbers (recomputed with gdlab)."""
    header = tab.eval_on_selector_all(f"#pg-table-{run} thead th", "c => c.map(x => x.textContent)")
    assert header == ["row", "x_1", "x_2", "y", "y_hat", "loss", "dL/dw_1", "dL/dw_2", "dL/db"]
    at = gd.Sequential([gd.Dense(1, activation="sigmoid")], input_dim=2)
    at.theta = step.theta_before
    at.compile(loss="binary_crossentropy")
    rows = step.rows[:50]
    per_row, grads = at.per_row_gradients(at.loss, data.X[rows], data.y[rows, None])
    expected = np.column_stack([data.X[rows], data.y[rows], at.output(data.X[rows]),
                                per_row, grads])
    shown = rows_of(tab, f"#pg-table-{run} tbody tr")
    assert [int(r[0]) for r in shown] == rows.tolist()
    for row, values in zip(shown, expected, strict=True):
        for text, value in zip(row[1:], values, strict=True):
            assert_shown(text, value)
    mean = rows_of(tab, f"#pg-table-{run} tfoot tr")[0]
    assert_shown(mean[5], step.loss)
    for text, value in zip(mean[6:], step.gradient, strict=True):
        assert_shown(text, value)
    info = tab.inner_text(f"#pg-info-{run}")
    after = info.split("θ after")[1].split("= (")[1].split(")")[0].split(", ")
    for text, value in zip(after, step.theta_after, strict=True):
        assert_shown(text, value)


def test_playground_table_equals_the_trace(page):
    page.click("#tab-playground")
    wait_ready(page)
    page.select_option("#pg-dataset", "logistic")
    page.fill("#pg-n", "120")
    page.fill("#pg-seed", "3")
    page.select_option("#pg-model", "logistic")
    page.select_option("#pg-variant-0", "mini-batch")
    page.fill("#pg-batch-0", "16")
    page.fill("#pg-lr-0", "0.5")
    wait_ready(page)
    theta0 = page.evaluate("Playground.state.desc.theta0")
    for _ in range(3):
        click_step(page)
    step, data = expected_step(theta0, batch_size=16, optimizer=gd.SGD(learning_rate=0.5),
                               seed=3, n=120, steps=3)
    check_table(page, 0, step, data)
    shot(page, "4-playground-mini-batch")
    # change the learning rate and the batch size, and compare run B (stochastic, Adam)
    page.fill("#pg-lr-0", "0.05")
    page.fill("#pg-batch-0", "5")
    page.check("#pg-compare")
    page.select_option("#pg-variant-1", "stochastic")
    page.fill("#pg-lr-1", "0.02")
    page.select_option("#pg-opt-1", "adam")
    wait_ready(page)
    assert page.evaluate("Playground.state.desc.theta0") == theta0  # same θ₀ for both runs
    for _ in range(4):
        click_step(page)
    step, data = expected_step(theta0, batch_size=5, optimizer=gd.SGD(learning_rate=0.05),
                               seed=3, n=120, steps=4)
    check_table(page, 0, step, data)
    step, data = expected_step(theta0, batch_size=1, optimizer=gd.Adam(learning_rate=0.02),
                               seed=3, n=120, steps=4)
    check_table(page, 1, step, data)
    shot(page, "5-playground-two-runs")
    page.uncheck("#pg-compare")
    wait_ready(page)


def test_too_large_a_learning_rate_shows_divergence(page):
    page.click("#tab-playground")
    page.select_option("#pg-dataset", "lecture")
    page.select_option("#pg-model", "linear")
    page.select_option("#pg-variant-0", "batch")
    page.fill("#pg-lr-0", "0.5")
    wait_ready(page)
    page.select_option("#pg-speed", "5")
    page.click("#pg-play")
    page.wait_for_selector("#pg-diverged-0", timeout=15_000)
    assert "Diverged" in page.inner_text("#pg-diverged-0")
    assert "smaller learning rate" in page.inner_text("#pg-diverged-0")
    shot(page, "6-divergence")
    page.select_option("#pg-speed", "1")


def test_a_step_on_10000_rows_updates_the_page(page, capsys):
    """The page redraws after each step on 10,000 rows. Its latency is printed, not asserted:
    speed on a shared 2-core machine is a benchmark (benchmarks/explorer_load.py), not a test."""
    page.click("#tab-playground")
    page.select_option("#pg-dataset", "logistic")
    page.fill("#pg-n", "10000")
    page.select_option("#pg-model", "logistic")
    page.select_option("#pg-variant-0", "batch")
    page.fill("#pg-lr-0", "0.5")
    wait_ready(page)
    click_step(page)  # the first step also fetches the contours' grid
    outside, in_page, steps = [], [], []
    for _ in range(5):
        outside.append(click_step(page) * 1000)
        in_page.append(page.evaluate("Number(document.body.dataset.stepMs)"))
        steps.append(page.evaluate("Playground.state.runs[0].step"))
    shot(page, "7-10000-rows")
    with capsys.disabled():
        print(f"\n[explorer] step on 10,000 rows, click → page updated: in page "
              f"median {statistics.median(in_page):.1f} ms (max {max(in_page):.1f}); "
              f"seen from the test {statistics.median(outside):.1f} ms median")
    assert min(in_page) > 0  # the page recorded a redraw after every step
    assert steps == sorted(steps) and len(set(steps)) == 5  # and each click was one new step


def test_a_bad_upload_shows_a_message_and_the_server_keeps_going(page, tmp_path):
    page.click("#tab-playground")
    page.select_option("#pg-dataset", "upload")
    junk = tmp_path / "photo.csv"
    junk.write_bytes(bytes(range(256)) * 8)
    page.set_input_files("#pg-file", str(junk))
    page.wait_for_function("document.getElementById('pg-message').textContent.includes('not a')")
    words = tmp_path / "words.csv"
    words.write_text("name,city\nann,paris\nbob,rome\n")
    page.set_input_files("#pg-file", str(words))
    page.wait_for_function(
        "document.getElementById('pg-message').textContent.includes('numeric columns')")
    shot(page, "8-bad-upload")
    good = tmp_path / "good.csv"
    good.write_text("u,v,label\n" + "".join(f"{k % 7},{k % 5},{int(k % 7 > k % 5)}\n"
                                            for k in range(40)))
    page.set_input_files("#pg-file", str(good))
    wait_ready(page)
    assert page.evaluate("Playground.state.desc.feature_names") == ["u", "v"]
    click_step(page)
    assert page.inner_text("#pg-message") == ""
