r"""What the ``gdlab`` commands share: run folders, progress, model presets, metrics.

A run folder is written into a hidden temporary folder next to it and renamed into
place only when complete, so an interrupted run leaves nothing half-written; an
existing non-empty folder is replaced only with ``--force``.

Every preset starts at the *null model*: the output layer's bias is the link of the
mean target (mean for linear, :math:`\log\frac{\bar y}{1-\bar y}` for logistic, the
log class frequencies for softmax, :math:`\log(\sum y / \sum e)` for the log-link
models), and without hidden layers the weights start at 0, so a GLM starts exactly at
the null deviance.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from gdlab.nn import losses as losses_module
from gdlab.nn.layers import Dense
from gdlab.train.callbacks import Callback
from gdlab.train.model import Sequential

__all__ = ["PRESETS", "Progress", "RunFolder", "build_model", "metrics_for", "refuse_existing"]

#: model kind → (output activation, loss name)
PRESETS = {
    "linear": ("linear", "mse"),
    "logistic": ("sigmoid", "binary_crossentropy"),
    "softmax": ("softmax", "sparse_categorical_crossentropy"),
    "poisson": ("exponential", "poisson"),
    "gamma": ("exponential", "gamma"),
    "tweedie": ("exponential", "tweedie"),
}
LOG_LINK = ("poisson", "gamma", "tweedie")


# --- run folders -------------------------------------------------------------------------
def refuse_existing(path: Path, *, force: bool, what: str = "Output folder") -> None:
    """Raise unless ``path`` is absent, an empty folder, or ``force`` is given."""
    if not path.exists() or force:
        return
    if path.is_dir() and not any(path.iterdir()):
        return
    raise ValueError(f"{what} {path} already exists; use --force to replace it, or choose "
                     "another --out.")


class RunFolder:
    """A context manager: ``with RunFolder(out, force=...) as tmp:`` write into ``tmp``.

    On success the temporary folder replaces ``out``; on any error it is removed and
    ``out`` is untouched.
    """

    def __init__(self, out: str | os.PathLike[str], *, force: bool) -> None:
        self.out = Path(out)
        self.force = force
        refuse_existing(self.out, force=force)
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        self.created = next((p for p in reversed(self.out.parents) if not p.exists()), None)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", suffix=".partial",
                                         dir=self.out.parent))
        return self.tmp

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        if kind is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if self.created is not None:  # folders made for the run: remove them too
                shutil.rmtree(self.created, ignore_errors=True)
            return
        refuse_existing(self.out, force=self.force)
        old = None
        if self.out.exists():
            old = self.out.with_name(f".{self.out.name}.old-{os.getpid()}")
            os.replace(self.out, old)
        os.replace(self.tmp, self.out)
        if old is not None:
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


# --- progress ----------------------------------------------------------------------------
class Progress(Callback):
    """Per-epoch progress: a rich bar on a terminal, plain lines otherwise.

    It is an epoch-level callback, so ``fit`` may still use the compiled executor.
    """

    def __init__(self, epochs: int, *, stream: Any = None, bar: bool | None = None) -> None:
        super().__init__()
        self.epochs = epochs
        self.stream = sys.stdout if stream is None else stream
        self.bar = self.stream.isatty() if bar is None else bar
        self._progress: Any = None

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        if self.bar:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("epoch {task.completed}/{task.total}"), BarColumn(),
                TextColumn("{task.fields[values]}"), TextColumn("left"),
                TimeRemainingColumn(), console=Console(file=self.stream), transient=False)
            self._progress.start()
            self._task = self._progress.add_task("fit", total=self.epochs, values="")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        values = " ".join(f"{k}={logs[k]:.5g}" for k in
                          ("loss", "val_loss", "accuracy", "val_accuracy") if k in logs)
        if self._progress is not None:
            self._progress.update(self._task, completed=epoch + 1, values=values)
            return
        elapsed = time.perf_counter() - self._start
        left = elapsed / (epoch + 1) * (self.epochs - epoch - 1)
        print(f"epoch {epoch + 1}/{self.epochs} {values} {elapsed:.1f}s (left ~{left:.1f}s)",
              file=self.stream, flush=True)

    def on_train_end(self, logs=None):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


# --- models ------------------------------------------------------------------------------
def _null_bias(kind: str, y: np.ndarray, exposure: np.ndarray | None,
               n_classes: int) -> np.ndarray:
    if kind == "softmax":
        counts = np.bincount(y.astype(int), minlength=n_classes).astype(float)
        return np.log(np.maximum(counts, 0.5) / counts.sum())
    if kind == "logistic":
        p = min(max(float(y.mean()), 1e-6), 1 - 1e-6)
        return np.array([math.log(p / (1 - p))])
    if kind in LOG_LINK:
        total = float(exposure.sum()) if exposure is not None else float(len(y))
        return np.array([math.log(max(float(y.sum()), 1e-12) / total)])
    return np.array([float(y.mean())])


def build_model(kind: str, n_inputs: int, y: np.ndarray, *, exposure: np.ndarray | None,
                n_classes: int, hidden: list[int], activation: str, optimizer: Any,
                seed: int, power: float = 1.5) -> Sequential:
    """The preset model, compiled, starting at the null model (module docstring)."""
    output_activation, loss_name = PRESETS[kind]
    units = n_classes if kind == "softmax" else 1
    layers = [Dense(h, activation=activation, kernel_initializer="he_uniform"
                    if activation == "relu" else "glorot_uniform") for h in hidden]
    layers.append(Dense(units, activation=output_activation))
    model = Sequential(layers, input_dim=n_inputs, seed=seed)
    loss = losses_module.get(loss_name, power=power) if kind == "tweedie" else loss_name
    model.compile(loss=loss, optimizer=optimizer,
                  metrics=["accuracy"] if kind in ("logistic", "softmax") else [])
    output = model.layers[-1]
    output.b[...] = _null_bias(kind, y, exposure, n_classes)
    if not hidden:
        output.W[...] = 0.0
    return model


# --- metrics -----------------------------------------------------------------------------
def _null_prediction(kind: str, y: np.ndarray, exposure: np.ndarray | None) -> np.ndarray:
    e = np.ones_like(y) if exposure is None else exposure
    return np.full((len(y), 1), y.sum() / e.sum())


def metrics_for(model: Sequential, kind: str, X: np.ndarray, y: np.ndarray,
                exposure: np.ndarray | None = None) -> dict[str, Any]:
    """The loss and the metrics that suit the model kind, on (X, y).

    linear: mse, mae, r2; logistic / softmax: accuracy; log-link models: mean deviance
    per row, deviance per unit of exposure (Σ deviance / Σ exposure), the null model's
    mean deviance (constant rate Σy/Σe) and the deviance explained 1 − D / D_null.
    """
    loss = model.loss
    Y = loss.check_target(y, model.layers[-1].units)
    out = model.predict(X)
    results = {"loss": float(model.evaluate(X, y, exposure=exposure)
                             if not model.metrics else
                             model.evaluate(X, y, exposure=exposure)["loss"]),
               "rows": len(y)}
    if kind in ("logistic", "softmax"):
        hits = (out[:, 0] >= 0.5) == (y >= 0.5) if kind == "logistic" else out.argmax(1) == y
        results["accuracy"] = float(np.mean(hits))
    elif kind == "linear":
        errors = out[:, 0] - y
        results.update(mse=float(np.mean(errors**2)), mae=float(np.mean(np.abs(errors))),
                       r2=float(1 - np.sum(errors**2) / np.sum((y - y.mean()) ** 2)))
    else:
        per_row = loss.value(Y, out, exposure=exposure)
        null = loss.value(Y, _null_prediction(kind, y, exposure), exposure=exposure)
        results["mean_deviance"] = float(per_row.mean())
        if exposure is not None:
            results["deviance_per_exposure"] = float(per_row.sum() / exposure.sum())
        results["null_mean_deviance"] = float(null.mean())
        results["deviance_explained"] = float(1 - per_row.sum() / null.sum())
    return results


# --- the fit and lr-sweep runs -----------------------------------------------------------
def _split(data: Any, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (seeded) training and validation row indices."""
    n = data.X.shape[0]
    if fraction == 0.0:
        return np.arange(n), np.arange(0)
    n_val = math.ceil(n * fraction)
    if n_val >= n:
        raise ValueError(f"--validation-split {fraction} leaves no training rows out of {n}.")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _take(array: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if array is None else array[rows]


def _summaries(args: Any, data: Any, model: Sequential, n_train: int,
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


def _figures(history: Any, folder: Path) -> dict[str, Any]:
    from gdlab.show import plots

    curves = plots.plot_history(history)
    curves.savefig(folder / "learning_curves.png", dpi=100)
    gradients = plots.plot_gradients(history)
    gradients.savefig(folder / "gradients.png", dpi=100)
    return {"Learning curves: the loss per epoch, with the loss of each step behind it": curves,
            "Gradient norm per layer and epoch (root mean square over the steps)": gradients}


def _fit_metrics(model: Sequential, args: Any, data: Any, train: np.ndarray,
                 val: np.ndarray) -> dict[str, float]:
    metrics = {f"train_{k}": v for k, v in metrics_for(
        model, args.model, data.X[train], data.y[train], _take(data.exposure, train)).items()}
    if val.size:
        metrics.update({f"val_{k}": v for k, v in metrics_for(
            model, args.model, data.X[val], data.y[val], _take(data.exposure, val)).items()})
    return metrics


def run_fit(args: Any, data: Any, model: Sequential, folder: Path) -> str:
    """Train, then write model.npz, history.csv, metrics.json, figures and report.html."""
    import json
    import warnings

    from matplotlib import pyplot

    from gdlab.show import report
    from gdlab.train.callbacks import DivergenceWarning, EarlyStopping

    train, val = _split(data, args.validation_split, args.seed)
    callbacks: list[Callback] = [] if args.quiet else [Progress(args.epochs)]
    if args.early_stopping:
        callbacks.insert(0, EarlyStopping(patience=args.early_stopping))
    validation = ((data.X[val], data.y[val], None, _take(data.exposure, val))
                  if val.size else None)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        history = model.fit(data.X[train], data.y[train], batch_size=args.batch_size,
                            epochs=args.epochs, seed=args.seed, validation_data=validation,
                            exposure=_take(data.exposure, train), callbacks=callbacks,
                            verbose=0, trace=args.trace, executor=args.executor)
    seconds = time.perf_counter() - start
    metrics = _fit_metrics(model, args, data, train, val)
    metadata = {"kind": args.model, "target": args.target, "exposure": args.exposure,
                "classes": data.classes, "data": str(args.data)}
    model.save(folder / "model.npz", preprocessing=data.preprocessing, metadata=metadata)
    history.to_frame().to_csv(folder / "history.csv", index=False)
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
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


def _summary_text(metrics: dict[str, float], history: Any, seconds: float) -> str:
    names = [k[len("train_"):] for k in metrics if k.startswith("train_") and k != "train_rows"]
    lines = [f"{'':<24}{'train':>14}{'validation':>14}"]
    for name in names:
        val = metrics.get(f"val_{name}")
        lines.append(f"{name:<24}{metrics[f'train_{name}']:>14.6g}"
                     f"{'' if val is None else format(val, '>14.6g')}")
    if history.diverged:
        lines.append(f"Warning: {history.diverged['message']}")
    lines.append(f"Trained {len(history.epoch)} epoch(s) in {seconds:.1f} s.")
    return "\n".join(lines)


def run_sweep(args: Any, data: Any, model: Sequential, folder: Path) -> Any:
    """The learning-rate sweep: sweep.csv, one history per rate, the figure, report.html."""
    from matplotlib import pyplot

    from gdlab.show import plots, report
    from gdlab.train.sweep import learning_rate_sweep

    start = time.perf_counter()
    result = learning_rate_sweep(model, data.X, data.y, args.learning_rates,
                                 epochs=args.epochs, batch_size=args.batch_size,
                                 seed=args.seed, exposure=data.exposure,
                                 optimizer=args.optimizer, executor=args.executor)
    seconds = time.perf_counter() - start
    result.table.to_csv(folder / "sweep.csv", index=False)
    for rate, history in result.histories.items():
        history.to_frame().to_csv(folder / f"history_lr={rate:g}.csv", index=False)
    figure = plots.plot_sweep(result)
    figure.savefig(folder / "learning_rates.png", dpi=100)
    data_summary, model_summary = _summaries(args, data, model, data.rows, 0)
    settings = {"learning rates": ", ".join(f"{r:g}" for r in args.learning_rates),
                "optimizer": args.optimizer, "batch size": args.batch_size,
                "epochs": args.epochs, "seed": args.seed}
    run = report.Run(title=f"gdlab lr-sweep: {args.model} model of {args.target}",
                     data_summary=data_summary, model_summary=model_summary,
                     settings=settings, sweep_table=result.table,
                     figures={"Training loss per epoch at each learning rate": figure},
                     timing={"sweep": seconds})
    report.write_report(folder / "report.html", run)
    pyplot.close(figure)
    return result.table
