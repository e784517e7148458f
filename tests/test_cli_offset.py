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


# --- the metrics of a CANN run: the true exposure, the GLM's null model ------------------------
DEVIANCES = ("mean_deviance", "deviance_per_exposure", "null_mean_deviance",
             "deviance_explained")


@pytest.fixture(scope="module")
def rates(tmp_path_factory):
    """2,000 rows of claim counts with exposure, three features (seeded)."""
    rng = np.random.default_rng(15)
    n = 2000
    frame = pd.DataFrame({"age": rng.uniform(18, 80, n), "power": rng.integers(4, 12, n),
                          "area": rng.choice(list("ABCD"), n),
                          "exposure": rng.uniform(0.05, 1.0, n)})
    rate = 0.1 * np.exp(0.03 * (frame["age"] - 50) + 0.001 * (frame["age"] - 50) ** 2
                        + 0.1 * (frame["power"] - 8) + 0.3 * (frame["area"] == "D"))
    frame["claims"] = rng.poisson(frame["exposure"] * rate)
    path = tmp_path_factory.mktemp("rates") / "rates.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def rates_glm(rates, tmp_path_factory):
    run = tmp_path_factory.mktemp("rates_glm") / "glm"
    assert _fit(rates, run, "--batch-size", "full", "--epochs", "200", "--optimizer", "nadam",
                "--learning-rate", "0.05", "--validation-split", "0.25") == 0
    return run


def _still(data, glm, out, *extra):
    """A CANN run that stays at its start (SGD at η = 1e-12 for one full-batch step)."""
    return _fit(data, out, "--offset-model", str(glm), "--hidden", "4", "--activation", "tanh",
                "--epochs", "1", "--batch-size", "full", "--optimizer", "sgd",
                "--learning-rate", "1e-12", *extra)


def _metrics(run):
    return json.loads((run / "metrics.json").read_text())


def _evaluate(run, data, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(run), str(data), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_cann_at_its_start_has_the_glms_deviances_null_model_and_explained(
        rates, rates_glm, tmp_path, capsys):
    cann = tmp_path / "cann"
    assert _still(rates, rates_glm, cann, "--validation-split", "0.25") == 0
    glm, still = _metrics(rates_glm), _metrics(cann)
    assert glm["val_rows"] == still["val_rows"] == 500  # the same rows (same seed and split)
    for name in (f"{part}_{metric}" for part in ("train", "val") for metric in DEVIANCES):
        assert still[name] == pytest.approx(glm[name], rel=1e-9, abs=1e-12), name
    assert still["train_null_mean_deviance"] == glm["train_null_mean_deviance"]  # no model in it
    assert 0.02 < glm["train_deviance_explained"] < 0.5  # the GLM explains some, not all
    glm_eval, cann_eval = _evaluate(rates_glm, rates, capsys), _evaluate(cann, rates, capsys)
    for name in DEVIANCES:
        assert cann_eval[name] == pytest.approx(glm_eval[name], rel=1e-9, abs=1e-12), name


def _unit_deviance(y, mu):
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2 * (np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu))


def test_a_trained_canns_metrics_and_predictions_by_hand(rates, rates_glm, tmp_path, capsys):
    cann = tmp_path / "cann"
    assert _fit(rates, cann, "--offset-model", str(rates_glm), "--hidden", "6", "--activation",
                "tanh", "--epochs", "40", "--batch-size", "256", "--optimizer", "nadam",
                "--learning-rate", "0.01") == 0
    assert main(["predict", str(cann), str(rates), "--out", str(tmp_path / "p.csv")]) == 0
    assert main(["predict", str(rates_glm), str(rates), "--out", str(tmp_path / "g.csv")]) == 0
    frame, predicted = pd.read_csv(rates), pd.read_csv(tmp_path / "p.csv")
    saved = gd.train.saving.load_saved(cann)
    exp_z = saved.model.predict(saved.preprocessing.transform(frame))[:, 0]
    # rate = μ_RUN · exp(z) per unit exposure; prediction = e · rate, what y is compared with
    np.testing.assert_allclose(predicted["rate"], pd.read_csv(tmp_path / "g.csv")["rate"] * exp_z,
                               rtol=1e-12)
    e, y, mu = frame["exposure"].to_numpy(), frame["claims"].to_numpy(float), \
        predicted["prediction"].to_numpy()
    np.testing.assert_allclose(mu, e * predicted["rate"], rtol=1e-12)
    deviance, null = _unit_deviance(y, mu), _unit_deviance(y, e * y.sum() / e.sum())
    by_hand = {"mean_deviance": deviance.mean(), "deviance_per_exposure": deviance.sum() / e.sum(),
               "null_mean_deviance": null.mean(),
               "deviance_explained": 1 - deviance.sum() / null.sum()}
    fitted, evaluated = _metrics(cann), _evaluate(cann, rates, capsys)
    for name, value in by_hand.items():
        assert fitted[f"train_{name}"] == pytest.approx(value, rel=1e-9), name
        assert evaluated[name] == pytest.approx(value, rel=1e-9), name
    assert fitted["train_deviance_explained"] > _evaluate(rates_glm, rates, capsys)[
        "deviance_explained"] + 0.005  # the network adds the age² the GLM misses


def test_without_exposure_a_cann_has_the_glms_metrics_and_no_deviance_per_exposure(
        rates, tmp_path, capsys):
    def fit(out, *extra):
        return main(["fit", str(rates), "--target", "claims", "--features", "age,power,area",
                     "--model", "poisson", "--validation-split", "0", "--quiet", "--out",
                     str(out), *extra])

    assert fit(tmp_path / "glm", "--batch-size", "full", "--epochs", "100", "--optimizer",
               "nadam", "--learning-rate", "0.05") == 0
    assert fit(tmp_path / "cann", "--offset-model", str(tmp_path / "glm"), "--hidden", "4",
               "--epochs", "1", "--batch-size", "full", "--optimizer", "sgd",
               "--learning-rate", "1e-12") == 0
    glm, cann = _metrics(tmp_path / "glm"), _metrics(tmp_path / "cann")
    assert set(cann) == set(glm) and "train_deviance_per_exposure" not in cann  # e = 1: D / n
    for name in ("mean_deviance", "null_mean_deviance", "deviance_explained"):
        assert cann[f"train_{name}"] == pytest.approx(glm[f"train_{name}"], rel=1e-9), name
    y = pd.read_csv(rates)["claims"].to_numpy(float)
    assert cann["train_null_mean_deviance"] == pytest.approx(
        _unit_deviance(y, np.full_like(y, y.mean())).mean(), rel=1e-12)
    assert "deviance_per_exposure" not in _evaluate(tmp_path / "cann", rates, capsys)


@pytest.mark.parametrize("extra", [["--offset-model", "GLM"], ["--embedding-dim", "2",
                                                               "--categorical", "area"]],
                         ids=["offset-model", "embedding-dim"])
def test_a_streamed_fit_refuses_what_it_would_ignore(rates, rates_glm, tmp_path, capsys, extra):
    pytest.importorskip("pyarrow")
    parquet = tmp_path / "rates.parquet"
    pd.read_csv(rates).to_parquet(parquet)
    extra = [str(rates_glm) if value == "GLM" else value for value in extra]
    code = _fit(parquet, tmp_path / "run", "--stream", "--hidden", "4", "--epochs", "1", *extra)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"{extra[0]} needs DATA in memory" in err, err
    assert not (tmp_path / "run").exists()
