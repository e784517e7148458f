r"""The activations: :math:`\phi(z)` and :math:`\phi'(z)` side by side."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gdlab._checks import UserError
from gdlab.nn import activations as activations_module
from gdlab.nn.activations import Activation
from gdlab.show.plots._common import legend_outside

__all__ = ["plot_activation"]


def plot_activation(name_or_names: str | Activation | Sequence[str | Activation],
                    ax: Axes | None = None) -> Figure:
    r"""The activation :math:`\phi(z)` and its derivative :math:`\phi'(z)`.

    Softmax is shown for two classes as a function of :math:`z_1 - z_2`:
    :math:`A_1 = \sigma(z_1 - z_2)` and :math:`\partial A_1 / \partial z_1 = A_1 (1 - A_1)`.

    Parameters
    ----------
    name_or_names : str, Activation, or a list of them
        One panel per activation (all on ``ax`` if it is given).
    ax : Axes, optional

    Returns
    -------
    Figure

    Examples
    --------
    >>> figure = plot_activation("sigmoid")
    >>> value, slope = figure.axes[0].get_lines()[:2]
    >>> float(value.get_ydata()[200]), float(slope.get_ydata()[200])  # at z = 0
    (0.5, 0.25)
    >>> import io
    >>> figure.savefig(io.BytesIO(), format="png")  # no display needed
    """
    names = [name_or_names] if isinstance(name_or_names, str | Activation) \
        else list(name_or_names)
    if not names:
        raise UserError("name_or_names is empty; give e.g. 'sigmoid' or ['sigmoid', 'relu'].")
    items = [activations_module.get(n) for n in names]
    if ax is not None:
        figure, axes = ax.figure, [ax] * len(items)
    else:
        columns = min(len(items), 3)
        rows = math.ceil(len(items) / columns)
        size = (max(3.6 * columns, 6.0), max(3.7 * rows + 0.4, 4.2))
        figure = Figure(figsize=size, layout="constrained")
        axes = list(figure.subplots(rows, columns, squeeze=False).ravel())
        for unused in axes[len(items):]:
            unused.set_visible(False)
    z = np.linspace(-5.0, 5.0, 401)
    for activation, axis in zip(items, axes, strict=False):
        _draw_activation(activation, z, axis, prefix=len(items) > 1 and ax is not None)
    if ax is None and len(items) > 1:
        figure.suptitle("Activations φ(z) and their derivatives φ′(z)")
    return figure


def _draw_activation(activation: Activation, z: np.ndarray, ax: Axes, *, prefix: bool) -> None:
    name = activation.name
    if name == "softmax":
        Z = np.column_stack([z, np.zeros_like(z)])
        value = activation.forward(Z)[:, 0]
        slope = activation.derivative(Z)[:, 0]
        xlabel, what = "z₁ − z₂", "softmax A₁"
    else:
        value = activation.forward(z[:, None])[:, 0]
        slope = activation.derivative(z[:, None])[:, 0]
        xlabel, what = "z", f"{name}"
    tag = f"{name}: " if prefix else ""
    ax.plot(z, value, lw=2, label=f"{tag}φ(z) = {what}")
    derivative = "∂A₁/∂z₁ = A₁(1 − A₁)" if name == "softmax" else "φ′(z)"
    ax.plot(z, slope, lw=2, ls="--", label=f"{tag}{derivative}")
    ax.axhline(0.0, color="0.7", lw=0.8)
    ax.axvline(0.0, color="0.7", lw=0.8)
    ax.set(xlabel=xlabel, ylabel="value", title=f"{name}" if not prefix else "activations")
    if name == "exponential":
        ax.set_ylim(-1.0, 20.0)
    legend_outside(ax, below=True, columns=1)
    ax.grid(alpha=0.3)

