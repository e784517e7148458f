"""A tiny run of the benchmark suite (``python -m benchmarks --smoke``) works end to end."""

import re

from benchmarks import peers, suite


def test_smoke_run_writes_a_report(tmp_path, monkeypatch):
    # the optional peers (PyTorch, Keras) are left out here: their import alone takes seconds
    monkeypatch.setattr(peers, "available", lambda: {"pytorch": False, "keras": False})
    out = suite.main(["--smoke", "--quiet", "--out", str(tmp_path / "benchmarks.md")])
    text = out.read_text(encoding="utf-8")
    for heading in ("## Machine", "## Targets (issue 7)", "## Reference executor vs the "
                    "hand-written NumPy loop (issue 2)", "### logistic, batch 1",
                    "### MLP 20-32-16-1, batch 256", "## Scaling"):
        assert heading in text
    for tool in ("gdlab-compiled", "gdlab-reference", "hand-numpy", "sklearn-SGDClassifier",
                 "sklearn-MLPClassifier", "one read of X"):
        assert f"| {tool}" in text
    speeds = re.findall(r"\| ([\d,]+) \| (?:—|[\d.]+× (?:faster|slower)) \|", text)
    assert speeds and all(int(s.replace(",", "")) > 0 for s in speeds)


def test_benchmark_data_is_logistic_and_peers_return_times():
    X, y = suite.make_data(2000, p=5, seed=3)
    assert X.shape == (2000, 5) and X.flags.c_contiguous and set(y) == {0.0, 1.0}
    assert 0.3 < y.mean() < 0.7
    assert peers.hand_numpy(X, y, 32, (), 0) > 0
    assert peers.gdlab_epoch("compiled")(X, y, "full", (4,), 0) > 0
