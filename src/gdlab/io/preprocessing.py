r"""Tabular preprocessing kept with the model: read a table, check it, encode it.

Numeric (and boolean) columns are standardised with the training rows' mean and
standard deviation, :math:`x' = (x - \bar x) / s` (population :math:`s`, ``ddof=0``);
text and categorical columns are one-hot encoded, one 0/1 column per level seen in
training (levels sorted as text). The fitted :class:`Preprocessor` is JSON-safe
(:meth:`Preprocessor.get_config`), saved inside the model file, and applied again by
``gdlab predict`` / ``gdlab evaluate``: unseen levels, missing columns and missing
values are refused with a message that names them.

The target is checked against the model kind (:func:`encode_target`): numbers for
linear, ≥ 0 for Poisson and Tweedie, > 0 for Gamma, exactly two classes for logistic,
two or more for softmax.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gdlab._checks import UserError

__all__ = [
    "MODEL_KINDS",
    "Preprocessor",
    "check_exposure_column",
    "check_missing",
    "encode_target",
    "level_codes",
    "read_table",
    "require_columns",
]

MODEL_KINDS = ("linear", "logistic", "softmax", "poisson", "gamma", "tweedie")


# --- reading -----------------------------------------------------------------------------
def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (``.csv``, ``.csv.gz``, ``.txt``) or Parquet (``.parquet``, ``.pq``) file,
    or a folder or glob of Parquet files (one table; too big for memory: see
    :class:`gdlab.io.parquet.ParquetSource`).

    Raises
    ------
    UserError
        If the file is missing, unreadable, empty or of an unknown format.
    """
    if Path(path).is_dir() or any(char in str(path) for char in "*?["):
        return _read_parquet_files(str(path))
    path = Path(path)
    if not path.exists():
        raise UserError(f"Data file {path} does not exist; check the path.")
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        reader = pd.read_parquet
    elif name.endswith((".csv", ".csv.gz", ".txt", ".txt.gz", ".csv.bz2", ".csv.zip")):
        reader = pd.read_csv
    else:
        raise UserError(
            f"Unknown data format of {path.name}: use a CSV (.csv, .csv.gz) or Parquet "
            "(.parquet) file."
        )
    try:
        frame = reader(path)
    except pd.errors.EmptyDataError:
        raise UserError(f"Data file {path} is empty.") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, EOFError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"Could not read {path}: {reason}.") from None
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise UserError(f"Data file {path} has no rows; it needs a header and data rows.")
    return frame


def _read_parquet_files(pattern: str) -> pd.DataFrame:
    """The Parquet files of a folder (recursively) or a glob, as one table."""
    files = (sorted(glob.glob(pattern, recursive=True)) if not Path(pattern).is_dir() else
             sorted(str(p) for p in Path(pattern).rglob("*")
                    if p.suffix.lower() in (".parquet", ".pq") and not p.name.startswith(".")))
    if not files:
        raise UserError(f"No Parquet files (.parquet, .pq) in {pattern}; check the path.")
    frames = []
    for file in files:
        try:
            frames.append(pd.read_parquet(file))
        except (OSError, ValueError) as error:
            raise UserError(f"Could not read {file}: {str(error).splitlines()[0]}.") from None
    return pd.concat(frames, ignore_index=True)


def require_columns(frame: pd.DataFrame, columns: list[str], *, role: str) -> None:
    """Raise a clear error if some ``columns`` (the ``role``: target, feature…) are absent."""
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        available = ", ".join(map(str, list(frame.columns)[:20]))
        raise UserError(
            f"{role} column(s) {absent} not in the data; available columns: {available}"
            f"{' …' if frame.shape[1] > 20 else ''}."
        )


def check_missing(frame: pd.DataFrame, columns: list[str], *,
                  drop_missing: bool) -> tuple[pd.DataFrame, int]:
    """Refuse missing values in ``columns`` (naming counts), or drop those rows.

    All-missing columns are refused even with ``drop_missing``. Returns the frame and the
    number of rows dropped.
    """
    counts = frame[columns].isna().sum()
    empty = [c for c in columns if counts[c] == len(frame)]
    if empty:
        raise UserError(f"Column(s) {empty} are entirely missing; drop them from --features.")
    missing = {c: int(n) for c, n in counts.items() if n > 0}
    if not missing:
        return frame, 0
    if not drop_missing:
        listed = ", ".join(f"{c} ({n} rows)" for c, n in missing.items())
        raise UserError(
            f"Missing values in {listed}; drop those rows with --drop-missing, or impute "
            "them before fitting."
        )
    kept = frame.dropna(subset=list(missing))
    if kept.empty:
        raise UserError("Every row has a missing value; nothing is left with --drop-missing.")
    return kept, len(frame) - len(kept)


def _is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


# --- the target and the exposure ---------------------------------------------------------
def encode_target(series: pd.Series, kind: str,
                  classes: list[Any] | None = None) -> tuple[np.ndarray, list[Any] | None]:
    """Check the target for the model ``kind``; return (y, classes).

    For ``logistic`` y is 0/1 (the second sorted class is 1); for ``softmax`` y holds the
    class indices 0 … k−1. Pass ``classes`` (from training) to encode new data the same way.

    Examples
    --------
    >>> y, classes = encode_target(pd.Series(["no", "yes", "no"]), "logistic")
    >>> y.tolist(), classes
    ([0.0, 1.0, 0.0], ['no', 'yes'])
    """
    name = series.name
    if kind in ("logistic", "softmax"):
        return _encode_classes(series, kind, classes)
    if not _is_numeric(series):
        text = series[pd.to_numeric(series, errors="coerce").isna() & series.notna()]
        example = text.iloc[0] if len(text) else series.iloc[0]
        raise UserError(
            f"Target column {name!r} holds text (e.g. {example!r}); a {kind} model needs "
            "numbers. Pick a numeric target, or use --model logistic/softmax for classes."
        )
    y = series.to_numpy(dtype=float)
    if not np.isfinite(y).all():
        raise UserError(f"Target column {name!r} has non-finite values (inf).")
    low = {"poisson": (0.0, "counts must be >= 0"), "tweedie": (0.0, "values must be >= 0")}
    if kind in low and (y < 0).any():
        bad = int((y < 0).sum())
        raise UserError(
            f"Target column {name!r} has {bad} negative value(s) (e.g. {y[y < 0][0]:g}); "
            f"for a {kind} model {low[kind][1]}."
        )
    if kind == "gamma" and (y <= 0).any():
        raise UserError(
            f"Target column {name!r} has {int((y <= 0).sum())} value(s) <= 0; a gamma model "
            "needs amounts > 0 (drop zero claims, or use --model tweedie)."
        )
    if np.ptp(y) == 0:
        raise UserError(f"Target column {name!r} is constant ({y[0]:g}); nothing to learn.")
    return y, None


def _encode_classes(series: pd.Series, kind: str,
                    classes: list[Any] | None) -> tuple[np.ndarray, list[Any]]:
    name = series.name
    values = series.to_numpy()
    if classes is None:
        classes = sorted(pd.unique(values).tolist(), key=lambda v: (str(type(v)), v))
        if len(classes) < 2:
            raise UserError(f"Target column {name!r} has a single class {classes}; "
                             "nothing to learn.")
        if kind == "logistic" and len(classes) > 2:
            raise UserError(
                f"Target column {name!r} has {len(classes)} classes ({classes[:6]}); "
                "logistic regression needs exactly 2. Use --model softmax."
            )
    index = {value: i for i, value in enumerate(classes)}
    unseen = sorted({str(v) for v in values if v not in index})
    if unseen:
        raise UserError(f"Target column {name!r} has classes not seen in training: "
                         f"{unseen[:5]}; the model knows {classes}.")
    return np.array([index[v] for v in values], dtype=float), [_plain(c) for c in classes]


def _plain(value: Any) -> Any:
    """A JSON-safe Python scalar."""
    return value.item() if hasattr(value, "item") else value


def check_exposure_column(series: pd.Series) -> np.ndarray:
    """Return the exposure as floats; refuse text or values <= 0, naming the count."""
    name = series.name
    if not _is_numeric(series):
        raise UserError(f"Exposure column {name!r} holds text; it must hold positive numbers.")
    e = series.to_numpy(dtype=float)
    bad = ~(e > 0) | ~np.isfinite(e)
    if bad.any():
        raise UserError(
            f"Exposure column {name!r} has {int(bad.sum())} value(s) that are not > 0 "
            f"(e.g. {e[bad][0]:g}); exposure must be positive. Drop those rows first."
        )
    return e


# --- the features ------------------------------------------------------------------------
MAX_LEVELS = 1000  #: more text levels than this, and than half the rows: an identifier


def _check_levels(name: str, levels: list[str], rows: int) -> None:
    """Refuse a text column whose levels look like an identifier or numbers as text."""
    if len(levels) > MAX_LEVELS and len(levels) > rows // 2:
        raise UserError(
            f"Column {name!r} holds text with {len(levels)} different values in {rows} rows "
            f"(e.g. {levels[:3]}): an identifier, or numbers stored as text? Drop it from "
            "--features, or fix its values."
        )

def level_codes(name: str, series: pd.Series, levels: list[str], *,
                known_by: str) -> np.ndarray:
    """Each row's position in the training ``levels`` (compared as text); categories not
    seen in training are refused, naming them and what ``known_by`` (the model, an
    embedding) knows."""
    text = series.astype(str)
    codes = pd.Index(levels).get_indexer(text)
    if (codes < 0).any():
        unseen = sorted(text[codes < 0].unique().tolist())
        raise UserError(
            f"Column {name!r} has categories not seen in training: {unseen[:5]} "
            f"({int((codes < 0).sum())} rows); {known_by} knows {levels[:10]}"
            f"{' …' if len(levels) > 10 else ''}."
        )
    return codes


class Preprocessor:
    """Standardise numeric columns and one-hot encode text columns (fitted state).

    Parameters
    ----------
    columns : list of dict
        One per input column, in order: ``{"name", "kind": "numeric", "mean", "std"}`` or
        ``{"name", "kind": "categorical", "levels": [...]}``. Build it with :meth:`fit`.

    Examples
    --------
    >>> frame = pd.DataFrame({"age": [20.0, 40.0, 60.0], "area": ["A", "B", "A"]})
    >>> prep = Preprocessor.fit(frame, ["age", "area"])
    >>> prep.feature_names
    ['age', 'area=A', 'area=B']
    >>> prep.transform(frame).round(4).tolist()[0]
    [-1.2247, 1.0, 0.0]
    """

    def __init__(self, columns: list[dict[str, Any]]) -> None:
        self.columns = columns

    @classmethod
    def fit(cls, frame: pd.DataFrame, features: list[str], *,
            categorical: list[str] = ()) -> Preprocessor:  # type: ignore[assignment]
        """Learn means, standard deviations and levels from ``frame[features]``.

        Text columns are one-hot encoded, and so are the ``categorical`` ones even when
        they hold numbers (codes such as a district 1–4). Constant and all-missing columns
        are refused (they carry no information).
        """
        stray = [name for name in categorical if name not in features]
        if stray:
            raise UserError(f"--categorical names {stray}, which are not among the features "
                             f"{features[:10]}; list feature columns only.")
        if not features:
            raise UserError("No feature columns: give at least one with --features.")
        require_columns(frame, features, role="Feature")
        columns = []
        for name in features:
            series = frame[name]
            if series.isna().all():
                raise UserError(f"Column {name!r} is entirely missing; drop it from --features.")
            if series.nunique(dropna=True) < 2:
                raise UserError(
                    f"Column {name!r} is constant ({series.dropna().iloc[0]!r}); it carries "
                    "no information. Drop it from --features."
                )
            if _is_numeric(series) and name not in categorical:
                x = series.to_numpy(dtype=float)
                columns.append({"name": str(name), "kind": "numeric",
                                "mean": float(np.nanmean(x)), "std": float(np.nanstd(x))})
            else:
                levels = sorted(series.dropna().astype(str).unique().tolist())
                _check_levels(name, levels, len(series))
                columns.append({"name": str(name), "kind": "categorical", "levels": levels})
        return cls(columns)

    @property
    def features(self) -> list[str]:
        """The input column names, in order."""
        return [c["name"] for c in self.columns]

    @property
    def feature_names(self) -> list[str]:
        """The names of the encoded columns (``col`` or ``col=level``)."""
        names = []
        for column in self.columns:
            if column["kind"] == "numeric":
                names.append(column["name"])
            else:
                names += [f"{column['name']}={level}" for level in column["levels"]]
        return names

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The encoded matrix of shape (n, len(feature_names)), float64."""
        require_columns(frame, self.features, role="Feature")
        missing = {c: int(n) for c, n in frame[self.features].isna().sum().items() if n > 0}
        if missing:
            listed = ", ".join(f"{c} ({n} rows)" for c, n in missing.items())
            raise UserError(f"Missing values in {listed}; drop or impute those rows first.")
        blocks = [self._encode(column, frame[column["name"]]) for column in self.columns]
        return np.column_stack(blocks).astype(float, copy=False)

    @staticmethod
    def _encode(column: dict[str, Any], series: pd.Series) -> np.ndarray:
        name = column["name"]
        if column["kind"] == "numeric":
            if not _is_numeric(series):
                raise UserError(f"Column {name!r} was numeric in training but holds text here "
                                 f"(e.g. {series.iloc[0]!r}).")
            return (series.to_numpy(dtype=float) - column["mean"]) / column["std"]
        levels = column["levels"]
        codes = level_codes(name, series, levels, known_by="the model")
        onehot = np.zeros((len(codes), len(levels)))
        onehot[np.arange(len(codes)), codes] = 1.0
        return onehot

    def get_config(self) -> dict[str, Any]:
        """The JSON-safe fitted state."""
        return {"columns": [dict(column) for column in self.columns]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Preprocessor:
        """Rebuild from :meth:`get_config`."""
        return cls([dict(column) for column in config["columns"]])

    def __repr__(self) -> str:
        kinds = [c["kind"] for c in self.columns]
        return (f"Preprocessor(numeric={kinds.count('numeric')}, "
                f"categorical={kinds.count('categorical')}, outputs={len(self.feature_names)})")
