"""The CLI's runs: metrics of μ = E·ŷ, divergence said even with --quiet, file modes, no
leftovers, and which errors are one line (user errors) and which keep their traceback (bugs)."""

import json
import os
import stat

import numpy as np
import pandas as pd
import pytest

import gdlab as gd
from _cli import run
from gdlab.cli.fitting import metrics_for
from gdlab.train.saving import load_saved


def exact_rates(n=50, seed=0):
    """y = E·(2x + 5) exactly: a linear rate model with exposure fits it with zero error."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n)
    exposure = rng.uniform(0.2, 3.0, n)
    return x, exposure, exposure * (2.0 * x + 5.0)


def test_every_metric_of_a_model_with_exposure_is_of_mu():
    x, exposure, y = exact_rates()
    model = gd.Sequential([gd.Dense(1)], input_dim=1, seed=0)
    model.set_weights([np.array([[2.0]]), np.array([5.0])])
    model.compile(loss="mse")
    metrics = metrics_for(model, "linear", x[:, None], y, exposure)
    assert metrics["loss"] < 1e-25 and metrics["mse"] < 1e-25 and metrics["mae"] < 1e-12
    assert metrics["r2"] == pytest.approx(1.0, abs=1e-12)


def test_fit_and_evaluate_report_the_metrics_of_mu(tmp_path, capsys):
    x, exposure, y = exact_rates(n=80, seed=1)
    pd.DataFrame({"x": x, "e": exposure, "y": y}).to_csv(tmp_path / "d.csv", index=False)
    code, _, err = run(["fit", tmp_path / "d.csv", "--target", "y", "--exposure", "e",
                        "--model", "linear", "--batch-size", "full", "--optimizer", "adam",
                        "--learning-rate", "0.3", "--epochs", "40", "--executor", "numpy",
                        "--out", tmp_path / "r", "--quiet"], capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    for part in ("train", "val"):  # the loss of mse with exposure is the mse of μ
        assert metrics[f"{part}_mse"] == pytest.approx(metrics[f"{part}_loss"], rel=1e-12)
    code, out, _ = run(["evaluate", tmp_path / "r", tmp_path / "d.csv", "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["mse"] == pytest.approx(result["loss"], rel=1e-12)
    saved = load_saved(tmp_path / "r")
    X = saved.preprocessing.transform(pd.read_csv(tmp_path / "d.csv"))
    mu = saved.model.predict(X, exposure=exposure)[:, 0]
    r2 = 1 - np.sum((y - mu) ** 2) / np.sum((y - y.mean()) ** 2)
    assert result["r2"] == pytest.approx(r2, rel=1e-12) and result["r2"] > 0.9


@pytest.fixture
def steep(tmp_path):
    """A linear table on which SGD at η = 5 diverges within a few steps."""
    rng = np.random.default_rng(2)
    x = rng.normal(0.0, 3.0, 60)
    pd.DataFrame({"x": x, "y": 4.0 * x + rng.normal(size=60)}).to_csv(tmp_path / "s.csv",
                                                                     index=False)
    return tmp_path


@pytest.mark.parametrize("quiet", [True, False])
def test_a_divergence_is_said_on_stderr_and_recorded_even_when_quiet(steep, capsys, quiet):
    code, out, err = run(["fit", steep / "s.csv", "--target", "y", "--optimizer", "sgd",
                          "--learning-rate", "5", "--batch-size", "full", "--epochs", "30",
                          "--executor", "numpy", "--out", steep / "r",
                          *(["--quiet"] if quiet else [])], capsys)
    assert code == 0
    assert err.count("\n") == 1 and err.startswith("gdlab fit: warning: ") and "diverge" in err
    assert (out == "") == quiet
    diverged = json.loads((steep / "r" / "metrics.json").read_text())["diverged"]
    saved = load_saved(steep / "r")
    assert diverged == saved.model.history.diverged and diverged["epoch"] < 30
    assert diverged["message"] in err
    assert quiet or f"Diverged at epoch {diverged['epoch'] + 1} (see the warning above)." in out


def test_a_run_that_converges_records_no_divergence(steep, capsys):
    code, _, err = run(["fit", steep / "s.csv", "--target", "y", "--epochs", "2", "--quiet",
                        "--executor", "numpy", "--out", steep / "r"], capsys)
    assert code == 0 and err == ""
    assert json.loads((steep / "r" / "metrics.json").read_text())["diverged"] is None


# --- files: modes follow the umask, folders are synced, nothing is left behind -----------
@pytest.fixture
def umask():
    """Set the process umask for one test (and put the old one back)."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "file_mode", "folder_mode"),
                         [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700), (0o002, 0o664, 0o775)])
def test_a_run_folder_and_its_files_follow_the_umask(steep, capsys, umask, mask, file_mode,
                                                    folder_mode):
    umask(mask)
    code, _, err = run(["fit", steep / "s.csv", "--target", "y", "--epochs", "2", "--quiet",
                        "--executor", "numpy", "--out", steep / "new" / "r"], capsys)
    assert code == 0, err
    out = steep / "new" / "r"
    assert mode(out) == folder_mode and mode(out.parent) == folder_mode
    files = sorted(p for p in out.iterdir())
    assert {p.name for p in files} >= {"model.npz", "report.html", "metrics.json"}
    assert {p.name: mode(p) for p in files} == {p.name: file_mode for p in files}
    code, _, _ = run(["predict", out, steep / "s.csv", "--out", steep / "p.csv"], capsys)
    assert code == 0 and mode(steep / "p.csv") == file_mode


def test_saved_models_and_reports_follow_the_umask(tmp_path, umask):
    from gdlab.show import report

    umask(0o022)
    model = gd.Sequential([gd.Dense(1)], input_dim=1, seed=0)
    model.compile(loss="mse")
    assert mode(model.save(tmp_path / "m.npz")) == 0o644
    page = report.write_report(tmp_path / "report.html", report.Run("t", {}, {}, {}))
    assert mode(page) == 0o644


def synced_folders(monkeypatch):
    """Record which folders are fsynced (the fd of a folder, looked up when synced)."""
    synced, real = [], os.fsync

    def fsync(fd):
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            synced.append((info.st_dev, info.st_ino))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def identity(path):
    info = path.stat()
    return (info.st_dev, info.st_ino)


def test_the_parent_folder_is_synced_after_each_rename(tmp_path, monkeypatch, capsys):
    from gdlab.io.persistence import atomic_write

    synced = synced_folders(monkeypatch)
    atomic_write(tmp_path / "a" / "f.bin", lambda file: file.write(b"x"))
    assert synced == [identity(tmp_path / "a")]
    synced.clear()
    x, exposure, y = exact_rates(n=30)
    pd.DataFrame({"x": x, "y": y}).to_csv(tmp_path / "d.csv", index=False)
    code, _, err = run(["fit", tmp_path / "d.csv", "--target", "y", "--epochs", "1",
                        "--quiet", "--executor", "numpy", "--out", tmp_path / "r"], capsys)
    assert code == 0, err
    assert identity(tmp_path) in synced  # the run folder's rename into place
    assert identity(tmp_path / "r") in synced  # the files renamed inside it


def leftovers(folder):
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith("."))


def test_an_out_folder_that_appears_during_the_run_is_kept_and_nothing_is_left(
        tmp_path, capsys, monkeypatch):
    from gdlab.cli import fitting

    x, exposure, y = exact_rates(n=30)
    pd.DataFrame({"x": x, "y": y}).to_csv(tmp_path / "d.csv", index=False)
    real = fitting.run_fit

    def someone_else_writes_out(args, data, model, folder):
        text = real(args, data, model, folder)
        (tmp_path / "new" / "r").mkdir()
        (tmp_path / "new" / "r" / "theirs.txt").write_text("theirs")
        return text

    monkeypatch.setattr(fitting, "run_fit", someone_else_writes_out)
    code, _, err = run(["fit", tmp_path / "d.csv", "--target", "y", "--epochs", "1",
                        "--quiet", "--executor", "numpy", "--out", tmp_path / "new" / "r"],
                       capsys)
    assert code == 2 and "already exists" in err
    assert leftovers(tmp_path) == []
    assert [p.name for p in (tmp_path / "new" / "r").iterdir()] == ["theirs.txt"]


@pytest.mark.parametrize("failure", ["inside", "rename"])
def test_a_failed_run_leaves_no_partial_folder_nor_the_folders_it_made(tmp_path, monkeypatch,
                                                                      failure):
    from gdlab.cli.runs import RunFolder

    target = tmp_path / "a" / "b" / "r"
    if failure == "rename":
        real = os.replace

        def refuse(src, dst):
            if str(src).endswith(".partial"):
                raise OSError("disk full")
            return real(src, dst)

        monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"), RunFolder(target, force=False) as tmp:
        (tmp / "model.npz").write_bytes(b"x")
        if failure == "inside":
            raise OSError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_forced_run_puts_the_old_folder_back(tmp_path, monkeypatch):
    from gdlab.cli.runs import RunFolder

    target = tmp_path / "r"
    target.mkdir()
    (target / "old.txt").write_text("old")
    real = os.replace

    def refuse(src, dst):
        if str(src).endswith(".partial"):
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"), RunFolder(target, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["old.txt", "r"]


# --- errors: the user's are one line, gdlab's own bugs keep their traceback -------------
@pytest.mark.parametrize("bug", [KeyError("surprise"), ValueError("operands could not be "
                                                                  "broadcast together"),
                                 TypeError("unsupported operand")])
def test_an_internal_bug_keeps_its_traceback_and_status_1(steep, capsys, monkeypatch, bug):
    from gdlab.cli import fitting

    def broken(*args, **kwargs):
        raise bug

    monkeypatch.setattr(fitting, "run_fit", broken)
    code, _, err = run(["fit", steep / "s.csv", "--target", "y", "--out", steep / "r"], capsys)
    assert code == 1
    assert err.startswith("Traceback (most recent call last):") and "in broken" in err
    assert f"{type(bug).__name__}: " in err and "a bug in gdlab" in err.splitlines()[-1]
    assert not (steep / "r").exists() and leftovers(steep) == []


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--target", "nope"], "nope"),                       # an absent column
    (["--target", "y", "--model", "poisson"], "negative"),  # negative counts for Poisson
    (["--target", "y", "--validation-split", "0.99"], "validation"),
])
def test_user_errors_stay_one_line_with_status_2(steep, capsys, argv, fragment):
    code, _, err = run(["fit", steep / "s.csv", *argv, "--out", steep / "r"], capsys)
    assert code == 2 and err.count("\n") == 1 and fragment in err and "Traceback" not in err


# --- predict --out: a file that appears while the command runs is kept -----------------
@pytest.fixture
def fitted_run(steep, capsys):
    code, _, err = run(["fit", steep / "s.csv", "--target", "y", "--epochs", "1", "--quiet",
                        "--executor", "numpy", "--out", steep / "r"], capsys)
    assert code == 0, err
    return steep


def someone_else_writes(monkeypatch, target):
    """Make ``target`` appear (another process) while predict computes its predictions."""
    import importlib

    main_module = importlib.import_module("gdlab.cli.main")
    real = main_module._prediction_frame

    def frame_then_theirs(*args):
        target.write_text("theirs")
        return real(*args)

    monkeypatch.setattr(main_module, "_prediction_frame", frame_then_theirs)


@pytest.mark.parametrize("hard_links", [True, False])
def test_a_predictions_file_that_appears_during_predict_is_kept(fitted_run, capsys,
                                                               monkeypatch, hard_links):
    if not hard_links:  # a file system without them: the O_EXCL copy
        monkeypatch.setattr(os, "link", lambda *a: (_ for _ in ()).throw(
            OSError(1, "Operation not permitted")))
    target = fitted_run / "p.csv"
    someone_else_writes(monkeypatch, target)
    code, _, err = run(["predict", fitted_run / "r", fitted_run / "s.csv", "--out", target],
                       capsys)
    assert code == 2 and err.count("\n") == 1 and "appeared while the command ran" in err
    assert target.read_text() == "theirs"
    assert leftovers(fitted_run) == []


@pytest.mark.parametrize("hard_links", [True, False])
def test_predict_publishes_the_whole_file_and_force_replaces(fitted_run, capsys,
                                                             monkeypatch, hard_links):
    if not hard_links:
        monkeypatch.setattr(os, "link", lambda *a: (_ for _ in ()).throw(
            OSError(95, "Operation not supported")))
    target = fitted_run / "p.csv"
    code, out, err = run(["predict", fitted_run / "r", fitted_run / "s.csv", "--out", target],
                         capsys)
    assert code == 0, err
    first = pd.read_csv(target)
    assert len(first) == 60 and list(first.columns) == ["prediction"]
    someone_else_writes(monkeypatch, target)
    code, out, err = run(["predict", fitted_run / "r", fitted_run / "s.csv", "--out", target,
                          "--force"], capsys)
    assert code == 0, err
    assert pd.read_csv(target).equals(first) and leftovers(fitted_run) == []


def test_a_run_folder_taken_just_before_the_rename_is_kept(tmp_path, monkeypatch):
    from gdlab.cli import runs

    target, calls = tmp_path / "r", []
    real = runs.refuse_existing

    def taken_right_after_the_check(path, **kwargs):
        real(path, **kwargs)
        calls.append(path)
        if len(calls) == 2:  # the check before the rename: the name is taken right after it
            target.mkdir()
            (target / "theirs.txt").write_text("theirs")

    monkeypatch.setattr(runs, "refuse_existing", taken_right_after_the_check)
    with pytest.raises(runs.CommandError, match="appeared while the command ran"), \
            runs.RunFolder(target, force=False) as tmp:
        (tmp / "model.npz").write_bytes(b"x")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["r", "theirs.txt"]
