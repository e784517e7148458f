"""Presenter mode and the address that carries the page's settings, in a real Chromium.

Skips without Playwright or Chromium (unless ``CI`` is set), as the other browser tests.
"""

import pytest
from tests._explorer_browser import ARTIFACTS, explorer_in_chromium


@pytest.fixture(scope="module")
def browser_and_url():
    with explorer_in_chromium() as (browser, url):
        yield browser, url


@pytest.fixture
def tab(browser_and_url):
    browser, _ = browser_and_url
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    page.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def steps_done(tab):
    return tab.evaluate("Number(document.body.dataset.steps || 0)")


def test_the_address_sets_the_playground_and_space_steps_it(tab, browser_and_url):
    _, url = browser_and_url
    tab.goto(url + "?present=1&page=playground&dataset=lecture&model=linear&variant-0=batch"
             "&lr-0=0.05&param-i=1&param-j=0")
    tab.wait_for_function("document.body.dataset.pgReady === '1'", timeout=15_000)
    assert tab.evaluate("document.body.classList.contains('present')")
    assert tab.evaluate("getComputedStyle(document.body).fontSize") == "20px"
    assert tab.is_visible("#present-keys") and not tab.is_hidden("#page-playground")
    assert tab.input_value("#pg-lr-0") == "0.05"
    assert (tab.input_value("#pg-param-i"), tab.input_value("#pg-param-j")) == ("1", "0")
    tab.keyboard.press("Space")
    tab.wait_for_function("Number(document.body.dataset.steps || 0) === 1")
    theta = tab.evaluate("Playground.state.runs[0].theta")
    # the lecture's first batch step, ∇ = (−14.69, −6.00), with η = 0.05
    assert [round(v, 3) for v in theta] == [0.735, 0.3]
    status = tab.inner_text("#pg-status-0")
    assert "largest stable η = 2/λ_max = 0.180295" in status and "above it" not in status
    tab.wait_for_function("document.body.dataset.contours === '1'")
    tab.screenshot(path=str(ARTIFACTS / "9-presenter-playground.png"), full_page=True)
    latex = tab.request.get(tab.eval_on_selector("#pg-export-latex-0", "a => a.href")).text()
    assert "\\begin{tabular}" in latex and "(0.7347, 0.3002)" not in latex  # LaTeX vectors
    assert "0.7347 \\\\ 0.3002" in latex  # θ₁ in a pmatrix, 4 decimals
    path = tab.request.get(tab.eval_on_selector("#pg-export-path", "a => a.href")).text()
    assert path.splitlines()[0] == "run,step,epoch,batch_loss,full_loss,w,b"
    assert path.splitlines()[2].startswith("A,0,0,11.716")
    tab.fill("#pg-lr-0", "0.02")
    tab.wait_for_function("location.search.includes('lr-0=0.02')")
    address = tab.evaluate("location.href")
    assert "present=1" in address and "page=playground" in address
    assert "param-i=1" in address and "param-j=0" in address
    assert "dataset=" not in address  # defaults stay out
    tab.goto(address)  # a student opens the shared address: the same settings
    tab.wait_for_function("document.body.dataset.pgReady === '1'", timeout=15_000)
    assert tab.input_value("#pg-lr-0") == "0.02" and tab.input_value("#pg-param-i") == "1"


def test_presenter_keys_on_the_function_page(tab, browser_and_url):
    _, url = browser_and_url
    tab.goto(url + "?present=1&x-slider=2.8&descent-lr=0.3")
    tab.wait_for_selector("body[data-gradient-ready='1']")
    assert tab.input_value("#x-slider") == "2.8" and tab.input_value("#descent-lr") == "0.3"
    tab.click("#add-point")
    tab.wait_for_function("document.querySelectorAll('#points-table tbody tr').length == 1")
    tab.keyboard.press("d")
    assert tab.is_checked("#show-derivatives")
    tab.keyboard.press("r")
    tab.wait_for_function("Gradient.state.curve !== null")
    assert tab.is_checked("#reveal-function")
    tab.keyboard.press("Space")
    tab.wait_for_function("document.querySelectorAll('#descent-table tbody tr').length == 1")
    # the address is written 100 ms after the last change: wait for both settings in it
    tab.wait_for_function("location.search.includes('show-derivatives=1') && "
                          "location.search.includes('reveal-function=1')")
    tab.screenshot(path=str(ARTIFACTS / "10-presenter-function.png"), full_page=True)


def test_without_present_the_keys_do_nothing(tab, browser_and_url):
    _, url = browser_and_url
    tab.goto(url)
    tab.wait_for_selector("body[data-gradient-ready='1']")
    tab.keyboard.press("d")
    assert not tab.is_checked("#show-derivatives")
    assert not tab.is_visible("#present-keys")


@pytest.mark.parametrize("width", [390, 1280])
def test_both_pages_fit_a_phone_and_a_projector(browser_and_url, width):
    """Nothing wider than the screen; each canvas has one pixel per screen pixel, so its
    11 px labels stay 11 px on a phone."""
    browser, url = browser_and_url
    page = browser.new_page(viewport={"width": width, "height": 844})
    try:
        page.goto(url + "?page=playground&compare=1")
        page.wait_for_function("document.body.dataset.pgReady === '1'", timeout=15_000)
        page.click("#pg-step")
        page.wait_for_function("Number(document.body.dataset.steps || 0) === 1")
        page.wait_for_function("document.body.dataset.contours === '1'")
        page.screenshot(path=str(ARTIFACTS / f"11-playground-{width}px.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        sizes = page.eval_on_selector_all(
            "canvas", "cs => cs.filter(c => c.offsetParent).map(c => "
                      "[c.width, Math.round(c.clientWidth * devicePixelRatio)])")
        assert len(sizes) == 3 and all(abs(a - b) <= 1 for a, b in sizes), sizes
        page.click("#tab-gradient")
        page.wait_for_selector("body[data-gradient-ready='1']")
        page.set_viewport_size({"width": width, "height": 845})  # a resize redraws
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / f"12-function-{width}px.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        canvas = page.eval_on_selector(
            "#function-canvas", "c => [c.width, Math.round(c.clientWidth * devicePixelRatio)]")
        assert abs(canvas[0] - canvas[1]) <= 1
    finally:
        page.close()


def test_an_uploaded_column_name_is_text_not_html(tab, browser_and_url, tmp_path):
    _, url = browser_and_url
    tab.goto(url + "?page=playground&dataset=upload")
    tab.wait_for_selector("#pg-file")
    evil = tmp_path / "evil.csv"
    evil.write_text('a,"<img src=x onerror=window.hacked=1>"\n' + "".join(
        f"{k},{k % 2}\n" for k in range(20)))
    tab.set_input_files("#pg-file", str(evil))
    tab.wait_for_function("document.body.dataset.pgReady === '1'", timeout=15_000)
    assert tab.evaluate("window.hacked") is None
    assert "param-" not in tab.evaluate("location.search")  # w_1 and w_2: the defaults
    assert tab.eval_on_selector("#pg-target", "s => s.options[1].textContent").startswith("<img")
