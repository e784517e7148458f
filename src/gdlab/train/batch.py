"""The validated arrays of one ``fit`` / ``evaluate`` call, and the rows of one step.

:meth:`Sequential._prepare <gdlab.train.model.Sequential>` checks the user's X, y,
sample weights and exposure once and returns a :class:`Batch`; the loop takes the rows
of each step from it (a slice for contiguous rows, a copy for gathered ones). A step's
record keeps contiguous rows as a :class:`RowRange`, not as an n-long index array.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from gdlab._typing import FloatArray, IntArray

__all__ = ["Batch", "RowRange"]


class Batch:
    """X, the targets in the loss's form Y, the sample weights w and the exposure e."""

    def __init__(self, X: FloatArray, Y: FloatArray, w: FloatArray | None, e: FloatArray | None):
        self.X, self.Y, self.w, self.e = X, Y, w, e

    def take(self, rows: IntArray | slice) -> Batch:
        """The given rows (a view for a slice)."""
        return Batch(self.X[rows], self.Y[rows],
                     None if self.w is None else self.w[rows],
                     None if self.e is None else self.e[rows])

    def gather(self, rows: IntArray) -> Batch:
        """The rows of one step, copied (``ndarray.take``: numpy's fastest row gather)."""
        return Batch(self.X.take(rows, axis=0), self.Y.take(rows, axis=0),
                     None if self.w is None else self.w.take(rows),
                     None if self.e is None else self.e.take(rows))


class RowRange:
    """The rows ``start, start + 1, …, stop - 1`` of a contiguous batch, in O(1) memory.

    A full batch, or any batch of an unshuffled plan, is a run of consecutive rows: a
    :class:`~gdlab.train.trace.Step` keeps it as this instead of an n-long index array.
    It reads like the array ``np.arange(start, stop)``: ``len``, iteration, ``size``,
    ``shape``, indexing and slicing, ``tolist()``, and ``np.asarray`` (so ``X[rows]``
    works).

    Examples
    --------
    >>> rows = RowRange(0, 200_000)
    >>> len(rows), rows[-1], rows[:3].tolist(), np.asarray(rows[5:8])
    (200000, 199999, [0, 1, 2], array([5, 6, 7]))
    """

    __slots__ = ("start", "stop")
    ndim = 1
    dtype = np.dtype(np.int64)

    def __init__(self, start: int, stop: int) -> None:
        self.start, self.stop = int(start), max(int(start), int(stop))

    @classmethod
    def of(cls, rows: Any) -> RowRange | None:
        """``rows`` as a RowRange if they are consecutive and ascending, else None."""
        rows = np.asarray(rows)
        if rows.ndim != 1 or rows.size < 2 or rows[-1] - rows[0] != rows.size - 1:
            return None
        return cls(rows[0], rows[-1] + 1) if bool((rows[1:] > rows[:-1]).all()) else None

    @property
    def size(self) -> int:
        return self.stop - self.start

    @property
    def shape(self) -> tuple[int]:
        return (self.size,)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.stop))

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, numbers.Integral):
            return range(self.start, self.stop)[int(key)]
        if isinstance(key, slice):
            span = range(self.start, self.stop)[key]
            return RowRange(span.start, span.stop) if span.step == 1 else np.array(span)
        return np.asarray(self)[key]

    def __array__(self, dtype: Any = None, copy: Any = None) -> IntArray:
        return np.arange(self.start, self.stop, dtype=dtype or self.dtype)

    def tolist(self) -> list[int]:
        return list(range(self.start, self.stop))

    def __repr__(self) -> str:
        return f"RowRange({self.start}, {self.stop})"
