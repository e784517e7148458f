r"""The numbers behind the playground's pictures: loss contours, boundaries, fitted lines.

The page draws these grids as they are; it computes nothing itself.

- :func:`contours`: the mean loss over all rows on a grid of two parameters
  :math:`(\theta_i, \theta_j)`, the others held at the current θ.
- :func:`picture`: the decision boundary (a grid of predicted probabilities or classes)
  for two features, or the fitted curve for one feature.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import gdlab as gd
from gdlab._typing import FloatArray
from gdlab.explorer.datasets import Dataset
from gdlab.explorer.isolines import isolines, loss_levels

__all__ = ["contour_box", "contours", "finite", "picture"]

#: Grid points per axis of the decision boundary and of the loss contours.
GRID = 31
CONTOUR_GRID = 21
#: Contours of larger data sets use a fixed sample of this many rows (a shared server
#: draws 441 losses per grid: it must stay quick).
CONTOUR_ROWS = 500
#: Contours never reach past this |θ| (a diverged path is drawn clipped).
MAX_ABS_THETA = 1e4


def finite(values: Any) -> Any:
    """Floats for JSON: NaN and ±inf become None (JSON has no such numbers).

    Examples
    --------
    >>> finite(np.array([1.0, np.inf, np.nan]))
    [1.0, None, None]
    """
    array = np.asarray(values, dtype=float)
    if array.ndim == 0:
        return float(array) if math.isfinite(array) else None
    ok = np.isfinite(array)
    if ok.all():
        return array.tolist()
    return np.where(ok, array, None).tolist()  # an object array: None where not finite


def contour_box(points: FloatArray, *, min_half_width: float = 1.5) -> list[list[float]]:
    """A square-ish box around the given 2-D points, padded, at least ±``min_half_width``.

    Examples
    --------
    >>> contour_box(np.array([[0.0, 0.0], [2.0, -1.0]]))
    [[-0.5, 2.5], [-2.0, 1.0]]
    """
    points = np.asarray(points, dtype=float)
    points = points[np.isfinite(points).all(axis=1)]
    points = np.clip(points, -MAX_ABS_THETA, MAX_ABS_THETA)
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre, half = (lo + hi) / 2.0, np.maximum((hi - lo) / 2.0 * 1.3, min_half_width)
    half = np.maximum(half, half.max() / 4.0)
    return [[float(c - h), float(c + h)] for c, h in zip(centre, half, strict=True)]


def contours(model: gd.Sequential, data: Dataset, i: int, j: int,
             box: list[list[float]]) -> dict[str, Any]:
    r"""The mean loss on a square grid over :math:`(\theta_i, \theta_j)`, others fixed.

    Returns
    -------
    dict
        ``a`` (values of θ_i), ``b`` (values of θ_j) and ``loss[row_b][col_a]``, the mean
        over all rows, or over a fixed sample of ``CONTOUR_ROWS`` rows of a larger data
        set (``rows`` says how many); ``levels`` and ``lines``, the contour lines to draw
        (:mod:`gdlab.explorer.isolines`).
    """
    n_params = model.n_params
    for name, value in (("i", i), ("j", j)):
        if not isinstance(value, int) or not 0 <= value < n_params:
            raise ValueError(f"{name} must be a parameter index in 0…{n_params - 1}; "
                             f"got {name}={value!r}.")
    if i == j:
        raise ValueError(f"Choose two different parameters; got i=j={i}.")
    X, y = data.X, data.y
    if X.shape[0] > CONTOUR_ROWS:
        rows = np.sort(np.random.default_rng(0).choice(X.shape[0], CONTOUR_ROWS, replace=False))
        X, y = X[rows], y[rows]
    a = np.linspace(*box[0], CONTOUR_GRID)
    b = np.linspace(*box[1], CONTOUR_GRID)
    with np.errstate(all="ignore"):
        grid = _one_layer_grid if len(model.layers) == 1 else _loss_grid
        loss = grid(model, X, y, i, j, a, b)
    levels = loss_levels(loss)
    return {"i": i, "j": j, "a": a.tolist(), "b": b.tolist(), "loss": finite(loss),
            "rows": int(X.shape[0]), "n": int(data.X.shape[0]), "levels": levels,
            "lines": isolines(a, b, loss, levels)}


def _loss_grid(model: gd.Sequential, X: FloatArray, y: FloatArray, i: int, j: int,
               a: FloatArray, b: FloatArray) -> FloatArray:
    """The mean loss at every grid point (θ_i = a[col], θ_j = b[row]) as ``model.evaluate``
    computes it, the target checked once rather than at each point; θ restored."""
    Y, loss_of = _loss_of_logits(model, X, y)
    saved = model.theta.copy()
    theta = saved.copy()
    loss = np.empty((b.size, a.size))
    try:
        for row, value_b in enumerate(b):
            for col, value_a in enumerate(a):
                theta[i], theta[j] = value_a, value_b
                model.theta = theta
                out, caches = model.forward(X)
                loss[row, col] = loss_of(Y, caches[-1].Z, out).mean()
    finally:
        model.theta = saved
    return loss


def _loss_of_logits(model: gd.Sequential, X: FloatArray, y: FloatArray) -> tuple[Any, Any]:
    """The encoded target and ``f(Y, Z, A)``, each row's loss from the output layer's Z
    (the stable fused path, when the loss has one for that activation) or its A."""
    from gdlab.io.data import check_y
    from gdlab.nn.losses import FUSED_LINK

    loss, last = model.loss, model.layers[-1]
    Y = loss.check_target(check_y(y, X.shape[0]), last.units)
    if FUSED_LINK.get(loss.name) == last.activation.name:
        return Y, lambda Y, Z, A: loss.value_from_logits(Y, Z)
    return Y, lambda Y, Z, A: loss.value(Y, A)


def _one_layer_grid(model: gd.Sequential, X: FloatArray, y: FloatArray, i: int, j: int,
                    a: FloatArray, b: FloatArray) -> FloatArray:
    r"""The same grid in one pass for a one-layer model, whose :math:`Z = XW + b` is linear
    in θ: :math:`Z(\theta) = Z_0 + (a - \theta_i) Z_i + (b - \theta_j) Z_j` with
    :math:`Z_i = \partial Z / \partial \theta_i`, then the loss of every grid point's Z."""
    saved = model.theta.copy()
    try:
        Z0 = model.forward(X)[1][-1].Z
        slopes = []
        for k in (i, j):
            shifted = saved.copy()
            shifted[k] += 1.0
            model.theta = shifted
            slopes.append(model.forward(X)[1][-1].Z - Z0)
    finally:
        model.theta = saved
    da, db = a - saved[i], b - saved[j]
    Z = (Z0[None, None] + db[:, None, None, None] * slopes[1][None, None]
         + da[None, :, None, None] * slopes[0][None, None])  # (rows b, cols a, n, k)
    n, k = Z0.shape
    flat = Z.reshape(-1, k)
    Y, loss_of = _loss_of_logits(model, X, y)
    Y = np.broadcast_to(Y, (b.size * a.size, n, k)).reshape(-1, k)
    per_row = loss_of(Y, flat, model.layers[0].activation.forward(flat))
    return per_row.reshape(b.size, a.size, n).mean(axis=2)


def picture(model: gd.Sequential, data: Dataset) -> dict[str, Any] | None:
    """The model's decision boundary (two features) or fitted curve (one feature)."""
    p = data.X.shape[1]
    with np.errstate(all="ignore"):
        if p == 1:
            lo, hi = data.X[:, 0].min(), data.X[:, 0].max()
            pad = 0.1 * (hi - lo) or 1.0
            x = np.linspace(lo - pad, hi + pad, 61)
            return {"kind": "curve", "x": x.tolist(),
                    "y": finite(model.predict(x[:, None])[:, 0])}
        if p != 2 or data.kind == "regression":
            return None
        lo, hi = data.X.min(axis=0), data.X.max(axis=0)
        pad = 0.1 * (hi - lo)
        a = np.linspace(lo[0] - pad[0], hi[0] + pad[0], GRID)
        b = np.linspace(lo[1] - pad[1], hi[1] + pad[1], GRID)
        grid_a, grid_b = np.meshgrid(a, b)
        out = model.predict(np.column_stack([grid_a.ravel(), grid_b.ravel()]))
    result: dict[str, Any] = {"kind": "boundary", "a": a.tolist(), "b": b.tolist()}
    # probabilities only shade the picture: 3 decimals keep the answer (and its JSON) small
    if out.shape[1] == 1:
        result["p"] = finite(out[:, 0].reshape(GRID, GRID).round(3))
    else:
        result["cls"] = out.argmax(axis=1).reshape(GRID, GRID).tolist()
        result["p"] = finite(out.max(axis=1).reshape(GRID, GRID).round(3))
    return result
