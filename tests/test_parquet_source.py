"""Training on Parquet files read row group by row group (gdlab.io.parquet, train.streaming)."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gdlab as gd
from gdlab.io.chunks import Chunk, ShuffleWindow, prefetch
from gdlab.io.parquet import SourceError
from gdlab.io.preprocessing import Preprocessor
from gdlab.train.saving import load_saved


def _frame(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.uniform(0, 10, n)
    area = rng.choice(["A", "B", "C"], n)
    exposure = rng.uniform(0.2, 1.5, n)
    mu = exposure * np.exp(-1 + 0.4 * x1 - 0.05 * x2 + 0.3 * (area == "B"))
    return pd.DataFrame({"x1": x1, "x2": x2, "area": area, "exposure": exposure,
                         "weight": rng.uniform(0.5, 2.0, n), "claims": rng.poisson(mu) * 1.0,
                         "id": np.arange(n)})


def _write(folder, frame: pd.DataFrame, files: int = 3, row_group: int = 400):
    folder.mkdir(exist_ok=True)
    for number, part in enumerate(np.array_split(np.arange(len(frame)), files)):
        frame.iloc[part].to_parquet(folder / f"part-{number}.parquet",
                                    row_group_size=row_group, index=False)
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    frame = _frame()
    folder = _write(tmp_path_factory.mktemp("parquet") / "claims", frame)
    return frame, folder


def _source(folder, **options):
    return gd.ParquetSource(folder, target="claims", features=["x1", "x2", "area"],
                            exposure="exposure", sample_weight="weight", read_rows=300,
                            **options)


def _model(optimizer=None, hidden=True):
    layers = [gd.Dense(4, activation="tanh")] if hidden else []
    model = gd.Sequential([*layers, gd.Dense(1, activation="exponential")], seed=3)
    model.compile(loss="poisson", optimizer=optimizer or gd.SGD(learning_rate=0.1))
    return model


def _in_memory(frame, source):
    X = source.preprocessor.transform(frame)
    return X, frame["claims"].to_numpy(), frame["weight"].to_numpy(), frame["exposure"].to_numpy()


@pytest.mark.parametrize(("executor", "hidden"), [("compiled", True), ("compiled", False),
                                                  ("numpy", True)])
def test_full_batch_follows_the_in_memory_path(data, executor, hidden):
    frame, folder = data
    source = _source(folder)
    streamed = _model(gd.Adam(learning_rate=0.05), hidden=hidden)
    history = streamed.fit(source, batch_size="full", epochs=8, verbose=0, executor=executor)
    X, y, w, e = _in_memory(frame, source)
    memory = _model(gd.Adam(learning_rate=0.05), hidden=hidden)
    expected = memory.fit(X, y, sample_weight=w, exposure=e, batch_size="full", epochs=8,
                          verbose=0, executor=executor)
    np.testing.assert_allclose(streamed.theta, memory.theta, rtol=0, atol=1e-10)
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-12)
    assert history.params["initial_loss"] == pytest.approx(expected.params["initial_loss"])


def test_mini_batches_without_shuffling_are_the_in_memory_batches(data):
    frame, folder = data
    source = _source(folder)
    streamed = _model()
    streamed.fit(source, batch_size=64, epochs=2, shuffle=False, verbose=0)
    X, y, w, e = _in_memory(frame, source)
    memory = _model()
    memory.fit(X, y, sample_weight=w, exposure=e, batch_size=64, epochs=2, shuffle=False,
               verbose=0)
    np.testing.assert_allclose(streamed.theta, memory.theta, rtol=0, atol=1e-10)


def test_shuffled_mini_batches_are_seeded_and_learn(data):
    _, folder = data
    runs = []
    for seed in (0, 0, 1):
        model = _model(hidden=False)
        history = model.fit(_source(folder, shuffle_buffer=500), batch_size=32, epochs=3,
                            seed=seed, verbose=0)
        runs.append(model.theta.copy())
        assert history.params["steps"] == -(-3000 // 32)
        assert len(history.step_loss[0]) == -(-3000 // 32)
        assert history.history["loss"][-1] < history.params["initial_loss"]
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])


def test_each_epoch_visits_every_row_once_in_a_mixed_order(data):
    _, folder = data
    source = gd.ParquetSource(folder, target="id", features=["x1"], shuffle_buffer=500,
                              read_rows=200, standardize=False)
    rng = np.random.default_rng(0)
    window = ShuffleWindow(source.shuffle_buffer, 32, rng)
    seen, first = [], []
    for chunk in source.stream(rng):
        first.append(chunk.y[0])
        rows = window.push(chunk)
        if rows is not None:
            assert rows.size % 32 == 0
            seen.append(window.data.y[rows].copy())
    seen.append(window.data.y[window.finish()])
    ids = np.concatenate(seen)
    assert sorted(ids.tolist()) == list(range(3000))
    assert first != sorted(first)  # row groups in a random order
    assert np.mean(np.abs(np.diff(ids)) == 1) < 0.05  # rows mixed within the buffer


def test_the_shuffle_window_mixes_only_within_its_size():
    window = ShuffleWindow(100, 7, np.random.default_rng(1))
    out = []
    for start in range(0, 1000, 50):
        rows = np.arange(start, start + 50.0)
        ready = window.push(Chunk(rows[:, None], rows, None, None))
        out += [] if ready is None else window.data.y[ready].tolist()
    out += window.data.y[window.finish()].tolist()
    assert sorted(out) == list(range(1000))
    # a row leaves the buffer only once it is among the rows read so far
    assert all(value < position + 150 + 7 for position, value in enumerate(out))
    assert window.data.rows <= 100 + 50 + 7  # the window's size, allocated once


def test_without_a_generator_rows_keep_their_order():
    window = ShuffleWindow(100, 8, None)
    out = []
    for start in range(0, 100, 30):
        rows = np.arange(start, min(start + 30, 100.0))
        ready = window.push(Chunk(rows[:, None], rows, None, None))
        out += [] if ready is None else window.data.y[ready].tolist()
    out += window.data.y[window.finish()].tolist()
    assert out == list(range(100))


def test_the_preprocessing_is_fitted_in_one_pass_and_saved_with_the_model(data, tmp_path):
    frame, folder = data
    source = _source(folder)
    in_memory = Preprocessor.fit(frame, ["x1", "x2", "area"])
    streamed = source.fit_preprocessing()
    assert streamed.feature_names == in_memory.feature_names
    for a, b in zip(streamed.columns, in_memory.columns, strict=True):
        if a["kind"] == "numeric":
            assert a["mean"] == pytest.approx(b["mean"], rel=1e-12)
            assert a["std"] == pytest.approx(b["std"], rel=1e-12)
    model = _model()
    model.fit(source, batch_size=256, epochs=1, verbose=0)
    model.save(tmp_path / "model.npz")
    saved = load_saved(tmp_path / "model.npz")
    assert saved.preprocessing.get_config() == streamed.get_config()
    fresh = _source(folder)  # no preprocessor of its own: the saved one is used
    np.testing.assert_array_equal(saved.model.predict(fresh), model.predict(source))


def test_predict_writes_parquet_and_evaluate_matches_memory(data, tmp_path):
    frame, folder = data
    source = _source(folder)
    model = _model()
    model.compile(loss="poisson", metrics=["mae"])
    model.fit(source, batch_size="full", epochs=2, verbose=0)
    path = model.predict(source, out=tmp_path / "pred" / "p.parquet")
    X, y, w, e = _in_memory(frame, source)
    written = pd.read_parquet(path)["prediction"].to_numpy()
    np.testing.assert_allclose(written, model.predict(X, exposure=e)[:, 0], rtol=1e-14)
    got, expected = model.evaluate(source), model.evaluate(X, y, sample_weight=w, exposure=e)
    assert got.keys() == expected.keys()
    for key in got:
        assert got[key] == pytest.approx(expected[key], rel=1e-12)


def test_files_whose_schemas_differ_are_named(tmp_path):
    frame = _frame(200)
    folder = _write(tmp_path / "a", frame, files=2)
    frame.drop(columns=["x2"]).to_parquet(folder / "part-9.parquet")
    with pytest.raises(SourceError, match=r"part-9\.parquet: no feature column 'x2'"):
        _source(folder)
    folder = _write(tmp_path / "b", frame, files=2)
    frame.assign(x1=frame["x1"].astype(str)).to_parquet(folder / "part-9.parquet")
    with pytest.raises(SourceError, match=r"part-9\.parquet: column 'x1' holds text .* "
                                          r"but double in .*part-0\.parquet"):
        _source(folder)


@pytest.mark.parametrize("bad", [np.nan, -1.0, 0.0])
def test_a_bad_exposure_names_the_file_and_the_row_group(tmp_path, bad):
    frame = _frame(900)
    frame.loc[650, "exposure"] = bad
    folder = _write(tmp_path / "c", frame, files=2, row_group=200)
    with pytest.raises(SourceError, match=r"part-1\.parquet, row group 1: column "
                                          r"'exposure' has 1 value\(s\) that are not finite "
                                          r"and > 0"):
        _model().fit(_source(folder), batch_size="full", verbose=0)


def test_options_that_need_the_whole_data_are_refused(data):
    _, folder = data
    source = _source(folder)
    with pytest.raises(ValueError, match="trace is not available"):
        _model().fit(source, trace=True, verbose=0)
    with pytest.raises(ValueError, match="validation_split is not available"):
        _model().fit(source, validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="name their columns in it"):
        _model().fit(source, np.zeros(3), verbose=0)
    with pytest.raises(SourceError, match="does not exist"):
        gd.ParquetSource(folder / "nowhere", target="claims")


def test_validation_data_may_be_another_source(data, tmp_path):
    frame, folder = data
    held_out = _write(tmp_path / "val", frame.iloc[:500], files=1)
    source = _source(folder)
    model = _model()
    history = model.fit(source, batch_size=128, epochs=2, verbose=0,
                        validation_data=_source(held_out, preprocessor=None))
    assert len(history.history["val_loss"]) == 2
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(
        _source(held_out, preprocessor=source.preprocessor)))


def test_prefetch_reads_ahead_and_passes_errors_on():
    produced = []
    ready = threading.Event()

    def items():
        for number in range(3):
            produced.append(number)
            if number == 1:
                ready.set()
            yield number
        raise OSError("disk gone")

    stream = prefetch(items(), depth=2)
    assert next(stream) == 0
    assert ready.wait(5)  # item 1 was read while item 0 was being used
    assert next(stream) == 1 and next(stream) == 2
    with pytest.raises(OSError, match="disk gone"):
        next(stream)


def test_a_text_target_column_is_refused_naming_it(tmp_path):
    table = pa.table({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "a"]})
    pq.write_table(table, tmp_path / "t.parquet")
    with pytest.raises(SourceError, match=r"t\.parquet: column 'y' has type string"):
        gd.ParquetSource(tmp_path / "t.parquet", target="y")
