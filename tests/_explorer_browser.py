"""The explorer served on a free port with a headless Chromium driven by Playwright, shared
by the browser tests. Skips without Playwright or Chromium, unless ``CI`` is set: then a
missing piece is a failure."""

import contextlib
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "explorer"
CHROMIUM = os.environ.get("GDLAB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _require(ok, reason):
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
        pytest.skip(reason)


@contextlib.contextmanager
def explorer_in_chromium():
    """Yield (browser, url): the explorer's server and a launched Chromium."""
    try:
        from playwright.sync_api import sync_playwright

        from gdlab.explorer.server import ExplorerServer
    except ImportError as error:
        _require(False, f"the browser tests need the test extra: {error}")
    _require(Path(CHROMIUM).exists() or shutil.which(CHROMIUM),
             f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with ExplorerServer(port=0) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser, server.url
        browser.close()
