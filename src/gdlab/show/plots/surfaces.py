r"""Loss surfaces: contours of the loss over two parameters, and the paths of gradient descent.

The loss at each point of the grid is evaluated on a copy of the model, so drawing never
changes the model it is given (not even for a moment: another thread may be using it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gdlab._checks import UserError
from gdlab.show.plots._common import figure_and_axes, legend_outside
from gdlab.train.model import Sequential
from gdlab.train.saving import model_from_config
from gdlab.train.trace import Step

__all__ = ["loss_surface", "plot_loss_surface"]


def plot_loss_surface(model: Sequential, X: Any, y: Any, traces: Sequence[Any] = (),
                      labels: Sequence[str] | None = None, params: Sequence[Any] | None = None,
                      ax: Axes | None = None, *, sample_weight: Any = None,
                      exposure: Any = None, resolution: int = 41,
                      optimum: Sequence[float] | None = None) -> Figure:
    r"""Loss contours over two parameters, with the paths :math:`\theta_0 \to \theta_1 \to …`.

    The loss (mean over all rows of X) is evaluated on a grid of the two chosen
    parameters; every other parameter is held at the model's current value. Each
    trace is drawn as the path of its θ's: θ before each step, then θ after the last.

    The view holds θ₀, every path and the model's θ with a margin, and the optimum when
    it is given; when the lowest loss of the grid lies on its edge, the view is widened
    towards it (only while the paths still span 20 % of each axis, so they stay large),
    and a minimum still on the edge is labelled so. The contour
    lines are labelled with their loss; the longest path is drawn first, so shorter
    ones stay visible on top of it (each with its own line style and marker); the
    legend sits beside the picture, never on it.

    Parameters
    ----------
    model : Sequential
        A compiled, built model; it is left unchanged (the grid is evaluated on a
        copy).
    X : array-like of shape (n, p)
    y : array-like of shape (n,) or (n, k)
    traces : sequence of Trace, list of Step, or History
        The runs to draw (a History stands for its ``trace``).
    labels : sequence of str, optional
        One per trace (e.g. "batch", "stochastic", "η = 0.1").
    params : two parameter names or indices, optional
        Which θ entries to vary. Default: both parameters of a two-parameter model;
        otherwise the two that moved most along the first trace.
    ax : Axes, optional
    sample_weight, exposure : array-like of shape (n,), optional
    resolution : int
        Grid points per axis.
    optimum : (float, float), optional
        The two parameters' values at the minimum, when known (e.g. the least-squares
        solution): kept in view and marked.

    Returns
    -------
    Figure
    """
    steps_list = [_as_steps(t, i) for i, t in enumerate(traces)]
    labels = list(labels) if labels is not None else [f"run {i + 1}" for i in
                                                      range(len(steps_list))]
    if len(labels) != len(steps_list):
        raise UserError(f"labels must have one entry per trace; got {len(labels)} labels for "
                        f"{len(steps_list)} traces.")
    i, j = _surface_params(model, params, steps_list)
    paths = [_path(steps, i, j) for steps in steps_list]
    known = [] if optimum is None else [_check_optimum(optimum)]
    a, b, loss = loss_surface(model, X, y, i, j, [*paths, *known], resolution,
                              sample_weight=sample_weight, exposure=exposure)
    figure, ax = figure_and_axes(ax, size=(7.8, 5.6))
    _draw_contours(figure, ax, a, b, loss)
    handles = _draw_paths(ax, paths, labels)
    if paths:
        handles += ax.plot(paths[0][0, 0], paths[0][0, 1], "k*", ms=13, ls="none", zorder=20,
                           label="θ₀ (start)")
    if known:
        handles += ax.plot(*known[0], "X", ms=10, color="crimson", markeredgecolor="white",
                           ls="none", zorder=21, label="optimum")
    handles += _draw_lowest(ax, a, b, loss)
    names = model.param_names
    ax.set(xlabel=names[i], ylabel=names[j], xlim=(a[0], a[-1]), ylim=(b[0], b[-1]))
    held = "" if model.n_params == 2 else " (the other parameters fixed)"
    ax.set_title(f"Loss over ({names[i]}, {names[j]}){held}")
    legend_outside(ax, handles, [h.get_label() for h in handles])
    return figure


def _check_optimum(optimum: Sequence[float]) -> np.ndarray:
    point = np.asarray(optimum, dtype=float).reshape(-1)
    if point.size != 2 or not np.isfinite(point).all():
        raise UserError(f"optimum must be the two parameters' values at the minimum, e.g. "
                        f"(2.0, -1.0); got optimum={optimum!r}.")
    return point


def _draw_contours(figure: Figure, ax: Axes, a: np.ndarray, b: np.ndarray,
                   loss: np.ma.MaskedArray) -> None:
    """Filled contours, the contour lines with their loss written on them, a colour bar."""
    levels = np.unique(np.quantile(loss.compressed(), np.linspace(0.0, 1.0, 16)))
    filled = ax.contourf(a, b, loss, levels=levels, cmap="Blues_r", alpha=0.85)
    lines = ax.contour(a, b, loss, levels=levels, colors="white", linewidths=0.6)
    ax.clabel(lines, levels=lines.levels[1:-1:2], fmt="%.3g", fontsize=7, inline=True)
    bar = figure.colorbar(filled, ax=ax, location="bottom", shrink=0.9, aspect=40,
                          label="loss (mean over all rows)", format="%.3g")
    bar.set_ticks(levels[::3])


_PATH_STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D")]


def _draw_paths(ax: Axes, paths: list[np.ndarray], labels: list[str]) -> list[Any]:
    """Each path in its colour, line style and marker; the longest first, underneath and
    widest, so that a path that runs along another one still shows beside it."""
    handles: dict[int, Any] = {}
    order = sorted(range(len(paths)), key=lambda k: -len(paths[k]))
    for rank, k in enumerate(order):
        path, color = paths[k], f"C{(k + 1) % 10}"
        style, marker = _PATH_STYLES[k % len(_PATH_STYLES)]
        long = len(path) > 60  # a long noisy path reads best as a thin solid line
        (handles[k],) = ax.plot(path[:, 0], path[:, 1], ls="-" if long else style,
                                marker=marker, ms=2.0 if long else 3.5,
                                lw=1.3 + 0.5 * (len(paths) - 1 - rank), color=color,
                                zorder=3 + rank,
                                label=f"{labels[k]} ({len(path) - 1} steps)")
        ax.plot(path[-1, 0], path[-1, 1], "s", ms=7, color=color, markeredgecolor="black",
                markeredgewidth=0.6, ls="none", zorder=3 + rank)
    return [handles[k] for k in range(len(paths))]


def _draw_lowest(ax: Axes, a: np.ndarray, b: np.ndarray, loss: np.ma.MaskedArray) -> list[Any]:
    """The grid point of the lowest loss; on the grid's edge, an arrow to it instead."""
    row, column = np.unravel_index(np.ma.argmin(loss), loss.shape)
    if row in (0, b.size - 1) or column in (0, a.size - 1):  # lower still beyond the view
        inward = (np.sign(a.size / 2 - column) * 40, np.sign(b.size / 2 - row) * 30)
        ax.annotate("lower loss beyond", (a[column], b[row]), xytext=inward,
                    textcoords="offset points", ha="center", va="center", fontsize="small",
                    color="black", zorder=19, arrowprops={"arrowstyle": "->", "color": "gold"},
                    bbox={"boxstyle": "round,pad=0.2", "fc": "gold", "ec": "none"})
        return []
    return ax.plot(a[column], b[row], "P", ms=10, color="gold", markeredgecolor="black",
                   ls="none", zorder=19, label="lowest loss in view")


def _as_steps(trace: Any, number: int) -> list[Step]:
    steps = list(getattr(trace, "trace", trace))
    if not steps or not all(hasattr(s, "theta_before") for s in steps):
        raise UserError(f"traces[{number}] must be a non-empty Trace or list of Steps; record "
                        "one with model.fit(..., trace=True).")
    return steps


def _surface_params(model: Sequential, params: Sequence[Any] | None,
                    steps_list: list[list[Step]]) -> tuple[int, int]:
    names = list(model.param_names)
    if params is None:
        if len(names) == 2:
            return 0, 1
        if not steps_list:
            raise UserError("params is needed for a model with more than two parameters "
                            f"(it has {len(names)}); give two of {names[:6]}….")
        steps = steps_list[0]
        moved = np.abs(steps[-1].theta_after - steps[0].theta_before)
        i, j = np.argsort(moved)[::-1][:2]
        return int(i), int(j)
    if len(params) != 2:
        raise UserError(f"params must name two parameters; got params={params!r}.")
    found = []
    for p in params:
        if isinstance(p, str) and p in names:
            found.append(names.index(p))
        elif isinstance(p, int | np.integer) and 0 <= p < len(names):
            found.append(int(p))
        else:
            raise UserError(f"params entry {p!r} is not a parameter of the model; use a name "
                            f"of model.param_names ({names[:6]}…) or an index below "
                            f"{len(names)}.")
    if found[0] == found[1]:
        raise UserError(f"params must be two different parameters; got params={params!r}.")
    return found[0], found[1]


def _path(steps: list[Step], i: int, j: int) -> np.ndarray:
    """θ₀, θ₁, …, θ_T restricted to the two parameters: shape (T + 1, 2)."""
    thetas = [s.theta_before for s in steps] + [steps[-1].theta_after]
    return np.array([[t[i], t[j]] for t in thetas], float)


def _evaluation_copy(model: Sequential) -> Sequential:
    """A fresh model of the same layers and loss, to evaluate at other θ than the model's."""
    if model.loss is None:
        raise UserError("plot_loss_surface needs a compiled model: call "
                        "model.compile(loss=...) first.")
    copy = model_from_config({**model.get_config(), "loss": None}, input_dim=model.input_dim)
    copy.compile(loss=model.loss)
    return copy


_WIDENINGS = 3  #: how often the view may grow towards a minimum on its edge
_PATH_SHARE = 0.2  #: ... as long as the paths still span this share of each axis


def loss_surface(model: Sequential, X: Any, y: Any, i: int, j: int,
                 points: Sequence[np.ndarray], resolution: int,
                 **data: Any) -> tuple[np.ndarray, np.ndarray, np.ma.MaskedArray]:
    """The loss over a grid of θ_i (columns a) and θ_j (rows b), the others at the model's θ.

    The view holds the points (paths, an optimum) and the model's θ with a margin
    (15 % of their spread, at least 0.5); while the lowest loss lies on an edge of the
    grid, that side is pushed out by half the first view's width (at most three times,
    and only while the points still span 20 % of that axis, so the paths stay large
    enough to read; a minimum further out is then marked "lower loss beyond"). Returns
    (a, b, loss) with non-finite losses masked. The model is left unchanged.
    """
    centre = model.theta.copy()
    corners = np.vstack([*points, centre[[i, j]][None, :]])
    finite = corners[np.isfinite(corners).all(axis=1)]
    low, high = finite.min(axis=0), finite.max(axis=0)
    widest = _widest_view(points)
    pad = np.maximum((high - low) * 0.15, 0.5)
    low, high = low - pad, high + pad
    copy, step = _evaluation_copy(model), (high - low) / 2
    for _ in range(_WIDENINGS + 1):
        a = np.linspace(low[0], high[0], resolution)
        b = np.linspace(low[1], high[1], resolution)
        loss = _loss_grid(copy, X, y, i, j, a, b, centre, data)
        row, column = np.unravel_index(np.ma.argmin(loss), loss.shape)
        sides = [(0, column == 0, column == a.size - 1), (1, row == 0, row == b.size - 1)]
        widened = False
        for axis, lo, hi in sides:
            if (lo or hi) and high[axis] - low[axis] + step[axis] <= widest[axis]:
                low[axis] -= step[axis] if lo else 0.0
                high[axis] += step[axis] if hi else 0.0
                widened = True
        if not widened:
            break
    return a, b, loss


def _widest_view(points: Sequence[np.ndarray]) -> np.ndarray:
    """The widest view per axis in which the points (paths, an optimum) still span
    :data:`_PATH_SHARE` of it; unlimited without points."""
    if not points:
        return np.full(2, np.inf)
    stacked = np.vstack(points)
    stacked = stacked[np.isfinite(stacked).all(axis=1)]
    if not stacked.size:
        return np.full(2, np.inf)
    return (stacked.max(axis=0) - stacked.min(axis=0)) / _PATH_SHARE


def _loss_grid(copy: Sequential, X: Any, y: Any, i: int, j: int, a: np.ndarray,
               b: np.ndarray, centre: np.ndarray, data: dict[str, Any]) -> np.ma.MaskedArray:
    """The mean loss at each (a, b) of the grid, evaluated on ``copy``."""
    loss = np.empty((b.size, a.size))
    theta = centre.copy()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # far out: inf
        for row, value_b in enumerate(b):
            for column, value_a in enumerate(a):
                theta[i], theta[j] = value_a, value_b
                copy.set_theta(theta)
                loss[row, column] = copy.evaluate(X, y, **data)
    return np.ma.masked_invalid(loss)
