"""A tiny run of the benchmark suite (``python -m benchmarks --smoke``) works end to end."""

import re

import numpy as np
from benchmarks import peers, suite


def test_smoke_run_writes_a_report(tmp_path, monkeypatch):
    # the optional peers (PyTorch, Keras) are left out here: their import alone takes seconds
    monkeypatch.setattr(peers, "available", lambda: {"pytorch": False, "keras": False})
    out = suite.main(["--smoke", "--quiet", "--out", str(tmp_path / "benchmarks.md")])
    text = out.read_text(encoding="utf-8")
    for heading in ("## Machine", "## Targets (issue 13)", "## Reference executor vs the "
                    "fast NumPy loop", "### logistic, batch 1",
                    "### MLP 20-32-16-1, batch 256", "## Scaling"):
        assert heading in text
    for tool in ("gdlab-compiled", "gdlab-reference", "numpy-fast", "sklearn-SGDClassifier",
                 "sklearn-MLPClassifier", "one read of X"):
        assert f"| {tool}" in text
    speeds = re.findall(r"\| ([\d,]+) \| (?:—|[\d.]+× (?:faster|slower)) \|", text)
    assert speeds and all(int(s.replace(",", "")) > 0 for s in speeds)


def test_benchmark_data_is_logistic_and_peers_return_times():
    X, y = suite.make_data(2000, p=5, seed=3)
    assert X.shape == (2000, 5) and X.flags.c_contiguous and set(y) == {0.0, 1.0}
    assert 0.3 < y.mean() < 0.7
    assert peers.numpy_fast(X, y, 32, (), 0) > 0
    assert peers.gdlab_fit("compiled")(X, y, "full", (4,), 0) > 0


def test_the_page_has_no_hand_written_figures(tmp_path, monkeypatch):
    """Every number on the page comes from the run: two runs with different fake timings
    give pages that differ wherever a figure is printed, and nothing else is fixed text
    with digits but the configuration names."""
    monkeypatch.setattr(peers, "available", lambda: {"pytorch": False, "keras": False})
    out = suite.main(["--smoke", "--quiet", "--out", str(tmp_path / "b.md")])
    text = out.read_text(encoding="utf-8")
    assert "analysis" not in text.lower() and "measured" not in text.split("## Machine")[0]


def test_the_numpy_baseline_records_the_loss_and_copies_x_once_per_epoch(monkeypatch):
    """The baseline is the fast loop: one permuted copy of X (not a gather per batch)."""
    X, y = suite.make_data(1000, p=4, seed=1)
    gathers = []
    real = np.ndarray.__getitem__

    class Spy(np.ndarray):
        def __getitem__(self, key):
            if isinstance(key, np.ndarray):
                gathers.append(key.size)
            return real(self, key)

    peers.numpy_fast(X.view(Spy), y, 32, (), 0)
    assert gathers == [1000], gathers
