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
from gdlab.show.plots._common import figure_and_axes
from gdlab.train.model import Sequential
from gdlab.train.saving import model_from_config
from gdlab.train.trace import Step

__all__ = ["plot_loss_surface"]


def plot_loss_surface(model: Sequential, X: Any, y: Any, traces: Sequence[Any] = (),
                      labels: Sequence[str] | None = None, params: Sequence[Any] | None = None,
                      ax: Axes | None = None, *, sample_weight: Any = None,
                      exposure: Any = None, resolution: int = 41) -> Figure:
    r"""Loss contours over two parameters, with the paths :math:`\theta_0 \to \theta_1 \to …`.

    The loss (mean over all rows of X) is evaluated on a grid of the two chosen
    parameters; every other parameter is held at the model's current value. Each
    trace is drawn as the path of its θ's: θ before each step, then θ after the last.

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
    centre = model.theta.copy()
    a, b, loss = _loss_grid(model, X, y, i, j, paths, centre, resolution,
                            sample_weight=sample_weight, exposure=exposure)
    figure, ax = figure_and_axes(ax, size=(6.4, 5.0))
    levels = np.unique(np.quantile(loss.compressed(), np.linspace(0.0, 1.0, 16)))
    filled = ax.contourf(a, b, loss, levels=levels, cmap="Blues_r", alpha=0.85)
    ax.contour(a, b, loss, levels=levels, colors="white", linewidths=0.5)
    figure.colorbar(filled, ax=ax, label="loss (mean over all rows)", format="%.3g")
    for number, (path, label) in enumerate(zip(paths, labels, strict=True)):
        color = f"C{(number + 1) % 10}"
        ax.plot(path[:, 0], path[:, 1], "o-", ms=3, lw=1.5, color=color,
                label=f"{label} ({len(path) - 1} steps)")
        ax.plot(path[-1, 0], path[-1, 1], "s", ms=7, color=color)
    if paths:
        ax.plot(paths[0][0, 0], paths[0][0, 1], "k*", ms=13, label="θ₀ (start)")
    low = np.unravel_index(np.nanargmin(loss), loss.shape)
    ax.plot(a[low[1]], b[low[0]], "P", ms=10, color="gold", markeredgecolor="black",
            label="lowest loss in view")
    names = model.param_names
    ax.set(xlabel=names[i], ylabel=names[j], xlim=(a[0], a[-1]), ylim=(b[0], b[-1]))
    held = "" if model.n_params == 2 else " (the other parameters fixed)"
    ax.set_title(f"Loss over ({names[i]}, {names[j]}){held}")
    ax.legend(loc="best", fontsize="small")
    return figure


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


def _loss_grid(model: Sequential, X: Any, y: Any, i: int, j: int, paths: list[np.ndarray],
               centre: np.ndarray, resolution: int, **data: Any) -> tuple[np.ndarray, ...]:
    """The grid (a, b) around the paths and θ, and the mean loss at each point of it."""
    points = np.vstack([*paths, centre[[i, j]][None, :]])
    finite = points[np.isfinite(points).all(axis=1)]
    low, high = finite.min(axis=0), finite.max(axis=0)
    pad = np.maximum((high - low) * 0.15, 0.5)
    a = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    b = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    loss = np.empty((b.size, a.size))
    copy, theta = _evaluation_copy(model), centre.copy()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # far out: inf
        for row, value_b in enumerate(b):
            for column, value_a in enumerate(a):
                theta[i], theta[j] = value_a, value_b
                copy.set_theta(theta)
                loss[row, column] = copy.evaluate(X, y, **data)
    return a, b, np.ma.masked_invalid(loss)
