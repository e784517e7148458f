"""A tiny run of the embedding benchmark (``python -m benchmarks.embeddings --smoke``):
its page's structure and its correctness check, not its timings."""

import re

import numpy as np
import pytest
from benchmarks import embedding_peers as peers
from benchmarks import embeddings


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    # PyTorch and Keras are left out: their import alone takes seconds
    patch = pytest.MonkeyPatch()
    patch.setattr(peers, "available", lambda: {"pytorch": False, "keras": False})
    try:
        out = embeddings.main(["--smoke", "--quiet", "--out",
                               str(tmp_path_factory.mktemp("e") / "speed.md")])
    finally:
        patch.undo()
    return out.read_text(encoding="utf-8")


def test_the_page_has_every_section_and_says_how_it_was_made(page):
    assert page.startswith("# Embedding network: speed (smoke run")
    assert "Written by `python -m benchmarks.embeddings --smoke --quiet --out " in page
    for heading in ("## Machine", "## Summary (float32)", "### Batch 10,000", "### Batch 256",
                    "### Batch 32", "## Settings tried", "## Correctness (same run)"):
        assert heading in page
    assert "Not installed, so not measured: pytorch, keras." in page
    assert "Load average (1 min, 5 min) before the run" in page


def test_every_tool_is_timed_at_every_batch_size_with_a_ratio_to_the_numpy_loop(page):
    for batch in ("10,000", "256", "32"):
        table = page.split(f"### Batch {batch} ")[1].split("\n\n")[1]
        rows = [line for line in table.splitlines()[2:] if line.startswith("| ")]
        tools = [tuple(cell.strip() for cell in row.split("|")[1:3]) for row in rows]
        assert tools == [(t, d) for t in ("gdlab-compiled", "gdlab-reference", "numpy")
                         for d in ("float32",)] + [
            (t, "float64") for t in ("gdlab-compiled", "gdlab-reference", "numpy")]
        for row in rows:
            ratio = row.split("|")[6].strip()
            assert ratio == "baseline" or re.fullmatch(r"[\d.]+× (faster|slower)", ratio)
            assert float(row.split("|")[3].strip()) > 0
    summary = page.split("## Summary (float32)")[1].split("## Every tool")[0]
    assert len(re.findall(r"^\| (10,000|256|32) \|", summary, re.M)) == 3


def test_the_numpy_setting_kept_is_the_fastest_tried(page):
    tried = page.split("## Settings tried")[1].split("## Correctness")[0]
    rows = [line for line in tried.splitlines() if line.startswith("| ") and "numpy" in line]
    assert len(rows) == 6  # 3 batch sizes × 2 dtypes
    for row in rows:
        settings = dict(part.rsplit(": ", 1) for part in row.split("|")[4].strip().split("; "))
        assert {s.split(",")[0] for s in settings} == {"bincount", "add.at"}


def test_the_run_checks_the_executors_and_the_numpy_loop_compute_the_same_epoch(page):
    lines = page.split("## Correctness (same run)")[1].splitlines()
    rows = [line.split("|")[1:-1] for line in lines if line.startswith("| gdlab")
            or line.startswith("| NumPy")]
    assert len(rows) == 6
    for what, dtype, _batch, _rows, delta, first, second in rows:
        tolerance = 1e-12 if dtype.strip() == "float64" else 1e-5
        assert float(delta) < tolerance, (what, dtype, delta)
        assert abs(float(first) - float(second)) < tolerance * 10


def test_the_numpy_loop_matches_gdlab_step_for_step():
    """The baseline computes what gdlab computes: same θ after one epoch, same losses."""
    data = embeddings.make_data(600, seed=2)["float64"]
    model = embeddings.gdlab_model(3, "float64")
    theta = model.theta.copy()
    model.fit(data.X, data.y, exposure=data.exposure, batch_size=64, seed=5, verbose=0,
              executor="numpy")
    order = np.random.default_rng(5).permutation(600)
    for scatter in ("bincount", "add.at"):
        mine = theta.copy()
        losses = peers.numpy_epoch(data, 64, mine, order, scatter)
        np.testing.assert_allclose(mine, model.theta, rtol=0, atol=1e-12)
        np.testing.assert_allclose(losses, model.history.step_loss[0], rtol=1e-12)


def test_the_data_look_like_fremtpl2():
    data = embeddings.make_data(50_000)["float32"]
    assert data.X.dtype == np.float32 and data.X.shape == (50_000, 9)
    assert np.abs(data.numeric).max() <= 1.0
    assert [int(c.max()) + 1 for c in data.codes.T] == list(peers.LEVELS)
    assert 0 < data.exposure.min() and data.exposure.max() == 1.0
    assert 0.07 < data.y.sum() / data.exposure.sum() < 0.13
    assert set(np.unique(data.y)) <= {0, 1, 2, 3, 4}
