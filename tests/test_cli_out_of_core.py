"""``gdlab fit`` on Parquet folders: read in memory, streamed (--stream, --memory-limit).
The --dask runs are in tests/test_dask.py (they use its cluster)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gdlab.cli import main
from gdlab.cli.parser import memory_size
from gdlab.train.saving import load_saved


def run(argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def write_folder(path):
    rng = np.random.default_rng(0)
    n = 2400
    frame = pd.DataFrame({"age": rng.uniform(18, 80, n),
                          "region": rng.choice(["north", "south"], n),
                          "exposure": rng.uniform(0.2, 1.0, n)})
    frame["claims"] = rng.poisson(frame["exposure"] * np.exp(-1 + 0.01 * frame["age"])) * 1.0
    path.mkdir()
    for number in range(3):
        frame.iloc[number * 800:(number + 1) * 800].to_parquet(
            path / f"part-{number}.parquet", row_group_size=200)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("cli") / "claims")


ARGS = ["--target", "claims", "--exposure", "exposure", "--model", "poisson",
        "--epochs", "2", "--batch-size", "64", "--quiet"]


def test_a_streamed_fit_writes_a_run_that_predict_uses(folder, tmp_path, capsys):
    code, _, err = run(["fit", folder, *ARGS, "--stream", "--out", tmp_path / "run"], capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["train_loss"] > 0 and metrics["val_loss"] > 0
    saved = load_saved(tmp_path / "run")
    assert saved.preprocessing.feature_names == ["age", "region=north", "region=south"]
    assert (tmp_path / "run" / "report.html").exists()
    code, _, err = run(["predict", tmp_path / "run", folder, "--out", tmp_path / "p.csv"],
                       capsys)
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "p.csv")) == 2400


def test_a_folder_within_the_memory_limit_is_read_in_memory(folder, tmp_path, capsys):
    code, _, err = run(["fit", folder, *ARGS, "--memory-limit", "1GB", "--out",
                        tmp_path / "mem"], capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "mem" / "metrics.json").read_text())
    assert "train_mean_deviance" in metrics  # the in-memory run's metrics
    code, _, err = run(["fit", folder, *ARGS, "--memory-limit", "10KB", "--out",
                        tmp_path / "big"], capsys)
    assert code == 0, err
    assert "train_mean_deviance" not in json.loads((tmp_path / "big" / "metrics.json")
                                                   .read_text())  # streamed


def test_bad_sizes_and_non_parquet_streams_are_one_line_errors(tmp_path, capsys):
    assert memory_size("2GB") == 2_000_000_000 and memory_size("500mb") == 500_000_000
    code, _, err = run(["fit", "x.parquet", "--target", "y", "--memory-limit", "lots",
                        "--out", tmp_path / "r"], capsys)
    assert code == 2 and "must be a size such as 2GB" in err
    pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0]}).to_csv(tmp_path / "t.csv", index=False)
    code, _, err = run(["fit", tmp_path / "t.csv", "--target", "y", "--stream", "--out",
                        tmp_path / "r"], capsys)
    assert code == 2 and "read Parquet" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(["lr-sweep", tmp_path / "t.csv", "--target", "y", "--learning-rates",
                        "0.1", "--dask", "local:x", "--out", tmp_path / "s"], capsys)
    assert code == 2 and "--dask local:N needs a number of workers" in err
