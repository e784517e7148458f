"""The HTML report of a run: one self-contained file, readable on a phone and a laptop.

:func:`write_report` turns a :class:`Run` (what was trained, its history, metrics,
figures, learning-rate sweep, traced steps and timing) into a single ``report.html``.
Images are embedded as base64 PNG (each with a rendering re-laid out for phones:
:mod:`gdlab.show.report_figures`), the CSS is inline, and there are no scripts, fonts
or links to the network, so the file can be mailed, archived or opened offline.
"""

from __future__ import annotations

import html
import math
import os
import platform
from dataclasses import dataclass, field, is_dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from gdlab._checks import UserError, UserTypeError
from gdlab.io.persistence import atomic_write
from gdlab.show.plots import plot_history
from gdlab.show.report_figures import figure_html, figure_to_data_uri

__all__ = ["Run", "counted_from_one", "figure_to_data_uri", "render_html", "versions",
           "write_report"]

_MAX_STEPS = 5  #: traced steps shown in the report
_MAX_TABLE_ROWS = 60  #: longer tables are shortened (head and tail)
#: Columns that number epochs or steps: 0-based in the data, from 1 in what people read.
_COUNTED = ("epoch", "step", "diverged_epoch", "diverged_step")
_VERSIONED = ("gdlab", "numpy", "scipy", "pandas", "matplotlib", "numba", "scikit-learn")

_CSS = """
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6474; --line: #d9dee7;
        --accent: #1f5fa8; --bg: #ffffff; --soft: #f4f6fa; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
       font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 1rem; }
h1 { font-size: 1.6rem; margin: 0.2rem 0; }
h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin-bottom: 0.3rem; }
nav { font-size: 0.9rem; margin: 0.3rem 0 0.6rem; }
nav a, summary { color: var(--accent); }
.muted { color: var(--muted); font-size: 0.9rem; }
.cards { display: grid; gap: 0.8rem; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); }
.card { background: var(--soft); border: 1px solid var(--line); border-radius: 8px;
        padding: 0.6rem 0.8rem; }
.metrics { display: flex; flex-wrap: wrap; gap: 0.6rem; }
.metric { background: var(--soft); border-left: 4px solid var(--accent); padding: 0.4rem 0.8rem;
          border-radius: 4px; min-width: 9rem; }
.metric b { display: block; font-size: 1.3rem; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 0.25rem 0.6rem; text-align: right;
         white-space: nowrap; }
th { background: var(--soft); position: sticky; top: 0; }
td:first-child, th:first-child { text-align: left; }
table.kv { width: 100%; max-width: 40rem; table-layout: fixed; }
table.kv td { text-align: left; white-space: normal; overflow-wrap: anywhere; }
table.kv td:first-child { color: var(--muted); width: 40%; overflow-wrap: break-word; }
figure { margin: 1rem 0; }
figure picture { display: block; }
figure img { display: block; width: 100%; max-width: 900px; height: auto;
             border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 0.9rem; }
details { margin: 0.6rem 0; }
summary { cursor: pointer; }
.warn { background: #fff4e5; border-left: 4px solid #d9822b; padding: 0.5rem 0.8rem; }
@media (max-width: 600px) {
  body { font-size: 15px; }
  main { padding: 0.6rem; }
  h1 { font-size: 1.3rem; }
  th, td { padding: 0.2rem 0.4rem; }
}
"""


@dataclass
class Run:
    """Everything the report shows about one training run.

    Parameters
    ----------
    title : str
        The report's heading.
    data_summary : dict
        What the data was (file, rows, features, target, …).
    model_summary : dict
        The model (layers, activations, loss, optimizer, number of parameters, …).
    settings : dict
        How it was trained (variant, learning rate, batch size, epochs, seed, …).
    history : History or None
        The run's history; its learning curves are drawn by the report.
    metrics : dict
        Final metrics, name → value.
    figures : dict of str → Figure
        More figures, caption → matplotlib figure (embedded as PNG).
    sweep_table : DataFrame or None
        The learning-rate sweep's table, if there was one.
    steps : list of Step
        Traced steps; the first few are shown with their tables.
    timing : dict
        Durations in seconds (or any values), name → value.
    extra_tables : dict of str → DataFrame
        Any other tables, caption → DataFrame.
    """

    title: str
    data_summary: dict[str, Any]
    model_summary: dict[str, Any]
    settings: dict[str, Any]
    history: Any = None
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    sweep_table: pd.DataFrame | None = None
    steps: list[Any] = field(default_factory=list)
    timing: dict[str, Any] = field(default_factory=dict)
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def write_report(path: str | os.PathLike[str], run: Run) -> Path:
    """Write the run's report as one self-contained HTML file, atomically.

    The page is written to a temporary file next to ``path`` and moved into place with
    :func:`os.replace` (:func:`gdlab.io.persistence.atomic_write`), so a reader never sees
    half a report; its mode follows the umask, as for any file the user writes.

    Parameters
    ----------
    path : str or path-like
        Where to write (usually ``…/report.html``); its folder must exist.
    run : Run
        What to report.

    Returns
    -------
    Path
        The path written.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> run = Run("A run", {"rows": 3}, {"layers": "Dense(1)"}, {"learning_rate": 0.1},
    ...           metrics={"loss": 0.25})
    >>> path = write_report(Path(folder) / "report.html", run)
    >>> path.name, "<h1>A run</h1>" in path.read_text(encoding="utf-8")
    ('report.html', True)
    """
    if not isinstance(run, Run):
        raise UserTypeError(f"run must be a gdlab.show.report.Run; got {type(run).__name__}. "
                            "Build one with Run(title=..., data_summary=..., ...).")
    target = Path(path)
    if not target.parent.is_dir():
        raise UserError(f"path must be in an existing folder; got path={str(target)!r}. "
                        "Create the folder first.")
    page = render_html(run).encode("utf-8")
    return atomic_write(target, lambda file: file.write(page))


def render_html(run: Run) -> str:
    """The report as a string of HTML (what :func:`write_report` writes).

    Figures whose caption mentions learning curves go to the "Learning curves" section
    (instead of the one the report would draw from ``run.history``); the rest to "Figures".
    """
    curves = {c: f for c, f in run.figures.items() if _is_history_caption(c)}
    others = {c: f for c, f in run.figures.items() if c not in curves}
    sections = [
        ("trained", "What was trained", _section_overview(run)),
        ("metrics", "Final metrics", _section_metrics(run.metrics)),
        ("learning-curves", "Learning curves", _section_history(run.history, curves)),
        ("figures", "Figures", _section_figures(others)),
        ("sweep", "Learning-rate sweep", _section_sweep(run.sweep_table)),
        ("steps", "Traced steps", _section_steps(run.steps)),
        ("tables", "Tables", _section_tables(run.extra_tables)),
        ("timing", "Timing", _section_timing(run.timing)),
    ]
    present = [(key, heading, inner) for key, heading, inner in sections if inner]
    nav = " · ".join(f"<a href=\"#{key}\">{heading}</a>" for key, heading, _ in present)
    body = "\n".join(f"<section id=\"{key}\">\n<h2>{heading}</h2>\n{inner}\n</section>"
                     for key, heading, inner in present)
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = _esc(run.title)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<header><h1>{title}</h1><p class=\"muted\">gdlab report · {created}</p>"
        f"<nav>{nav}</nav></header>\n{body}\n</main>\n</body>\n</html>\n"
    )


# ---------------------------------------------------------------- sections


def _section_overview(run: Run) -> str:
    cards = [_card("Data", run.data_summary), _card("Model", run.model_summary),
             _card("Training", run.settings), _card("Versions", versions())]
    return "<div class=\"cards\">" + "".join(cards) + "</div>"


def _section_metrics(metrics: dict[str, Any]) -> str:
    items = "".join(f"<div class=\"metric\">{_esc(name)}<b>{_fmt(value)}</b></div>"
                    for name, value in metrics.items())
    return f"<div class=\"metrics\">{items}</div>" if items else ""


def _section_history(history: Any, curves: dict[str, Figure]) -> str:
    logs = getattr(history, "history", None) if history is not None else None
    diverged = getattr(history, "diverged", None) if logs else None
    parts = [f"<p class=\"warn\">{_esc(diverged.get('message', 'Training diverged.'))}</p>"
             ] if diverged else []
    parts += [figure_html(figure, caption) for caption, figure in curves.items()]
    if logs and not curves:
        parts.append(figure_html(plot_history(history),
                                  "Loss per epoch, with the loss of each step behind it."))
    if logs:
        parts.append("<details><summary>The history, epoch by epoch</summary>"
                     f"{_table_html(counted_from_one(history.to_frame()), index=False)}"
                     "</details>")
    return "\n".join(parts)


def _section_figures(figures: dict[str, Figure]) -> str:
    return "".join(figure_html(figure, caption) for caption, figure in figures.items())


def _section_sweep(table: pd.DataFrame | None) -> str:
    if table is None:
        return ""
    return ("<p class=\"muted\">The same model from the same θ₀, trained with each "
            "learning rate. Epochs and steps count from 1 here (the data, sweep.csv "
            "included, count from 0, like History.epoch).</p>\n"
            f"{_table_html(counted_from_one(table), index=False)}")


def _section_steps(steps: list[Any]) -> str:
    shown = list(steps)[:_MAX_STEPS]
    if not shown:
        return ""
    parts = [f"<p class=\"muted\">The first {len(shown)} of {len(steps)} traced steps. "
             "Each step computes the loss and its gradient ∇ (the mean of the rows' "
             "gradients) at θ<sub>t</sub>, then moves θ<sub>t+1</sub> = θ<sub>t</sub> − η∇ "
             "(plain gradient descent; other optimizers change the move).</p>"]
    parts.extend(_step_html(step, open_table=n == 0) for n, step in enumerate(shown))
    return "\n".join(parts)


def _section_tables(tables: dict[str, pd.DataFrame]) -> str:
    return "".join(f"<h3>{_esc(caption)}</h3>{_table_html(frame)}"
                   for caption, frame in tables.items())


def _section_timing(timing: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{_esc(k)}</td><td>{_fmt_seconds(v)}</td></tr>"
                   for k, v in timing.items())
    return f"<table class=\"kv\">{rows}</table>" if rows else ""


# ---------------------------------------------------------------- pieces


def counted_from_one(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` for people to read: its epoch and step columns count from 1.

    The data (``History.to_frame()``, the sweep table, the CSV files) numbers epochs and
    steps from 0, like Keras's ``History.epoch``; a printed or HTML table says epoch 1
    for the first epoch, as the progress bar and the plots' x axis do. Missing numbers
    (a run that did not diverge) stay missing.

    Examples
    --------
    >>> counted_from_one(pd.DataFrame({"epoch": [0, 1], "loss": [2.0, 1.0]}))["epoch"].tolist()
    [1, 2]
    >>> counted_from_one(pd.DataFrame({"diverged_epoch": [None, 2.0]}))["diverged_epoch"].tolist()
    [nan, 3]
    """
    shown = frame.copy()
    for column in _COUNTED:
        if column in shown.columns:
            shown[column] = pd.Series([math.nan if pd.isna(v) else int(v) + 1
                                       for v in shown[column]], index=shown.index,
                                      dtype=object)  # whole numbers, NaN where missing
    return shown


def versions() -> dict[str, str]:
    """Versions of Python, gdlab and the libraries it uses (those installed)."""
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    found["platform"] = f"{platform.system()} {platform.machine()}"
    return found


def _is_history_caption(caption: str) -> bool:
    lowered = caption.lower()
    return "learning curve" in lowered or lowered.strip() in ("history", "loss")


def _step_html(step: Any, *, open_table: bool = False) -> str:
    t0, t1 = step.step, step.step + 1
    rows = len(step.rows)
    head = (f"<h3>Step {t1}: θ<sub>{t0}</sub> → θ<sub>{t1}</sub> "
            f"<span class=\"muted\">(epoch {step.epoch + 1}, {_esc(step.variant)})</span></h3>"
            f"<p>η = {_fmt(step.learning_rate)} · batch of {rows} row{'s' if rows != 1 else ''}"
            f" · loss at θ<sub>{t0}</sub> = {_fmt(step.loss)}</p>")
    names = list(step.param_names) or [f"θ[{i}]" for i in range(len(step.theta_before))]
    update = pd.DataFrame({"parameter": names, f"θ{_sub(t0)}": step.theta_before,
                           "gradient ∇": step.gradient,
                           "change": step.theta_after - step.theta_before,
                           f"θ{_sub(t1)}": step.theta_after})
    table, why = _step_table(step)
    if table is None:
        rows_html = f"<p class=\"muted\">No per-row table: {_esc(why)}</p>"
    elif len(table) < rows:
        rows_html = (f"<details{' open' if open_table else ''}><summary>The first "
                     f"{len(table)} of the batch's {rows} rows</summary>"
                     f"{_table_html(table.reset_index(), index=False)}</details>")
    else:
        rows_html = (f"<details{' open' if open_table else ''}><summary>The batch, row by row "
                     f"(the mean of each dL/d… column is ∇)</summary>"
                     f"{_table_html(table.reset_index(), index=False)}"
                     "</details>")
    return "\n".join([head, _table_html(update, index=False), rows_html])


def _step_table(step: Any) -> tuple[pd.DataFrame | None, str]:
    """``step.table`` if the Step offers it and it can be built, else None and why not.

    A batch of more than ``_MAX_TABLE_ROWS`` rows is cut to its first rows *before* the
    table is built (each row's numbers depend only on that row and θ), so a full-batch
    step over a large data set stays cheap.
    """
    if is_dataclass(step) and len(step.rows) > _MAX_TABLE_ROWS:
        step = replace(step, rows=step.rows[:_MAX_TABLE_ROWS])
    try:
        table = getattr(step, "table", None)
        table = table() if callable(table) else table
    except (ValueError, TypeError, AttributeError) as error:
        return None, str(error)
    if not isinstance(table, pd.DataFrame):
        return None, "this step does not provide one."
    return table, ""


def _sub(number: int) -> str:
    return str(number).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def _card(title: str, values: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{_esc(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in values.items())
    body = f"<table class=\"kv\">{rows}</table>" if rows else "<p>—</p>"
    return f"<div class=\"card\"><h3>{_esc(title)}</h3>{body}</div>"


def _table_html(frame: pd.DataFrame, *, index: bool = True) -> str:
    if len(frame) > _MAX_TABLE_ROWS:
        half = _MAX_TABLE_ROWS // 2
        note = (f"<p class=\"muted\">{len(frame)} rows; the first and last {half} "
                "are shown.</p>")
        frame = pd.concat([frame.head(half), frame.tail(half)])
    else:
        note = ""
    table = frame.to_html(index=index, border=0, float_format=_fmt_float, na_rep="—",
                          escape=True)
    return f"<div class=\"scroll\">{table}</div>{note}"


def _fmt_float(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.6g}"


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return _esc(str(value))
    if isinstance(value, float):
        return _esc(_fmt_float(value))
    if isinstance(value, list | tuple):
        return _esc(", ".join(str(v) for v in value))
    return _esc(str(value))


def _fmt_seconds(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.3g} s" if value >= 0.001 else f"{value * 1e3:.3g} ms"
    return _esc(str(value))


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)
