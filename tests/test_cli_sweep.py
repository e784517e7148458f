"""gdlab.train.sweep.learning_rate_sweep: same θ₀ for every rate, model unchanged, verdicts."""

import numpy as np
import pandas as pd
import pytest

import gdlab as gd
from _cli import run
from gdlab.train.sweep import COLUMNS, learning_rate_sweep, verdicts


def line_data():
    X = np.linspace(-2, 2, 40)[:, None]
    return X, 3 * X[:, 0] + 1


def model():
    m = gd.Sequential([gd.Dense(1)], input_dim=1, seed=4)
    m.compile(loss="mse", optimizer=gd.SGD(0.05))
    return m


def test_every_run_starts_from_the_models_theta_and_leaves_it_unchanged():
    X, y = line_data()
    m = model()
    theta0 = m.theta.copy()
    result = learning_rate_sweep(m, X, y, [0.1, 0.01], epochs=3, executor="numpy")
    assert m.theta.tobytes() == theta0.tobytes() and m.step_count == 0
    assert result.table["learning_rate"].tolist() == [0.01, 0.1]
    assert list(result.table.columns) == COLUMNS
    # one full-batch step by hand from θ0 reproduces each run's first epoch loss
    for rate, history in result.histories.items():
        w, b = theta0
        assert history.history["loss"][0] == pytest.approx(np.mean((w * X[:, 0] + b - y) ** 2))
        grad = np.array([np.mean(2 * (w * X[:, 0] + b - y) * X[:, 0]),
                         np.mean(2 * (w * X[:, 0] + b - y))])
        w1, b1 = theta0 - rate * grad
        assert history.history["loss"][1] == pytest.approx(np.mean((w1 * X[:, 0] + b1 - y) ** 2))


def test_divergence_is_recorded_not_raised():
    X, y = line_data()
    result = learning_rate_sweep(model(), X, y, [0.001, 0.2, 2.0], epochs=30, executor="numpy")
    table = result.table
    assert table["diverged"].tolist() == [False, False, True]
    assert table["verdict"].tolist() == ["too small", "good", "too large"]
    assert np.isinf(table["final_loss"].iloc[2])
    assert table["diverged_epoch"].iloc[2] is not None
    assert table["steps_run"].iloc[0] == 30 and table["steps_run"].iloc[2] < 30
    assert table["best_loss"].iloc[1] <= table["final_loss"].iloc[1] + 1e-12


def test_optimizer_kinds_and_minibatches():
    X, y = line_data()
    for optimizer in ("momentum", "adam", gd.RMSprop(0.5)):
        result = learning_rate_sweep(model(), X, y, [0.01, 0.1], epochs=2, batch_size=8,
                                     optimizer=optimizer, executor="numpy")
        assert (result.table["steps_run"] == 10).all()


def test_unbuilt_model_gets_its_seeded_theta0():
    X, y = line_data()
    m = gd.Sequential([gd.Dense(1)], seed=4)
    m.compile(loss="mse")
    result = learning_rate_sweep(m, X, y, [0.1], epochs=1, executor="numpy")
    assert result.table["initial_loss"].iloc[0] == pytest.approx(
        learning_rate_sweep(model(), X, y, [0.1], epochs=1, executor="numpy").table[
            "initial_loss"].iloc[0])
    assert not m.built


def test_verdict_rule():
    table = pd.DataFrame({"learning_rate": [0.1, 0.3, 1.0, 3.0, 9.0],
                          "initial_loss": [2.0] * 5, "final_loss": [0.8, 0.64, 0.5, 0.9, 3.0],
                          "diverged": [False] * 5})
    # best gap 1.5: 0.3 closed 1.36 >= 0.9 * 1.5 → good; 0.1 closed 1.2 < 1.35 (below the
    # best rate) → too small; 3.0 closed 1.1 < 1.35 (above) → too large; 9.0 went up
    assert verdicts(table) == ["too small", "good", "good", "too large", "too large"]


def test_bad_arguments():
    X, y = line_data()
    with pytest.raises(ValueError, match="learning_rates"):
        learning_rate_sweep(model(), X, y, [0.1, -1.0], epochs=1)
    with pytest.raises(ValueError, match="empty"):
        learning_rate_sweep(model(), X, y, [], epochs=1)
    uncompiled = gd.Sequential([gd.Dense(1)], input_dim=1)
    with pytest.raises(ValueError, match="compiled"):
        learning_rate_sweep(uncompiled, X, y, [0.1], epochs=1)


# --- gdlab lr-sweep --stream, and a ParquetSource in learning_rate_sweep -------------------


@pytest.fixture(scope="module")
def claims(tmp_path_factory):
    from test_cli_out_of_core import write_folder

    return write_folder(tmp_path_factory.mktemp("sweep") / "claims")  # 3 files, 12 groups


SWEEP = ["--target", "claims", "--exposure", "exposure", "--model", "poisson",
         "--hidden", "3", "--activation", "tanh", "--epochs", "4", "--batch-size", "full",
         "--learning-rates", "0.01,0.3,30", "--quiet"]


def test_a_streamed_sweep_writes_the_in_memory_sweep(claims, tmp_path, capsys):
    code, _, err = run(["lr-sweep", claims, *SWEEP, "--stream", "--out", tmp_path / "s"],
                        capsys)
    assert code == 0, err
    code, _, err = run(["lr-sweep", claims, *SWEEP, "--out", tmp_path / "m"], capsys)
    assert code == 0, err
    streamed = pd.read_csv(tmp_path / "s" / "sweep.csv")
    memory = pd.read_csv(tmp_path / "m" / "sweep.csv")
    assert list(streamed.columns) == COLUMNS and len(streamed) == 3
    for column in ("initial_loss", "final_loss", "best_loss"):
        np.testing.assert_allclose(streamed[column], memory[column], rtol=1e-9, atol=0)
    exact = ["learning_rate", "steps_run", "diverged", "diverged_epoch", "diverged_step",
             "verdict"]
    pd.testing.assert_frame_equal(streamed[exact], memory[exact])
    assert streamed["verdict"].tolist() == ["too small", "good", "too large"]
    for rate in ("0.01", "0.3", "30"):
        a = pd.read_csv(tmp_path / "s" / f"history_lr={rate}.csv")
        b = pd.read_csv(tmp_path / "m" / f"history_lr={rate}.csv")
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-9)
    assert (tmp_path / "s" / "learning_rates.png").stat().st_size > 1000
    report = (tmp_path / "s" / "report.html").read_text()
    assert "<td>streamed</td>" in report and "Largest stable learning rate" in report


def test_the_streamed_stability_note_is_the_in_memory_note(claims):
    """All rows within max_rows: power iteration on the same rows; a linear model's MSE
    beyond it: the exact bound from the Gram matrix summed in one pass."""
    from gdlab.cli.streamed_metrics import streamed_stability_note
    from gdlab.train.stability import stability_note

    frame = pd.read_parquet(claims)
    rates = [0.01, 0.1, 1.0]
    for loss, exposure, max_rows in (("poisson", "exposure", 100_000), ("mse", None, 100)):
        source = gd.ParquetSource(claims, target="claims", exposure=exposure)
        source.require_preprocessor()
        X = source.preprocessor.transform(frame)
        m = gd.Sequential([gd.Dense(1, activation="exponential" if loss == "poisson"
                                    else "linear")], input_dim=X.shape[1], seed=1)
        m.compile(loss=loss)
        e = None if exposure is None else frame[exposure].to_numpy()
        expected = stability_note(m, X, frame["claims"].to_numpy(), exposure=e, rates=rates)
        assert streamed_stability_note(m, source, rates, max_rows=max_rows) == expected


def test_learning_rate_sweep_streams_a_parquet_source(claims):
    """An unbuilt model takes the source's encoded width; the table is the in-memory one."""
    frame = pd.read_parquet(claims)
    source = gd.ParquetSource(claims, target="claims", exposure="exposure")
    m = gd.Sequential([gd.Dense(1, activation="exponential")], seed=3)
    m.compile(loss="poisson")
    streamed = learning_rate_sweep(m, source, None, [0.05, 0.5], epochs=3, executor="numpy")
    assert not m.built and source.preprocessor is not None
    X = source.preprocessor.transform(frame)
    memory = learning_rate_sweep(m, X, frame["claims"].to_numpy(), [0.05, 0.5], epochs=3,
                                 exposure=frame["exposure"].to_numpy(), executor="numpy")
    np.testing.assert_allclose(streamed.table["final_loss"], memory.table["final_loss"],
                               rtol=1e-9)
    with pytest.raises(ValueError, match="exposure cannot be given with a ParquetSource"):
        learning_rate_sweep(m, source, None, [0.1], epochs=1, exposure=np.ones(2400))


def test_bad_streamed_sweeps_are_one_line_errors(claims, tmp_path, capsys):
    pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0]}).to_csv(tmp_path / "t.csv", index=False)
    code, _, err = run(["lr-sweep", tmp_path / "t.csv", "--target", "y", "--learning-rates",
                         "0.1", "--stream", "--out", tmp_path / "a"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--stream read Parquet" in err and "t.csv is not" in err
    code, _, err = run(["lr-sweep", claims, "--target", "claims", "--features", "age,colour",
                         "--learning-rates", "0.1", "--stream", "--out", tmp_path / "b"],
                        capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "no feature column 'colour'" in err and "part-0.parquet" in err
    code, _, err = run(["lr-sweep", claims, "--target", "claim_count", "--learning-rates",
                         "0.1", "--stream", "--out", tmp_path / "c"], capsys)
    assert code == 2 and "'claim_count'" in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.joinpath(name).exists() for name in "abc")
