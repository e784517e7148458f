"""The demo job: batch, stochastic and mini-batch gradient descent on real data.

Two data sets that ship inside scikit-learn: the Wisconsin breast-cancer data (569
tumours, 30 measurements, malignant or benign) for logistic regression, and the wine
data (178 wines, 13 measurements, 3 cultivars) for softmax regression. For each, one
model is trained three times from the same θ₀ (the null model) with the same learning
rate and number of epochs, by the three variants of the lecture:

- batch gradient descent: one step per epoch, on all training rows;
- stochastic gradient descent: one step per row;
- mini-batch gradient descent: one step per batch of 32 rows.

The rows are split at random (seeded) into 80 % training and 20 % validation; the
inputs are standardised with the training rows' means and standard deviations. The
folder gets the comparison tables, the figures, each run's history and model, and
``report.html``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from gdlab.io.preprocessing import Preprocessor
    from gdlab.train.model import Sequential

__all__ = ["DemoData", "VARIANTS", "compare_variants", "demo_data", "run_demo"]

#: variant name → batch size
VARIANTS = {"batch": "full", "stochastic": 1, "mini-batch": 32}
EPOCHS = 30
LEARNING_RATE = 0.1
#: the step-by-step reference executor: what the lecture describes, and no compilation
#: on the first run (the compiled executor gives the same θ to ~1e-12)
EXECUTOR = "numpy"


@dataclass
class DemoData:
    """One demo data set, split and standardised."""

    name: str
    kind: str  #: "logistic" or "softmax"
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    classes: list[Any]
    preprocessing: Preprocessor
    description: str


def demo_data(name: str, *, seed: int = 0) -> DemoData:
    """``"breast_cancer"`` or ``"wine"``, split 80/20 at random and standardised."""
    from sklearn import datasets

    from gdlab.io.preprocessing import Preprocessor

    loaders = {"breast_cancer": (datasets.load_breast_cancer, "logistic"),
               "wine": (datasets.load_wine, "softmax")}
    loader, kind = loaders[name]
    bunch = loader(as_frame=True)
    frame, target = bunch.data, bunch.target.to_numpy()
    order = np.random.default_rng(seed).permutation(len(frame))
    n_val = int(np.ceil(0.2 * len(frame)))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    preprocessing = Preprocessor.fit(frame.iloc[train], list(frame.columns))
    classes = [str(c) for c in bunch.target_names]
    description = (f"{len(frame)} rows ({train.size} training, {val.size} validation), "
                   f"{frame.shape[1]} numeric features, classes {classes}")
    return DemoData(name, kind, preprocessing.transform(frame.iloc[train]),
                    target[train].astype(float), preprocessing.transform(frame.iloc[val]),
                    target[val].astype(float), classes, preprocessing, description)


def _run_variant(base: Sequential, data: DemoData, batch_size: int | str, *,
                 trace: int) -> dict[str, Any]:
    from gdlab.train.saving import model_from_config

    model = model_from_config(base.get_config())
    model.theta = base.theta
    start = time.perf_counter()
    history = model.fit(data.X_train, data.y_train, batch_size=batch_size, epochs=EPOCHS,
                        seed=0, validation_data=(data.X_val, data.y_val), verbose=0,
                        trace=trace, executor=EXECUTOR)
    seconds = time.perf_counter() - start
    train = model.evaluate(data.X_train, data.y_train)
    val = model.evaluate(data.X_val, data.y_val)
    return {"model": model, "history": history, "seconds": seconds,
            "steps": model.step_count, "train_loss": train["loss"], "val_loss": val["loss"],
            "train_accuracy": train["accuracy"], "val_accuracy": val["accuracy"]}


def compare_variants(data: DemoData, *, trace: int = 0) -> tuple[pd.DataFrame, dict]:
    """Train the data set's model by each variant from the same θ₀.

    Returns the comparison table (variant, batch size, steps, final training and
    validation loss, validation accuracy, seconds) and the runs (variant → dict with
    ``model``, ``history`` …; the batch run also keeps ``initial_model``, at θ₀).
    ``trace``: record the first ``trace`` steps of each run.
    """
    from gdlab.cli.presets import build_model
    from gdlab.optim.optimizers import SGD

    base = build_model(data.kind, data.X_train.shape[1], data.y_train, exposure=None,
                       n_classes=len(data.classes), hidden=[], activation="relu",
                       optimizer=SGD(learning_rate=LEARNING_RATE), seed=0)
    runs = {name: _run_variant(base, data, size, trace=trace)
            for name, size in VARIANTS.items()}
    runs["batch"]["initial_model"] = base
    table = pd.DataFrame([{
        "variant": name, "batch size": size, "steps": run["steps"],
        "train loss": run["train_loss"], "val loss": run["val_loss"],
        "train accuracy": run["train_accuracy"], "val accuracy": run["val_accuracy"],
        "seconds": run["seconds"]} for (name, size), run in zip(VARIANTS.items(),
                                                                   runs.values(), strict=True)])
    return table, runs


def _curves_figure(runs: dict[str, Any], title: str) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = figure.add_subplot()
    for number, (name, run) in enumerate(runs.items()):
        logs = run["history"].history
        epochs = np.arange(1, len(logs["loss"]) + 1)
        ax.plot(epochs, logs["loss"], "-", color=f"C{number}", label=f"{name}: training")
        ax.plot(epochs, logs["val_loss"], "--", color=f"C{number}",
                label=f"{name}: validation")
    ax.set(xlabel="epoch", ylabel="loss (mean over rows)", yscale="log", title=title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0),
              borderaxespad=0.0)  # beside the curves, never on them
    ax.grid(alpha=0.3, which="both")
    return figure


def _save_runs(folder: Path, data: DemoData, runs: dict[str, Any]) -> None:
    for name, run in runs.items():
        stem = f"{data.name}_{name}"
        run["history"].to_frame().to_csv(folder / "histories" / f"{stem}.csv", index=False)
        run["model"].save(folder / "models" / f"{stem}.npz", preprocessing=data.preprocessing,
             metadata={"kind": data.kind, "target": "target", "exposure": None,
                       "classes": list(range(len(data.classes))), "data": f"sklearn {data.name}"})


def _traced_paths(base: Sequential, data: DemoData) -> tuple[list[Any], list[str]]:
    """Short traced runs from θ₀ for the loss-surface picture (reference executor)."""
    from gdlab.train.saving import model_from_config

    plan = {"batch": ("full", EPOCHS), "stochastic": (1, 1), "mini-batch": (32, 2)}
    traces, labels = [], []
    for name, (size, epochs) in plan.items():
        model = model_from_config(base.get_config())
        model.theta = base.theta
        history = model.fit(data.X_train, data.y_train, batch_size=size, epochs=epochs,
                            seed=0, verbose=0, trace=True)
        traces.append(history.trace)
        labels.append(f"{name}, {epochs} epoch{'s' if epochs > 1 else ''}")
    return traces, labels


def _figures(datasets: list[tuple[DemoData, dict]]) -> dict[str, tuple[str, Figure]]:
    """Caption → (file name, figure): learning curves, paths, a learning-rate sweep."""
    from gdlab.show import plots
    from gdlab.train.sweep import learning_rate_sweep

    figures = {}
    for data, runs in datasets:
        label = data.name.replace("_", " ")
        figures[f"{label}: learning curves of the three variants from the same θ₀"] = (
            f"{data.name}_variants.png",
            _curves_figure(runs, f"{label}: batch, stochastic and mini-batch GD "
                           f"(η = {LEARNING_RATE})"))
    data, runs = datasets[0]
    base = runs["batch"]["initial_model"]
    traces, labels = _traced_paths(base, data)
    figures["breast cancer: the paths of the three variants on the loss surface"] = (
        "breast_cancer_paths.png",
        plots.plot_loss_surface(runs["batch"]["model"], data.X_train, data.y_train,
                                traces=traces, labels=labels, resolution=31))
    sweep = learning_rate_sweep(base, data.X_train, data.y_train,
                                [0.01, 0.1, 1.0, 10.0, 100.0], epochs=EPOCHS,
                                executor=EXECUTOR)
    figures["breast cancer: learning rates too small, good, too large (batch GD)"] = (
        "breast_cancer_learning_rates.png", plots.plot_sweep(sweep))
    return figures


def _print_table(title: str, table: pd.DataFrame) -> None:
    shown = table.copy()
    for column in ("train loss", "val loss"):
        shown[column] = shown[column].map(lambda v: f"{v:.4f}")
    for column in ("train accuracy", "val accuracy"):
        shown[column] = shown[column].map(lambda v: f"{v:.3f}")
    shown["seconds"] = shown["seconds"].map(lambda v: f"{v:.2f}")
    print(f"\n{title}\n{shown.to_string(index=False)}")


def run_demo(out: str | Path = "gdlab-demo", *, force: bool = False,
             quiet: bool = False) -> dict[str, pd.DataFrame]:
    """Run the demo and write its folder (see the module docstring); return the tables."""
    from matplotlib import pyplot

    from gdlab.cli.runs import RunFolder

    start = time.perf_counter()
    datasets, tables = [], {}
    with RunFolder(out, force=force) as tmp:  # made first: a bad --out fails at once
        for name in ("breast_cancer", "wine"):
            data = demo_data(name)
            table, runs = compare_variants(data)
            tables[name] = table
            datasets.append((data, runs))
            if not quiet:
                _print_table(f"{name.replace('_', ' ')} ({data.kind} regression, "
                             f"{data.description}), SGD η = {LEARNING_RATE}, {EPOCHS} "
                             "epochs:", table)
        (tmp / "histories").mkdir()
        (tmp / "models").mkdir()
        for data, runs in datasets:
            _save_runs(tmp, data, runs)
            tables[data.name].to_csv(tmp / f"comparison_{data.name}.csv", index=False)
        named = _figures(datasets)
        figures = {caption: figure for caption, (_, figure) in named.items()}
        for file_name, figure in named.values():
            figure.savefig(tmp / file_name, dpi=100)
        _write_report(tmp, datasets, tables, figures, time.perf_counter() - start)
        for figure in figures.values():
            pyplot.close(figure)
    if not quiet:
        print(f"\nWrote {out}/ (report.html, figures, histories/, models/).")
    return tables


def _write_report(folder: Path, datasets: list[tuple[DemoData, dict]],
                  tables: dict[str, pd.DataFrame], figures: dict[str, Figure],
                  seconds: float) -> None:
    from gdlab.show import report

    data, runs = datasets[0]
    run = report.Run(
        title="gdlab demo: batch, stochastic and mini-batch gradient descent",
        data_summary={d.name: d.description for d, _ in datasets},
        model_summary={d.name: f"{d.kind} regression, {runs['batch']['model'].n_params} "
                       "parameters, starting at the null model" for d, runs in datasets},
        settings={"optimizer": f"SGD, η = {LEARNING_RATE}", "epochs": EPOCHS,
                  "variants": ", ".join(f"{k} (batch size {v})" for k, v in VARIANTS.items()),
                  "validation": "20 % of rows, random (seed 0)"},
        history=runs["mini-batch"]["history"],
        metrics={f"{d.name} {k} val accuracy": r["val_accuracy"]
                 for d, rs in datasets for k, r in rs.items()},
        figures=figures,
        timing={"total": seconds, **{f"{d.name} {k}": r["seconds"]
                                     for d, rs in datasets for k, r in rs.items()}},
        extra_tables={f"Comparison: {d.name.replace('_', ' ')}": tables[d.name]
                      for d, _ in datasets})
    report.write_report(folder / "report.html", run)
