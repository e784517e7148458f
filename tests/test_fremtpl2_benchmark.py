"""The freMTPL2 table script (``python -m benchmarks.fremtpl2``) end to end on a small
synthetic table with freMTPL2freq's columns (the real data stay outside the repository)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from benchmarks import fremtpl2


def _table(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "IDpol": np.arange(1, n + 1),
        "Exposure": np.round(rng.uniform(0.05, 1.5, n), 3),
        "Area": rng.choice(list("ABCDEF"), n),
        "VehPower": rng.integers(4, 16, n),
        "VehAge": rng.integers(0, 30, n),
        "DrivAge": rng.integers(18, 95, n),
        "BonusMalus": rng.integers(50, 200, n),
        "VehBrand": rng.choice([f"B{k}" for k in (1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14)], n),
        "VehGas": rng.choice(["Regular", "Diesel"], n),
        "Density": rng.integers(1, 27000, n),
        "Region": rng.choice([f"R{k}" for k in range(11, 33)], n),
    })
    rate = 0.1 * np.exp(0.01 * (frame["BonusMalus"] - 100) - 0.01 * (frame["DrivAge"] - 45))
    frame.insert(1, "ClaimNb", rng.poisson(np.minimum(frame["Exposure"], 1) * rate))
    frame.loc[:4, "ClaimNb"] = 7  # capped at 4 by the protocol
    return frame


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("fremtpl2") / "freMTPL2freq.csv.gz"
    _table().to_csv(path, index=False)
    return path


def test_the_table_is_written_and_reproducible_from_the_row_file(data, tmp_path):
    fast = ["--epochs", "2", "--cann-epochs", "2", "--glm-steps", "150", "--batch-size", "500"]
    results = fremtpl2.main(["--data", str(data), "--out", str(tmp_path / "a"),
                             "--doc", str(tmp_path / "page.md"), "--seeds", "2", *fast])
    saved = json.loads((tmp_path / "a" / "results.json").read_text())
    assert set(saved["models"]) == set(fremtpl2.MODELS)
    assert saved["train_rows"] == 2700 and saved["test_rows"] == 300
    for name, entry in saved["models"].items():
        for key in ("train_deviance_x100", "test_deviance_x100", "average_frequency",
                    "seconds"):
            assert len(entry[key]["per_seed"]) == 2 and np.isfinite(entry[key]["mean"]), name
        assert entry["parameters"] > 0
    assert saved["models"]["nn_embedding"]["parameters"] == 792
    assert saved["models"]["nn_one_hot"]["parameters"] == 1306
    check = saved["models"]["glm"]["statsmodels"]
    assert abs(check["difference_x100"]) < 0.05  # gradient descent reaches the MLE
    # the CANN starts at the GLM: two epochs keep it near the GLM's test deviance
    assert saved["models"]["cann"]["test_deviance_x100"]["mean"] == pytest.approx(
        saved["models"]["glm"]["test_deviance_x100"]["mean"], abs=2.0)
    table = (tmp_path / "a" / "table.md").read_text()
    assert "| CANN (GLM + embedding network) | " in table and "| observed |" in table
    page = (tmp_path / "page.md").read_text()
    assert "SSRN" in page and "31.45" in page and "## Targets (issue 15)" in page
    fremtpl2.report.main([str(tmp_path / "a" / "results.json"), "--doc",
                          str(tmp_path / "again.md")])
    assert (tmp_path / "again.md").read_text() == page
    fremtpl2.report.main([str(tmp_path / "a" / "results.json"), "--doc",
                          str(tmp_path / "seeds.md"), "--seeds-results",
                          str(tmp_path / "a" / "results.json")])
    assert "## Over 2 seeds" in (tmp_path / "seeds.md").read_text()
    rows = np.loadtxt(tmp_path / "a" / "test_rows.txt", dtype=int)
    again = fremtpl2.main(["--data", str(data), "--out", str(tmp_path / "b"), "--test-rows",
                           str(tmp_path / "a" / "test_rows.txt"), *fast])
    assert rows.size == 300 and again["test_rows"] == 300
    assert again["models"]["glm"]["test_deviance_x100"]["mean"] == pytest.approx(
        results["models"]["glm"]["test_deviance_x100"]["mean"], rel=1e-12)


def test_bad_row_files_and_data_are_refused(data, tmp_path):
    bad = tmp_path / "rows.txt"
    bad.write_text("1\n5\n5\n")
    with pytest.raises(ValueError, match="distinct row positions"):
        fremtpl2.read_rows(bad, 3000)
    bad.write_text("1\n3000\n")
    with pytest.raises(ValueError, match=r"in \[0, 3000\)"):
        fremtpl2.read_rows(bad, 3000)
    frame = _table(50)
    frame.loc[3, "Exposure"] = 0.0
    frame.to_csv(tmp_path / "zero.csv", index=False)
    with pytest.raises(ValueError, match=r"Exposure must be > 0.*rows \[3\]"):
        fremtpl2.load(tmp_path / "zero.csv")
    frame.drop(columns="Region").to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(ValueError, match="Region"):
        fremtpl2.load(tmp_path / "short.csv")
