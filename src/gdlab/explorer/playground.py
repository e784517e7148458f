r"""Page 2 of the explorer: gradient descent on a data set, one step at a time.

A :class:`Session` holds one data set, one architecture and one or two :class:`Run`\ s
that start from the same :math:`\theta_0` and differ in the variant (batch size), the
learning rate or the optimizer. A run steps through the same batch plan as
:meth:`gdlab.Sequential.fit` (``BatchPlan`` with ``numpy.random.default_rng(seed)``),
each step being :meth:`gdlab.Sequential.train_on_batch` on the plan's rows, so its
numbers are exactly those of ``model.fit(..., seed=seed, trace=True)``. Every number the
page shows comes from here; the page only draws.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np

import gdlab as gd
from gdlab._checks import check_choice, check_positive_int, check_positive_number
from gdlab._typing import FloatArray, IntArray
from gdlab.explorer.datasets import Dataset
from gdlab.explorer.views import finite, picture
from gdlab.optim.batches import BatchPlan, check_batch_size
from gdlab.train.trace import Step

__all__ = ["Run", "RunConfig", "Session", "build_layers"]

MODELS = ("linear", "logistic", "softmax", "mlp")
OPTIMIZERS = ("sgd", "momentum", "adam", "nadam", "rmsprop")
#: Rows of a step's table sent to the page (the mean over all rows is sent too).
TABLE_ROWS = 50
#: A loss this many times the loss at θ₀ counts as divergence (as DivergenceGuard).
DIVERGENCE_FACTOR = 1e4
#: Points of the scatter plot sent to the page.
MAX_POINTS = 1000
#: Steps per run whose per-row tables are kept for the export (the first ones), as long
#: as their batches hold at most EXPORT_ROWS rows in all (memory: a shared server).
EXPORT_TABLES = 100
EXPORT_ROWS = 20_000
#: Steps per run whose θ and losses are kept for the export (the first ones).
EXPORT_STEPS = 50_000


@dataclass(frozen=True)
class RunConfig:
    """What may differ between the two runs of a session."""

    batch_size: int | str = "full"
    learning_rate: float = 0.1
    optimizer: str = "sgd"

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> RunConfig:
        """Validate a run's settings sent by the page."""
        batch_size = spec.get("batch_size", "full")
        if isinstance(batch_size, str) and batch_size.isdigit():
            batch_size = int(batch_size)
        return cls(batch_size=check_batch_size(batch_size),
                   learning_rate=check_positive_number(
                       "learning_rate", spec.get("learning_rate", 0.1), hint="e.g. 0.1."),
                   optimizer=check_choice("optimizer", spec.get("optimizer", "sgd"),
                                          list(OPTIMIZERS)))

    def make_optimizer(self) -> gd.optimizers.Optimizer:
        """The gdlab optimizer with this learning rate ("momentum" is SGD with μ = 0.9)."""
        if self.optimizer == "momentum":
            return gd.SGD(learning_rate=self.learning_rate, momentum=0.9)
        return gd.optimizers.get({"name": self.optimizer, "learning_rate": self.learning_rate})


def build_layers(model: str, data: Dataset, *, hidden: int = 4,
                 activation: str = "tanh") -> tuple[list[gd.Dense], str]:
    """The Dense layers and the loss name of a model kind for this data set."""
    check_choice("model", model, list(MODELS))
    if model == "logistic" and data.kind != "binary":
        raise ValueError(f"The logistic model needs a 0/1 target; the target of {data.name!r} "
                         f"is {data.kind}. Choose linear, softmax or mlp.")
    if model == "softmax" and data.kind == "regression":
        raise ValueError(f"The softmax model needs class labels; the target of {data.name!r} "
                         "is numeric. Choose linear or mlp.")
    if model == "linear":
        return [gd.Dense(1)], "mse"
    if model == "logistic":
        return [gd.Dense(1, activation="sigmoid")], "binary_crossentropy"
    if model == "softmax":
        return ([gd.Dense(data.n_classes, activation="softmax")],
                "sparse_categorical_crossentropy")
    hidden = check_positive_int("hidden", hidden, hint="e.g. 4.")
    if hidden > 64:
        raise ValueError(f"hidden must be at most 64 units; got hidden={hidden}.")
    first = gd.Dense(hidden, activation=activation)
    if data.kind == "binary":
        return [first, gd.Dense(1, activation="sigmoid")], "binary_crossentropy"
    if data.kind == "multiclass":
        return ([first, gd.Dense(data.n_classes, activation="softmax")],
                "sparse_categorical_crossentropy")
    return [first, gd.Dense(1)], "mse"


class Run:
    """One configuration stepping through its batch plan from θ₀."""

    def __init__(self, data: Dataset, layers: list[gd.Dense], loss: str, theta0: FloatArray,
                 config: RunConfig, *, epochs: int, seed: int) -> None:
        self.data, self.config, self.epochs = data, config, epochs
        self.model = gd.Sequential(layers, input_dim=data.X.shape[1], seed=seed)
        self.model.theta = theta0
        self.model.compile(loss=loss, optimizer=config.make_optimizer())
        self.plan = BatchPlan(data.X.shape[0], config.batch_size, shuffle=True,
                              rng=np.random.default_rng(seed))
        self.epoch = 0
        self._batches = self.plan.epoch()
        self.initial_loss = self.full_loss()
        self.reference_loss = max(abs(self.initial_loss), 1e-12)
        self.diverged: str | None = None
        self.done = False
        self.last: tuple[Step, IntArray, int] | None = None
        self.low, self.high = theta0.copy(), theta0.copy()
        #: every step's (step, epoch, batch loss, full loss, θ after), for the export
        self.log: list[tuple[int, int, float, float, FloatArray]] = []
        #: the first EXPORT_TABLES steps' records with their data rows (their tables)
        self.records: list[tuple[Step, IntArray, int]] = []
        self.kept_rows = 0

    def full_loss(self) -> float:
        """The mean loss over all rows at the current θ."""
        with np.errstate(all="ignore"):
            return float(self.model.evaluate(self.data.X, self.data.y))

    def _next_rows(self) -> IntArray | None:
        rows = next(self._batches, None)
        if rows is None:
            self.epoch += 1
            if self.epoch >= self.epochs:
                return None
            self._batches = self.plan.epoch()
            rows = next(self._batches)
        return rows

    def step(self) -> dict[str, Any] | None:
        """One gradient-descent step; its θ after, batch loss and full loss (None if over)."""
        rows = None if self.done else self._next_rows()
        if rows is None:
            self.done = True
            return None
        with np.errstate(all="ignore"):
            record = self.model.train_on_batch(self.data.X[rows], self.data.y[rows])
        self.last = (record, rows, self.epoch)
        if len(self.records) < EXPORT_TABLES and self.kept_rows + rows.size <= EXPORT_ROWS:
            self.records.append(self.last)
            self.kept_rows += rows.size
        theta = self.model.theta
        if np.isfinite(theta).all():
            self.low, self.high = np.minimum(self.low, theta), np.maximum(self.high, theta)
        full = self.full_loss()
        if not (math.isfinite(full) and np.isfinite(self.model.theta).all()
                and full <= DIVERGENCE_FACTOR * self.reference_loss):
            self.diverged = (
                f"Diverged at step {record.step + 1}: the loss went from "
                f"{self.reference_loss:.4g} to {full:.4g} with learning rate "
                f"{self.config.learning_rate:g}. The steps overshoot the minimum and grow; "
                "try a smaller learning rate.")
            self.done = True
        theta = self.model.theta.copy()
        if len(self.log) < EXPORT_STEPS:
            self.log.append((record.step, self.epoch, record.loss, full, theta))
        return {"theta": theta, "batch_loss": record.loss, "full_loss": full}

    def table(self) -> dict[str, Any] | None:
        """The last step's per-row table (:attr:`gdlab.Step.table`, first rows) and its mean."""
        if self.last is None:
            return None
        record, rows, epoch = self.last
        # train_on_batch numbers the batch's rows 0…m−1; the first TABLE_ROWS are shown
        with np.errstate(all="ignore"):
            frame = replace(record, rows=record.rows[:TABLE_ROWS]).table
        return {"columns": [str(c) for c in frame.columns],
                "rows": finite(frame.to_numpy(dtype=float)),
                "row_index": rows[:TABLE_ROWS].tolist(), "n_rows": int(rows.size),
                "step": record.step, "epoch": epoch, "variant": self.plan.variant,
                "learning_rate": record.learning_rate, "loss": finite(record.loss),
                "gradient": finite(record.gradient),
                "theta_before": finite(record.theta_before),
                "theta_after": finite(record.theta_after)}


class Session:
    """One data set and architecture; one or two runs from the same θ₀."""

    def __init__(self, data: Dataset, spec: dict[str, Any], configs: list[RunConfig]) -> None:
        self.data = data
        self.lock = threading.Lock()
        self.model_kind = spec.get("model", "linear")
        layers, self.loss = build_layers(self.model_kind, data, hidden=spec.get("hidden", 4),
                                         activation=spec.get("activation", "tanh"))
        self.seed = int(spec.get("seed", 0))
        self.epochs = check_positive_int("epochs", spec.get("epochs", 20), hint="e.g. 20.")
        probe = gd.Sequential(layers, input_dim=data.X.shape[1], seed=self.seed)
        init = spec.get("init", "auto")
        check_choice("init", init, ["auto", "zeros", "random"])
        zeros = init == "zeros" or (init == "auto" and len(layers) == 1)
        self.theta0 = np.zeros(probe.n_params) if zeros else probe.theta.copy()
        self.param_names = probe.param_names
        self.layer_configs = [layer.get_config() for layer in layers]
        self.runs = [Run(data, self._layers(), self.loss, self.theta0, config,
                         epochs=self.epochs, seed=self.seed) for config in configs]

    @cached_property
    def optimum(self) -> FloatArray | None:
        r"""The minimum of the loss when it is known exactly: the least-squares θ* of the
        linear model (:math:`\tilde X \theta \approx y`, θ ordered as w then b); else None."""
        if self.model_kind != "linear":
            return None
        X1 = np.column_stack([self.data.X, np.ones(self.data.X.shape[0])])
        return np.linalg.lstsq(X1, self.data.y, rcond=None)[0]

    def _layers(self) -> list[gd.Dense]:
        return [gd.Dense(**config) for config in self.layer_configs]

    def model_copy(self) -> gd.Sequential:
        """A compiled model at run A's current θ (for grids computed beside the runs)."""
        first = self.runs[0]
        model = gd.Sequential(self._layers(), input_dim=self.data.X.shape[1])
        model.theta = first.model.theta
        model.compile(loss=self.loss)
        return model

    def stable_learning_rate(self) -> dict[str, Any]:
        r"""The largest stable learning rate at θ₀, :math:`2/\lambda_{\max}` of the Hessian
        (exact for a linear model's MSE; else power iteration on at most 500 rows)."""
        from gdlab.train.stability import stable_learning_rate

        model, X, y = self.model_copy(), self.data.X, self.data.y
        exact = self.model_kind == "linear"
        if not exact and X.shape[0] > 500:
            rows = np.random.default_rng(0).choice(X.shape[0], 500, replace=False)
            X, y = X[rows], y[rows]
        model.set_theta(self.theta0)
        with np.errstate(all="ignore"):
            value = stable_learning_rate(model, X, y, iterations=40, tol=1e-3)
        return {"value": finite(value), "exact": exact}

    def describe(self) -> dict[str, Any]:
        """What the page needs once: names, θ₀, the data points, the first losses."""
        data = self.data
        rng = np.random.default_rng(0)
        n = data.X.shape[0]
        shown = np.sort(rng.choice(n, MAX_POINTS, replace=False)) if n > MAX_POINTS else \
            np.arange(n)
        return {"param_names": self.param_names, "theta0": finite(self.theta0),
                "model": self.model_kind, "loss": self.loss, "kind": data.kind,
                "feature_names": data.feature_names, "target_name": data.target_name,
                "classes": data.classes, "n": n, "epochs": self.epochs,
                "stable_learning_rate": self.stable_learning_rate(),
                "points": {"X": finite(data.X[shown, :2]), "y": finite(data.y[shown])},
                "runs": self.run_settings()}

    def run_settings(self) -> list[dict[str, Any]]:
        """Each run's variant, batch size, steps per epoch, η, optimizer and current loss."""
        return [{"variant": run.plan.variant, "batch_size": run.plan.batch_size,
                 "steps_per_epoch": run.plan.steps_per_epoch,
                 "learning_rate": run.config.learning_rate, "optimizer": run.config.optimizer,
                 "full_loss": finite(run.full_loss())} for run in self.runs]

    def step(self, count: int = 1) -> list[dict[str, Any]]:
        """Advance every run by up to ``count`` steps; what changed, per run."""
        results = []
        # the page draws every run's fitted curve (one feature) but run A's regions only
        curves = self.data.X.shape[1] == 1
        for k, run in enumerate(self.runs):
            path, batch_loss, full_loss = [], [], []
            for _ in range(count):
                out = run.step()
                if out is None:
                    break
                path.append(out["theta"])
                batch_loss.append(out["batch_loss"])
                full_loss.append(out["full_loss"])
                if run.diverged:
                    break
            results.append({"step": run.model.step_count, "epoch": run.epoch,
                            "theta": finite(run.model.theta), "path": finite(path),
                            "batch_loss": finite(batch_loss), "full_loss": finite(full_loss),
                            "diverged": run.diverged, "done": run.done, "table": run.table(),
                            "picture": picture(run.model, self.data) if curves or k == 0
                            else None})
        return results
