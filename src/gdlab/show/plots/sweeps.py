"""Learning rates compared: the same model from the same θ₀, too small, good, too large.

The runs come from :func:`gdlab.train.sweep.learning_rate_sweep`, which trains copies of
the model: drawing never trains or changes the model it is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gdlab.show.plots._common import colors, figure_and_axes, legend_outside
from gdlab.train.callbacks import History
from gdlab.train.model import Sequential
from gdlab.train.sweep import SweepResult, learning_rate_sweep

__all__ = ["plot_learning_rates", "plot_sweep"]

_VERDICT_STYLE = {"too small": ":", "good": "-", "too large": "--"}


def plot_learning_rates(model: Sequential, X: Any, y: Any,
                        learning_rates: Sequence[float] = (0.001, 0.01, 0.1, 1.0), *,
                        epochs: int = 20, batch_size: int | str = "full", ax: Axes | None = None,
                        **fit_kwargs: Any) -> Figure:
    """Train the same model from the same θ₀ at several learning rates and compare.

    Runs :func:`gdlab.train.sweep.learning_rate_sweep` and draws its result with
    :func:`plot_sweep`. To keep the table as well, call the two yourself.

    Parameters
    ----------
    model : Sequential
        A compiled model; its θ is θ₀ of every run and it is left unchanged.
    X : array-like of shape (n, p)
    y : array-like of shape (n,) or (n, k)
    learning_rates : sequence of float
    epochs : int
    batch_size : "full", 1 or int
    ax : Axes, optional
    **fit_kwargs
        Passed to :func:`~gdlab.train.sweep.learning_rate_sweep` (``seed``, ``sample_weight``,
        ``exposure``, ``optimizer``).

    Returns
    -------
    Figure
    """
    result = learning_rate_sweep(model, X, y, learning_rates, epochs=epochs,
                                 batch_size=batch_size, **fit_kwargs)
    return plot_sweep(result, ax=ax)


def plot_sweep(result: SweepResult, ax: Axes | None = None) -> Figure:
    """Loss curves of a learning-rate sweep on one log-scaled axis, with their verdicts.

    Each rate's training loss per epoch is drawn from its initial loss at x = 0. A
    diverged run is drawn up to the step where it diverged and ends in a red ✕ at the
    top of the axis, labelled with that step: the lecture's "too small / too large" in
    one picture. Labels count epochs and steps from 1, as the x axis does: a run that
    diverged in its 3rd epoch (``diverged_epoch == 2``) ends at x = 3, "in epoch 3".

    Parameters
    ----------
    result : SweepResult
        From :func:`gdlab.train.sweep.learning_rate_sweep`.
    ax : Axes, optional

    Returns
    -------
    Figure
    """
    figure, ax = figure_and_axes(ax)
    table = result.table
    finite = [v for h in result.histories.values() for v in h.history.get("loss", [])
              if math.isfinite(v) and v > 0] + [v for v in table["initial_loss"] if v > 0]
    top = min(max(finite), 1e3 * max(table["initial_loss"])) * 3 if finite else 1.0
    diverged = []
    for color, (_, row) in zip(colors(len(table)), table.iterrows(), strict=False):
        history = result.histories[row["learning_rate"]]
        x, values = _sweep_curve(row, history)
        label = f"η = {row['learning_rate']:g}: {row['verdict']}"
        style = _VERDICT_STYLE.get(row["verdict"], "-")
        ax.plot(x, values, ls=style, marker="o", ms=3, lw=2, color=color, label=label)
        if row["diverged"]:
            diverged.append(_mark_divergence(ax, row, history, x, values, top, color))
    ax.set_yscale("log")
    ax.set_ylim(top=top * 3)
    ax.set(xlabel="epoch", ylabel="training loss (log scale)",
           title="Learning rates: the same model from the same θ₀")
    _say_divergences(ax, diverged, top)
    legend_outside(ax)
    ax.grid(alpha=0.3, which="both")
    return figure


def _sweep_curve(row: pd.Series, history: History) -> tuple[np.ndarray, np.ndarray]:
    """x = 0, 1, …: the initial loss and the loss of each completed epoch."""
    losses = [v for v in history.history.get("loss", [])]
    values = np.asarray([row["initial_loss"], *losses], float)
    return np.arange(values.size, dtype=float), values


def _divergence_x(row: pd.Series, history: History) -> float:
    """Where the run stopped, in epochs: after step k of epoch e at e + (k+1)/S.

    ``e`` and ``k`` are 0-based (the sweep table's); a reader's epoch e + 1 ends at
    x = e + 1, where its label "in epoch e + 1" sits, and the global step e·S + k, which
    the label calls step e·S + k + 1, ends at x = (e·S + k + 1)/S.
    """
    steps = int(history.params.get("steps", 1) or 1)
    epoch = int(row["diverged_epoch"])
    step = row["diverged_step"]
    if step is None or (isinstance(step, float) and math.isnan(step)):
        return float(epoch + 1)
    return epoch + (int(step) - epoch * steps + 1) / steps


def _mark_divergence(ax: Axes, row: pd.Series, history: History, x: np.ndarray,
                     values: np.ndarray, top: float, color: Any) -> tuple[float, str]:
    """A dotted line from the last finite loss up to a red ✕ where the run diverged."""
    where = _divergence_x(row, history)
    last = np.flatnonzero(np.isfinite(values))
    start_x, start_y = (x[last[-1]], min(values[last[-1]], top)) if last.size else (0.0, top)
    ax.plot([start_x, where], [start_y, top], ls=":", lw=1.5, color=color)
    ax.plot([where], [top], marker="X", ms=11, color="tab:red", ls="none")
    step = row["diverged_step"]
    text = (f"η = {row['learning_rate']:g} diverged" + (f" at step {int(step) + 1}"
            if step is not None and not (isinstance(step, float) and math.isnan(step))
            else f" in epoch {int(row['diverged_epoch']) + 1}"))  # counted from 1
    return where, text


def _say_divergences(ax: Axes, marks: list[tuple[float, str]], top: float) -> None:
    """Each ✕'s note below it, on the side of the ✕ that keeps it inside the axes."""
    low, high = ax.get_xlim()
    for number, (where, text) in enumerate(marks):
        left = where > low + 0.55 * (high - low)
        ax.annotate(text, (where, top), xytext=(-8 if left else 8, -6 - 13 * number),
                    textcoords="offset points", fontsize="small", color="tab:red", va="top",
                    ha="right" if left else "left",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                          "alpha": 0.8})
