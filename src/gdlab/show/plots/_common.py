"""What the pictures share: the figure size, a figure without pyplot, steps on an epoch axis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.transforms import offset_copy

SIZE = (7.0, 4.2)  #: inches; at 100 dpi a 700 × 420 picture


def figure_and_axes(ax: Axes | None, size: tuple[float, float] = SIZE) -> tuple[Figure, Axes]:
    """The figure of ``ax``, or a new figure with one axes (never through pyplot)."""
    if ax is not None:
        return ax.figure, ax
    figure = Figure(figsize=size, layout="constrained")
    return figure, figure.add_subplot()


def step_positions(arrays: Sequence[np.ndarray], epochs: Sequence[int]) -> tuple[np.ndarray, ...]:
    """x = e + (k+1)/S for every step k of every epoch e, and the values side by side."""
    xs = [e + (np.arange(len(a)) + 1) / len(a) for e, a in zip(epochs, arrays, strict=False)]
    if not xs:
        return np.empty(0), np.empty(0)
    return np.concatenate(xs), np.concatenate([np.asarray(a, float) for a in arrays])


def positive_log_scale(ax: Axes) -> None:
    """Log y scale when every drawn value is positive and they span a decade or more."""
    values = np.concatenate([np.asarray(line.get_ydata(), float) for line in ax.get_lines()])
    values = values[np.isfinite(values)]
    if values.size and values.min() > 0 and values.max() / values.min() >= 10:
        ax.set_yscale("log")


def colors(n: int) -> list[Any]:
    """``n`` colours of the viridis map, dark to light (yellow's last 15 % left out)."""
    from matplotlib import colormaps

    return list(colormaps["viridis"](np.linspace(0.0, 0.85, max(n, 1))))


def legend_outside(ax: Axes, handles: Sequence[Any] | None = None,
                   labels: Sequence[str] | None = None, *, below: bool = False,
                   columns: int = 2) -> Legend:
    """The legend beside the axes (right of it), or under its x label: never over the data."""
    options: dict[str, Any] = {"fontsize": "small", "borderaxespad": 0.0}
    if below:  # 38 points under the axes: past the tick labels and the x label
        anchor = offset_copy(ax.transAxes, fig=ax.figure, y=-38, units="points")
        options.update(loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=anchor,
                       ncols=columns)
    else:
        options.update(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    if handles is None:
        return ax.legend(**options)
    return ax.legend(handles, labels, **options)
