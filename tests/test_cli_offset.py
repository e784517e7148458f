"""``gdlab fit --offset-model RUN`` (a CANN from the command line) and ``--optimizer nadam``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import gdlab as gd
from gdlab.cli import main


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"age": rng.uniform(18, 80, n), "power": rng.integers(4, 12, n),
                          "area": rng.choice(list("ABC"), n),
                          "exposure": rng.uniform(0.2, 1.0, n)})
    rate = 0.3 * np.exp(0.02 * (frame["age"] - 50) + 0.002 * (frame["age"] - 50) ** 2)
    frame["claims"] = rng.poisson(frame["exposure"] * rate)
    path = tmp_path_factory.mktemp("offset") / "claims.csv"
    frame.to_csv(path, index=False)
    return path


def _fit(data, out, *extra, model="poisson", target="claims"):
    return main(["fit", str(data), "--target", target, "--exposure", "exposure",
                 "--model", model, "--validation-split", "0", "--quiet", "--out", str(out),
                 *extra])


@pytest.fixture(scope="module")
def glm_run(data, tmp_path_factory):
    run = tmp_path_factory.mktemp("glm") / "glm"
    assert _fit(data, run, "--features", "age,area", "--batch-size", "full", "--epochs",
                "300", "--optimizer", "nadam", "--learning-rate", "0.05") == 0
    return run


def test_the_offset_fit_starts_at_the_glm_and_predict_applies_the_offset(data, glm_run,
                                                                          tmp_path, capsys):
    still = tmp_path / "still"  # a learning rate of 1e-12: the fit stays at its start
    assert _fit(data, still, "--offset-model", str(glm_run), "--hidden", "4",
                "--activation", "tanh", "--epochs", "1", "--learning-rate", "1e-12") == 0
    capsys.readouterr()
    frame = pd.read_csv(data)
    predictions = {}
    for run in (glm_run, still):
        assert main(["predict", str(run), str(data), "--out", str(run / "p.csv")]) == 0
        predictions[run] = pd.read_csv(run / "p.csv")
    np.testing.assert_allclose(predictions[still]["prediction"],
                               predictions[glm_run]["prediction"], rtol=1e-9)
    assert json.loads((still / "metrics.json").read_text())["train_mean_deviance"] == \
        pytest.approx(json.loads((glm_run / "metrics.json").read_text())["train_mean_deviance"],
                      rel=1e-9)
    saved = gd.train.saving.load_saved(still)
    assert saved.metadata["offset_model"] == str(glm_run.resolve())
    assert len(frame) == len(predictions[still])


def test_the_network_improves_on_the_glm_and_evaluate_agrees(data, glm_run, tmp_path, capsys):
    cann = tmp_path / "cann"
    assert _fit(data, cann, "--offset-model", str(glm_run), "--hidden", "6", "--activation",
                "tanh", "--epochs", "150", "--batch-size", "64", "--optimizer", "nadam",
                "--learning-rate", "0.01") == 0
    capsys.readouterr()
    deviance = {}
    for run in (glm_run, cann):
        assert main(["evaluate", str(run), str(data), "--json"]) == 0
        deviance[run] = json.loads(capsys.readouterr().out)["mean_deviance"]
    assert deviance[cann] < 0.97 * deviance[glm_run]  # the age² the GLM misses
    fit_metrics = json.loads((cann / "metrics.json").read_text())
    assert fit_metrics["train_mean_deviance"] == pytest.approx(deviance[cann], rel=1e-9)


@pytest.mark.parametrize(("extra", "message"), [
    (["--model", "tweedie"], "is a poisson model; this fit is --model tweedie"),
    (["--model", "linear"], "needs a log-link model"),
    (["--target", "power"], "predicts 'claims', not --target 'power'"),
], ids=["other-kind", "not-log-link", "other-target"])
def test_an_offset_run_of_another_kind_or_target_is_refused(data, glm_run, tmp_path, capsys,
                                                             extra, message):
    model = extra[1] if extra[0] == "--model" else "poisson"
    target = extra[1] if extra[0] == "--target" else "claims"
    code = _fit(data, tmp_path / "run", "--offset-model", str(glm_run), model=model,
                target=target)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "run").exists()


def test_data_without_the_offset_runs_features_or_with_zero_exposure_is_refused(
        data, glm_run, tmp_path, capsys):
    frame = pd.read_csv(data)
    frame.drop(columns="area").to_csv(tmp_path / "no_area.csv", index=False)
    assert _fit(tmp_path / "no_area.csv", tmp_path / "a", "--offset-model", str(glm_run)) == 2
    err = capsys.readouterr().err
    assert "offset-model" in err and "'area'" in err and err.count("\n") == 1
    frame.loc[5, "exposure"] = 0.0
    frame.to_csv(tmp_path / "zero.csv", index=False)
    assert _fit(tmp_path / "zero.csv", tmp_path / "b", "--offset-model", str(glm_run)) == 2
    err = capsys.readouterr().err
    assert "exposure" in err.lower() and err.count("\n") == 1


def test_an_offset_run_must_be_a_rate_model(data, tmp_path, capsys):
    frame = pd.read_csv(data)
    frame["big"] = (frame["claims"] > 0).astype(int)
    frame.to_csv(tmp_path / "d.csv", index=False)
    logistic = tmp_path / "logistic"
    assert main(["fit", str(tmp_path / "d.csv"), "--target", "big", "--features", "age",
                 "--model", "logistic", "--epochs", "1", "--quiet", "--out",
                 str(logistic)]) == 0
    code = _fit(tmp_path / "d.csv", tmp_path / "run", "--offset-model", str(logistic))
    err = capsys.readouterr().err
    assert code == 2 and "is a logistic model" in err
