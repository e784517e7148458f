r"""The loop of :meth:`Sequential.fit <gdlab.train.model.Sequential.fit>`: one epoch at a time.

An epoch runs on one of two executors, with the same results to ~1e-12:

* the *reference* executor (:meth:`FitLoop._run_epoch`): the lecture's loop in Python,
  one :meth:`Sequential._step <gdlab.train.model.Sequential>` per batch of the plan,
  with traces and per-step callbacks;
* the *compiled* executor (:meth:`FitLoop._run_epoch_compiled`): the whole epoch in
  numba (:mod:`gdlab.kernels`), whose θ and optimizer state the model takes back with
  :meth:`Sequential.advance <gdlab.train.model.Sequential.advance>`.

Both record the epoch in the same logs (:meth:`FitLoop._epoch_logs`: the loss weighted
by the batches' weights, the learning rate, the RMS gradient norm of each layer and of
the embedding tables, :func:`grad_norm_logs`) and report a non-finite loss or gradient
the same way (:meth:`FitLoop.report_divergence`): the step that found it changes
nothing; θ and the step count go back to a snapshot of the
:class:`~gdlab.train.callbacks.DivergenceGuard` whose training loss is finite and
acceptable, and the optimizer's state, built on the diverging path, starts afresh.

:class:`FitLoop` is a part of :class:`~gdlab.train.model.Sequential` (a mixin): the
model's state is changed only through the model's own methods (the step, ``advance``,
``restore``).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gdlab._checks import UserError, UserTypeError
from gdlab._typing import FloatArray
from gdlab.optim.batches import BatchPlan
from gdlab.train.batch import Batch
from gdlab.train.callbacks import (
    Callback,
    DivergenceGuard,
    DivergenceWarning,
    ProgressBar,
    divergence_message,
)
from gdlab.train.diagnostics import DeadReLU
from gdlab.train.trace import BatchContext

__all__ = ["TRACE_BUDGET_BYTES", "YARDSTICK_ROWS", "FitLoop", "as_logs", "grad_norm_logs",
           "steps_to_trace", "trace_budget"]

#: the memory ``fit(trace=True)`` may fill with steps; beyond it the first steps are kept
TRACE_BUDGET_BYTES = 64 * 2**20
#: at most this many rows give a mini-batch fit's loss at θ₀ (the divergence yardstick)
YARDSTICK_ROWS = 4096


class FitLoop:
    """The epochs of ``fit`` on either executor (mixed into :class:`Sequential`)."""

    def _callbacks(self, callbacks: Sequence[Callback] | None, epochs: int,
                   verbose: int, data: Batch) -> list[Callback]:
        """The fit's callbacks: history, divergence guard, dead-ReLU check, the user's, progress."""
        user = list(callbacks or [])
        for callback in user:
            if not isinstance(callback, Callback):
                raise UserTypeError(f"callbacks must be gdlab Callback objects; got {callback!r}.")
        guard = self.guard_divergence(lambda: self._training_loss(data))
        dead = DeadReLU(data.X)  # with embeddings, through the tables at each check
        chain: list[Callback] = [self.history, guard, dead, *user]
        if verbose:
            chain.append(ProgressBar(epochs))
        for callback in chain:
            callback.set_model(self)
        return chain

    def _step_bytes(self, plan: BatchPlan) -> int:
        """About what one traced Step keeps: θ before and after, the gradient, the
        optimizer state, the rows (none for consecutive rows) and the record itself."""
        state = sum(np.asarray(part).nbytes for part in self.optimizer_state or ())
        rows = 8 * plan.batch_size if plan.shuffle else 0
        return 3 * self.theta.nbytes + state + rows + 1024

    def _initial_loss(self, data: Batch, plan: BatchPlan) -> dict[str, Any]:
        """The loss at θ₀ for the :class:`DivergenceGuard`, without a pass over all of X.

        A full batch: nothing here, the first step computes it with its gradient (``fit``
        records it after the first epoch). Mini-batch and stochastic: the loss on at most
        :data:`YARDSTICK_ROWS` evenly spaced rows ``X[::s]``, ``s = ⌈n / 4096⌉`` (all rows
        when ``n`` ≤ 4096), and how many rows that is (``initial_loss_rows``).
        """
        if plan.variant == "batch":
            return {}
        stride = -(-plan.n // YARDSTICK_ROWS)
        sample = data if stride == 1 else data.take(slice(None, None, stride))
        return {"initial_loss": self._training_loss(sample),
                "initial_loss_rows": sample.X.shape[0]}

    @np.errstate(over="ignore", invalid="ignore", divide="ignore")  # may be non-finite
    def _training_loss(self, data: Batch) -> float:
        """The (weighted) mean loss on all the training rows at the current θ."""
        return as_logs(self._evaluate(data), "loss")["loss"]

    @np.errstate(over="ignore", invalid="ignore", divide="ignore")  # divergence is reported
    def _run_epoch(self, data: Batch, plan: BatchPlan, epoch: int,
                   context: BatchContext | None, trace_limit: int,
                   callback_list: list[Callback]) -> dict[str, float] | None:
        """One epoch of the reference executor; None if it diverged (θ restored).

        Divergence is reported (a :class:`DivergenceWarning`), so numpy's own overflow
        warnings are silenced here.
        """
        steps = plan.steps_per_epoch
        step_loss = np.empty(steps)
        step_eta = np.empty(steps)
        batch_weight = np.empty(steps)
        groups = self.gradient_groups()  # the layers, then (with embeddings) the tables
        grad_sq = np.zeros(len(groups))
        per_step = [c for c in callback_list if c.per_step]
        full = plan.batch_size >= plan.n
        learning_rate_at = self.optimizer.learning_rate_at  # type: ignore[union-attr]
        for index, rows in enumerate(plan.epoch()):
            batch = data if full else data.gather(rows)
            keep = context if len(self.history.trace) < trace_limit else None
            step_eta[index] = eta = learning_rate_at(self.step_count)
            loss, grad = self._batch_gradient(batch)
            group_sq = [grad[part] @ grad[part] for part in groups]  # each group's ‖gradient‖²
            if not (math.isfinite(loss) and _finite(grad, group_sq)):  # no update: report
                self.report_divergence(epoch, self.step_count, loss, step_eta[index],
                                        index=index)
                return None
            record = self._update(loss, grad, rows, epoch=epoch, variant=plan.variant,
                                  context=keep, learning_rate=eta)
            step_loss[index] = loss
            batch_weight[index] = rows.size if batch.w is None else batch.w.sum()
            grad_sq += group_sq
            if record is not None:
                self.history.trace.append(record)
            for callback in per_step:
                callback.on_train_batch_end(self.step_count - 1, {"loss": loss})
            if per_step and self.stop_training:  # a per-step callback stops after this step
                done = index + 1
                return self._epoch_logs(data, step_loss[:done], step_eta[:done],
                                        batch_weight[:done], grad_sq)
        return self._epoch_logs(data, step_loss, step_eta, batch_weight, grad_sq)

    def _epoch_logs(self, data: Batch, step_loss: FloatArray, step_eta: FloatArray,
                    batch_weight: FloatArray, grad_sq: FloatArray) -> dict[str, float]:
        """Record the epoch's steps in the history; return its logs (both executors)."""
        self.history.step_loss.append(step_loss)
        self.history.step_learning_rate.append(step_eta)
        logs = {"loss": float(batch_weight @ step_loss / batch_weight.sum()),
                "learning_rate": float(step_eta[-1])}
        logs.update(grad_norm_logs(grad_sq, step_loss.size, len(self.layers)))
        if self.metrics:
            logs.update(as_logs(self._evaluate(data), "loss", skip_loss=True))
        return logs

    def _compiled_executor(self, executor: str, trace_limit: int,
                           callback_list: list[Callback], data: Batch) -> Any:
        """The compiled executor of this fit (:mod:`gdlab.kernels`), or None for numpy.

        Records which executor runs and why in ``history.params`` ("executor",
        "executor_reason"); ``"auto"`` decides by :func:`gdlab.kernels.choice.choose`.
        """
        params = self.history.params
        if executor == "numpy":
            params.update(executor="numpy", executor_reason="executor='numpy' was asked")
            return None
        needs_steps = trace_limit > 0 or any(c.per_step for c in callback_list)
        from gdlab import kernels  # lazy: numba is imported only by kernels.Executor
        from gdlab.kernels import choice

        reason = "tracing or a per-step callback needs it" if needs_steps else (
            kernels.unsupported(self))
        if reason is not None:
            if executor == "compiled":
                raise UserError(f"executor='compiled' cannot run this fit: {reason}. Use "
                                "executor='numpy' (or 'auto', which picks it).")
            params.update(executor="numpy", executor_reason=f"auto: {reason}")
            return None
        if executor == "auto":
            n = data.X.shape[0]
            batch = n if params["batch_size"] == "full" else min(params["batch_size"], n)
            executor, why = choice.choose(self, n=n, batch_size=batch, epochs=params["epochs"])
        else:
            why = "executor='compiled' was asked"
        params.update(executor=executor, executor_reason=why)
        return kernels.Executor(self, data.X, data.Y, data.w, data.e) if (
            executor == "compiled") else None

    def _run_epoch_compiled(self, compiled: Any, data: Batch, plan: BatchPlan,
                            epoch: int) -> dict[str, float] | None:
        """One epoch in compiled code; None if it diverged (θ as before that step)."""
        result = compiled.run_epoch(self._theta, self._opt_state, self.step_count,
                                    self.optimizer, plan.order(), plan.batch_size)
        self.advance(result.theta, result.optimizer_state, result.steps)
        if result.diverged >= 0:
            index = result.diverged
            self.report_divergence(epoch, self.step_count, float(result.step_loss[index]),
                                    float(result.step_learning_rate[index]), index=index)
            return None
        return self._epoch_logs(data, result.step_loss, result.step_learning_rate,
                                result.batch_weight, result.grad_sq)

    def guard_divergence(self, loss_at: Callable[[], float]) -> DivergenceGuard:
        """This fit's divergence guard, which :meth:`report_divergence` restores θ with;
        ``loss_at()`` is the training loss at the current θ (in memory or streamed)."""
        self._divergence_guard = DivergenceGuard(loss_at=loss_at)
        return self._divergence_guard

    def report_divergence(self, epoch: int, step: int, loss: float, eta: float, *,
                          index: int) -> None:
        """Stop the fit on a non-finite loss or gradient at ``step`` (``index`` in its
        epoch): θ back to the guard's last good snapshot, the reason in the history and a
        :class:`DivergenceWarning`."""
        # θ before this step gives a non-finite loss or gradient: go back to an earlier
        # epoch's θ whose training loss is finite and acceptable (index: the step's number
        # in its epoch; from 1 on, the epoch's first step ran from the last good θ)
        guard = self._divergence_guard
        restored = guard.restore(first_step_evaluated=index > 0)
        message = divergence_message(epoch=epoch, step=step, loss=loss, learning_rate=float(eta),
                                     restored=restored)
        self.history.diverged = {"epoch": epoch, "step": step, "loss": float(loss),
                                 "learning_rate": float(eta), "message": message,
                                 **guard.restored}
        self.stop_training = True
        warnings.warn(message, DivergenceWarning, stacklevel=3)


def _finite(grad: FloatArray, group_sq: list[float]) -> bool:
    """Whether every entry of ``grad`` is finite, told cheaply by its groups' squared norms.

    The groups (:meth:`Network.gradient_groups <gdlab.nn.network.Network.gradient_groups>`:
    the layers, then the embedding tables) cover all of θ. A nan or ±inf entry makes its
    group's sum of squares nan or inf, so a finite total proves every entry finite; only a
    total that is not finite (which a huge but finite gradient can also give, by overflow)
    needs the entry-by-entry check. The compiled executor decides exactly alike: a step
    diverges iff an entry is nan or ±inf.
    """
    return math.isfinite(sum(group_sq)) or bool(np.isfinite(grad).all())


def grad_norm_logs(grad_sq: FloatArray, steps: int, layers: int) -> dict[str, float]:
    r"""The epoch's gradient norms as logs: ``grad_norm[l]`` for layer l, ``grad_norm[0]``
    for the embedding tables.

    ``grad_sq`` holds, per group of :meth:`Network.gradient_groups
    <gdlab.nn.network.Network.gradient_groups>` (layers 1 … L, then the tables if there are
    ``layers + 1`` entries), the sum over the epoch's steps of :math:`\lVert g \rVert^2`;
    the log is its root mean square over the ``steps``. The tables are numbered 0: they
    make :math:`A^{(0)}`, the input layer.

    Examples
    --------
    >>> grad_norm_logs(np.array([4.0, 16.0, 64.0]), steps=4, layers=2)
    {'grad_norm[1]': 1.0, 'grad_norm[2]': 2.0, 'grad_norm[0]': 4.0}
    """
    names = [f"grad_norm[{number}]" for number in range(1, layers + 1)] + ["grad_norm[0]"]
    return {names[k]: float(np.sqrt(value / steps)) for k, value in enumerate(grad_sq)}


def steps_to_trace(trace: bool | int) -> int:
    """How many steps ``fit(trace=...)`` keeps: all (True), none (False) or the first N."""
    if trace is True:
        return np.iinfo(np.int64).max
    if trace is False or trace is None:
        return 0
    if isinstance(trace, numbers.Integral) and trace >= 0:
        return int(trace)
    raise UserError(f"trace must be True, False or a number of steps >= 0; got trace={trace!r}.")


def trace_budget(steps: int, step_bytes: int) -> int:
    """How many steps ``trace=True`` keeps: all ``steps`` if they fit
    :data:`TRACE_BUDGET_BYTES`, else as many as fit (the first ones), with a warning."""
    fits = max(1, TRACE_BUDGET_BYTES // max(1, step_bytes))
    if steps <= fits:
        return steps
    warnings.warn(
        f"trace=True would keep {steps:,} steps (about {steps * step_bytes / 2**20:,.0f} MB); "
        f"keeping the first {fits:,} ({TRACE_BUDGET_BYTES / 2**20:.0f} MB). Pass trace=N to "
        "keep N steps, or trace=False.", UserWarning, stacklevel=3)
    return fits


def as_logs(result: Any, loss_key: str, *, skip_loss: bool = False) -> dict[str, float]:
    """:meth:`Sequential.evaluate`'s result (a number or a dict) as an epoch's logs."""
    if isinstance(result, dict):
        return {k: v for k, v in result.items() if not (skip_loss and k == "loss")}
    return {} if skip_loss else {loss_key: float(result)}
