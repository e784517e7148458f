"""``gdlab fit`` on Parquet folders: read in memory, streamed (--stream, --memory-limit),
on Dask (--dask); the streamed and Dask runs' metrics.json equals the in-memory metrics.
More --dask runs are in tests/test_dask.py (they use its cluster)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from _cli import run
from gdlab.cli.fitting import metrics_for
from gdlab.cli.outofcore import _split
from gdlab.cli.parser import memory_size
from gdlab.io.parquet import ParquetSource
from gdlab.train.saving import load_saved


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
    assert "<td>streamed</td>" in (tmp_path / "big" / "report.html").read_text()
    assert "<td>streamed</td>" not in (tmp_path / "mem" / "report.html").read_text()


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


# --- the streamed run's metrics are the in-memory metrics of the same rows ----------------
def write_kinds_folder(path):
    """4 files × 3 row groups of 250 rows: a count with exposure, a 0/1, a class, a number."""
    rng = np.random.default_rng(1)
    n = 3000
    frame = pd.DataFrame({"age": rng.uniform(18, 80, n), "power": rng.normal(size=n),
                          "region": rng.choice(["north", "south", "east"], n),
                          "exposure": rng.uniform(0.2, 1.0, n)})
    z = 0.02 * (frame["age"] - 50) + 0.5 * frame["power"]
    frame["claims"] = rng.poisson(frame["exposure"] * np.exp(-1 + z)) * 1.0
    frame["lapsed"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))) * 1.0
    frame["band"] = np.digitize(z + rng.normal(scale=0.5, size=n), [-0.5, 0.5]) * 1.0
    frame["amount"] = 3 + 2 * z + rng.normal(size=n)
    path.mkdir()
    for number in range(4):
        frame.iloc[number * 750:(number + 1) * 750].to_parquet(
            path / f"part-{number}.parquet", row_group_size=250)
    return path


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    return write_kinds_folder(tmp_path_factory.mktemp("kinds") / "policies")


TARGETS = {"poisson": ("claims", "exposure"), "logistic": ("lapsed", None),
           "softmax": ("band", None), "linear": ("amount", "exposure")}


def _frame(source):
    """The rows of a ParquetSource's row groups, in its order, as one table."""
    return pd.concat([piece.fragment.to_table().to_pandas() for piece in source.pieces],
                     ignore_index=True)


def _in_memory_metrics(run_folder, source, kind, target, exposure):
    saved = load_saved(run_folder)
    frame = _frame(source)
    X = saved.preprocessing.transform(frame)
    return metrics_for(saved.model, kind, X, frame[target].to_numpy(float),
                       None if exposure is None else frame[exposure].to_numpy(float))


def _assert_same(recorded, expected, prefix):
    assert sorted(k for k in recorded if k.startswith(prefix)) == sorted(
        prefix + k for k in expected)
    for key, value in expected.items():
        assert recorded[prefix + key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


@pytest.mark.parametrize("kind", list(TARGETS))
def test_a_streamed_runs_metrics_are_those_of_the_rows_in_memory(kinds, kind, tmp_path,
                                                                 capsys):
    target, exposure = TARGETS[kind]
    argv = ["fit", kinds, "--stream", "--target", target, "--model", kind,
            "--features", "age,power,region", "--epochs", "2", "--batch-size", "128",
            "--hidden", "3", "--validation-split", "0.3", "--seed", "2",
            "--out", tmp_path / "run", *(["--exposure", exposure] if exposure else [])]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    recorded = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "(streamed)." in out  # the in-memory run's table of metrics, printed
    assert all(key[len("train_"):] in out for key in recorded
               if key.startswith("train_") and key != "train_rows")
    source = ParquetSource(kinds, target=target, exposure=exposure)
    train, validation = _split(source, 0.3, 2)  # the run's row groups
    assert 0 < validation.n_rows < 1500 and train.n_rows + validation.n_rows == 3000
    for prefix, part in (("train_", train), ("val_", validation)):
        expected = _in_memory_metrics(tmp_path / "run", part, kind, target, exposure)
        _assert_same(recorded, expected, prefix)
    if kind == "poisson":  # the null model is the rate Σy/Σe of the training rows
        assert {"train_deviance_per_exposure", "val_null_mean_deviance",
                "train_deviance_explained"} <= set(recorded)


@pytest.fixture(scope="module")
def address():
    distributed = pytest.importorskip("distributed")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dask's own notices (ports, dashboard)
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
    yield cluster.scheduler_address
    cluster.close()


def test_a_dask_runs_metrics_are_those_of_all_rows_in_memory(kinds, address, tmp_path,
                                                            capsys):
    """--dask trains on all rows (no validation split): train_* only, summed on the
    workers block by block."""
    argv = ["fit", kinds, "--dask", address, "--target", "claims", "--exposure", "exposure",
            "--model", "poisson", "--features", "age,power,region", "--epochs", "3",
            "--batch-size", "full", "--validation-split", "0", "--quiet",
            "--out", tmp_path / "run"]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    recorded = json.loads((tmp_path / "run" / "metrics.json").read_text())
    source = ParquetSource(kinds, target="claims", exposure="exposure")
    expected = _in_memory_metrics(tmp_path / "run", source, "poisson", "claims", "exposure")
    _assert_same(recorded, expected, "train_")
    assert not any(key.startswith("val_") for key in recorded)


def test_a_streamed_sweep_runs_each_rate_as_a_dask_task(kinds, address, tmp_path, capsys):
    common = ["--target", "claims", "--exposure", "exposure", "--model", "poisson",
              "--features", "age,power,region", "--epochs", "3", "--batch-size", "full",
              "--learning-rates", "0.01,0.3,30", "--quiet"]
    code, _, err = run(["lr-sweep", kinds, *common, "--stream", "--dask", address,
                        "--out", tmp_path / "dask"], capsys)
    assert code == 0, err
    code, _, err = run(["lr-sweep", kinds, *common, "--out", tmp_path / "memory"], capsys)
    assert code == 0, err
    on_dask = pd.read_csv(tmp_path / "dask" / "sweep.csv")
    memory = pd.read_csv(tmp_path / "memory" / "sweep.csv")
    for column in ("initial_loss", "final_loss", "best_loss"):
        np.testing.assert_allclose(on_dask[column], memory[column], rtol=1e-9)
    assert on_dask["verdict"].tolist() == memory["verdict"].tolist()
    assert "streamed, Dask" in (tmp_path / "dask" / "report.html").read_text()
