"""The report in a real browser: headless Chromium renders it at phone and laptop widths.

Chromium is driven through the DevTools protocol over ``--remote-debugging-pipe``
(NUL-separated JSON on file descriptors 3 and 4; no extra Python package). Every request
the page makes is seen as a ``Network.requestWillBeSent`` event of the page's own
session, so the browser's background traffic does not count. The browser's proxy points
at a closed port, so nothing can reach the network anyway. Screenshots are saved to
``test-artifacts/``.

Without Chromium the tests are skipped, except under CI (``CI`` set), where they fail.
"""

import base64
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import gdlab as gd
from _report_data import example_sweep_table
from gdlab.show.report import Run, write_report
from gdlab.show.report_figures import PHONE_DPI

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
WIDTHS = {"phone": (390, 844, True), "laptop": (1280, 800, False)}


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("Chromium is required in CI (the .ci/run script installs Debian's "
                    "'chromium'); it was not found on PATH.")
    pytest.skip("Chromium not found on PATH: install Debian's 'chromium' to run the "
                "browser tests of the report.")


class Browser:
    """Headless Chromium and one page, driven over the DevTools pipe."""

    def __init__(self, executable, profile):
        commands_read, self._write = os.pipe()
        self._read, replies_write = os.pipe()

        def wire():  # in the child: the pipe protocol wants fds 3 (in) and 4 (out)
            high_in = fcntl.fcntl(commands_read, fcntl.F_DUPFD, 10)  # out of the way of 3, 4
            high_out = fcntl.fcntl(replies_write, fcntl.F_DUPFD, 10)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--disable-extensions", "--mute-audio",
             "--hide-scrollbars", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
             f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=wire)  # the fds must be in place before exec
        os.close(commands_read)
        os.close(replies_write)
        self._buffer, self._id, self.events = b"", 0, []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.send(f"{domain}.enable", session=True)

    def _message(self, deadline):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method, params=None, *, session=False, timeout=30.0):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method and event.get("sessionId") == self.session:
                    self.events.remove(event)
                    return event
            self.events.append(self._message(deadline))

    def open(self, url, width, height, mobile):
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1,
                   "mobile": mobile}, session=True)
        self.events.clear()
        self.send("Page.navigate", {"url": url}, session=True)
        self.wait_for("Page.loadEventFired")

    def requested(self):
        """The URLs the page asked for since it was opened."""
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"
                and e.get("sessionId") == self.session]

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True}, session=True)
        return result["result"]["value"]

    def screenshot(self):
        size = self.send("Page.getLayoutMetrics", session=True)["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 4000),
                "scale": 1}
        shot = self.send("Page.captureScreenshot",
                         {"format": "png", "captureBeyondViewport": True, "clip": clip},
                         session=True)
        return Image.open(io.BytesIO(base64.b64decode(shot["data"])))

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except (TimeoutError, RuntimeError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._write)
        os.close(self._read)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = _chromium()
    session = Browser(executable, tmp_path_factory.mktemp("chromium-profile"))
    yield session
    session.close()


@pytest.fixture(scope="module")
def report_url(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(float)
    model = gd.Sequential([gd.Dense(1, activation="sigmoid")], input_dim=2, seed=0)
    model.compile(loss="binary_crossentropy", optimizer=gd.SGD(learning_rate=0.5))
    history = model.fit(X, y, batch_size=8, epochs=5, verbose=0, executor="numpy", trace=4, seed=0,
                        validation_split=0.25)
    sweep_table = example_sweep_table()
    run = Run(title="Browser test: logistic regression",
              data_summary={"file": "/home/someone/courses/deep-learning/claims.csv",
                            "rows": 40, "rows dropped (missing values)": 0,
                            "features": "x1, x2 (a rather long list of names "
                            "that must wrap on a phone rather than widen the page)"},
              model_summary={"layers": "Dense(1, sigmoid)"},
              settings={"variant": "mini-batch", "learning_rate": 0.5, "epochs": 5, "seed": 0},
              history=history, metrics={"loss": history.history["loss"][-1]},
              sweep_table=sweep_table, steps=list(history.trace), timing={"fit": 0.1})
    path = write_report(tmp_path_factory.mktemp("browser") / "report.html", run)
    return path.as_uri()


LAYOUT = """JSON.stringify({
  scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
  images: Array.from(document.images).map(i => [i.complete, i.naturalWidth,
                                                 i.getBoundingClientRect().right]),
  sections: Array.from(document.querySelectorAll('section')).map(s => s.id)})"""


@pytest.mark.parametrize("device", list(WIDTHS))
def test_report_renders_without_network_and_fits_the_screen(browser, report_url, device):
    width, height, mobile = WIDTHS[device]
    browser.open(report_url, width, height, mobile)
    requested = browser.requested()
    assert [url for url in requested if not url.startswith("data:image/png;base64,")] == [
        report_url], "the page asked for something besides itself and its embedded images"
    layout = json.loads(browser.evaluate(LAYOUT))
    # each figure has a phone and a wide rendering (<picture>): the browser may fetch both
    # when the viewport changes during the load, but never more than the page embeds
    embedded = browser.evaluate("document.documentElement.outerHTML.split("
                                "'data:image/png;base64,').length - 1")
    assert len(layout["images"]) + 1 <= len(requested) <= embedded + 1
    assert layout["innerWidth"] == width
    assert layout["scrollWidth"] <= width, "the page scrolls sideways"
    assert layout["sections"][:3] == ["trained", "metrics", "learning-curves"]
    assert layout["images"], "no image in the page"
    for complete, natural_width, right in layout["images"]:
        assert complete and natural_width > 300  # the embedded PNG decoded
        assert right <= width + 0.5  # and fits the screen
    picture = browser.screenshot()
    ARTIFACTS.mkdir(exist_ok=True)
    picture.save(ARTIFACTS / f"report-{device}.png")
    pixels = np.asarray(picture.convert("L"), dtype=float)
    assert pixels.shape[1] == width
    assert pixels.std() > 20, "the screenshot is blank"
    assert (pixels < 200).mean() > 0.02, "almost nothing was drawn"


def test_the_network_check_sees_a_page_that_loads_from_outside(browser, tmp_path):
    page = tmp_path / "leaky.html"
    page.write_text('<html><body><p>leak</p><img src="http://gdlab.invalid/pixel.png">'
                    '<link rel="stylesheet" href="https://gdlab.invalid/x.css"></body></html>')
    browser.open(page.as_uri(), 390, 844, True)
    requested = browser.requested()
    assert "http://gdlab.invalid/pixel.png" in requested
    assert "https://gdlab.invalid/x.css" in requested


PICTURES = """JSON.stringify({
  figures: Array.from(document.querySelectorAll('figure img')).map(i => ({
    phone: i.currentSrc !== i.src, offered: !!i.parentElement.querySelector('source'),
    natural: i.naturalWidth, shown: i.getBoundingClientRect().width})),
  cells: Array.from(document.querySelectorAll('table.kv td')).map(
    td => [td.textContent, td.getBoundingClientRect().width])})"""


@pytest.mark.parametrize("device", list(WIDTHS))
def test_figure_text_is_readable_and_card_values_are_not_crushed(browser, report_url, device):
    """10-point text of every figure is >= 9 CSS pixels high on a phone and a laptop (a
    7-inch figure merely scaled to a phone gives 6.7), and no value column of the cards
    is squeezed to a few letters (a long label once took the whole card)."""
    width, height, mobile = WIDTHS[device]
    browser.open(report_url, width, height, mobile)
    layout = json.loads(browser.evaluate(PICTURES))
    assert layout["figures"], "no figure in the page"
    for figure in layout["figures"]:
        assert figure["offered"], "a one-panel figure without a phone rendering"
        assert figure["phone"] == (device == "phone")  # each screen gets its rendering
        dpi = PHONE_DPI if figure["phone"] else 100
        ten_points = figure["shown"] / (figure["natural"] / dpi) * 10 / 72  # CSS pixels
        assert ten_points >= 9, f"10-point text is {ten_points:.1f} px on the {device}"
    for text, cell_width in layout["cells"]:
        assert cell_width >= 90, f"{text!r} squeezed into {cell_width:.0f} px"
