"""``gdlab fit --embedding-dim D``: text and --categorical columns through learned embeddings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import gdlab as gd
from gdlab.cli import main


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(1)
    n = 300
    frame = pd.DataFrame({"age": rng.uniform(18, 80, n), "brand": rng.choice(list("PQRS"), n),
                          "district": rng.integers(1, 4, n), "exposure": rng.uniform(0.2, 1, n)})
    effect = frame["brand"].map({"P": -0.5, "Q": 0.0, "R": 0.4, "S": 0.8})
    frame["claims"] = rng.poisson(frame["exposure"] * 0.3 * np.exp(effect))
    path = tmp_path_factory.mktemp("embedding") / "claims.csv"
    frame.to_csv(path, index=False)
    return path


def _fit(data, out, *extra):
    return main(["fit", str(data), "--target", "claims", "--exposure", "exposure", "--model",
                 "poisson", "--validation-split", "0", "--quiet", "--out", str(out), *extra])


def test_embeddings_are_learned_saved_and_used_by_predict_and_evaluate(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert _fit(data, run, "--embedding-dim", "2", "--categorical", "district", "--hidden",
                "3", "--activation", "tanh", "--optimizer", "nadam", "--epochs", "30",
                "--batch-size", "32", "--learning-rate", "0.02") == 0
    saved = gd.train.saving.load_saved(run)
    model = saved.model
    assert saved.preprocessing.feature_names == ["age", "brand (code)", "district (code)"]
    assert [e.name for e in model.inputs.categorical] == ["brand", "district"]
    assert [e.E.shape for e in model.inputs.categorical] == [(4, 2), (3, 2)]
    assert "e^(brand)_{3,2}" in model.param_names
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train_deviance_explained"] > 0.03  # the brands' effect is learned
    capsys.readouterr()
    assert main(["evaluate", str(run), str(data), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["mean_deviance"] == pytest.approx(metrics["train_mean_deviance"], rel=1e-9)
    assert main(["predict", str(run), str(data), "--out", str(tmp_path / "p.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == 300


def test_an_unseen_level_at_predict_time_is_one_line(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert _fit(data, run, "--embedding-dim", "1", "--epochs", "1") == 0
    frame = pd.read_csv(data)
    frame.loc[3, "brand"] = "Z"
    frame.to_csv(tmp_path / "new.csv", index=False)
    code = main(["predict", str(run), str(tmp_path / "new.csv"), "--out",
                 str(tmp_path / "p.csv")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "'brand'" in err and "['Z']" in err and "not seen in training" in err


def test_embedding_dim_needs_a_categorical_column(data, tmp_path, capsys):
    code = _fit(data, tmp_path / "run", "--embedding-dim", "2", "--features", "age")
    err = capsys.readouterr().err
    assert code == 2 and "needs text or --categorical" in err
    with pytest.raises(SystemExit) as exit_:
        main(["fit", str(data), "--target", "claims", "--embedding-dim", "0", "--out",
              str(tmp_path / "x")])
    assert exit_.value.code == 2 and "--embedding-dim" in capsys.readouterr().err
