r"""Parquet beyond memory: a file, a folder or a glob of files, read row group by row group.

:class:`ParquetSource` describes the data (which columns are features, target, exposure,
sample weight) and reads it with :mod:`pyarrow.dataset`: only the needed columns
(projection), one row group at a time, in pieces of at most ``read_rows`` rows, each
turned into a :class:`~gdlab.io.chunks.Chunk` of encoded inputs. Every file's schema is
checked up front: a missing column, or a column that is text in one file and numbers in
another, is refused with one error naming the file and the column. Missing values, a
non-finite target, or a NaN, zero or negative exposure in a piece are refused naming the
file and the row group.

The inputs are encoded by a :class:`~gdlab.io.preprocessing.Preprocessor` (numbers
standardised, text and ``categorical`` columns one-hot encoded), fitted in one streaming
pass (:meth:`ParquetSource.fit_preprocessing`): means and variances are merged piece by
piece (Chan et al.'s parallel update), the levels of text columns collected. With
``standardize=False`` numeric columns are passed through unchanged (mean 0, sd 1).

``model.fit(source)``, ``model.evaluate(source)`` and ``model.predict(source, out=…)``
train and predict from it (:mod:`gdlab.train.streaming`); ``docs/out-of-core.md`` says
how mini-batches are drawn.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from gdlab._checks import UserError, check_positive_int
from gdlab._typing import FloatArray
from gdlab.io.chunks import Chunk, ChunkMath, prefetch
from gdlab.io.preprocessing import MAX_LEVELS, Preprocessor

__all__ = ["ParquetSource", "SourceError", "encode", "write_parquet"]

_SUFFIXES = (".parquet", ".pq", ".parq")


class SourceError(UserError):
    """Data that cannot be read or used, naming the file (and row group, column)."""


class Piece(NamedTuple):
    """One row group of one file."""

    fragment: Any  #: the row group's :class:`pyarrow.dataset.ParquetFileFragment`
    file: str
    row_group: int
    rows: int


def _files(path: str | Path) -> list[str]:
    """The Parquet files of a file, a folder (recursively) or a glob, sorted."""
    text = str(path)
    if any(char in text for char in "*?["):
        found = sorted(glob.glob(text, recursive=True))
    elif Path(text).is_dir():
        found = sorted(str(p) for p in Path(text).rglob("*") if p.suffix.lower() in _SUFFIXES
                       and not p.name.startswith((".", "_")))
    elif Path(text).exists():
        found = [text]
    else:
        raise SourceError(f"Data path {text} does not exist; give a Parquet file, a folder "
                          "of Parquet files or a glob such as 'data/*.parquet'.")
    if not found:
        raise SourceError(f"No Parquet files (.parquet, .pq) in {text}; check the path.")
    return found


def _kind(arrow_type: pa.DataType) -> str | None:
    """'number' (ints, floats, booleans, decimals), 'text' (strings, dictionaries) or None."""
    if pa.types.is_dictionary(arrow_type):
        return "text"
    if (pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
            or pa.types.is_boolean(arrow_type) or pa.types.is_decimal(arrow_type)):
        return "number"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    return None


class ParquetSource:
    """Parquet data read in pieces: the argument of ``fit``, ``evaluate`` and ``predict``.

    Parameters
    ----------
    path : str or Path
        A Parquet file, a folder of them (searched recursively) or a glob.
    target : str, optional
        The target column (needed to fit and evaluate, not to predict).
    features : list of str, optional
        The input columns; default: every column but the target, exposure and weight.
    exposure, sample_weight : str, optional
        Columns holding each row's exposure (> 0) and sample weight (>= 0).
    categorical : list of str, optional
        Numeric feature columns to one-hot encode as codes (text columns always are).
    shuffle_buffer : int
        Rows of the shuffle buffer of mini-batch training (see ``docs/out-of-core.md``).
    read_rows : int
        The largest piece read at once (rows); bounds the memory a read takes.
    standardize : bool
        Standardise numeric features (fitted in one streaming pass), or use them as is.
    preprocessor : Preprocessor, optional
        An already fitted encoding (e.g. the one saved with a model).

    Examples
    --------
    >>> import tempfile, gdlab as gd
    >>> folder = tempfile.mkdtemp()
    >>> frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [2.0, 4.0, 6.0, 8.0]})
    >>> frame.to_parquet(f"{folder}/part-0.parquet")
    >>> source = gd.ParquetSource(folder, target="y", standardize=False)
    >>> source.n_rows, source.features
    (4, ['x'])
    """

    def __init__(self, path: str | Path, target: str | None = None,
                 features: Sequence[str] | None = None, exposure: str | None = None,
                 sample_weight: str | None = None, categorical: Sequence[str] | None = None,
                 *, shuffle_buffer: int = 65536, read_rows: int = 65536,
                 standardize: bool = True, preprocessor: Preprocessor | None = None) -> None:
        self.path = path
        self.files = _files(path)
        self.dataset = ds.dataset(self.files, format="parquet")
        self.target, self.exposure, self.sample_weight = target, exposure, sample_weight
        self.shuffle_buffer = check_positive_int("shuffle_buffer", shuffle_buffer,
                                                 hint="e.g. 65536 rows.")
        self.read_rows = check_positive_int("read_rows", read_rows, hint="e.g. 65536 rows.")
        self.standardize = bool(standardize)
        self.categorical = list(categorical or [])
        fragments = list(self.dataset.get_fragments())
        first = fragments[0].physical_schema
        special = [c for c in (target, exposure, sample_weight) if c is not None]
        self.features = (list(features) if features is not None
                         else [c for c in first.names if c not in special])
        stray = [c for c in self.categorical if c not in self.features]
        if stray:
            raise SourceError(f"categorical names {stray}, which are not among the features "
                              f"{self.features[:10]}; list feature columns only.")
        self.kinds = self._check_schemas(fragments, special)
        self.pieces = [Piece(group, fragment.path, group.row_groups[0].id,
                             group.row_groups[0].num_rows)
                       for fragment in fragments for group in fragment.split_by_row_group()]
        self.n_rows = sum(piece.rows for piece in self.pieces)
        if self.n_rows == 0:
            raise SourceError(f"The Parquet data at {path} has no rows.")
        self.preprocessor = preprocessor
        self._total_weight: float | None = None

    # --- schema ----------------------------------------------------------------------
    def _check_schemas(self, fragments: list[Any], special: list[str]) -> dict[str, str]:
        """Every needed column in every file, of one kind; the kind of each column."""
        kinds: dict[str, tuple[str, str, str]] = {}  # column -> (kind, type, first file)
        for fragment in fragments:
            schema = fragment.physical_schema
            for column in [*self.features, *special]:
                if column not in schema.names:
                    role = "feature" if column in self.features else "column"
                    raise SourceError(
                        f"{fragment.path}: no {role} column {column!r} (its columns: "
                        f"{', '.join(schema.names[:20])}); every file needs the same columns.")
                arrow_type = schema.field(column).type
                kind = _kind(arrow_type)
                if kind is None or (kind == "text" and column in special):
                    raise SourceError(
                        f"{fragment.path}: column {column!r} has type {arrow_type}; it must "
                        f"hold numbers{'' if column in special else ' or text'}.")
                seen = kinds.setdefault(column, (kind, str(arrow_type), fragment.path))
                if seen[0] != kind:
                    raise SourceError(
                        f"{fragment.path}: column {column!r} holds {kind} ({arrow_type}) but "
                        f"{seen[1]} in {seen[2]}; every file needs the same column types.")
        return {column: kind for column, (kind, _, _) in kinds.items()}

    @property
    def columns(self) -> list[str]:
        """The columns read: features, then target, exposure and weight (those given)."""
        special = [c for c in (self.target, self.exposure, self.sample_weight) if c]
        return [*self.features, *special]

    # --- reading -----------------------------------------------------------------------
    def frames(self, order: Sequence[int] | None = None,
               columns: Sequence[str] | None = None) -> Iterator[tuple[Piece, pa.RecordBatch]]:
        """(piece, record batch) of at most ``read_rows`` rows each, pieces in ``order``."""
        columns = list(self.columns if columns is None else columns)
        for index in range(len(self.pieces)) if order is None else order:
            piece = self.pieces[index]
            try:
                for batch in piece.fragment.to_batches(columns=columns, use_threads=True,
                                                       batch_size=self.read_rows):
                    if batch.num_rows:
                        yield piece, batch
            except (OSError, pa.ArrowException) as error:
                raise SourceError(f"{piece.file}, row group {piece.row_group}: could not be "
                                  f"read ({str(error).splitlines()[0]}).") from None

    def chunks(self, order: Sequence[int] | None = None, *,
               need_target: bool = True) -> Iterator[Chunk]:
        """Encoded, checked :class:`~gdlab.io.chunks.Chunk` s, pieces in ``order``."""
        preprocessor = self.require_preprocessor()
        if need_target and self.target is None:
            raise SourceError("This ParquetSource has no target column; pass target='…' to "
                              "fit or evaluate with it.")
        columns = [*self.features, *(c for c in (self.target if need_target else None,
                                                 self.exposure, self.sample_weight) if c)]
        for piece, batch in self.frames(order, columns):
            where = f"{piece.file}, row group {piece.row_group}"
            X = encode(batch, preprocessor, where)
            y = _numbers(batch, self.target, where, low=None) if need_target else np.empty(0)
            e = _numbers(batch, self.exposure, where, low="> 0")
            w = _numbers(batch, self.sample_weight, where, low=">= 0")
            yield Chunk(X, y, w, e)

    def require_preprocessor(self) -> Preprocessor:
        """The fitted encoding (fitted now, in one streaming pass, if not yet)."""
        if self.preprocessor is None:
            self.fit_preprocessing()
        return self.preprocessor  # type: ignore[return-value]

    def total_weight(self) -> float:
        """The number of rows, or the sum of the sample weights (one pass over that column)."""
        if self._total_weight is None:
            if self.sample_weight is None:
                self._total_weight = float(self.n_rows)
            else:
                self._total_weight = float(sum(
                    _numbers(batch, self.sample_weight, f"{p.file}, row group {p.row_group}",
                             low=">= 0").sum()
                    for p, batch in self.frames(columns=[self.sample_weight])))
            if not self._total_weight > 0:
                raise SourceError(f"The sample weights in column {self.sample_weight!r} sum "
                                  "to 0; give positive weights.")
        return self._total_weight

    # --- preprocessing -------------------------------------------------------------
    def fit_preprocessing(self) -> Preprocessor:
        """Fit the encoding in one pass: means, variances and text levels, piece by piece."""
        stats: dict[str, Any] = {c: (0, 0.0, 0.0) if self._numeric(c) else set()
                                 for c in self.features}
        for piece, batch in self.frames(columns=self.features):
            where = f"{piece.file}, row group {piece.row_group}"
            for column in self.features:
                if isinstance(stats[column], set):
                    stats[column].update(_text(batch, column, where).unique().tolist())
                else:
                    stats[column] = _merge(stats[column], _numbers(batch, column, where,
                                                                   low="missing"))
        self.preprocessor = Preprocessor([self._column(c, stats[c]) for c in self.features])
        return self.preprocessor

    def _numeric(self, column: str) -> bool:
        return self.kinds[column] == "number" and column not in self.categorical

    def _column(self, name: str, stat: Any) -> dict[str, Any]:
        if isinstance(stat, set):
            levels = sorted(stat)
            if len(levels) < 2:
                raise SourceError(f"Column {name!r} is constant ({levels}); it carries no "
                                  "information. Drop it from the features.")
            if len(levels) > MAX_LEVELS and len(levels) > self.n_rows // 2:
                raise SourceError(f"Column {name!r} holds text with {len(levels)} different "
                                  "values: an identifier? Drop it from the features.")
            return {"name": name, "kind": "categorical", "levels": levels}
        count, mean, m2 = stat
        std = float(np.sqrt(m2 / count))
        if std == 0.0:
            raise SourceError(f"Column {name!r} is constant ({mean:g}); it carries no "
                              "information. Drop it from the features.")
        if not self.standardize:
            mean, std = 0.0, 1.0
        return {"name": name, "kind": "numeric", "mean": float(mean), "std": std}

    def subset(self, pieces: Sequence[int]) -> ParquetSource:
        """The same source restricted to some row groups (by index in :attr:`pieces`)."""
        part = object.__new__(ParquetSource)
        part.__dict__.update(self.__dict__, _total_weight=None)
        part.pieces = [self.pieces[i] for i in pieces]
        part.n_rows = sum(piece.rows for piece in part.pieces)
        return part

    # --- the protocol of gdlab.train.streaming -------------------------------------
    @property
    def n_features(self) -> int:
        """The number of encoded input columns."""
        return len(self.require_preprocessor().feature_names)

    def full_batch_sums(self, math: ChunkMath, theta: FloatArray) -> FloatArray:
        """``[L, ∇L]`` of all rows at θ: the chunks' sums, read ahead by a thread."""
        total_weight = self.total_weight()
        total = np.zeros(1 + math.n_params)
        for chunk in prefetch(self.chunks()):
            total += math.sums(theta, chunk, total_weight)
        return total

    def stream(self, rng: np.random.Generator | None) -> Iterator[Chunk]:
        """The chunks of one epoch, row groups in a random order drawn from ``rng`` (in
        file order without it), read ahead by a thread."""
        order = None if rng is None else rng.permutation(len(self.pieces)).tolist()
        return prefetch(self.chunks(order))

    def ordered(self, *, need_target: bool = True) -> Iterator[Chunk]:
        """The chunks in file order, read ahead by a thread (evaluate, predict)."""
        return prefetch(self.chunks(need_target=need_target))

    def __repr__(self) -> str:
        return (f"ParquetSource({str(self.path)!r}, files={len(self.files)}, "
                f"row_groups={len(self.pieces)}, rows={self.n_rows}, target={self.target!r})")


def _merge(stat: tuple[int, float, float], x: FloatArray) -> tuple[int, float, float]:
    r"""Merge (count, mean, sum of squared deviations) with new values (Chan et al.).

    .. math:: \delta = \bar x_b - \bar x_a, \quad \bar x = \bar x_a + \delta\, n_b / n,
              \quad M_2 = M_{2,a} + M_{2,b} + \delta^2 n_a n_b / n

    Examples
    --------
    >>> stat = _merge(_merge((0, 0.0, 0.0), np.array([1.0, 2.0])), np.array([3.0, 6.0]))
    >>> stat[0], stat[1], bool(stat[2] / stat[0] == np.var([1.0, 2.0, 3.0, 6.0]))
    (4, 3.0, True)
    """
    n_a, mean_a, m2_a = stat
    n_b = x.size
    if n_b == 0:
        return stat
    mean_b = float(x.mean())
    m2_b = float(((x - mean_b) ** 2).sum())
    n = n_a + n_b
    delta = mean_b - mean_a
    return n, mean_a + delta * n_b / n, m2_a + m2_b + delta * delta * n_a * n_b / n


def _numbers(batch: pa.RecordBatch, column: str | None, where: str,
             low: str | None) -> FloatArray | None:
    """A column as floats: finite (and > 0, >= 0), or not missing; else an error naming
    where."""
    if column is None:
        return None
    x = np.asarray(batch.column(column).to_numpy(zero_copy_only=False), dtype=float)
    bad = np.isnan(x) if low == "missing" else ~np.isfinite(x)
    if low == "> 0":
        bad |= ~(x > 0)
    elif low == ">= 0":
        bad |= ~(x >= 0)
    if bad.any():
        rule = {None: "finite", "> 0": "finite and > 0", ">= 0": "finite and >= 0",
                "missing": "present (missing values: drop or impute them)"}[low]
        raise SourceError(
            f"{where}: column {column!r} has {int(bad.sum())} value(s) that are not {rule} "
            f"(e.g. {x[bad][0]!r}); drop or fix those rows.")
    return x


def _text(batch: pa.RecordBatch, column: str, where: str) -> pd.Series:
    """A categorical column's values as text, as the Preprocessor reads them."""
    array = batch.column(column)
    if array.null_count:
        raise SourceError(f"{where}: column {column!r} has {array.null_count} missing "
                          "value(s); drop or impute them.")
    return pd.Series(array.to_numpy(zero_copy_only=False)).astype(str)


def encode(batch: pa.RecordBatch, preprocessor: Preprocessor, where: str) -> FloatArray:
    """The encoded inputs of a record batch: what ``preprocessor.transform`` gives for the
    same rows as a DataFrame, column by column straight from the Arrow arrays."""
    blocks = []
    for column in preprocessor.columns:
        name = column["name"]
        if column["kind"] == "numeric":
            if _kind(batch.schema.field(name).type) != "number":
                raise SourceError(f"{where}: column {name!r} was numeric in training but "
                                  "holds text here.")
            x = _numbers(batch, name, where, low="missing")
            identity = column["mean"] == 0.0 and column["std"] == 1.0  # (x - 0) / 1 is x
            blocks.append(x if identity else (x - column["mean"]) / column["std"])
            continue
        levels = column["levels"]
        text = _text(batch, name, where)
        codes = pd.Index(levels).get_indexer(text)
        if (codes < 0).any():
            unseen = sorted({str(v) for v in text[codes < 0]})
            raise SourceError(f"{where}: column {name!r} has categories not seen in "
                              f"training: {unseen[:5]}; the model knows {levels[:10]}.")
        onehot = np.zeros((codes.size, len(levels)))
        onehot[np.arange(codes.size), codes] = 1.0
        blocks.append(onehot)
    X = np.column_stack(blocks)
    return X


def write_parquet(path: str | Path, blocks: Iterator[FloatArray], names: list[str]) -> Path:
    """Write 2-D blocks of rows, one after the other, to one Parquet file (one row group
    per block); return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([(name, pa.float64()) for name in names])
    with pq.ParquetWriter(path, schema) as writer:
        for block in blocks:
            arrays = [pa.array(np.ascontiguousarray(block[:, j])) for j in range(block.shape[1])]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    return path
