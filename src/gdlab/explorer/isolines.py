r"""Contour lines of the loss for the playground: smooth polylines with their levels.

The loss is computed on a coarse grid (:data:`gdlab.explorer.views.CONTOUR_GRID` points a
side: every point costs a pass over the data), interpolated by a bicubic spline onto a
grid :data:`REFINE` times finer (:class:`scipy.interpolate.RectBivariateSpline`, exact for
a quadratic loss such as a linear model's MSE), and traced by marching squares
(:mod:`contourpy`, matplotlib's contour engine), so that the page draws lines, not cells.

Levels are spaced evenly in :math:`\log L` between the lowest loss in view and a high
quantile (the corners of a wide view are huge and would take every level), so that
each line is a constant factor above the next, as the contours of a bowl are drawn in
the lecture.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import interpolate

from gdlab._typing import FloatArray

__all__ = ["REFINE", "isolines", "loss_levels"]

#: How many times finer than the loss grid the lines are traced.
REFINE = 6
#: Number of contour lines.
N_LEVELS = 10
#: The highest level is at most this many times the lowest.
MAX_RANGE = 1e3


def loss_levels(loss: FloatArray, count: int = N_LEVELS) -> list[float]:
    """``count`` levels, evenly spaced in log between the lowest loss and its 90th percentile
    (at most :data:`MAX_RANGE` apart).

    Examples
    --------
    >>> [round(v, 3) for v in loss_levels(np.array([[1.0, 10.0], [100.0, 1000.0]]), 3)]
    [5.198, 27.019, 140.44]
    """
    values = np.asarray(loss, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size < 2 or values.max() <= values.min():
        return []
    low, high = np.log(values.min()), np.log(np.quantile(values, 0.9))
    if high <= low:
        high = np.log(values.max())
    low = max(low, high - np.log(MAX_RANGE))  # a loss of ~0 at the minimum: 3 decades
    return np.exp(np.linspace(low, high, count + 2)[1:-1]).tolist()


def isolines(a: FloatArray, b: FloatArray, loss: FloatArray,
             levels: list[float]) -> list[dict[str, Any]]:
    """For each level, the polylines where the (interpolated) loss equals it.

    Parameters
    ----------
    a, b : ndarray
        The grid's values of θ_i (columns) and θ_j (rows).
    loss : ndarray of shape (len(b), len(a))
        The loss at each grid point (NaN or inf where it is not finite).
    levels : list of float

    Returns
    -------
    list of dict
        ``{"level": v, "paths": [[[θ_i, θ_j], ...], ...]}``, rounded to 5 significant
        digits (they are drawn, not read).
    """
    import contourpy

    values = np.asarray(loss, dtype=float)
    ok = np.isfinite(values) & (values > 0)
    if not ok.any() or not levels:
        return []
    filled = np.where(ok, values, values[ok].max())  # off-scale points: the top of the view
    spline = interpolate.RectBivariateSpline(b, a, filled, kx=3, ky=3)
    fa = np.linspace(a[0], a[-1], REFINE * (len(a) - 1) + 1)
    fb = np.linspace(b[0], b[-1], REFINE * (len(b) - 1) + 1)
    generator = contourpy.contour_generator(fa, fb, spline(fb, fa), line_type="Separate")
    out = []
    for level in levels:
        paths = [np.round(path, _decimals(a, b)).tolist()
                 for path in generator.lines(float(level)) if len(path) > 1]
        out.append({"level": float(level), "paths": paths})
    return out


def _decimals(a: FloatArray, b: FloatArray) -> int:
    """Decimals that keep 5 significant digits of the view's width."""
    width = max(float(a[-1] - a[0]), float(b[-1] - b[0]), 1e-12)
    return max(0, 5 - int(np.floor(np.log10(width))))
