"""Every bad input to ``gdlab``: exit status 2, one line on stderr, nothing written."""

import gzip

import numpy as np
import pandas as pd
import pytest

from gdlab.cli import main


def table(n=60, seed=1):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.uniform(18, 80, n),
        "region": rng.choice(["north", "south"], n),
        "exposure": rng.uniform(0.1, 1.0, n),
        "claims": rng.poisson(0.3, n),
        "label": rng.choice(["yes", "no"], n),
        "cls": rng.choice(["a", "b", "c"], n),
    })


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def fails(argv, folder, capsys, *fragments):
    """Run; check status 2, a one-line message holding the fragments, nothing written."""
    before = listing(folder)
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    assert listing(folder) == before
    return err


@pytest.fixture
def work(tmp_path):
    table().to_csv(tmp_path / "good.csv", index=False)
    return tmp_path


def fit(work, *extra, data="good.csv", target="claims"):
    return ["fit", work / data, "--target", target, "--out", work / "run", "--epochs", "1",
            *extra]


def write(work, name, frame):
    frame.to_csv(work / name, index=False)
    return name


# --- files -----------------------------------------------------------------------------
def test_missing_file(work, capsys):
    fails(fit(work, data="absent.csv"), work, capsys, "absent.csv does not exist")


def test_unreadable_file(work, capsys):
    (work / "broken.csv.gz").write_bytes(b"this is not gzip")
    fails(fit(work, data="broken.csv.gz"), work, capsys, "Could not read")


def test_truncated_gzip(work, capsys):
    raw = gzip.compress((work / "good.csv").read_bytes())
    (work / "cut.csv.gz").write_bytes(raw[: len(raw) // 2])
    fails(fit(work, data="cut.csv.gz"), work, capsys, "Could not read")


def test_empty_file(work, capsys):
    (work / "empty.csv").write_text("")
    fails(fit(work, data="empty.csv"), work, capsys, "empty")


def test_header_only_file(work, capsys):
    (work / "header.csv").write_text("age,claims\n")
    fails(fit(work, data="header.csv"), work, capsys, "no rows")


def test_unknown_format(work, capsys):
    (work / "data.xlsx").write_bytes(b"PK")
    fails(fit(work, data="data.xlsx"), work, capsys, "Unknown data format", ".parquet")


# --- columns ---------------------------------------------------------------------------
def test_absent_target(work, capsys):
    fails(fit(work, target="nope"), work, capsys, "Target column(s) ['nope']", "available")


def test_absent_feature(work, capsys):
    fails(fit(work, "--features", "age,colour"), work, capsys, "Feature column(s) ['colour']")


def test_absent_exposure(work, capsys):
    fails(fit(work, "--model", "poisson", "--exposure", "expo"), work, capsys,
          "Exposure column(s) ['expo']")


def test_exposure_for_a_classifier(work, capsys):
    fails(fit(work, "--model", "logistic", "--exposure", "exposure", target="label"), work,
          capsys, "--exposure is for rate models")


# --- targets ---------------------------------------------------------------------------
def test_text_target_for_poisson(work, capsys):
    fails(fit(work, "--model", "poisson", target="label"), work, capsys,
          "holds text", "poisson model needs numbers")


def test_negative_counts_for_poisson(work, capsys):
    frame = table()
    frame.loc[[2, 5], "claims"] = -1
    name = write(work, "neg.csv", frame)
    fails(fit(work, "--model", "poisson", data=name), work, capsys, "2 negative value(s)")


def test_non_positive_amounts_for_gamma(work, capsys):
    fails(fit(work, "--model", "gamma"), work, capsys, "<= 0", "gamma")


def test_three_classes_for_logistic(work, capsys):
    fails(fit(work, "--model", "logistic", target="cls"), work, capsys,
          "3 classes", "--model softmax")


def test_constant_target(work, capsys):
    frame = table().assign(claims=1)
    fails(fit(work, data=write(work, "c.csv", frame)), work, capsys, "is constant")


# --- values ----------------------------------------------------------------------------
def test_missing_values_name_columns_and_counts(work, capsys):
    frame = table()
    frame.loc[[1, 2, 3], "age"] = np.nan
    frame.loc[[4], "region"] = None
    name = write(work, "na.csv", frame)
    fails(fit(work, data=name), work, capsys, "age (3 rows)", "region (1 rows)",
          "--drop-missing")


def test_all_missing_column(work, capsys):
    frame = table().assign(empty=np.nan)
    fails(fit(work, "--drop-missing", data=write(work, "e.csv", frame)), work, capsys,
          "['empty'] are entirely missing")


def test_constant_feature(work, capsys):
    frame = table().assign(const=3.0)
    fails(fit(work, data=write(work, "k.csv", frame)), work, capsys,
          "'const' is constant", "Drop it from --features")


def test_non_positive_exposure(work, capsys):
    frame = table()
    frame.loc[[0, 9], "exposure"] = [0.0, -0.5]
    fails(fit(work, "--model", "poisson", "--exposure", "exposure",
              data=write(work, "x.csv", frame)), work, capsys, "2 value(s) that are not > 0")


# --- flags -----------------------------------------------------------------------------
@pytest.mark.parametrize(("flag", "value", "fragment"), [
    ("--batch-size", "zero", "argument --batch-size: must be 'full', 1 or a positive integer"),
    ("--batch-size", "0", "--batch-size"),
    ("--epochs", "0", "argument --epochs: must be a positive integer"),
    ("--learning-rate", "-1", "argument --learning-rate: must be a number > 0"),
    ("--learning-rate", "nan", "--learning-rate"),
    ("--validation-split", "1.5", "must be a number in [0, 1)"),
    ("--hidden", "32,x", "must be layer sizes separated by commas"),
    ("--model", "cubic", "invalid choice: 'cubic'"),
    ("--optimizer", "lbfgs", "invalid choice"),
    ("--early-stopping", "-2", "--early-stopping"),
    ("--seed", "abc", "--seed"),
])
def test_bad_flag_values(work, capsys, flag, value, fragment):
    fails(fit(work, flag, value), work, capsys, fragment)


def test_missing_required_flag(work, capsys):
    fails(["fit", work / "good.csv", "--out", work / "run"], work, capsys,
          "the following arguments are required: --target")


def test_bad_learning_rates(work, capsys):
    fails(["lr-sweep", work / "good.csv", "--target", "claims", "--learning-rates", "0.1,-1",
           "--out", work / "s"], work, capsys, "must be rates > 0")


def test_validation_split_leaving_no_rows(work, capsys):
    small = write(work, "small.csv", table(n=3))
    fails(fit(work, "--validation-split", "0.9", "--features", "age", data=small), work,
          capsys, "leaves no training rows")


# --- outputs ---------------------------------------------------------------------------
def test_existing_out_folder_is_not_overwritten(work, capsys):
    (work / "run").mkdir()
    (work / "run" / "keep.txt").write_text("precious")
    fails(fit(work), work, capsys, "already exists", "--force")
    assert (work / "run" / "keep.txt").read_text() == "precious"


def test_existing_predictions_file_is_not_overwritten(work, capsys):
    (work / "p.csv").write_text("precious")
    fails(["predict", work / "model.npz", work / "good.csv", "--out", work / "p.csv"], work,
          capsys, "already exists")


def test_unknown_lecture_example(capsys, tmp_path):
    fails(["lecture", "no-such-example"], tmp_path, capsys, "no-such-example")


# --- saved models ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fitted")
    table().to_csv(folder / "good.csv", index=False)
    assert main(["fit", str(folder / "good.csv"), "--target", "claims", "--features",
                 "age,region", "--model", "poisson", "--exposure", "exposure", "--epochs", "2",
                 "--batch-size", "full", "--out", str(folder / "model_run"), "--quiet",
                 "--executor", "numpy"]) == 0
    return folder / "model_run"


def test_predict_with_an_unseen_category(work, fitted, capsys):
    frame = table().assign(region="west")
    name = write(work, "new.csv", frame)
    fails(["predict", fitted, work / name, "--out", work / "p.csv"], work, capsys,
          "'region' has categories not seen in training: ['west'] (60 rows)")


def test_predict_with_a_missing_column(work, fitted, capsys):
    name = write(work, "noage.csv", table().drop(columns="age"))
    fails(["predict", fitted, work / name, "--out", work / "p.csv"], work, capsys,
          "Feature column(s) ['age'] not in the data")


def test_evaluate_without_target_or_exposure(work, fitted, capsys):
    name = write(work, "notarget.csv", table().drop(columns="claims"))
    fails(["evaluate", fitted, work / name], work, capsys, "Target column(s) ['claims']")
    name = write(work, "noexp.csv", table().drop(columns="exposure"))
    fails(["evaluate", fitted, work / name], work, capsys, "Exposure column(s) ['exposure']")


def test_predict_with_a_truncated_model(work, fitted, capsys):
    raw = (fitted / "model.npz").read_bytes()
    (work / "cut.npz").write_bytes(raw[: len(raw) // 2])
    fails(["predict", work / "cut.npz", work / "good.csv", "--out", work / "p.csv"], work,
          capsys, "truncated or corrupted")


def test_predict_with_a_non_model_file(work, capsys):
    fails(["predict", work / "good.csv", work / "good.csv", "--out", work / "p.csv"], work,
          capsys, "not a gdlab model file")


def test_predict_with_a_folder_without_model(work, capsys):
    (work / "folder").mkdir()
    fails(["predict", work / "folder", work / "good.csv", "--out", work / "p.csv"], work,
          capsys, "without model.npz")


# --- outputs that cannot be made, other commands ---------------------------------------
def test_an_output_under_a_file_fails_at_once_without_naming_the_temporary(work, fitted,
                                                                             capsys, monkeypatch):
    from gdlab.cli import demo

    def never(*args, **kwargs):
        raise AssertionError("the demo trained before it could make its folder")

    monkeypatch.setattr(demo, "compare_variants", never)
    for argv in (["demo", "--out", work / "good.csv" / "d"],
                 ["predict", fitted, work / "good.csv", "--out", work / "good.csv" / "p.csv"],
                 fit(work)[:4] + ["--out", work / "good.csv" / "r"]):
        err = fails(argv, work, capsys, "Cannot write --out", "good.csv")
        assert ".tmp" not in err and ".partial" not in err


def test_predict_into_a_folder(work, fitted, capsys):
    (work / "p.csv").mkdir()
    fails(["predict", fitted, work / "good.csv", "--out", work / "p.csv"], work, capsys,
          "is a folder")


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_explore_with_a_bad_port(tmp_path, capsys, port):
    fails(["explore", "--port", port, "--no-browser"], tmp_path, capsys, "--port",
          "0…65535")


def test_explore_without_its_extra_says_what_to_install_once(tmp_path, capsys, monkeypatch):
    import sys

    for name in ("gdlab.explorer.server", "gdlab.explorer.app"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    for name in ("uvicorn", "starlette"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    err = fails(["explore", "--no-browser"], tmp_path, capsys, "is missing",
                'pip install "gdlab[explore]"')
    assert err.count("gdlab[explore]") == 1


def test_one_line_even_when_matplotlib_has_no_writable_home(tmp_path):
    """With a read-only or absent HOME (a container, a `nobody` job) matplotlib falls back
    to a temporary folder and says so in two lines on stderr: not the user's error."""
    import os
    import subprocess
    import sys

    (tmp_path / "home").write_text("a file, so no folder can be made under it")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    env["HOME"] = str(tmp_path / "home")
    result = subprocess.run([sys.executable, "-m", "gdlab.cli", "fit", str(tmp_path / "a.csv"),
                             "--target", "y", "--out", str(tmp_path / "r")], env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "does not exist" in result.stderr, result.stderr
