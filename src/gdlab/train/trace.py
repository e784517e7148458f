r"""Step records: every number of one gradient-descent update, kept for inspection.

A :class:`Step` holds θ before and after, the batch gradient, the learning rate, the
optimizer state before and after, and the rows of the batch. Its per-row table
(inputs, targets, predictions, per-row losses and partial derivatives) is built on
demand from the training data it references (never copied), so a long trace stays small:
a step costs a few vectors of the size of θ plus its row indices (two numbers for a run of
consecutive rows, such as a full batch: :class:`~gdlab.train.batch.RowRange`), whatever
the size of X.

The table is the lecture's: row :math:`i` holds :math:`x_i, y_i, \hat{y}_i`,
:math:`\text{Loss}_i` and each :math:`\partial \text{Loss}_i / \partial \theta_j`; the
batch gradient is their (weighted) mean,

.. math:: \nabla \text{Loss}_{1:n} = \frac{1}{n} \sum_{i=1}^n \nabla \text{Loss}_i ,

and the update is :math:`\boldsymbol{\theta}_{t+1} = \boldsymbol{\theta}_t - \eta \nabla
\text{Loss}` (plain SGD) or :math:`\boldsymbol{\theta}_t + \Delta\boldsymbol{\theta}` for
optimizers with a state (momentum, Adam, RMSprop).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gdlab._checks import UserError
from gdlab._typing import FloatArray, IntArray
from gdlab.train.batch import RowRange

__all__ = ["BatchContext", "Step", "Trace", "format_number"]

_VARIANTS = {"batch": "batch gradient descent", "stochastic": "stochastic gradient descent",
             "mini-batch": "mini-batch gradient descent"}
_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


@dataclass(frozen=True)
class BatchContext:
    """What a step's table needs: the model's layers and the run's data (by reference)."""

    layer_configs: list[dict[str, Any]]
    input_dim: int
    loss: Any
    X: FloatArray
    Y: FloatArray
    sample_weight: FloatArray | None = None
    exposure: FloatArray | None = None
    param_names: list[str] | None = None  #: shared by the steps of a run (one list, not N)
    inputs: dict[str, Any] | None = None  #: the embeddings' config (Inputs.get_config)


@dataclass(frozen=True)
class Step:
    r"""One update :math:`\theta_{t+1} = \theta_t - \eta \nabla \text{Loss}` and its numbers.

    Examples
    --------
    >>> import gdlab as gd
    >>> model = gd.Sequential([gd.Dense(1)], input_dim=1)
    >>> model.set_weights([np.zeros((1, 1)), np.zeros(1)])
    >>> model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01))
    >>> step = model.train_on_batch(np.array([[5.0]]), np.array([5.0]))
    >>> step.table
         x    y  y_hat  loss  dL/dw  dL/db
    row
    0    5.0  5.0    0.0  25.0  -50.0  -10.0
    """

    step: int  #: global step number, 0-based
    epoch: int  #: epoch number, 0-based
    variant: str  #: "batch", "stochastic" or "mini-batch"
    rows: IntArray | RowRange  #: the rows of the training data in this batch
    learning_rate: float
    loss: float  #: the batch's (weighted) mean loss at θ before
    theta_before: FloatArray
    gradient: FloatArray  #: the batch gradient at θ before
    theta_after: FloatArray
    state_before: Any = None
    state_after: Any = None
    param_names: list[str] = field(default_factory=list)
    context: BatchContext | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.rows, RowRange):
            return
        contiguous = RowRange.of(self.rows)  # a full batch: O(1), not n indices
        if contiguous is not None:
            object.__setattr__(self, "rows", contiguous)
            return
        rows = np.asarray(self.rows)
        if rows.base is not None and rows.base.size > rows.size:
            # a view of the epoch's permutation would keep all n indices alive
            object.__setattr__(self, "rows", rows.copy())

    @property
    def _row_index(self) -> IntArray | slice:
        """The rows as an index of X: a slice (a view, no copy) for a :class:`RowRange`."""
        rows = self.rows
        return slice(rows.start, rows.stop) if isinstance(rows, RowRange) else rows

    # --- the per-row table --------------------------------------------------------------
    @property
    def table(self) -> pd.DataFrame:
        """One row per observation: inputs, targets, ``y_hat``, ``loss``, ``dL/d<param>``.

        Built on demand from the training data at θ before the step. The (weighted)
        mean of each ``dL/d<param>`` column is :attr:`gradient`. With sample weights or
        exposure, ``weight`` and ``exposure`` columns come before ``loss``.
        """
        return self.table_for()

    def table_for(self, params: Sequence[str] | None = None) -> pd.DataFrame:
        """:attr:`table` with only the ``dL/d<param>`` columns of ``params`` (names of θ)."""
        indices = self._param_indices(params)
        context = self._require_context()
        X, Y, y_hat, per_row, grads = self._per_row()
        columns: dict[str, FloatArray] = {}
        columns.update(_named("x", X))
        target = Y
        if getattr(context.loss, "name", "") == "sparse_categorical_crossentropy":
            target = Y.argmax(axis=1)[:, None].astype(float)
        columns.update(_named("y", target))
        columns.update(_named("y_hat", y_hat))
        if context.exposure is not None:
            columns["exposure"] = context.exposure[self._row_index]
        if context.sample_weight is not None:
            columns["weight"] = context.sample_weight[self._row_index]
        columns["loss"] = per_row
        for j in indices:
            columns[f"dL/d{self.param_names[j]}"] = grads[:, j]
        return pd.DataFrame(columns, index=pd.Index(np.asarray(self.rows), name="row"))

    def per_row_gradients(self) -> FloatArray:
        r"""Each row's :math:`\nabla \text{Loss}_i` at θ before, shape (batch rows, n_params)."""
        return self._per_row()[4]

    def _per_row(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        from gdlab.nn.embedding import Inputs
        from gdlab.nn.layers import Dense  # deferred: the trace is imported by the fit loop
        from gdlab.nn.network import Network

        context = self._require_context()
        inputs = None if context.inputs is None else Inputs.from_config(context.inputs)
        network = Network([Dense(**config) for config in context.layer_configs],
                          input_dim=context.input_dim, dtype=self.theta_before.dtype.name,
                          inputs=inputs)
        network.theta = self.theta_before
        X, Y = context.X[self._row_index], context.Y[self._row_index]
        exposure = None if context.exposure is None else context.exposure[self._row_index]
        per_row, grads = network.per_row_gradients(context.loss, X, Y, exposure=exposure)
        return X, Y, network.output(X), per_row, grads

    def _require_context(self) -> BatchContext:
        if self.context is None:
            raise UserError(
                "This step has no data attached (context=None), so its per-row table cannot "
                "be built. Record steps with fit(trace=...) or train_on_batch."
            )
        return self.context

    def _param_indices(self, params: Sequence[str] | None) -> list[int]:
        if params is None:
            return list(range(len(self.param_names)))
        if isinstance(params, str):
            params = [params]
        position = {name: j for j, name in enumerate(self.param_names)}
        unknown = [name for name in params if name not in position]
        if unknown:
            raise UserError(
                f"params={list(params)!r} names no parameter {unknown!r} of this model; "
                f"use names from step.param_names, e.g. {self.param_names[:6]!r}."
            )
        return [position[name] for name in params]

    # --- exports ----------------------------------------------------------------------
    @property
    def plain_sgd(self) -> bool:
        r"""Whether the update was :math:`\theta_{t+1} = \theta_t - \eta\nabla` exactly."""
        delta = self.theta_after - self.theta_before
        expected = -self.learning_rate * self.gradient
        scale = max(float(np.abs(self.theta_before).max(initial=0.0)), 1.0)
        return bool(np.allclose(delta, expected, rtol=1e-9, atol=1e-12 * scale))

    def to_markdown(self, decimals: int | None = 2, *,
                    params: Sequence[str] | None = None) -> str:
        """The step as the lecture shows it: data and θ, the per-row table, ∇, the update.

        ``decimals=None`` prints each number in its shortest form (the lecture's SGD slides).
        """
        indices = self._param_indices(params)
        table = self.table_for(params)
        t0, t1 = str(self.step).translate(_SUBSCRIPTS), str(self.step + 1).translate(_SUBSCRIPTS)
        names = ", ".join(self.param_names[j] for j in indices)
        fmt = _vector_formatter(indices, decimals)
        mean = self._mean_word()
        lines = [
            f"### {self.describe()}", "",
            f"Parameters: θ{t0} = ({names}) = {fmt(self.theta_before)}; "
            f"learning rate η = {self.learning_rate:g}", "",
            _markdown_table(table, decimals), "",
            f"Loss ({mean} of the rows' losses) = {format_number(self.loss, decimals)}",
            f"Gradient ({mean} of the rows' dL/dθ): ∇ = {fmt(self.gradient)}",
        ]
        if self.plain_sgd:
            step_vec = -self.learning_rate * self.gradient
            lines.append(f"Update: θ{t1} = θ{t0} − η∇ = {fmt(self.theta_before)} − "
                         f"{self.learning_rate:g} × {fmt(self.gradient)} = "
                         f"{fmt(self.theta_before)} + {fmt(step_vec)}")
        else:
            lines.append(f"Update ({self._state_name()}): θ{t1} = θ{t0} + Δθ = "
                         f"{fmt(self.theta_before)} + "
                         f"{fmt(self.theta_after - self.theta_before)}")
        lines.append(f"New θ: θ{t1} = {fmt(self.theta_after)}")
        return "\n".join(lines) + "\n"

    def to_latex(self, decimals: int | None = 2, *, params: Sequence[str] | None = None,
                 standalone: bool = False) -> str:
        r"""The step in the lecture's LaTeX: the table with :math:`\partial \text{Loss}_i /
        \partial w` headers, :math:`\nabla \text{Loss}`, and the update written out.

        Needs ``amsmath``; ``standalone=True`` wraps it in a compilable document.
        """
        indices = self._param_indices(params)
        table = self.table_for(params)
        vec = _latex_vector_formatter(indices, decimals)
        t0, t1 = self.step, self.step + 1
        eta = f"{self.learning_rate:g}"
        names = ", ".join(_latex_param(self.param_names[j]) for j in indices)
        body = [f"% {self.describe()}",
                rf"\[ \boldsymbol{{\theta}}_{{{t0}}} = ({names})^\top = "
                rf"{vec(self.theta_before)}, \qquad \eta = {eta} \]",
                _latex_table(table, decimals), "",
                rf"\[ \text{{Loss}} = {format_number(self.loss, decimals)}, \qquad "
                rf"\nabla \text{{Loss}} = {vec(self.gradient)} \]",
                r"\[", r"\begin{aligned}"]
        if self.plain_sgd:
            body += [rf"\boldsymbol{{\theta}}_{{{t1}}} &= \boldsymbol{{\theta}}_{{{t0}}} "
                     rf"- \eta \nabla \text{{Loss}} \\",
                     rf"&= {vec(self.theta_before)} - {eta} {vec(self.gradient)} \\",
                     rf"&= {vec(self.theta_before)} + "
                     rf"{vec(-self.learning_rate * self.gradient)} "
                     rf"= {vec(self.theta_after)}."]
        else:
            body += [rf"\boldsymbol{{\theta}}_{{{t1}}} &= \boldsymbol{{\theta}}_{{{t0}}} "
                     rf"+ \Delta\boldsymbol{{\theta}} \quad \text{{({self._state_name()})}} \\",
                     rf"&= {vec(self.theta_before)} + "
                     rf"{vec(self.theta_after - self.theta_before)} "
                     rf"= {vec(self.theta_after)}."]
        body += [r"\end{aligned}", r"\]", ""]
        text = "\n".join(body)
        if standalone:
            text = ("\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\n"
                    f"{text}\\end{{document}}\n")
        return text

    def describe(self) -> str:
        """One line: iteration, epoch, variant and the rows of the batch.

        Iterations and epochs count from 1, as in the lecture ("iteration 1" goes from θ₀ to
        θ₁); :attr:`step` and :attr:`epoch` stay 0-based. Rows are the data's row numbers.
        """
        rows = ", ".join(str(r) for r in self.rows[:8]) + (", …" if len(self.rows) > 8 else "")
        return (f"Iteration {self.step + 1} (epoch {self.epoch + 1}): "
                f"{_VARIANTS.get(self.variant, self.variant)} on {len(self.rows)} "
                f"row{'s' if len(self.rows) != 1 else ''} ({rows})")

    def _mean_word(self) -> str:
        weighted = self.context is not None and self.context.sample_weight is not None
        return "weighted mean" if weighted else "mean"

    def _state_name(self) -> str:
        name = type(self.state_after).__name__ if self.state_after is not None else ""
        return name.removesuffix("State") or "optimizer"

    def _repr_html_(self) -> str:
        from gdlab.train.notebook import step_html  # the notebook's view

        return step_html(self)

    def __repr__(self) -> str:
        return (f"Step(step={self.step}, epoch={self.epoch}, variant={self.variant!r}, "
                f"rows={len(self.rows)}, loss={self.loss:.6g}, "
                f"learning_rate={self.learning_rate:.6g})")


class Trace(list):
    """The recorded steps of a run, in order (a list of :class:`Step`)."""

    def _repr_html_(self) -> str:
        from gdlab.train.notebook import trace_html  # the notebook's view

        return trace_html(self)

    def to_frame(self) -> pd.DataFrame:
        """One row per step: step, epoch, variant, learning rate, loss, θ and gradient.

        ``theta[<name>]`` is θ before the step (where the loss and gradient were taken).
        """
        records = []
        for s in self:
            record = {"step": s.step, "epoch": s.epoch, "variant": s.variant,
                      "batch_rows": len(s.rows), "learning_rate": s.learning_rate,
                      "loss": s.loss}
            names = s.param_names
            record.update({f"theta[{n}]": v for n, v in zip(names, s.theta_before, strict=True)})
            record.update({f"grad[{n}]": v for n, v in zip(names, s.gradient, strict=True)})
            records.append(record)
        return pd.DataFrame.from_records(records)


# --- formatting helpers ----------------------------------------------------------------
def format_number(value: float, decimals: int | None = 2) -> str:
    """A number with ``decimals`` decimals (None: shortest form); never ``-0.00``.

    Examples
    --------
    >>> format_number(-14.694163, 2), format_number(-0.001, 2), format_number(2.7319999999, None)
    ('-14.69', '0.00', '2.732')
    """
    value = float(value)
    if decimals is None:
        text = np.format_float_positional(round(value, 10), trim="-")
    else:
        text = f"{value:.{decimals}f}"
    return text[1:] if re.fullmatch(r"-0\.?0*", text) else text


def _named(prefix: str, values: FloatArray) -> dict[str, FloatArray]:
    values = np.asarray(values).reshape(len(values), -1)
    if values.shape[1] == 1:
        return {prefix: values[:, 0]}
    return {f"{prefix}_{j + 1}": values[:, j] for j in range(values.shape[1])}


def _vector_formatter(indices: list[int], decimals: int | None) -> Any:
    def fmt(vector: FloatArray) -> str:
        return "(" + ", ".join(format_number(vector[j], decimals) for j in indices) + ")"
    return fmt


def _latex_vector_formatter(indices: list[int], decimals: int | None) -> Any:
    def fmt(vector: FloatArray) -> str:
        entries = r" \\ ".join(format_number(vector[j], decimals) for j in indices)
        return rf"\begin{{pmatrix}} {entries} \end{{pmatrix}}"
    return fmt


def _markdown_table(table: pd.DataFrame, decimals: int | None) -> str:
    header = ["row", *table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for row, values in zip(table.index, table.to_numpy(), strict=True):
        cells = [str(row), *(format_number(v, decimals) for v in values)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def latex_name(column: str) -> str:
    r"""A table column or parameter name in the lecture's LaTeX.

    Examples
    --------
    >>> latex_name("dL/dw^(2)_{1,3}")
    '$\\frac{\\partial \\text{Loss}_i}{\\partial w^{(2)}_{1,3}}$'
    >>> latex_name("y_hat_2"), latex_name("loss")
    ('$\\hat{y}_{2}$', '$\\text{Loss}_i$')
    """
    if column.startswith("dL/d"):
        return rf"$\frac{{\partial \text{{Loss}}_i}}{{\partial {_latex_param(column[4:])}}}$"
    if column == "loss":
        return r"$\text{Loss}_i$"
    if column in ("exposure", "weight"):
        return rf"$\text{{{column}}}_i$"
    match = re.fullmatch(r"(x|y|y_hat)(?:_(\d+))?", column)
    if match is None:
        return column
    symbol = r"\hat{y}" if match.group(1) == "y_hat" else match.group(1)
    return f"${symbol}_{{{match.group(2)}}}$" if match.group(2) else f"${symbol}$"


def _latex_param(name: str) -> str:
    """``w^(2)_{1,3}`` → ``w^{(2)}_{1,3}`` (the other names are LaTeX already)."""
    return re.sub(r"\^\((\d+)\)", r"^{(\1)}", name)


def _latex_table(table: pd.DataFrame, decimals: int | None) -> str:
    header = ["row", *(latex_name(c) for c in table.columns)]
    lines = [r"\begin{tabular}{" + "r" * len(header) + "}", r"\hline",
             " & ".join(header) + r" \\", r"\hline"]
    for row, values in zip(table.index, table.to_numpy(), strict=True):
        cells = [str(row), *(format_number(v, decimals) for v in values)]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines)
