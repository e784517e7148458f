"""Preprocessing for embeddings: numeric columns standardised, categorical ones as codes.

:class:`EmbeddedPreprocessor` learns what :class:`~gdlab.io.preprocessing.Preprocessor`
learns (means, standard deviations, levels), but instead of one-hot columns it gives each
categorical column one column of integer codes 0 … L−1 (levels sorted as text), after
all the numeric columns: the layout :class:`gdlab.nn.embedding.Inputs` reads
(``gdlab fit --embedding-dim D``). Unseen levels are refused as by the one-hot encoder.

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"area": ["B", "A", "C"], "age": [20.0, 40.0, 60.0]})
>>> prep = EmbeddedPreprocessor.fit(frame, ["area", "age"], embedding_dim=2)
>>> prep.feature_names, prep.levels
(['age', 'area (code)'], {'area': 3})
>>> prep.transform(frame).round(4).tolist()
[[-1.2247, 1.0], [0.0, 0.0], [1.2247, 2.0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gdlab._checks import UserError, check_positive_int
from gdlab.io.preprocessing import Preprocessor, level_codes, require_columns
from gdlab.nn.embedding import Embedding, Inputs

__all__ = ["EmbeddedPreprocessor", "inputs_for", "preprocessing_from_config"]


class EmbeddedPreprocessor(Preprocessor):
    """Numeric columns standardised, then one code column per categorical column."""

    def __init__(self, columns: list[dict[str, Any]], *, embedding_dim: int) -> None:
        super().__init__(columns)
        self.embedding_dim = check_positive_int(
            "embedding_dim", embedding_dim, hint="e.g. --embedding-dim 2.")

    @classmethod
    def fit(cls, frame: pd.DataFrame, features: list[str], *,  # type: ignore[override]
            categorical: list[str] = (), embedding_dim: int = 2) -> EmbeddedPreprocessor:
        """Learn as :meth:`Preprocessor.fit`; refuse a table without categorical columns."""
        fitted = Preprocessor.fit(frame, features, categorical=list(categorical))
        if not any(column["kind"] == "categorical" for column in fitted.columns):
            raise UserError("--embedding-dim needs text or --categorical feature columns to "
                            "embed; these features are all numeric.")
        return cls(fitted.columns, embedding_dim=embedding_dim)

    def _ordered(self) -> list[dict[str, Any]]:
        """The numeric columns, then the categorical ones (the order of the output)."""
        return ([c for c in self.columns if c["kind"] == "numeric"]
                + [c for c in self.columns if c["kind"] == "categorical"])

    @property
    def n_numeric(self) -> int:
        """How many numeric columns come first."""
        return sum(c["kind"] == "numeric" for c in self.columns)

    @property
    def levels(self) -> dict[str, int]:
        """Each categorical column's number of levels, in output order."""
        return {c["name"]: len(c["levels"]) for c in self._ordered() if c["kind"] != "numeric"}

    @property
    def feature_names(self) -> list[str]:
        """The output columns: numeric names, then ``name (code)``."""
        return [c["name"] if c["kind"] == "numeric" else f"{c['name']} (code)"
                for c in self._ordered()]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The matrix (n, numeric + categorical columns): standardised values, then codes."""
        require_columns(frame, self.features, role="Feature")
        numeric = [c for c in self.columns if c["kind"] == "numeric"]
        blocks = [Preprocessor(numeric).transform(frame)] if numeric else []
        for column in self._ordered()[len(numeric):]:
            name, levels = column["name"], column["levels"]
            series = frame[name]
            if series.isna().any():
                raise UserError(f"Missing values in {name} ({int(series.isna().sum())} rows); "
                                "drop or impute those rows first.")
            codes = level_codes(name, series, levels, known_by="its embedding")
            blocks.append(codes.astype(float)[:, None])
        return np.column_stack(blocks)

    def get_config(self) -> dict[str, Any]:
        """The JSON-safe fitted state, with the embeddings' dimension."""
        return {**super().get_config(), "embedding_dim": self.embedding_dim}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> EmbeddedPreprocessor:
        """Rebuild from :meth:`get_config`."""
        return cls([dict(column) for column in config["columns"]],
                   embedding_dim=config["embedding_dim"])


def preprocessing_from_config(config: dict[str, Any]) -> Preprocessor:
    """The preprocessor a model file describes: one-hot, or codes for embeddings."""
    if "embedding_dim" in config:
        return EmbeddedPreprocessor.from_config(config)
    return Preprocessor.from_config(config)


def inputs_for(preprocessing: EmbeddedPreprocessor) -> Inputs:
    """The model's :class:`~gdlab.nn.embedding.Inputs` for this table's columns."""
    return Inputs(numeric=preprocessing.n_numeric, categorical=[
        Embedding(levels, preprocessing.embedding_dim, name=name)
        for name, levels in preprocessing.levels.items()])
