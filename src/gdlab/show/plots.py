r"""Pictures of gradient descent, drawn from real runs (matplotlib, headless-safe).

Every function returns a :class:`matplotlib.figure.Figure` and takes an optional
``ax`` to draw into. Figures are built with :class:`~matplotlib.figure.Figure` directly,
never through :mod:`matplotlib.pyplot`, so nothing depends on a display or on global
state: ``fig.savefig("x.png")`` works on a server.

Time runs in epochs on every x axis: epoch :math:`e` (0-based) ends at :math:`x = e + 1`,
and step :math:`k` of :math:`S` in epoch :math:`e` is drawn at :math:`x = e + (k+1)/S`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gdlab.nn import activations as activations_module

__all__ = [
    "plot_activation",
    "plot_decision_boundary",
    "plot_gradients",
    "plot_history",
    "plot_learning_rates",
    "plot_loss_surface",
    "plot_sweep",
]

_SIZE = (7.0, 4.2)  #: inches; at 100 dpi a 700 × 420 picture
_VERDICT_STYLE = {"too small": ":", "good": "-", "too large": "--"}


def _figure_and_axes(ax: Axes | None, size: tuple[float, float] = _SIZE) -> tuple[Figure, Axes]:
    """The figure of ``ax``, or a new figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    figure = Figure(figsize=size, layout="constrained")
    return figure, figure.add_subplot()


def _step_positions(arrays: Sequence[np.ndarray], epochs: Sequence[int]) -> tuple[np.ndarray, ...]:
    """x = e + (k+1)/S for every step k of every epoch e, and the values side by side."""
    xs = [e + (np.arange(len(a)) + 1) / len(a) for e, a in zip(epochs, arrays, strict=False)]
    if not xs:
        return np.empty(0), np.empty(0)
    return np.concatenate(xs), np.concatenate([np.asarray(a, float) for a in arrays])


# ---------------------------------------------------------------- activations


def plot_activation(name_or_names: Any, ax: Axes | None = None) -> Figure:
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
    names = [name_or_names] if isinstance(name_or_names, str | activations_module.Activation) \
        else list(name_or_names)
    if not names:
        raise ValueError("name_or_names is empty; give e.g. 'sigmoid' or ['sigmoid', 'relu'].")
    items = [activations_module.get(n) for n in names]
    if ax is not None:
        figure, axes = ax.figure, [ax] * len(items)
    else:
        columns = min(len(items), 3)
        rows = math.ceil(len(items) / columns)
        size = (max(3.6 * columns, 6.0), max(3.0 * rows + 0.4, 4.0))
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


def _draw_activation(activation: Any, z: np.ndarray, ax: Axes, *, prefix: bool) -> None:
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
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)


# ---------------------------------------------------------------- learning curves


def plot_history(history: Any, ax: Axes | None = None) -> Figure:
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
    figure, ax = _figure_and_axes(ax)
    logs = history.history
    if not logs.get("loss"):
        raise ValueError("history has no epochs to draw; train with model.fit(...) first.")
    epochs = list(history.epoch) or list(range(len(logs["loss"])))
    x = np.asarray(epochs[:len(logs["loss"])], float) + 1.0
    params = getattr(history, "params", {}) or {}
    steps = int(params.get("steps", 1) or 1)
    if steps > 1 and history.step_loss:
        sx, sy = _step_positions(history.step_loss, epochs)
        ax.plot(sx, sy, lw=0.8, alpha=0.35, color="tab:blue",
                label=f"loss of each step (batch of {params.get('batch_size')})")
    ax.plot(x, logs["loss"], "o-", ms=3, lw=2, color="tab:blue", label="training loss")
    if logs.get("val_loss"):
        ax.plot(x[:len(logs["val_loss"])], logs["val_loss"], "s-", ms=3, lw=2,
                color="tab:orange", label="validation loss")
    _mark_best(ax, x, logs)
    _positive_log_scale(ax)
    ax.set(xlabel="epoch", ylabel="loss", xlim=(0, x[-1] + 0.3))
    handles, labels = ax.get_legend_handles_labels()
    rate_ax = _draw_step_learning_rate(ax, history, epochs)
    if rate_ax is not None:
        more = rate_ax.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    if history.diverged:
        ax.text(0.99, 0.97, f"diverged at epoch {history.diverged['epoch']}",
                transform=ax.transAxes, ha="right", va="top", color="tab:red")
    ax.legend(handles, labels, loc="upper right" if not history.diverged else "center right",
              fontsize="small")
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


def _draw_step_learning_rate(ax: Axes, history: Any, epochs: list[int]) -> Axes | None:
    if not history.step_learning_rate:
        return None
    sx, rates = _step_positions(history.step_learning_rate, epochs)
    if np.unique(rates).size < 2:
        return None
    twin = ax.twinx()
    twin.plot(sx, rates, drawstyle="steps-post", color="tab:purple", lw=1.2,
              label="learning rate η (per step)")
    twin.set_ylabel("learning rate η", color="tab:purple")
    return twin


def _positive_log_scale(ax: Axes) -> None:
    """Log y scale when every drawn value is positive and they span a decade or more."""
    values = np.concatenate([np.asarray(line.get_ydata(), float) for line in ax.get_lines()])
    values = values[np.isfinite(values)]
    if values.size and values.min() > 0 and values.max() / values.min() >= 10:
        ax.set_yscale("log")


def plot_gradients(history: Any, ax: Axes | None = None) -> Figure:
    r"""Per-layer gradient norms per epoch (vanishing, exploding or dead layers).

    Draws ``history.history["grad_norm[l]"]``: the root mean square over the epoch's
    steps of layer l's gradient norm :math:`\lVert (dW_l, db_l) \rVert`.

    Parameters
    ----------
    history : History
    ax : Axes, optional

    Returns
    -------
    Figure
    """
    figure, ax = _figure_and_axes(ax)
    keys = sorted((k for k in history.history if k.startswith("grad_norm[")),
                  key=lambda k: int(k[len("grad_norm["):-1]))
    if not keys:
        raise ValueError("history has no grad_norm[l] entries; train with model.fit(...) first.")
    epochs = list(history.epoch) or list(range(len(history.history[keys[0]])))
    for key in keys:
        values = history.history[key]
        x = np.asarray(epochs[:len(values)], float) + 1.0
        ax.plot(x, values, "o-", ms=3, lw=1.8, label=f"layer {key[len('grad_norm['):-1]}")
    _positive_log_scale(ax)
    ax.set(xlabel="epoch", ylabel="gradient norm (RMS over the epoch's steps)",
           title="Gradient norm per layer")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return figure


# ---------------------------------------------------------------- learning rates


def plot_learning_rates(model: Any, X: Any, y: Any,
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
    from gdlab.train.sweep import learning_rate_sweep

    result = learning_rate_sweep(model, X, y, learning_rates, epochs=epochs,
                                 batch_size=batch_size, **fit_kwargs)
    return plot_sweep(result, ax=ax)


def plot_sweep(result: Any, ax: Axes | None = None) -> Figure:
    """Loss curves of a learning-rate sweep on one log-scaled axis, with their verdicts.

    Each rate's training loss per epoch is drawn from its initial loss at x = 0. A
    diverged run is drawn up to the step where it diverged and ends in a red ✕ at the
    top of the axis, labelled with that step: the lecture's "too small / too large" in
    one picture.

    Parameters
    ----------
    result : SweepResult
        From :func:`gdlab.train.sweep.learning_rate_sweep`.
    ax : Axes, optional

    Returns
    -------
    Figure
    """
    figure, ax = _figure_and_axes(ax)
    table = result.table
    finite = [v for h in result.histories.values() for v in h.history.get("loss", [])
              if math.isfinite(v) and v > 0] + [v for v in table["initial_loss"] if v > 0]
    top = min(max(finite), 1e3 * max(table["initial_loss"])) * 3 if finite else 1.0
    marked = 0
    for color, (_, row) in zip(_colors(len(table)), table.iterrows(), strict=False):
        history = result.histories[row["learning_rate"]]
        x, values = _sweep_curve(row, history)
        label = f"η = {row['learning_rate']:g}: {row['verdict']}"
        style = _VERDICT_STYLE.get(row["verdict"], "-")
        ax.plot(x, values, ls=style, marker="o", ms=3, lw=2, color=color, label=label)
        if row["diverged"]:
            _mark_divergence(ax, row, history, x, values, top, color, marked)
            marked += 1
    ax.set_yscale("log")
    ax.set_ylim(top=top * 3)
    ax.set(xlabel="epoch", ylabel="training loss (log scale)",
           title="Learning rates: the same model from the same θ₀")
    ax.legend(loc="lower left", fontsize="small")
    ax.grid(alpha=0.3, which="both")
    return figure


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    return list(colormaps["viridis"](np.linspace(0.0, 0.85, max(n, 1))))


def _sweep_curve(row: Any, history: Any) -> tuple[np.ndarray, np.ndarray]:
    """x = 0, 1, …: the initial loss and the loss of each completed epoch."""
    losses = [v for v in history.history.get("loss", [])]
    values = np.asarray([row["initial_loss"], *losses], float)
    return np.arange(values.size, dtype=float), values


def _divergence_x(row: Any, history: Any) -> float:
    """Where the run stopped, in epochs: after step k of epoch e at e + (k+1)/S."""
    steps = int(history.params.get("steps", 1) or 1)
    epoch = int(row["diverged_epoch"])
    step = row["diverged_step"]
    if step is None or (isinstance(step, float) and math.isnan(step)):
        return float(epoch + 1)
    return epoch + (int(step) - epoch * steps + 1) / steps


def _mark_divergence(ax: Axes, row: Any, history: Any, x: np.ndarray, values: np.ndarray,
                     top: float, color: Any, number: int) -> None:
    where = _divergence_x(row, history)
    last = np.flatnonzero(np.isfinite(values))
    start_x, start_y = (x[last[-1]], min(values[last[-1]], top)) if last.size else (0.0, top)
    ax.plot([start_x, where], [start_y, top], ls=":", lw=1.5, color=color)
    ax.plot([where], [top], marker="X", ms=11, color="tab:red", ls="none")
    step = row["diverged_step"]
    text = (f"η = {row['learning_rate']:g} diverged" + (f" at step {int(step)}"
            if step is not None and not (isinstance(step, float) and math.isnan(step))
            else f" in epoch {int(row['diverged_epoch'])}"))
    ax.annotate(text, (where, top), xytext=(8, -6 - 13 * number), textcoords="offset points",
                fontsize="small", color="tab:red", va="top",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})


# ---------------------------------------------------------------- loss surface


def plot_loss_surface(model: Any, X: Any, y: Any, traces: Sequence[Any] = (),
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
        A compiled, built model (θ is restored after drawing).
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
        raise ValueError(f"labels must have one entry per trace; got {len(labels)} labels for "
                         f"{len(steps_list)} traces.")
    i, j = _surface_params(model, params, steps_list)
    paths = [_path(steps, i, j) for steps in steps_list]
    centre = model.theta.copy()
    a, b, loss = _loss_grid(model, X, y, i, j, paths, centre, resolution,
                            sample_weight=sample_weight, exposure=exposure)
    figure, ax = _figure_and_axes(ax, size=(6.4, 5.0))
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


def _as_steps(trace: Any, number: int) -> list[Any]:
    steps = list(getattr(trace, "trace", trace))
    if not steps or not all(hasattr(s, "theta_before") for s in steps):
        raise ValueError(f"traces[{number}] must be a non-empty Trace or list of Steps; record "
                         "one with model.fit(..., trace=True).")
    return steps


def _surface_params(model: Any, params: Sequence[Any] | None,
                    steps_list: list[list[Any]]) -> tuple[int, int]:
    names = list(model.param_names)
    if params is None:
        if len(names) == 2:
            return 0, 1
        if not steps_list:
            raise ValueError("params is needed for a model with more than two parameters "
                             f"(it has {len(names)}); give two of {names[:6]}….")
        steps = steps_list[0]
        moved = np.abs(steps[-1].theta_after - steps[0].theta_before)
        i, j = np.argsort(moved)[::-1][:2]
        return int(i), int(j)
    if len(params) != 2:
        raise ValueError(f"params must name two parameters; got params={params!r}.")
    found = []
    for p in params:
        if isinstance(p, str) and p in names:
            found.append(names.index(p))
        elif isinstance(p, int | np.integer) and 0 <= p < len(names):
            found.append(int(p))
        else:
            raise ValueError(f"params entry {p!r} is not a parameter of the model; use a name "
                             f"of model.param_names ({names[:6]}…) or an index below "
                             f"{len(names)}.")
    if found[0] == found[1]:
        raise ValueError(f"params must be two different parameters; got params={params!r}.")
    return found[0], found[1]


def _path(steps: list[Any], i: int, j: int) -> np.ndarray:
    """θ₀, θ₁, …, θ_T restricted to the two parameters: shape (T + 1, 2)."""
    thetas = [s.theta_before for s in steps] + [steps[-1].theta_after]
    return np.array([[t[i], t[j]] for t in thetas], float)


def _loss_grid(model: Any, X: Any, y: Any, i: int, j: int, paths: list[np.ndarray],
               centre: np.ndarray, resolution: int, **data: Any) -> tuple[np.ndarray, ...]:
    points = np.vstack([*paths, centre[[i, j]][None, :]])
    finite = points[np.isfinite(points).all(axis=1)]
    low, high = finite.min(axis=0), finite.max(axis=0)
    pad = np.maximum((high - low) * 0.15, 0.5)
    a = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    b = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    loss = np.empty((b.size, a.size))
    theta = centre.copy()
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # far out: inf
            for row, value_b in enumerate(b):
                for column, value_a in enumerate(a):
                    theta[i], theta[j] = value_a, value_b
                    model.theta = theta
                    result = model.evaluate(X, y, **data)
                    loss[row, column] = result["loss"] if isinstance(result, dict) else result
    finally:
        model.theta = centre
    return a, b, np.ma.masked_invalid(loss)


# ---------------------------------------------------------------- decision boundary


def plot_decision_boundary(model: Any, X: Any, y: Any, ax: Axes | None = None, *,
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
        raise ValueError(f"X must have two columns (two inputs) to draw a plane; got shape "
                         f"{X.shape}. Choose two features, or use plot_history instead.")
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    a = np.linspace(X[:, 0].min() - pad[0], X[:, 0].max() + pad[0], resolution)
    b = np.linspace(X[:, 1].min() - pad[1], X[:, 1].max() + pad[1], resolution)
    A, B = np.meshgrid(a, b)
    out = model.predict(np.column_stack([A.ravel(), B.ravel()]))
    figure, ax = _figure_and_axes(ax, size=(6.4, 5.0))
    y = np.asarray(y)
    if out.shape[1] > 1:
        _draw_classes(ax, a, b, out.argmax(axis=1).reshape(A.shape), X, y)
    elif model.layers[-1].activation.name == "sigmoid":
        _draw_probability(ax, a, b, out[:, 0].reshape(A.shape), X, y)
    else:
        _draw_output(ax, a, b, out[:, 0].reshape(A.shape), X, y)
    ax.set(xlabel="x₁", ylabel="x₂")
    ax.legend(loc="best", fontsize="small")
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
    ax.figure.colorbar(mesh, ax=ax, label="model output P(y = 1 | x)")
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
    ax.figure.colorbar(mesh, ax=ax, label="model output ŷ")
    ax.scatter(X[:, 0], X[:, 1], c=target, cmap="viridis", vmin=low, vmax=high, s=24,
               edgecolors="white", linewidths=0.6, label="data (colour = y)")
    ax.set_title("Model output over the plane")
