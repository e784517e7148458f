"""The textbook Poisson GLM with an offset (Venables & Ripley's MASS::Insurance), by `gdlab fit`.

Claims ~ District + Group + Age + offset(log Holders) has residual deviance 51.42 on 54 df.
District is stored as the numbers 1-4, so it is one-hot encoded with --categorical.
"""

import json
from pathlib import Path

import pytest

from gdlab.cli import main

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "MASS_Insurance.csv"

pytestmark = pytest.mark.skipif(not DATA.exists(), reason="../shared/data is not beside the repo")


def test_full_batch_poisson_fit_reaches_the_textbook_deviance(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["fit", str(DATA), "--target", "Claims", "--exposure", "Holders",
                 "--model", "poisson", "--categorical", "District", "--batch-size", "full",
                 "--optimizer", "adam", "--learning-rate", "0.05", "--epochs", "2000",
                 "--validation-split", "0", "--quiet", "--out", str(run)])
    assert code == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), str(DATA), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rows"] == 64
    assert result["mean_deviance"] * 64 == pytest.approx(51.42, abs=0.005)


def test_categorical_must_name_a_feature(tmp_path, capsys):
    code = main(["fit", str(DATA), "--target", "Claims", "--exposure", "Holders",
                 "--model", "poisson", "--categorical", "Districts", "--out",
                 str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Districts" in err and "not among the features" in err
    assert not (tmp_path / "run").exists()
