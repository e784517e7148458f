r"""Dask arrays as training data: the rows stay where they are, on the workers.

``model.fit(X, y)`` with ``dask.array`` arrays (or columns of a ``dask.dataframe``) wraps
them in :class:`DaskData` (:mod:`gdlab.train.streaming` drives the fit):

* **full batch** (:meth:`DaskData.full_batch_sums`): every step sends θ to the workers
  inside one task graph; each block of rows computes its share-weighted loss and
  gradient sums (:class:`~gdlab.io.chunks.ChunkMath`: the compiled kernels when they
  cover the model) and Dask's own tree reduction (``sum`` over the blocks' results, a few
  at a time) adds them up: only the vector ``[L, ∇L]`` reaches the client, as in
  dask-glm's gradient descent. The arrays are persisted on the cluster once, at the
  start of the fit, so each step reads them from the workers' memory.
* **mini-batch** (:meth:`DaskData.stream`): *streamed blocks*: the blocks are fetched to
  the client one at a time, in an order drawn from the fit's seed, the next one computed
  while the current one trains (a prefetch thread), and their rows pass through the
  shuffle buffer of :mod:`gdlab.io.chunks`. The client holds a block and the buffer,
  never X; the steps are the lecture's mini-batch steps, but the row order differs from
  the in-memory permutation (see ``docs/out-of-core.md``).

Without a ``distributed.Client`` the same code runs on Dask's local scheduler.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from gdlab._checks import UserError, UserTypeError
from gdlab._typing import FloatArray
from gdlab.io.chunks import Chunk, ChunkMath, is_dask, prefetch

__all__ = ["DaskData", "as_dask_array", "is_dask"]


def as_dask_array(value: Any, name: str, rows: tuple[int, ...] | None) -> Any:
    """A float dask array, chunked by rows only (like ``rows`` when given)."""
    import dask.array as da

    if value is None:
        return None
    if is_dask(value) and not hasattr(value, "blocks"):  # a dask DataFrame or Series
        value = value.to_dask_array(lengths=True)
    elif not is_dask(value):
        if rows is None:
            raise UserTypeError(f"{name} must be a dask array when X is; got {type(value)}.")
        value = da.from_array(np.asarray(value, dtype=float), chunks=(rows,)
                              + ((-1,) if np.ndim(value) == 2 else ()))
    if any(np.isnan(size) for size in value.chunks[0]):
        raise UserError(f"{name} has blocks of unknown size; call "
                         f"{name}.compute_chunk_sizes() (or to_dask_array(lengths=True)).")
    if value.dtype.kind not in "biuf":
        raise UserTypeError(f"{name} must hold numbers; got dtype {value.dtype}.")
    if value.ndim > 2:
        raise UserError(f"{name} must be 1-D or 2-D; got shape {value.shape}.")
    value = value.astype(float)
    if value.ndim == 2:
        value = value.rechunk({1: -1})
    return value if rows is None else value.rechunk({0: rows})


class DaskData:
    """Inputs, target, sample weight and exposure as aligned dask arrays, persisted.

    Parameters
    ----------
    X : dask array of shape (n, p), or a dask DataFrame of numeric columns
    y : dask array, Series or DataFrame with n rows
    sample_weight, exposure : dask arrays (or numpy arrays) of shape (n,), optional
    """

    def __init__(self, X: Any, y: Any, sample_weight: Any = None,
                 exposure: Any = None) -> None:
        import dask

        X = as_dask_array(X, "X", None)
        if X.ndim == 1:
            X = X[:, None]
        rows = X.chunks[0]
        if y is None:
            raise UserTypeError("y is None; pass the target as a dask array aligned with X.")
        arrays = [X, *(as_dask_array(value, name, rows) for name, value in (
            ("y", y), ("sample_weight", sample_weight), ("exposure", exposure)))]
        for name, array in zip(("y", "sample_weight", "exposure"), arrays[1:], strict=True):
            if array is not None and array.shape[0] != X.shape[0]:
                raise UserError(f"X has {X.shape[0]} rows but {name} has {array.shape[0]}; "
                                 "they must describe the same rows.")
        present = [a for a in arrays if a is not None]
        persisted = iter(dask.persist(*present))
        self.X, self.y, self.w, self.e = (None if a is None else next(persisted)
                                          for a in arrays)
        self.n_rows = int(X.shape[0])
        self.n_features = int(X.shape[1])
        self.shuffle_buffer = int(max(rows))
        self._total_weight: float | None = None
        self._check()

    @property
    def n_blocks(self) -> int:
        """The number of blocks of rows."""
        return len(self.X.chunks[0])

    def _arrays(self) -> list[Any]:
        return [a for a in (self.X, self.y, self.w, self.e) if a is not None]

    def _check(self) -> None:
        """One pass on the workers: finite values, exposure > 0, weights >= 0, Σw > 0."""
        import dask
        import dask.array as da

        checks = {"X": ~da.isfinite(self.X), "y": ~da.isfinite(self.y)}
        if self.e is not None:
            checks["exposure"] = ~(da.isfinite(self.e) & (self.e > 0))
        if self.w is not None:
            checks["sample_weight"] = ~(da.isfinite(self.w) & (self.w >= 0))
        per_block = {name: bad.reshape(bad.shape[0], -1).any(axis=1).map_blocks(
            lambda b: np.array([b.sum()]), chunks=(1,), dtype=int)
            for name, bad in checks.items()}
        weight = self.w.sum() if self.w is not None else self.n_rows
        counts, weight = dask.compute(per_block, weight)
        rules = {"X": "finite", "y": "finite", "exposure": "finite and > 0",
                 "sample_weight": "finite and >= 0"}
        for name, rows in counts.items():
            if rows.sum():
                blocks = np.flatnonzero(rows).tolist()
                raise UserError(
                    f"{name} has {int(rows.sum())} row(s) whose values are not {rules[name]} "
                    f"(in Dask block(s) {blocks[:5]}); drop or fix those rows.")
        self._total_weight = float(weight)
        if not self._total_weight > 0:
            raise UserError("sample_weight sums to 0; give positive weights.")

    def total_weight(self) -> float:
        """The number of rows, or the sum of the sample weights."""
        return self._total_weight  # type: ignore[return-value]

    # --- the protocol of gdlab.train.streaming -------------------------------------
    def full_batch_sums(self, math: ChunkMath, theta: FloatArray) -> FloatArray:
        """``[L, ∇L]`` at θ: per-block sums on the workers, tree-reduced by Dask."""
        import dask.array as da

        args: list[Any] = [self.X, "ik", self.y, "il" if self.y.ndim == 2 else "i"]
        for array in (self.w, self.e):
            if array is not None:
                args += [array, "i"]
        parts = da.blockwise(_block_sums, "ij", *args, new_axes={"j": 1 + math.n_params},
                             adjust_chunks={"i": 1}, concatenate=True, dtype=float,
                             meta=np.empty((0, 0)), math=math, theta=np.asarray(theta),
                             total_weight=self.total_weight(), has_w=self.w is not None,
                             has_e=self.e is not None)
        return np.asarray(parts.sum(axis=0).compute())

    def blocks(self, order: Any = None) -> Iterator[Chunk]:
        """The blocks as in-memory chunks, in ``order`` (computed one at a time)."""
        import dask

        delayed = [a.to_delayed().ravel() for a in self._arrays()]
        for index in range(self.n_blocks) if order is None else order:
            values = iter(dask.compute(*(d[index] for d in delayed)))
            X, y = next(values), next(values)
            w = next(values) if self.w is not None else None
            e = next(values) if self.e is not None else None
            yield Chunk(X, y, w, e)

    def stream(self, rng: np.random.Generator | None) -> Iterator[Chunk]:
        """One epoch's blocks, in an order drawn from ``rng`` (in order without it), the
        next block computed while the current one trains."""
        order = None if rng is None else rng.permutation(self.n_blocks).tolist()
        return prefetch(self.blocks(order), depth=1)

    def ordered(self, *, need_target: bool = True) -> Iterator[Chunk]:
        """The blocks in order, read ahead by a thread."""
        return prefetch(self.blocks(), depth=1)


def _block_sums(X: FloatArray, y: FloatArray, *rest: FloatArray, math: ChunkMath,
                theta: FloatArray, total_weight: float, has_w: bool,
                has_e: bool) -> FloatArray:
    """One block's ``[Σ sᵢ Lᵢ, Σ sᵢ ∇Lᵢ]`` as a (1, 1 + P) array (runs on a worker)."""
    values = iter(rest)
    w = next(values) if has_w else None
    e = next(values) if has_e else None
    return math.sums(theta, Chunk(X, y, w, e), total_weight)[None, :]
