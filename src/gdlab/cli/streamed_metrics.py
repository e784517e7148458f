r"""The metrics of ``gdlab fit`` and the stability note of ``gdlab lr-sweep``, in passes
over data read in chunks (a streamed :class:`~gdlab.io.parquet.ParquetSource`, or Dask
arrays whose blocks are summed on the workers).

:func:`streamed_metrics` gives the keys of :func:`gdlab.cli.fitting.metrics_for`, with
the same meaning, from two passes; no pass holds more than one chunk:

1. :math:`n`, :math:`\Sigma y`, :math:`\Sigma e` (e = 1 without an exposure): the mean
   :math:`\bar y = \Sigma y / n` and the null model's rate :math:`r_0 = \Sigma y / \Sigma e`;
2. per chunk, with :math:`\mu = e\hat y`: :math:`\Sigma L_i` (the chunk's mean loss times
   its rows), the rows classified right, :math:`\Sigma(\mu - y)^2`, :math:`\Sigma|\mu - y|`,
   :math:`\Sigma(y - \bar y)^2`, the model's deviances :math:`\Sigma d_i` and the null
   model's :math:`\Sigma d^0_i` (:math:`d^0_i` the deviance of :math:`\mu_0 = e_i r_0`).

Then loss = ΣL/n, accuracy = hits/n, mse = Σ(μ−y)²/n, mae = Σ|μ−y|/n,
r2 = 1 − Σ(μ−y)²/Σ(y−ȳ)², mean_deviance = Σd/n, deviance_per_exposure = Σd/Σe,
null_mean_deviance = Σd⁰/n, deviance_explained = 1 − Σd/Σd⁰. They equal the in-memory
values up to the order of the floating-point additions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from gdlab.io.parquet import ParquetSource
from gdlab.train.saving import model_from_config
from gdlab.train.scores import accuracy
from gdlab.train.stability import stability_note

__all__ = ["streamed_metrics", "streamed_stability_note"]

Sums = dict[str, float]


def _first_sums(X: Any, y: np.ndarray, e: np.ndarray | None) -> Sums:
    """Pass 1 of a chunk: rows, Σy, Σe (X is not used)."""
    return {"n": float(y.size), "y": float(y.sum()),
            "e": float(y.size if e is None else e.sum())}


def _second_sums(X: np.ndarray, y: np.ndarray, e: np.ndarray | None, *, model: Any,
                 kind: str, y_mean: float, null_rate: float) -> Sums:
    """Pass 2 of a chunk: the sums of the module docstring, as metrics_for computes them."""
    loss = model.loss
    Y = loss.check_target(y, model.layers[-1].units)
    value = model.evaluate(X, y, exposure=e)
    sums = {"loss": y.size * float(value["loss"] if isinstance(value, dict) else value)}
    out = model.predict(X)  # the rate ŷ; μ = e·ŷ is what y is compared with
    if kind in ("logistic", "softmax"):
        sums["hits"] = y.size * accuracy(Y, out)
    elif kind == "linear":
        errors = model.predict(X, exposure=e)[:, 0] - y
        sums.update(squares=float(errors @ errors), absolute=float(np.abs(errors).sum()),
                    spread=float(((y - y_mean) ** 2).sum()))
    else:
        sums["deviance"] = float(loss.value(Y, out, exposure=e).sum())
        sums["null"] = float(loss.value(Y, np.full((y.size, 1), null_rate), exposure=e).sum())
    return sums


def _add(total: Sums, sums: Sums) -> Sums:
    for key, value in sums.items():
        total[key] = total.get(key, 0.0) + value
    return total


def _parquet_sums(source: ParquetSource, part: Callable[..., Sums], **kwargs: Any) -> Sums:
    """The sums of ``part`` over the source's chunks, read one by one (ahead by a thread);
    pass 1 reads only the target and exposure columns."""
    total: Sums = {}
    if part is _first_sums:
        names = [c for c in (source.target, source.exposure) if c]
        for _, batch in source.frames(columns=names):
            y, e = (np.asarray(batch.column(c).to_numpy(zero_copy_only=False), dtype=float)
                    if c else None for c in (source.target, source.exposure))
            _add(total, _first_sums(None, y, e))
        return total
    for chunk in source.ordered():
        _add(total, part(chunk.X, chunk.y, chunk.e, **kwargs))
    return total


def _dask_sums(arrays: tuple[Any, ...], part: Callable[..., Sums], **kwargs: Any) -> Sums:
    """The sums of ``part`` over Dask blocks, computed on the workers; only the small
    dictionaries of sums reach the client."""
    import dask

    X, y, e = arrays
    blocks = [a.to_delayed().ravel() for a in (X, y)]
    exposure = e.to_delayed().ravel() if e is not None else [None] * len(blocks[0])
    tasks = [dask.delayed(part)(xb, yb, eb, **kwargs)
             for xb, yb, eb in zip(*blocks, exposure, strict=True)]
    total: Sums = {}
    for sums in dask.compute(*tasks):
        _add(total, sums)
    return total


def _finish(kind: str, first: Sums, second: Sums, has_exposure: bool) -> dict[str, float]:
    """The metrics from the two passes' sums (the module docstring's ratios)."""
    n = first["n"]
    results: dict[str, Any] = {"loss": second["loss"] / n, "rows": int(n)}
    if kind in ("logistic", "softmax"):
        results["accuracy"] = second["hits"] / n
    elif kind == "linear":
        results.update(mse=second["squares"] / n, mae=second["absolute"] / n,
                       r2=1 - second["squares"] / second["spread"])
    else:
        results["mean_deviance"] = second["deviance"] / n
        if has_exposure:
            results["deviance_per_exposure"] = second["deviance"] / first["e"]
        results["null_mean_deviance"] = second["null"] / n
        results["deviance_explained"] = 1 - second["deviance"] / second["null"]
    return results


def streamed_metrics(model: Any, kind: str, data: ParquetSource | tuple[Any, ...]) -> dict:
    """:func:`~gdlab.cli.fitting.metrics_for` of ``model`` on data read in chunks.

    Parameters
    ----------
    model : Sequential
        The trained model (a fresh copy of it is sent to Dask workers).
    kind : str
        The preset (``linear``, ``logistic``, ``softmax``, ``poisson``, …).
    data : ParquetSource or tuple (X, y, exposure) of dask arrays
        The rows (the exposure may be None).
    """
    if isinstance(data, ParquetSource):
        def total(part: Callable[..., Sums], **kwargs: Any) -> Sums:
            return _parquet_sums(data, part, **kwargs)
        has_exposure = data.exposure is not None
    else:
        copy = model_from_config(model.get_config(), input_dim=model.input_dim)
        copy.set_theta(model.theta)  # small and picklable: no history, no callbacks
        model = copy

        def total(part: Callable[..., Sums], **kwargs: Any) -> Sums:
            return _dask_sums(data, part, **kwargs)
        has_exposure = data[2] is not None
    first = total(_first_sums)
    second = total(_second_sums, model=model, kind=kind, y_mean=first["y"] / first["n"],
                   null_rate=first["y"] / first["e"])
    return _finish(kind, first, second, has_exposure)


# --- the sweep's stability note ----------------------------------------------------------
def _is_linear_mse(model: Any) -> bool:
    """As :mod:`gdlab.train.stability` tells the quadratic case (its bound is exact)."""
    layers = model.layers
    return (len(layers) == 1 and layers[0].activation.name == "linear"
            and getattr(model.loss, "name", "") == "mse")


def _rows(source: ParquetSource, wanted: np.ndarray) -> Iterator[tuple[Any, np.ndarray]]:
    """(chunk, the positions in it of the ``wanted`` row numbers), in file order."""
    start = 0
    for chunk in source.ordered():
        lo, hi = np.searchsorted(wanted, [start, start + chunk.rows])
        yield chunk, wanted[lo:hi] - start
        start += chunk.rows


def _linear_mse_note(model: Any, source: ParquetSource, rates: Any) -> str:
    r"""The exact bound of a linear model's MSE from one pass:
    :math:`H = \frac{2}{k n} \sum_i e_i^2 \tilde x_i \tilde x_i^\top` (Gram matrix summed
    chunk by chunk), worded as :func:`~gdlab.train.stability.stability_note` words it."""
    bias = model.layers[0].use_bias
    gram = 0.0
    for chunk in source.ordered():
        X1 = np.column_stack([chunk.X, np.ones(chunk.rows)]) if bias else chunk.X
        e = np.ones(chunk.rows) if chunk.e is None else chunk.e
        gram = gram + (X1.T * (e * e)) @ X1
    H = 2.0 / (model.layers[0].units * source.n_rows) * gram
    value = float(np.linalg.eigvalsh(H)[-1])
    bound = 2.0 / value if value > 0 else np.inf
    above = [f"{r:g}" for r in rates if r > bound]
    return (f"Largest stable learning rate 2/λ_max = {bound:.4g} (exact: the MSE of a linear "
            "model is quadratic, so full-batch gradient descent converges below it and "
            f"diverges above); above it: {', '.join(above) if above else 'none of the rates'}.")


def streamed_stability_note(model: Any, source: ParquetSource, rates: Any, *,
                            max_rows: int = 100_000) -> str:
    """:func:`~gdlab.train.stability.stability_note` on streamed data: the same line as in
    memory on the same rows.

    A linear model's MSE: its exact bound, from the Gram matrix summed in one pass. Any
    other model: power iteration on the rows the in-memory note uses, gathered in one
    pass (all rows up to ``max_rows``, beyond that the same seeded sample of ``max_rows``
    rows; they are at most ``max_rows`` rows in memory).
    """
    n = source.n_rows
    if _is_linear_mse(model) and n > max_rows:
        return _linear_mse_note(model, source, rates)
    wanted = (np.arange(n) if n <= max_rows else
              np.sort(np.random.default_rng(0).choice(n, max_rows, replace=False)))
    parts = [(chunk.X[at], chunk.y[at], None if chunk.e is None else chunk.e[at])
             for chunk, at in _rows(source, wanted) if at.size]
    X, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    exposure = None if source.exposure is None else np.concatenate([p[2] for p in parts])
    return stability_note(model, X, y, exposure=exposure, rates=rates, max_rows=max_rows)
