"""Tabular preprocessing: standardising, one-hot encoding, targets, and their errors."""

import json

import numpy as np
import pandas as pd
import pytest

from gdlab.io.preprocessing import (
    Preprocessor,
    check_exposure_column,
    check_missing,
    encode_target,
    read_table,
)


@pytest.fixture
def frame():
    return pd.DataFrame({"x": [1.0, 2.0, 3.0, 6.0], "flag": [True, False, True, True],
                         "area": ["B", "A", "C", "A"], "count": [1, 2, 3, 4]})


def test_standardises_with_population_std_and_one_hot_encodes(frame):
    prep = Preprocessor.fit(frame, ["x", "flag", "area", "count"])
    X = prep.transform(frame)
    assert prep.feature_names == ["x", "flag", "area=A", "area=B", "area=C", "count"]
    x = frame["x"].to_numpy()
    np.testing.assert_allclose(X[:, 0], (x - x.mean()) / x.std(ddof=0))
    np.testing.assert_allclose(X[:, 0].mean(), 0, atol=1e-15)
    np.testing.assert_array_equal(X[:, 2:5], [[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]])
    np.testing.assert_allclose(X[:, 1], (np.array([1, 0, 1, 1]) - 0.75) / np.sqrt(0.1875))


def test_config_is_json_and_round_trips(frame):
    prep = Preprocessor.fit(frame, ["x", "area"])
    config = json.loads(json.dumps(prep.get_config()))
    again = Preprocessor.from_config(config)
    assert again.transform(frame).tobytes() == prep.transform(frame).tobytes()


def test_new_rows_use_the_training_statistics(frame):
    prep = Preprocessor.fit(frame, ["x", "area"])
    new = pd.DataFrame({"x": [3.0], "area": ["C"], "other": [0]})
    expected = (3.0 - 3.0) / frame["x"].std(ddof=0)
    assert prep.transform(new).tolist() == [[expected, 0.0, 0.0, 1.0]]


def test_unseen_category(frame):
    prep = Preprocessor.fit(frame, ["area"])
    with pytest.raises(ValueError, match=r"'area' has categories not seen in training: \['Z'\] "
                                         r"\(2 rows\)"):
        prep.transform(pd.DataFrame({"area": ["Z", "A", "Z"]}))


def test_missing_column_and_missing_values(frame):
    prep = Preprocessor.fit(frame, ["x", "area"])
    with pytest.raises(ValueError, match=r"Feature column\(s\) \['area'\] not in the data"):
        prep.transform(frame[["x"]])
    with pytest.raises(ValueError, match=r"Missing values in x \(1 rows\)"):
        prep.transform(frame.assign(x=[1.0, np.nan, 2.0, 3.0]))


def test_text_where_numbers_were(frame):
    prep = Preprocessor.fit(frame, ["x"])
    with pytest.raises(ValueError, match="numeric in training but holds text"):
        prep.transform(pd.DataFrame({"x": ["a", "b"]}))


@pytest.mark.parametrize(("column", "message"), [
    ([5.0, 5.0, 5.0, 5.0], "is constant"),
    (["a", "a", "a", "a"], "is constant"),
    ([np.nan] * 4, "entirely missing"),
])
def test_constant_and_empty_columns_are_refused(frame, column, message):
    with pytest.raises(ValueError, match=message):
        Preprocessor.fit(frame.assign(bad=column), ["x", "bad"])


def test_check_missing_counts_and_drops(frame):
    frame = frame.assign(x=[1.0, np.nan, np.nan, 2.0])
    with pytest.raises(ValueError, match=r"x \(2 rows\).*--drop-missing"):
        check_missing(frame, ["x", "area"], drop_missing=False)
    kept, dropped = check_missing(frame, ["x", "area"], drop_missing=True)
    assert dropped == 2 and kept["x"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(("values", "kind", "expected", "classes"), [
    ([3.5, -1.0, 2.0], "linear", [3.5, -1.0, 2.0], None),
    ([0, 2, 1], "poisson", [0, 2, 1], None),
    ([1.5, 0.2, 3.0], "gamma", [1.5, 0.2, 3.0], None),
    (["yes", "no", "yes"], "logistic", [1, 0, 1], ["no", "yes"]),
    ([1, 0, 0], "logistic", [1, 0, 0], [0, 1]),
    (["b", "c", "a", "b"], "softmax", [1, 2, 0, 1], ["a", "b", "c"]),
])
def test_targets(values, kind, expected, classes):
    y, found = encode_target(pd.Series(values, name="t"), kind)
    assert y.tolist() == expected and found == classes


@pytest.mark.parametrize(("values", "kind", "message"), [
    (["a", "b", "a"], "poisson", "holds text"),
    ([1, -2, 0], "poisson", "1 negative value"),
    ([1, -2, 0], "tweedie", "negative"),
    ([1.0, 0.0, 2.0], "gamma", "<= 0"),
    (["a", "b", "c"], "logistic", "3 classes"),
    (["a", "a", "a"], "softmax", "single class"),
    ([2.0, 2.0, 2.0], "linear", "constant"),
])
def test_bad_targets(values, kind, message):
    with pytest.raises(ValueError, match=message):
        encode_target(pd.Series(values, name="t"), kind)


def test_target_classes_from_training():
    y, _ = encode_target(pd.Series(["c", "a"]), "softmax", ["a", "b", "c"])
    assert y.tolist() == [2, 0]
    with pytest.raises(ValueError, match="not seen in training"):
        encode_target(pd.Series(["d"]), "softmax", ["a", "b", "c"])


def test_exposure():
    assert check_exposure_column(pd.Series([0.5, 1.0], name="e")).tolist() == [0.5, 1.0]
    with pytest.raises(ValueError, match="2 value"):
        check_exposure_column(pd.Series([0.5, 0.0, -1.0], name="e"))
    with pytest.raises(ValueError, match="holds text"):
        check_exposure_column(pd.Series(["a"], name="e"))


def test_read_table_formats(tmp_path, frame):
    frame.to_csv(tmp_path / "t.csv.gz", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv.gz", "t.parquet"):
        read = read_table(tmp_path / name)
        assert read["area"].tolist() == frame["area"].tolist()
    with pytest.raises(ValueError, match="does not exist"):
        read_table(tmp_path / "t.json")
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(ValueError, match="Unknown data format"):
        read_table(tmp_path / "t.json")


def test_identifier_like_text_column_is_refused():
    frame = pd.DataFrame({"id": [f"P{i}" for i in range(2500)], "x": np.arange(2500.0)})
    with pytest.raises(ValueError, match="'id' holds text with 2500 different values"):
        Preprocessor.fit(frame, ["id", "x"])
