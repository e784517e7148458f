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
    assert "### Each seed" in page and "## Executors and timing" in page
    for name in fremtpl2.NETWORKS:  # which executor ran each fit, from history.params
        assert set(saved["models"][name]["executor"]["per_seed"]) <= {"numpy", "compiled"}
        assert saved["models"][name]["executor_reason"]["per_seed"][0].startswith("auto:")
        assert 0.5 < saved["models"][name]["learning_balance"]["mean"] < 2.0
    # Σμ̂/ΣN on the learning rows: 1 for the homogeneous model, near 1 for the GLM
    assert saved["models"]["homogeneous"]["learning_balance"]["mean"] == pytest.approx(1.0)
    assert saved["models"]["glm"]["learning_balance"]["mean"] == pytest.approx(1.0, abs=0.01)
    seconds = saved["seconds"]
    assert 0 < seconds["first_seed"] <= seconds["total"] and seconds["further_seed"] > 0
    rows = np.loadtxt(tmp_path / "a" / "test_rows.txt", dtype=int)
    again = fremtpl2.main(["--data", str(data), "--out", str(tmp_path / "b"), "--test-rows",
                           str(tmp_path / "a" / "test_rows.txt"), *fast])
    assert rows.size == 300 and again["test_rows"] == 300
    assert again["models"]["glm"]["test_deviance_x100"]["mean"] == pytest.approx(
        results["models"]["glm"]["test_deviance_x100"]["mean"], rel=1e-12)
    # --validation: 10 % of the learning rows held out, the test rows not used
    held = fremtpl2.main(["--data", str(data), "--out", str(tmp_path / "c"), "--test-rows",
                          str(tmp_path / "a" / "test_rows.txt"), "--validation", *fast])
    assert held["train_rows"] == 2430 and held["test_rows"] == 270
    assert held["held_out"].startswith("validation")
    train = np.setdiff1d(np.arange(3000), rows)
    assert held["observed_frequency"]["test"] == pytest.approx(  # held out of the learning rows
        _frequency(data, train[fremtpl2.split_rows(train.size, 1)]), rel=1e-12)
    fremtpl2.report.main([str(tmp_path / "a" / "results.json"), "--doc",
                          str(tmp_path / "chosen.md"), "--validation-results",
                          str(tmp_path / "c" / "results.json")])
    chosen = (tmp_path / "chosen.md").read_text()
    assert "| 1 | 2 / 2 |" in chosen and "This table uses the schedule of run 1." in chosen
    assert "No `--validation` runs" in page


def _frequency(path, rows):
    frame = fremtpl2.load(path)
    return frame["ClaimNb"].to_numpy()[rows].sum() / frame["Exposure"].to_numpy()[rows].sum()


def test_the_frequency_target_holds_on_every_seed_not_only_on_the_mean():
    results = {"models": {name: {"test_deviance_x100": {"mean": 31.0, "per_seed": [31.0] * 2},
                                 "average_frequency": {"per_seed": [0.0995, 0.1034]}}
                          for name in ("glm", "nn_embedding", "cann")},
               "observed_frequency": {"test": 0.1030}, "seconds": {"first_seed": 100.0}}
    results["models"]["glm"].update(test_deviance_x100={"mean": 31.5},
                                    statsmodels={"difference_x100": 0.002})
    measured = fremtpl2.report.targets(results)
    assert not measured["cann_frequency_gap_pp"]["met"]  # the mean, −0.155 pp, is inside
    assert measured["cann_frequency_gap_pp"]["value"] == pytest.approx(-0.35)
    assert measured["cann_below_glm"]["met"] and measured["seconds_first_seed"]["met"]


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
