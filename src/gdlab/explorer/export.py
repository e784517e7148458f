r"""The playground's runs as files: the path of θ and the losses (CSV, JSON), the step
tables (CSV, JSON), and the current step's table in the lecture's LaTeX.

- :func:`path_frame`: one row per step and run (the first
  :data:`~gdlab.explorer.playground.EXPORT_STEPS`): ``run, step, epoch, batch_loss``
  (the batch's loss at θ before the step), ``full_loss`` (over all rows, after it) and
  θ after the step, one column per parameter; the first row of each run is θ₀ (step −1).
- :func:`tables_frame`: the per-row tables (:attr:`gdlab.Step.table`) of the first
  :data:`~gdlab.explorer.playground.EXPORT_TABLES` steps of each run (while their batches
  hold at most :data:`~gdlab.explorer.playground.EXPORT_ROWS` rows in all), ``row`` being
  the data set's row number.
- :func:`as_json`: both, with the settings of the session.
- :func:`latex`: the last step of a run as :meth:`gdlab.Step.to_latex` writes it, a
  standalone document (``amsmath``) with the data set's row numbers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from gdlab.explorer.playground import EXPORT_ROWS, EXPORT_STEPS, EXPORT_TABLES, Session
from gdlab.explorer.views import finite

__all__ = ["as_json", "latex", "path_frame", "tables_frame"]

RUN_NAMES = ("A", "B")


def path_frame(session: Session) -> pd.DataFrame:
    """θ₀ and every step's θ after, batch loss and full loss, for each run."""
    names = session.param_names
    records = []
    for k, run in enumerate(session.runs):
        start = {"run": RUN_NAMES[k], "step": -1, "epoch": 0, "batch_loss": np.nan,
                 "full_loss": run.initial_loss}
        records.append({**start, **dict(zip(names, session.theta0, strict=True))})
        for step, epoch, batch_loss, full_loss, theta in run.log:
            records.append({"run": RUN_NAMES[k], "step": step, "epoch": epoch,
                            "batch_loss": batch_loss, "full_loss": full_loss,
                            **dict(zip(names, theta, strict=True))})
    return pd.DataFrame.from_records(records, columns=["run", "step", "epoch", "batch_loss",
                                                       "full_loss", *names])


def tables_frame(session: Session) -> pd.DataFrame:
    """The per-row tables of the first EXPORT_TABLES steps of each run, stacked."""
    frames = []
    for k, run in enumerate(session.runs):
        for record, rows, epoch in run.records:
            with np.errstate(all="ignore"):
                table = record.table.reset_index(drop=True)
            table.insert(0, "row", rows)
            table.insert(0, "epoch", epoch)
            table.insert(0, "step", record.step)
            table.insert(0, "run", RUN_NAMES[k])
            frames.append(table)
    if not frames:
        return pd.DataFrame(columns=["run", "step", "epoch", "row"])
    return pd.concat(frames, ignore_index=True)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{c: (finite(v) if isinstance(v, float) else v) for c, v in row.items()}
            for row in frame.to_dict(orient="records")]


def as_json(session: Session) -> dict[str, Any]:
    """The session's settings, each run's path and losses, and the step tables."""
    runs = session.run_settings()
    return {"model": session.model_kind, "loss": session.loss, "dataset": session.data.name,
            "n": int(session.data.X.shape[0]), "feature_names": session.data.feature_names,
            "target_name": session.data.target_name, "param_names": session.param_names,
            "theta0": finite(session.theta0), "seed": session.seed, "epochs": session.epochs,
            "runs": [{"name": RUN_NAMES[k], **settings} for k, settings in enumerate(runs)],
            "path": _records(path_frame(session)),
            "tables": _records(tables_frame(session)),
            "tables_note": f"the per-row tables of the first {EXPORT_TABLES} steps of each "
                           f"run, at most {EXPORT_ROWS:,} rows in all; the path: the first "
                           f"{EXPORT_STEPS:,} steps"}


def latex(session: Session, run: Any) -> str:
    """The last step of run ``run`` (0 = A, 1 = B) in LaTeX, a standalone document."""
    if isinstance(run, bool) or not isinstance(run, int) or not 0 <= run < len(session.runs):
        raise ValueError(f"run must be 0 (A) or {len(session.runs) - 1} "
                         f"({RUN_NAMES[len(session.runs) - 1]}); got run={run!r}.")
    last = session.runs[run].last
    if last is None:
        raise ValueError(f"Run {RUN_NAMES[run]} has taken no step yet: press Step first.")
    record, rows, epoch = last  # train_on_batch records epoch 0; the run knows the epoch
    model = session.runs[run].model
    # the data set's row numbers, not 0…m−1 of the batch: the table is built from
    # context.X[rows], so give it the whole data set and the data rows
    Y = model.loss.check_target(session.data.y, model.layers[-1].units)  # type: ignore[union-attr]
    renumbered = replace(record, rows=np.asarray(rows), epoch=epoch,
                         context=replace(record.context, X=session.data.X, Y=Y))
    with np.errstate(all="ignore"):
        return renumbered.to_latex(decimals=4, standalone=True)
