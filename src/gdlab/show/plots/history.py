r"""Learning curves and gradient norms, per epoch, from a :class:`~gdlab.train.callbacks.History`.

Time runs in epochs on the x axis: epoch :math:`e` (0-based) ends at :math:`x = e + 1`,
and step :math:`k` of :math:`S` in epoch :math:`e` is drawn at :math:`x = e + (k+1)/S`.
Labels count from 1, like the axis: the first epoch (e = 0) is "epoch 1", at x = 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gdlab._checks import UserError
from gdlab.show.plots._common import (
    figure_and_axes,
    legend_outside,
    positive_log_scale,
    step_positions,
)
from gdlab.train.callbacks import History

__all__ = ["plot_gradients", "plot_history"]


def plot_history(history: History, ax: Axes | None = None) -> Figure:
    """Training and validation loss per epoch, with the per-step losses behind them.

    For stochastic and mini-batch runs the loss of every step is drawn faintly behind
    the epoch means, so the noise of SGD is visible. When the learning rate changes
    during training, it is drawn per step on a second y axis. The best epoch (lowest
    validation loss, or training loss without validation) is marked.

    Parameters
    ----------
    history : History
        As returned by ``model.fit``.
    ax : Axes, optional

    Returns
    -------
    Figure
    """
    figure, ax = figure_and_axes(ax)
    logs = history.history
    if not logs.get("loss"):
        raise UserError("history has no epochs to draw; train with model.fit(...) first.")
    epochs = list(history.epoch) or list(range(len(logs["loss"])))
    x = np.asarray(epochs[:len(logs["loss"])], float) + 1.0
    params = getattr(history, "params", {}) or {}
    steps = int(params.get("steps", 1) or 1)
    if steps > 1 and history.step_loss:
        sx, sy = step_positions(history.step_loss, epochs)
        ax.plot(sx, sy, lw=0.8, alpha=0.35, color="tab:blue",
                label=f"loss of each step (batch of {params.get('batch_size')})")
    ax.plot(x, logs["loss"], "o-", ms=3, lw=2, color="tab:blue", label="training loss")
    if logs.get("val_loss"):
        ax.plot(x[:len(logs["val_loss"])], logs["val_loss"], "s-", ms=3, lw=2,
                color="tab:orange", label="validation loss")
    _mark_best(ax, x, logs)
    positive_log_scale(ax)
    # a margin on the right: the best epoch's star may be the last one
    ax.set(xlabel="epoch", ylabel="loss", xlim=(0, x[-1] + max(0.3, 0.04 * x[-1])))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = ax.get_legend_handles_labels()
    rate_ax = _draw_step_learning_rate(ax, history, epochs)
    if rate_ax is not None:
        more = rate_ax.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    if history.diverged:
        ax.text(0.99, 0.97, f"diverged at epoch {history.diverged['epoch'] + 1}",
                transform=ax.transAxes, ha="right", va="top", color="tab:red")
    legend_outside(ax, handles, labels, below=True, columns=3)
    ax.set_title(_history_title(params))
    ax.grid(alpha=0.3)
    return figure


def _history_title(params: dict[str, Any]) -> str:
    variant = params.get("variant")
    if not variant:
        return "Learning curves"
    return f"Learning curves ({variant} gradient descent, {params.get('steps')} steps per epoch)"


def _mark_best(ax: Axes, x: np.ndarray, logs: dict[str, list[float]]) -> None:
    key = "val_loss" if logs.get("val_loss") else "loss"
    values = np.asarray(logs[key], float)
    if not np.isfinite(values).any():
        return
    best = int(np.nanargmin(np.where(np.isfinite(values), values, np.nan)))
    ax.axvline(x[best], color="tab:green", lw=1, ls=":")
    ax.plot([x[best]], [values[best]], "*", ms=14, color="tab:green",
            label=f"best epoch {best + 1} ({key} = {values[best]:.4g})")


def _draw_step_learning_rate(ax: Axes, history: History, epochs: list[int]) -> Axes | None:
    if not history.step_learning_rate:
        return None
    sx, rates = step_positions(history.step_learning_rate, epochs)
    if np.unique(rates).size < 2:
        return None
    twin = ax.twinx()
    twin.plot(sx, rates, drawstyle="steps-post", color="tab:purple", lw=1.2,
              label="learning rate η (per step)")
    twin.set_ylabel("learning rate η", color="tab:purple")
    return twin


def plot_gradients(history: History, ax: Axes | None = None) -> Figure:
    r"""Per-layer gradient norms per epoch (vanishing, exploding or dead layers).

    Draws ``history.history["grad_norm[l]"]``: the root mean square over the epoch's
    steps of layer l's gradient norm :math:`\lVert (dW_l, db_l) \rVert`, and for a model
    with embeddings ``grad_norm[0]``, that of all the tables :math:`\lVert dE \rVert`
    (labelled "embeddings").

    Parameters
    ----------
    history : History
    ax : Axes, optional

    Returns
    -------
    Figure
    """
    figure, ax = figure_and_axes(ax)
    keys = sorted((k for k in history.history if k.startswith("grad_norm[")),
                  key=lambda k: int(k[len("grad_norm["):-1]))
    if not keys:
        raise UserError("history has no grad_norm[l] entries; train with model.fit(...) first.")
    epochs = list(history.epoch) or list(range(len(history.history[keys[0]])))
    for key in keys:
        values = history.history[key]
        x = np.asarray(epochs[:len(values)], float) + 1.0
        number = key[len("grad_norm["):-1]
        label = "embeddings" if number == "0" else f"layer {number}"
        ax.plot(x, values, "o-", ms=3, lw=1.8, label=label)
    positive_log_scale(ax)
    ax.set(xlabel="epoch", ylabel="gradient norm (RMS over the epoch's steps)",
           title="Gradient norm per layer")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs: 1, 2, …, never 2.5
    legend_outside(ax)
    ax.grid(alpha=0.3)
    return figure
