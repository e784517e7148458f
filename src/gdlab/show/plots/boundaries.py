r"""Decision boundaries: the model's output over the plane of its two inputs, the data on top."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gdlab._checks import UserError
from gdlab.show.plots._common import figure_and_axes, legend_outside
from gdlab.train.model import Sequential

__all__ = ["plot_decision_boundary"]


def plot_decision_boundary(model: Sequential, X: Any, y: Any, ax: Axes | None = None, *,
                           resolution: int = 150) -> Figure:
    r"""The model's output over the plane of its two inputs, with the data on top.

    One output unit (sigmoid): the probability surface :math:`P(y = 1 \mid x)` and
    the boundary :math:`P = 0.5`. Several units (softmax): the predicted class of each
    point of the plane. One unit of another activation (a regression): :math:`\hat{y}`
    over the plane, with the data coloured by y on the same scale.

    Parameters
    ----------
    model : Sequential
        A built model with two inputs.
    X : array-like of shape (n, 2)
    y : array-like of shape (n,) (labels) or (n, k) (one-hot)
    ax : Axes, optional
    resolution : int
        Grid points per axis.

    Returns
    -------
    Figure
    """
    X = np.asarray(X, float)
    if X.ndim != 2 or X.shape[1] != 2:
        raise UserError(f"X must have two columns (two inputs) to draw a plane; got shape "
                        f"{X.shape}. Choose two features, or use plot_history instead.")
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    a = np.linspace(X[:, 0].min() - pad[0], X[:, 0].max() + pad[0], resolution)
    b = np.linspace(X[:, 1].min() - pad[1], X[:, 1].max() + pad[1], resolution)
    A, B = np.meshgrid(a, b)
    out = model.predict(np.column_stack([A.ravel(), B.ravel()]))
    figure, ax = figure_and_axes(ax, size=(7.6, 5.6))
    y = np.asarray(y)
    if out.shape[1] > 1:
        _draw_classes(ax, a, b, out.argmax(axis=1).reshape(A.shape), X, y)
    elif model.layers[-1].activation.name == "sigmoid":
        _draw_probability(ax, a, b, out[:, 0].reshape(A.shape), X, y)
    else:
        _draw_output(ax, a, b, out[:, 0].reshape(A.shape), X, y)
    ax.set(xlabel="x₁", ylabel="x₂")
    legend_outside(ax)
    return figure


def _scatter_classes(ax: Axes, X: np.ndarray, y: np.ndarray, colors: Sequence[str]) -> None:
    labels = y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1)
    for number, k in enumerate(np.unique(labels)):
        rows = labels == k
        ax.scatter(X[rows, 0], X[rows, 1], s=24, color=colors[number % len(colors)],
                   marker="o^sDv"[number % 5], edgecolors="black", linewidths=0.6,
                   label=f"y = {k}")


def _draw_probability(ax: Axes, a: np.ndarray, b: np.ndarray, surface: np.ndarray,
                      X: np.ndarray, y: np.ndarray) -> None:
    mesh = ax.pcolormesh(a, b, surface, cmap="RdBu_r", vmin=0.0, vmax=1.0, shading="auto")
    ax.figure.colorbar(mesh, ax=ax, location="bottom", shrink=0.9, aspect=40,
                      label="model output P(y = 1 | x)")
    if surface.min() < 0.5 < surface.max():
        ax.contour(a, b, surface, levels=[0.5], colors="black", linewidths=1.5)
    ax.plot([], [], color="black", label="boundary P = 0.5")
    _scatter_classes(ax, X, y, ["tab:blue", "tab:red"])
    ax.set_title("Probability surface and decision boundary")


def _draw_classes(ax: Axes, a: np.ndarray, b: np.ndarray, surface: np.ndarray,
                  X: np.ndarray, y: np.ndarray) -> None:
    ax.pcolormesh(a, b, surface, cmap="tab10", vmin=-0.5, vmax=9.5, shading="auto", alpha=0.35)
    _scatter_classes(ax, X, y, [f"C{k}" for k in range(10)])
    ax.set_title(f"Predicted class over the plane ({len(np.unique(surface))} classes shown)")


def _draw_output(ax: Axes, a: np.ndarray, b: np.ndarray, surface: np.ndarray,
                 X: np.ndarray, y: np.ndarray) -> None:
    """A model with one non-probability output: ŷ over the plane, the data coloured by y."""
    low, high = float(np.min(surface)), float(np.max(surface))
    target = y.reshape(-1).astype(float)
    low, high = min(low, float(target.min())), max(high, float(target.max()))
    mesh = ax.pcolormesh(a, b, surface, cmap="viridis", vmin=low, vmax=high, shading="auto")
    ax.figure.colorbar(mesh, ax=ax, location="bottom", shrink=0.9, aspect=40,
                      label="model output ŷ")
    ax.scatter(X[:, 0], X[:, 1], c=target, cmap="viridis", vmin=low, vmax=high, s=24,
               edgecolors="white", linewidths=0.6, label="data (colour = y)")
    ax.set_title("Model output over the plane")
