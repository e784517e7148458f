r"""What ``gdlab fit`` and ``gdlab lr-sweep`` do: read the table, build the preset, train,
measure, and write the run folder's files (model, history, metrics, figures, report).

The metrics suit the model kind (:func:`metrics_for`): mse, mae and r2 for a linear
model; accuracy for a classifier; for the log-link models the mean deviance per row,
the deviance per unit of exposure, the null model's deviance and the deviance explained.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from gdlab.cli.presets import LOG_LINK, build_model, optimizer_from_name
from gdlab.cli.runs import CommandError
from gdlab.io.embedded import EmbeddedPreprocessor, inputs_for
from gdlab.io.preprocessing import (
    Preprocessor,
    check_exposure_column,
    check_missing,
    encode_target,
    read_table,
    require_columns,
)
from gdlab.show import plots, report
from gdlab.train.callbacks import (
    Callback,
    DivergenceWarning,
    EarlyStopping,
    History,
    ProgressBar,
)
from gdlab.train.model import Sequential
from gdlab.train.scores import accuracy
from gdlab.train.sweep import learning_rate_sweep

__all__ = ["Dataset", "fold_offset", "load_dataset", "metrics_for", "model_for", "run_fit",
           "run_sweep", "write_sweep"]


# --- data ---------------------------------------------------------------------------------
def fold_offset(exposure: np.ndarray | None,
                offset_rate: np.ndarray | None) -> np.ndarray | None:
    r"""The exposure the loss takes: :math:`e \cdot \mu^{\text{RUN}}` for a CANN
    (``--offset-model``), else ``exposure`` itself (None: e = 1 per row)."""
    if offset_rate is None:
        return exposure
    return offset_rate if exposure is None else exposure * offset_rate


@dataclass
class Dataset:
    r"""A validated, encoded table.

    ``exposure`` is the true exposure e of ``--exposure`` (None without it: e = 1 per
    row); ``offset_rate`` the ``--offset-model`` run's rate :math:`\mu^{\text{RUN}}` per
    row (None without it). The model is fitted with :attr:`fit_exposure`, both folded
    together; the metrics' deviance per exposure and null model use ``exposure`` alone.
    """

    X: np.ndarray
    y: np.ndarray
    exposure: np.ndarray | None
    classes: list[Any] | None
    preprocessing: Preprocessor
    rows: int
    dropped: int
    offset_rate: np.ndarray | None = None

    @property
    def fit_exposure(self) -> np.ndarray | None:
        r"""What the loss takes as exposure: :math:`e \cdot \mu^{\text{RUN}}` (CANN), else e."""
        return fold_offset(self.exposure, self.offset_rate)


def load_dataset(args: argparse.Namespace) -> Dataset:
    """Read DATA and check it for ``--model``; every problem is a one-line error."""
    if args.exposure and args.model not in (*LOG_LINK, "linear"):
        raise CommandError(f"--exposure is for rate models (poisson, gamma, tweedie, linear), "
                           f"not --model {args.model}.")
    frame = read_table(args.data)
    require_columns(frame, [args.target], role="Target")
    if args.exposure:
        require_columns(frame, [args.exposure], role="Exposure")
    features = args.features or [c for c in frame.columns if c not in (args.target, args.exposure)]
    if args.target in features or (args.exposure and args.exposure in features):
        raise CommandError("--features must not include the target or exposure column.")
    require_columns(frame, features, role="Feature")
    used = [args.target, *features] + ([args.exposure] if args.exposure else [])
    frame, dropped = check_missing(frame, used, drop_missing=args.drop_missing)
    y, classes = encode_target(frame[args.target], args.model)
    exposure = check_exposure_column(frame[args.exposure]) if args.exposure else None
    offset_rate = None
    if getattr(args, "offset_model", None):  # CANN: the saved run's rate, kept apart from e
        from gdlab.cli.offset import offset_rates

        offset_rate = offset_rates(args.offset_model, frame, kind=args.model,
                                   target=args.target)
    if getattr(args, "embedding_dim", None):  # codes for embeddings instead of one-hot
        preprocessing = EmbeddedPreprocessor.fit(frame, features, categorical=args.categorical,
                                                 embedding_dim=args.embedding_dim)
    else:
        preprocessing = Preprocessor.fit(frame, features, categorical=args.categorical)
    X = preprocessing.transform(frame)
    return Dataset(X, y, exposure, classes, preprocessing, len(frame), dropped, offset_rate)


def model_for(args: argparse.Namespace, data: Dataset, learning_rate: float) -> Sequential:
    """The preset of ``--model`` for the data, compiled with ``--optimizer`` at this rate
    (with ``--offset-model``, starting exactly at the offset run's predictions)."""
    model = build_model(args.model, data.X.shape[1], data.y, exposure=data.fit_exposure,
                        n_classes=len(data.classes or []), hidden=args.hidden,
                        activation=args.activation, seed=args.seed, power=args.power,
                        optimizer=optimizer_from_name(args.optimizer, learning_rate),
                        inputs=inputs_for(data.preprocessing)
                        if isinstance(data.preprocessing, EmbeddedPreprocessor) else None)
    if getattr(args, "offset_model", None):
        from gdlab.cli.offset import start_at_offset

        start_at_offset(model)
    return model


# --- metrics -----------------------------------------------------------------------------
def _null_prediction(kind: str, y: np.ndarray, exposure: np.ndarray | None) -> np.ndarray:
    e = np.ones_like(y) if exposure is None else exposure
    return np.full((len(y), 1), y.sum() / e.sum())


def metrics_for(model: Sequential, kind: str, X: np.ndarray, y: np.ndarray,
                exposure: np.ndarray | None = None, *,
                offset_rate: np.ndarray | None = None) -> dict[str, float]:
    r"""The loss and the metrics that suit the model kind, on (X, y).

    linear: mse, mae, r2; logistic / softmax: accuracy; log-link models: mean deviance
    per row, deviance per unit of exposure (Σ deviance / Σ e, only with an exposure),
    the null model's mean deviance (constant rate Σy/Σe, :math:`\mu_0 = e\,\Sigma y /
    \Sigma e`) and the deviance explained 1 − D / D_null.
    With exposure every metric is of :math:`\mu = e\hat{y}`, the prediction the loss
    compares with y (so the mse of a linear model equals its loss). ``offset_rate``
    (a CANN run's :math:`\mu^{\text{RUN}}` per row) makes it
    :math:`\mu = e\,\mu^{\text{RUN}}\hat{y}`; the deviance per exposure and the null
    model still use the true e, so they equal a plain GLM's on the same rows.
    """
    loss = model.loss
    Y = loss.check_target(y, model.layers[-1].units)
    fit_exposure = fold_offset(exposure, offset_rate)  # exposure itself without an offset
    out = model.predict(X)  # the rate ŷ; μ = exposure · ŷ is what y is compared with
    mu = model.predict(X, exposure=fit_exposure)
    results = {"loss": float(model.evaluate(X, y, exposure=fit_exposure)
                             if not model.metrics else
                             model.evaluate(X, y, exposure=fit_exposure)["loss"]),
               "rows": len(y)}
    if kind in ("logistic", "softmax"):
        results["accuracy"] = accuracy(Y, out)
    elif kind == "linear":
        errors = mu[:, 0] - y
        results.update(mse=float(np.mean(errors**2)), mae=float(np.mean(np.abs(errors))),
                       r2=float(1 - np.sum(errors**2) / np.sum((y - y.mean()) ** 2)))
    else:
        per_row = loss.value(Y, out, exposure=fit_exposure)
        null = loss.value(Y, _null_prediction(kind, y, exposure), exposure=exposure)
        results["mean_deviance"] = float(per_row.mean())
        if exposure is not None:
            results["deviance_per_exposure"] = float(per_row.sum() / exposure.sum())
        results["null_mean_deviance"] = float(null.mean())
        results["deviance_explained"] = float(1 - per_row.sum() / null.sum())
    return results


# --- the fit and lr-sweep runs -----------------------------------------------------------
def _split(data: Dataset, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (seeded) training and validation row indices."""
    n = data.X.shape[0]
    if fraction == 0.0:
        return np.arange(n), np.arange(0)
    n_val = math.ceil(n * fraction)
    if n_val >= n:
        raise CommandError(f"--validation-split {fraction} leaves no training rows out of {n}.")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _take(array: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if array is None else array[rows]


def _summaries(args: argparse.Namespace, data: Dataset, model: Sequential, n_train: int,
               n_val: int) -> tuple[dict[str, Any], dict[str, Any]]:
    data_summary = {"file": str(args.data), "rows used": data.rows,
                    "rows dropped (missing values)": data.dropped,
                    "target": args.target, "exposure": args.exposure or "—",
                    "features": ", ".join(data.preprocessing.features),
                    "encoded columns": len(data.preprocessing.feature_names),
                    "training rows": n_train, "validation rows": n_val}
    model_summary = {"preset": args.model,
                     "layers": " → ".join(f"Dense({layer.units}, {layer.activation.name})"
                                          for layer in model.layers),
                     "loss": repr(model.loss), "optimizer": repr(model.optimizer),
                     "parameters": model.n_params}
    return data_summary, model_summary


def _figures(history: History, folder: Path) -> dict[str, Figure]:
    curves = plots.plot_history(history)
    curves.savefig(folder / "learning_curves.png", dpi=100)
    gradients = plots.plot_gradients(history)
    gradients.savefig(folder / "gradients.png", dpi=100)
    return {"Learning curves: the loss per epoch, with the loss of each step behind it": curves,
            "Gradient norm per layer and epoch (root mean square over the steps)": gradients}


def _fit_metrics(model: Sequential, args: argparse.Namespace, data: Dataset, train: np.ndarray,
                 val: np.ndarray) -> dict[str, float]:
    metrics = {f"train_{k}": v for k, v in metrics_for(
        model, args.model, data.X[train], data.y[train], _take(data.exposure, train),
        offset_rate=_take(data.offset_rate, train)).items()}
    if val.size:
        metrics.update({f"val_{k}": v for k, v in metrics_for(
            model, args.model, data.X[val], data.y[val], _take(data.exposure, val),
            offset_rate=_take(data.offset_rate, val)).items()})
    return metrics


def run_fit(args: argparse.Namespace, data: Dataset, model: Sequential, folder: Path) -> str:
    """Train, then write model.npz, history.csv, metrics.json, figures and report.html."""
    from matplotlib import pyplot

    train, val = _split(data, args.validation_split, args.seed)
    callbacks: list[Callback] = [] if args.quiet else [ProgressBar(args.epochs, stream=sys.stdout)]
    if args.early_stopping:
        callbacks.insert(0, EarlyStopping(patience=args.early_stopping))
    validation = ((data.X[val], data.y[val], None, _take(data.fit_exposure, val))
                  if val.size else None)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        history = model.fit(data.X[train], data.y[train], batch_size=args.batch_size,
                            epochs=args.epochs, seed=args.seed, validation_data=validation,
                            exposure=_take(data.fit_exposure, train), callbacks=callbacks,
                            verbose=0, trace=args.trace, executor=args.executor)
    seconds = time.perf_counter() - start
    if history.diverged:  # said even with --quiet: the run's numbers are not a fit
        print(f"gdlab fit: warning: {history.diverged['message']}", file=sys.stderr, flush=True)
    metrics = _fit_metrics(model, args, data, train, val)
    metadata = {"kind": args.model, "target": args.target, "exposure": args.exposure,
                "classes": data.classes, "data": str(args.data)}
    if getattr(args, "offset_model", None):  # gdlab predict / evaluate apply it again
        metadata["offset_model"] = str(Path(args.offset_model).resolve())
    model.save(folder / "model.npz", preprocessing=data.preprocessing, metadata=metadata)
    history.to_frame().to_csv(folder / "history.csv", index=False)
    recorded = {**metrics, "diverged": history.diverged}  # None, or where and how it diverged
    (folder / "metrics.json").write_text(json.dumps(recorded, indent=2) + "\n")
    if len(history.trace):
        history.trace.to_frame().to_csv(folder / "trace.csv", index=False)
    data_summary, model_summary = _summaries(args, data, model, train.size, val.size)
    settings = {"variant": history.params.get("variant"), "batch size": args.batch_size,
                "steps per epoch": history.params.get("steps"), "optimizer": args.optimizer,
                "learning rate": args.learning_rate, "epochs asked": args.epochs,
                "epochs run": len(history.epoch), "steps run": model.step_count,
                "early stopping": args.early_stopping or "off", "seed": args.seed}
    run = report.Run(title=f"gdlab fit: {args.model} model of {args.target}",
                     data_summary=data_summary, model_summary=model_summary,
                     settings=settings, history=history, metrics=metrics,
                     figures=_figures(history, folder), steps=list(history.trace),
                     timing={"fit": seconds})
    report.write_report(folder / "report.html", run)
    for figure in run.figures.values():
        pyplot.close(figure)
    return _summary_text(metrics, history, seconds)


def _summary_text(metrics: dict[str, float], history: History, seconds: float) -> str:
    names = [k[len("train_"):] for k in metrics if k.startswith("train_") and k != "train_rows"]
    lines = [f"{'':<24}{'train':>14}{'validation':>14}"]
    for name in names:
        val = metrics.get(f"val_{name}")
        lines.append(f"{name:<24}{metrics[f'train_{name}']:>14.6g}"
                     f"{'' if val is None else format(val, '>14.6g')}")
    if history.diverged:
        lines.append(f"Diverged at epoch {history.diverged['epoch'] + 1} "  # counted from 1
                     "(see the warning above).")
    lines.append(f"Trained {len(history.epoch)} epoch(s) in {seconds:.1f} s.")
    return "\n".join(lines)


def write_sweep(folder: Path, result: Any) -> Figure:
    """Write a sweep's table (``sweep.csv``), each rate's history and the picture
    (``learning_rates.png``) into ``folder``; return the figure."""
    result.table.to_csv(folder / "sweep.csv", index=False)
    for rate, history in result.histories.items():
        history.to_frame().to_csv(folder / f"history_lr={rate:g}.csv", index=False)
    figure = plots.plot_sweep(result)
    figure.savefig(folder / "learning_rates.png", dpi=100)
    return figure


def run_sweep(args: argparse.Namespace, data: Dataset, model: Sequential,
              folder: Path, client: Any = None) -> pd.DataFrame:
    """The learning-rate sweep: sweep.csv, one history per rate, the figure, report.html.

    Returns the table to print: the sweep's, with epochs and steps counted from 1
    (sweep.csv keeps the data's 0-based numbers, like history.csv).
    """
    from matplotlib import pyplot

    start = time.perf_counter()
    result = learning_rate_sweep(model, data.X, data.y, args.learning_rates,
                                 epochs=args.epochs, batch_size=args.batch_size,
                                 seed=args.seed, exposure=data.fit_exposure,
                                 optimizer=args.optimizer, executor=args.executor,
                                 client=client)
    seconds = time.perf_counter() - start
    figure = write_sweep(folder, result)
    data_summary, model_summary = _summaries(args, data, model, data.rows, 0)
    from gdlab.train.stability import stability_note

    note = stability_note(model, data.X, data.y, exposure=data.fit_exposure,
                          rates=args.learning_rates)
    result.table.attrs["stability_note"] = note  # printed by the command
    settings = {"learning rates": ", ".join(f"{r:g}" for r in args.learning_rates),
                "optimizer": args.optimizer, "batch size": args.batch_size,
                "epochs": args.epochs, "seed": args.seed, "largest stable η": note}
    run = report.Run(title=f"gdlab lr-sweep: {args.model} model of {args.target}",
                     data_summary=data_summary, model_summary=model_summary,
                     settings=settings, sweep_table=result.table,
                     figures={"Training loss per epoch at each learning rate": figure},
                     timing={"sweep": seconds})
    report.write_report(folder / "report.html", run)
    pyplot.close(figure)
    return report.counted_from_one(result.table)
