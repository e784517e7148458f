r"""The playground's data sets: the lecture's example, synthetic sets, scikit-learn's, a CSV.

Every data set is a :class:`Dataset`: standardised numeric features X (n, p), a target y
(n,), and its kind (``"regression"``, ``"binary"`` or ``"multiclass"``, the latter with
integer codes 0…k−1). Uploaded CSVs are checked here and refused with a
:class:`ValueError` whose message the page shows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gdlab._checks import check_positive_int
from gdlab._typing import FloatArray

__all__ = ["BUILTIN", "Dataset", "load", "parse_csv"]

#: Limits for an uploaded table (the page must stay responsive).
MAX_BYTES = 5_000_000
MAX_ROWS = 100_000
MAX_COLUMNS = 50
#: Largest number of rows a synthetic set may ask for.
MAX_SYNTHETIC_ROWS = 100_000

BUILTIN = {
    "lecture": "The lecture's example: x = 1, 2, 3 and y = 2x − 1 + 0.01ε (seed 111)",
    "logistic": "Two features, a 0/1 target drawn from σ(2x₁ − x₂ + 0.5)",
    "blobs": "Two features, three classes (Gaussian blobs)",
    "breast_cancer": "scikit-learn's breast cancer: mean radius and mean texture, standardised",
    "iris": "scikit-learn's iris: petal length and width, standardised, three species",
}


@dataclass(frozen=True)
class Dataset:
    """Features, target and what kind of target it is."""

    name: str
    X: FloatArray
    y: FloatArray
    kind: str
    feature_names: list[str]
    target_name: str
    classes: list[str] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for a regression target)."""
        return len(self.classes)


def _standardise(X: FloatArray) -> FloatArray:
    scale = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)


def lecture() -> Dataset:
    """The lecture's three points, y ≈ (0.99, 3.00, 5.01).

    Examples
    --------
    >>> lecture().y.round(2).tolist()
    [0.99, 3.0, 5.01]
    """
    x = np.arange(1.0, 4.0)
    noise = np.random.RandomState(111).randn(3)  # the lecture's np.random.seed(111)
    return Dataset("lecture", x[:, None], 2 * x - 1 + 0.01 * noise, "regression", ["x"], "y")


def logistic(n: int = 200, seed: int = 0) -> Dataset:
    r"""n rows, x ~ N(0, I₂), y ~ Bernoulli(σ(2x₁ − x₂ + 0.5))."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    p = 1.0 / (1.0 + np.exp(-(2 * X[:, 0] - X[:, 1] + 0.5)))
    y = (rng.random(n) < p).astype(float)
    return Dataset("logistic", X, y, "binary", ["x_1", "x_2"], "y", ["0", "1"])


def blobs(n: int = 300, seed: int = 0) -> Dataset:
    """n rows in three Gaussian blobs around the corners of a triangle."""
    rng = np.random.default_rng(seed)
    centres = np.array([[-1.5, -1.0], [1.5, -1.0], [0.0, 1.5]])
    y = rng.integers(0, 3, n)
    X = centres[y] + 0.7 * rng.standard_normal((n, 2))
    return Dataset("blobs", X, y.astype(float), "multiclass", ["x_1", "x_2"], "class",
                   ["0", "1", "2"])


def _sklearn(name: str) -> Dataset:
    from sklearn import datasets as skdata

    if name == "breast_cancer":
        bunch = skdata.load_breast_cancer()
        columns, kind = [0, 1], "binary"
    else:
        bunch = skdata.load_iris()
        columns, kind = [2, 3], "multiclass"
    X = _standardise(bunch.data[:, columns])
    names = [str(bunch.feature_names[c]) for c in columns]
    return Dataset(name, X, bunch.target.astype(float), kind, names, "target",
                   [str(c) for c in bunch.target_names])


def load(name: str, *, n: int = 200, seed: int = 0) -> Dataset:
    """A built-in data set by name (see :data:`BUILTIN`)."""
    if name not in BUILTIN:
        raise ValueError(f"dataset must be one of {list(BUILTIN)} or an uploaded table; "
                         f"got dataset={name!r}.")
    n = check_positive_int("n", n, hint="e.g. 200.")
    if n > MAX_SYNTHETIC_ROWS:
        raise ValueError(f"n must be at most {MAX_SYNTHETIC_ROWS}; got n={n}.")
    if name == "lecture":
        return lecture()
    if name == "logistic":
        return logistic(n, seed)
    if name == "blobs":
        return blobs(n, seed)
    return _sklearn(name)


def parse_csv(body: bytes) -> pd.DataFrame:
    """The numeric columns of an uploaded CSV, or a ValueError saying what is wrong."""
    if len(body) > MAX_BYTES:
        raise ValueError(f"The file is too large ({len(body):,} bytes); the explorer takes "
                         f"tables up to {MAX_BYTES:,} bytes. Upload a sample of the rows.")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        message = "The file is not a text table (it is not UTF-8); upload a CSV file."
        raise ValueError(message) from None
    if "\x00" in text or not text.strip():
        raise ValueError("The file is not a table: upload a CSV file with a header row.")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        # one row more than allowed is enough to refuse the table: never parse the rest
        frame = pd.read_csv(io.StringIO(text), sep=dialect.delimiter, nrows=MAX_ROWS + 1)
    except (csv.Error, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        raise ValueError(f"The file is not a table we can read as CSV ({error}).") from None
    if frame.shape[0] > MAX_ROWS or frame.shape[1] > MAX_COLUMNS:
        rows = f"more than {MAX_ROWS:,}" if frame.shape[0] > MAX_ROWS else f"{frame.shape[0]:,}"
        raise ValueError(f"The table is too large for the page ({rows} rows × "
                         f"{frame.shape[1]} columns); the explorer takes up to {MAX_ROWS:,} "
                         f"rows and {MAX_COLUMNS} columns.")
    numeric = frame.select_dtypes("number").dropna()
    if numeric.shape[1] < 2:
        raise ValueError("The table needs at least two numeric columns (features and a target); "
                         f"its numeric columns are {list(numeric.columns)}.")
    if numeric.shape[0] < 2:
        raise ValueError("The table needs at least two complete rows of numbers.")
    return numeric


def from_frame(frame: pd.DataFrame, target: str) -> Dataset:
    """Features (all other numeric columns, standardised) and the chosen target column."""
    if target not in frame.columns:
        raise ValueError(f"target must be one of the numeric columns {list(frame.columns)}; "
                         f"got target={target!r}.")
    features = [str(c) for c in frame.columns if c != target]
    y = frame[target].to_numpy(dtype=float)
    values = np.unique(y)
    if values.size == 2 and set(values) == {0.0, 1.0}:
        kind, classes = "binary", ["0", "1"]
    elif values.size <= 10 and np.all(values == np.round(values)):
        kind, classes = "multiclass", [f"{v:g}" for v in values]
        y = np.searchsorted(values, y).astype(float)
    else:
        kind, classes = "regression", []
    X = _standardise(frame[features].to_numpy(dtype=float))
    return Dataset("upload", X, y, kind, features, str(target), classes)
