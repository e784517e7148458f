r"""Learning-rate sweeps: the same model, from the same θ₀, trained at several rates.

The lecture's picture of "too small / good / too large" learning rates, computed. Each
run trains a fresh copy of the model (built from ``model.get_config()`` with θ set to
the model's current θ₀), so every rate starts from the same point and the model passed
in is left unchanged. A run that diverges does not stop the sweep: its
:class:`~gdlab.train.callbacks.DivergenceWarning` is caught and recorded in the table.

The verdict of each rate (a rule relative to the sweep itself):

- ``"too large"`` if the run diverged;
- otherwise, with :math:`L_0` the loss at θ₀ and :math:`L^*` the lowest final loss of
  the sweep (reached at rate :math:`\eta^*`), a run is ``"good"`` if it closed at least
  90 % of the best gap, :math:`L_0 - L_{final} \ge 0.9 (L_0 - L^*)` (so :math:`\eta^*`
  itself is always good);
- a run that closed less than 90 % of that gap is ``"too small"`` if its rate is below
  :math:`\eta^*` and ``"too large"`` if above (it oscillates or overshoots).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gdlab._checks import UserError, check_positive_number
from gdlab.io.chunks import is_dask
from gdlab.io.data import check_X
from gdlab.optim import optimizers as optimizers_module
from gdlab.train.callbacks import DivergenceWarning, History

__all__ = ["SweepResult", "learning_rate_sweep", "verdicts"]

GOOD_SHARE = 0.9  #: the share of the best loss reduction a "good" rate reaches
COLUMNS = ["learning_rate", "initial_loss", "final_loss", "best_loss", "steps_run",
           "diverged", "diverged_epoch", "diverged_step", "verdict"]


@dataclass
class SweepResult:
    """The outcome of :func:`learning_rate_sweep`.

    Attributes
    ----------
    table : DataFrame
        One row per learning rate: ``learning_rate``, ``initial_loss`` (at θ₀),
        ``final_loss`` (mean loss over all rows at the final θ; ``inf`` if the run
        diverged), ``best_loss`` (lowest epoch loss), ``steps_run``, ``diverged``,
        ``diverged_epoch``, ``diverged_step`` (``None`` if it did not diverge, or if the
        epoch-level guard caught it) and ``verdict`` (see the module docstring).
    histories : dict
        learning rate → :class:`~gdlab.train.callbacks.History` of its run.
    """

    table: pd.DataFrame
    histories: dict[float, History] = field(default_factory=dict)


def _optimizer(optimizer: Any, learning_rate: float) -> optimizers_module.Optimizer:
    """A fresh optimizer of the requested kind with the given learning rate."""
    if optimizer == "momentum":
        return optimizers_module.SGD(learning_rate=learning_rate, momentum=0.9)
    config = optimizers_module.get(optimizer).get_config()
    config["learning_rate"] = learning_rate
    return optimizers_module.get(config)


def _template(model: Any, X: Any) -> Any:
    """The model itself if built, else a built copy (θ₀ drawn from the model's seed)."""
    from gdlab.train.saving import model_from_config

    if model.loss is None:
        raise UserError(
            "learning_rate_sweep needs a compiled model: call model.compile(loss=...) first."
        )
    if model.built:
        return model
    template = model_from_config(model.get_config())
    template.build(X.n_features if _is_source(X) else check_X(X).shape[1])
    return template


def _is_source(X: Any) -> bool:
    """Whether X is a ParquetSource (data read in chunks, with its columns named)."""
    return hasattr(type(X), "full_batch_sums") and not is_dask(X)


def _prepare_source(model: Any, X: Any) -> None:
    """A ParquetSource's encoding, fixed before the runs so that each run (each task)
    encodes as the others: the model's own preprocessing if it keeps one (a model fitted
    on a source), else fitted now in one streaming pass."""
    if X.preprocessor is None and getattr(model, "preprocessing", None) is not None:
        X.preprocessor = model.preprocessing
    X.require_preprocessor()


def _loss(model: Any, X: Any, y: Any, fit_args: dict[str, Any]) -> float:
    """The mean loss over all rows (without the metrics a model may be compiled with)."""
    value = model.evaluate(X, y, sample_weight=fit_args["sample_weight"],
                           exposure=fit_args["exposure"])
    return float(value["loss"] if isinstance(value, dict) else value)


def _one_run(template: Any, X: Any, y: Any, learning_rate: float, optimizer: Any,
             fit_args: dict[str, Any]) -> tuple[dict[str, Any], History]:
    from gdlab.train.saving import model_from_config

    config = template.get_config()
    config["optimizer"] = _optimizer(optimizer, learning_rate).get_config()
    copy = model_from_config(config, input_dim=template.input_dim)
    copy.theta = template.theta
    initial = _loss(copy, X, y, fit_args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        history = copy.fit(X, y, verbose=0, **fit_args)
    diverged = history.diverged is not None
    final = math.inf if diverged else _loss(copy, X, y, fit_args)
    losses = [initial, *history.history.get("loss", [])]
    row = {
        "learning_rate": learning_rate,
        "initial_loss": initial,
        "final_loss": final,
        "best_loss": float(np.nanmin([v for v in losses if math.isfinite(v)] or [math.nan])),
        "steps_run": int(copy.step_count),
        "diverged": diverged,
        "diverged_epoch": history.diverged["epoch"] if diverged else None,
        "diverged_step": history.diverged["step"] if diverged else None,
    }
    return row, history


def verdicts(table: pd.DataFrame) -> list[str]:
    """The verdict of each row: "too small", "good" or "too large" (module docstring rule).

    Examples
    --------
    >>> t = pd.DataFrame({"learning_rate": [0.001, 0.1, 1.0, 10.0],
    ...                   "initial_loss": [1.0] * 4, "final_loss": [0.9, 0.1, 0.7, np.inf],
    ...                   "diverged": [False, False, False, True]})
    >>> verdicts(t)
    ['too small', 'good', 'too large', 'too large']
    """
    ok = table[~table["diverged"].astype(bool)]
    if ok.empty:
        return ["too large"] * len(table)
    best = ok.loc[ok["final_loss"].idxmin()]
    best_gap = best["initial_loss"] - best["final_loss"]
    result = []
    for _, row in table.iterrows():
        if row["diverged"]:
            result.append("too large")
        elif row["initial_loss"] - row["final_loss"] >= GOOD_SHARE * best_gap:
            result.append("good")
        else:
            result.append("too small" if row["learning_rate"] < best["learning_rate"]
                          else "too large")
    return result


def learning_rate_sweep(model: Any, X: Any, y: Any, learning_rates: Sequence[float], *,
                        epochs: int, batch_size: int | str = "full", seed: int | None = 0,
                        sample_weight: Any = None, exposure: Any = None,
                        optimizer: Any = "sgd", executor: str = "auto",
                        client: Any = None) -> SweepResult:
    """Train the same model from the same θ₀ at each learning rate.

    Parameters
    ----------
    model : Sequential
        A compiled model (its loss is used; its optimizer kind is replaced by
        ``optimizer``). Its θ is θ₀ for every run; the model is not modified.
    X : array-like of shape (n, p), or a ParquetSource
        A :class:`~gdlab.io.parquet.ParquetSource` is streamed by every run (y,
        sample_weight and exposure are then its columns: leave them None); its encoding
        is fitted once, before the runs (or is the model's, if it keeps one).
    y : array-like of shape (n,) or (n, k)
    learning_rates : sequence of float
        Each > 0; the table is sorted by rate.
    epochs : int
    batch_size : "full", 1 or int
    seed : int, optional
        Seed of the shuffling, the same for every run.
    sample_weight, exposure : array-like of shape (n,), optional
    optimizer : str, Optimizer or dict
        ``"sgd"``, ``"momentum"``, ``"adam"``, ``"rmsprop"``, an instance or a config;
        its learning rate is replaced by each rate of the sweep.
    executor : {"auto", "numpy", "compiled"}
        Passed to :meth:`~gdlab.train.model.Sequential.fit`.
    client : distributed.Client, optional
        Run each learning rate as a task on this Dask cluster (the same results as
        locally); see :func:`gdlab.train.distributed.sweep_on_cluster`. A ParquetSource
        is sent as its description: each task streams the files on its worker, which
        must see the same paths.

    Returns
    -------
    SweepResult

    Examples
    --------
    >>> import gdlab as gd
    >>> X = np.linspace(-1, 1, 20)[:, None]; y = 3 * X[:, 0] + 1
    >>> model = gd.Sequential([gd.Dense(1)], input_dim=1, seed=0)
    >>> model.compile(loss="mse")
    >>> result = learning_rate_sweep(model, X, y, [0.001, 0.3, 5.0], epochs=20, executor="numpy")
    >>> result.table["verdict"].tolist()
    ['too small', 'good', 'too large']
    """
    rates = sorted(check_positive_number("learning_rates", float(r), hint="e.g. 0.01")
                   for r in learning_rates)
    if not rates:
        raise UserError("learning_rates is empty; give at least one rate, e.g. [0.01, 0.1].")
    if _is_source(X):
        _prepare_source(model, X)
    template = _template(model, X)
    fit_args = {"epochs": epochs, "batch_size": batch_size, "seed": seed,
                "sample_weight": sample_weight, "exposure": exposure, "executor": executor}
    if client is not None:
        from gdlab.train.distributed import sweep_on_cluster

        runs = sweep_on_cluster(client, _one_run, template, X, y, rates, optimizer, fit_args)
    else:
        runs = [_one_run(template, X, y, rate, optimizer, fit_args) for rate in rates]
    rows = [row for row, _ in runs]
    histories = {rate: history for rate, (_, history) in zip(rates, runs, strict=True)}
    table = pd.DataFrame(rows)
    table["verdict"] = verdicts(table)
    return SweepResult(table=table[COLUMNS], histories=histories)
