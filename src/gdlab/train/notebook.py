r"""How gdlab's objects show themselves in a notebook, and the model's text summary.

Jupyter calls ``_repr_html_``; :class:`~gdlab.train.trace.Step`,
:class:`~gdlab.train.trace.Trace`, :class:`~gdlab.train.callbacks.History` and
:class:`~gdlab.train.model.Sequential` hand it to the functions here:

- :func:`step_html`: the lecture's table of one update (each row's x, y, ŷ, Loss and
  :math:`\partial \text{Loss}_i / \partial \theta_j`, their mean, which is the gradient)
  and the update written out, :math:`\theta_{t+1} = \theta_t - \eta \nabla \text{Loss}`;
- :func:`trace_html`: one line per recorded step (θ before, the loss, the gradient);
- :func:`history_html`: the learning curve as an inline SVG (no matplotlib, no file) and
  the table of epochs;
- :func:`summary_text` / :func:`summary_html`: a Keras-like summary (layers, output
  shapes, activations, parameter names and counts, loss and optimizer).

Epochs and steps count from 1 in what is shown (the progress bar's "Epoch 1/5"), while
``History.epoch`` and ``Step.epoch``/``Step.step`` stay 0-based data. Everything is
escaped; nothing here changes a model. This module imports nothing else of
gdlab (the classes above import it when asked to display themselves).
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

__all__ = ["history_html", "step_html", "summary_html", "summary_text", "trace_html"]

#: Rows of a step's table and of a trace or history shown before "… more".
MAX_ROWS = 20
#: Parameters listed by name in a summary row before "…".
MAX_NAMES = 6
#: Digits after the decimal point in the notebook's tables.
DECIMALS = 4
_STYLE = ("<style>.gdlab table{border-collapse:collapse;font-variant-numeric:tabular-nums}"
          ".gdlab th,.gdlab td{padding:1px 8px;text-align:right;border-bottom:1px solid #ddd}"
          ".gdlab tfoot td{font-weight:bold;border-top:2px solid #333}"
          ".gdlab .note{color:#666}</style>")


def _num(value: Any) -> str:
    """A number with DECIMALS decimals, never ``-0.0000`` (as the lecture's tables).

    Examples
    --------
    >>> _num(-14.694163), _num(-1e-9), _num(float("inf"))
    ('-14.6942', '0.0000', 'inf')
    """
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.{DECIMALS}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def _vector(values: Any, limit: int = 12) -> str:
    values = np.asarray(values, dtype=float)
    shown = ", ".join(_num(v) for v in values[:limit])
    return f"({shown}{', …' if values.size > limit else ''})"


def _table(header: list[str], rows: list[list[str]], foot: list[str] | None = None) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    tail = "" if foot is None else (
        "<tfoot><tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in foot) + "</tr></tfoot>")
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody>{tail}</table>"


def _head_tail(n: int, limit: int = MAX_ROWS) -> list[int | None]:
    """Indices to show of n rows: all, or the first and last limit/2 with a gap (None)."""
    if n <= limit:
        return list(range(n))
    half = limit // 2
    return [*range(half), None, *range(n - half, n)]


def step_html(step: Any) -> str:
    r"""One step as the lecture writes it: θ and η, the per-row table, ∇, the update.

    Without data attached (``step.context is None``) only the vectors are shown.
    """
    t0, t1 = step.step, step.step + 1
    names = ", ".join(html.escape(n) for n in step.param_names[:12])
    parts = [f"<div class='gdlab'>{_STYLE}<b>{html.escape(step.describe())}</b>",
             f"<p>θ<sub>{t0}</sub> = ({names}) = {_vector(step.theta_before)}, "
             f"learning rate η = {step.learning_rate:g}</p>"]
    if step.context is not None:
        table = step.table
        rows = [[str(table.index[k]), *(_num(v) for v in table.iloc[k])] if k is not None
                else ["…"] * (table.shape[1] + 1) for k in _head_tail(table.shape[0])]
        first_grad = table.shape[1] - len(step.param_names)
        foot = [f"mean ({table.shape[0]})"] + [
            _num(step.loss) if c == "loss" else
            _num(step.gradient[m - first_grad]) if m >= first_grad else ""
            for m, c in enumerate(table.columns)]
        parts.append(_table(["row", *map(str, table.columns)], rows, foot))
    parts.append(f"<p>Loss = {_num(step.loss)}; ∇Loss = {_vector(step.gradient)}</p>")
    before, after = _vector(step.theta_before), _vector(step.theta_after)
    if step.plain_sgd:
        update = (f"θ<sub>{t1}</sub> = θ<sub>{t0}</sub> − η∇Loss = {before} − "
                  f"{step.learning_rate:g} × {_vector(step.gradient)} = {after}")
    else:
        update = (f"θ<sub>{t1}</sub> = θ<sub>{t0}</sub> + Δθ ({html.escape(step._state_name())})"
                  f" = {before} + {_vector(step.theta_after - step.theta_before)} = {after}")
    parts.append(f"<p>{update}</p></div>")
    return "".join(parts)


def trace_html(trace: Any) -> str:
    """The recorded steps: step, epoch, variant, rows, η, loss, θ before and gradient."""
    if not len(trace):
        return "<div class='gdlab'><i>Trace: no step recorded</i> (fit(..., trace=True)).</div>"
    frame = trace.to_frame()
    columns = [c for c in frame.columns if not c.startswith(("theta[", "grad["))]
    params = [c for c in frame.columns if c.startswith(("theta[", "grad["))][:16]
    header = [*columns, *params]
    rows = [[str(frame.iloc[k][c] + 1) if c in ("step", "epoch")  # counted from 1
             else str(frame.iloc[k][c]) if c in ("variant", "batch_rows")
             else _num(frame.iloc[k][c]) for c in header] if k is not None else ["…"] * len(header)
            for k in _head_tail(len(frame))]
    note = f"<p class='note'>Trace of {len(trace)} steps; each step's own table: trace[k].</p>"
    return f"<div class='gdlab'>{_STYLE}{note}{_table(header, rows)}</div>"


def _svg_curve(series: dict[str, list[float]], width: int = 420, height: int = 220) -> str:
    """A line chart of each series against the epoch (log scale if it spans 1.5 decades)."""
    values = np.array([v for s in series.values() for v in s if math.isfinite(v)])
    if values.size == 0:
        return ""
    log = bool(values.min() > 0 and values.max() / values.min() > 10**1.5)
    f = np.log10 if log else (lambda v: np.asarray(v, dtype=float))
    lo, hi = float(f(values.min())), float(f(values.max()))
    hi = hi if hi > lo else lo + 1.0
    n = max(len(s) for s in series.values())
    left, right, top, bottom = 56, width - 100, 10, height - 30  # legend on the right
    def xy(k: int, v: float) -> str:
        x = left + (right - left) * (k / max(n - 1, 1))
        return f"{x:.1f},{bottom - (bottom - top) * (float(f(v)) - lo) / (hi - lo):.1f}"
    colours = ["#1f6feb", "#d9480f", "#2f9e44", "#ae3ec9"]
    lines = []
    for m, (name, s) in enumerate(series.items()):
        points = " ".join(xy(k, v) for k, v in enumerate(s) if math.isfinite(v) and (
            not log or v > 0))
        colour = colours[m % len(colours)]
        lines.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2' "
                     f"points='{points}'/><text x='{right + 8}' y='{top + 14 + 16 * m}' "
                     f"fill='{colour}' font-size='12'>{html.escape(name)}</text>")
    label = (lambda v: f"{10 ** v:.3g}") if log else (lambda v: f"{v:.3g}")
    axes = (f"<rect x='{left}' y='{top}' width='{right - left}' height='{bottom - top}' "
            "fill='none' stroke='#333'/>"
            f"<text x='{left - 4}' y='{top + 10}' text-anchor='end' font-size='11'>{label(hi)}"
            f"</text><text x='{left - 4}' y='{bottom}' text-anchor='end' font-size='11'>"
            f"{label(lo)}</text><text x='{(left + right) / 2}' y='{height - 8}' "
            f"text-anchor='middle' font-size='12'>epoch (1…{n})</text>"
            f"<text x='12' y='{(top + bottom) / 2}' font-size='12' transform='rotate(-90 12 "
            f"{(top + bottom) / 2})' text-anchor='middle'>loss{' (log)' if log else ''}</text>")
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"role='img' aria-label='learning curve'>{axes}{''.join(lines)}</svg>")


def history_html(history: Any) -> str:
    """The learning curve (loss and val_loss per epoch, inline SVG) and the epochs' table."""
    if not history.epoch:
        return "<div class='gdlab'><i>History: no epoch yet.</i></div>"
    frame = history.to_frame()
    curves = {k: list(v) for k, v in history.history.items() if k in ("loss", "val_loss")}
    rows = [[str(int(frame.iloc[k]["epoch"]) + 1), *(_num(v) for v in frame.iloc[k].iloc[1:])]
            if k is not None else ["…"] * frame.shape[1] for k in _head_tail(len(frame))]
    notes = []
    if history.diverged:
        said = history.diverged.get("message", history.diverged)  # epochs counted from 1
        notes.append(f"<p><b>Diverged</b>: {html.escape(str(said))}</p>")
    if len(history.trace):
        notes.append(f"<p class='note'>{len(history.trace)} steps traced: history.trace.</p>")
    return (f"<div class='gdlab'>{_STYLE}{_svg_curve(curves)}"
            f"{_table(list(map(str, frame.columns)), rows)}{''.join(notes)}</div>")


def _names(names: list[str]) -> str:
    if len(names) <= MAX_NAMES:
        return ", ".join(names)
    return ", ".join(names[:MAX_NAMES - 2]) + ", …, " + names[-1]


def _summary_rows(model: Any) -> list[list[str]]:
    if not model.built:
        return [[f"dense_{k + 1} (Dense)", f"(None, {layer.units})", layer.activation.name,
                 "— (not built: give input_dim or fit)", "?"]
                for k, layer in enumerate(model.layers)]
    names = model.param_names
    return [[f"dense_{k + 1} (Dense)", f"(None, {layer.units})", layer.activation.name,
             _names(names[part]), f"{part.stop - part.start:,}"]
            for k, (layer, part) in enumerate(zip(model.layers, model.layer_slices(),
                                                  strict=True))]


def _summary_foot(model: Any) -> list[str]:
    total = f"{model.n_params:,}" if model.built else "?"
    loss = getattr(model.loss, "name", None) or "not compiled"
    optimizer = repr(model.optimizer) if model.optimizer is not None else "not compiled"
    return [f"Input: (None, {model.input_dim})" if model.built else "Input: not built yet",
            f"Total parameters: {total}", f"Loss: {loss}; optimizer: {optimizer}"]


def summary_text(model: Any) -> str:
    """A Keras-like summary of a Sequential model, as plain text.

    Examples
    --------
    >>> import gdlab as gd
    >>> model = gd.Sequential([gd.Dense(2, activation="relu"), gd.Dense(1)], input_dim=1)
    >>> print(summary_text(model))
    Model: Sequential
    Layer (type)     Output shape  Activation  Parameters                                  Count
    ────────────────────────────────────────────────────────────────────────────────────────────
    dense_1 (Dense)  (None, 2)     relu        w^(1)_{1,1}, w^(1)_{1,2}, b^(1)_1, b^(1)_2      4
    dense_2 (Dense)  (None, 1)     linear      w^(2)_{1,1}, w^(2)_{2,1}, b^(2)_1               3
    ────────────────────────────────────────────────────────────────────────────────────────────
    Input: (None, 1)
    Total parameters: 7
    Loss: not compiled; optimizer: not compiled
    """
    header = ["Layer (type)", "Output shape", "Activation", "Parameters", "Count"]
    rows = _summary_rows(model)
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(4)]
    line = "─" * (sum(widths) + 2 * 4 + max(len(r[4]) for r in [header, *rows]))
    def fmt(row: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + \
            "  " + row[4].rjust(5)
    return "\n".join(["Model: Sequential", fmt(header), line, *map(fmt, rows), line,
                      *_summary_foot(model)])


def summary_html(model: Any) -> str:
    """The summary of :func:`summary_text` as an HTML table."""
    header = ["Layer (type)", "Output shape", "Activation", "Parameters", "Count"]
    foot = "".join(f"<p>{html.escape(line)}</p>" for line in _summary_foot(model))
    return (f"<div class='gdlab'>{_STYLE}<b>Model: Sequential</b>"
            f"{_table(header, _summary_rows(model))}{foot}</div>")
