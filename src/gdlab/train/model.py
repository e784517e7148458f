r"""The fit loop: epochs × batches → steps, validation, callbacks, History.

One step of gradient descent, as in the lecture::

    gradient = evaluate_gradient(loss_function, batch, weights)
    weights = weights - learning_rate * gradient

is :meth:`Sequential.train_on_batch`; :meth:`Sequential.fit` runs it over the batch plan
of :mod:`gdlab.optim.batches` (``batch_size="full"`` | ``1`` | ``k``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from gdlab._checks import UserError, check_fraction, check_positive_int, check_seed
from gdlab._typing import FloatArray, IntArray
from gdlab.io.data import check_exposure, check_sample_weight, check_X, check_y
from gdlab.io.persistence import write_model_file
from gdlab.nn import losses as losses_module
from gdlab.nn.embedding import Inputs
from gdlab.nn.layers import Dense
from gdlab.nn.network import Network
from gdlab.optim import optimizers as optimizers_module
from gdlab.optim.batches import BatchPlan, check_batch_size
from gdlab.train.batch import Batch
from gdlab.train.callbacks import Callback, DivergenceWarning, History
from gdlab.train.diagnostics import check_combination
from gdlab.train.external import out_of_core
from gdlab.train.loop import FitLoop, as_logs, steps_to_trace, trace_budget
from gdlab.train.scores import METRICS, metric
from gdlab.train.trace import BatchContext, Step

__all__ = ["Sequential"]


class Snapshot(NamedTuple):
    """θ, the optimizer state and the step count at one moment (see :meth:`Sequential.snapshot`)."""

    theta: FloatArray
    optimizer_state: Any
    step_count: int


def _copy_state(state: Any) -> Any:
    """A copy of an optimizer state (a NamedTuple of arrays and numbers) that shares nothing."""
    if state is None:
        return None
    return type(state)(*(np.array(value, copy=True) if isinstance(value, np.ndarray) else value
                         for value in state))


class Sequential(FitLoop, Network):
    """A trainable stack of :class:`~gdlab.nn.layers.Dense` layers (Keras-shaped API).

    Examples
    --------
    >>> import gdlab as gd
    >>> model = gd.Sequential([gd.Dense(1)], input_dim=1)
    >>> model.set_weights([np.zeros((1, 1)), np.zeros(1)])
    >>> model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01))
    >>> step = model.train_on_batch(np.array([[5.0]]), np.array([5.0]))
    >>> step.gradient.tolist(), step.theta_after.tolist()
    ([-50.0, -10.0], [0.5, 0.1])
    """

    def __init__(self, layers: Sequence[Dense], *, input_dim: int | None = None,
                 seed: int | None = None, dtype: str = "float64",
                 inputs: Inputs | None = None) -> None:
        super().__init__(layers, input_dim=input_dim, seed=seed, dtype=dtype, inputs=inputs)
        self.loss: losses_module.Loss | None = None
        self.optimizer: optimizers_module.Optimizer | None = None
        self.metrics: list[str] = []
        self.history = History()
        self.stop_training = False
        self.step_count = 0
        self._opt_state: Any = None

    # --- configuration ---------------------------------------------------------------
    def compile(self, loss: str | losses_module.Loss = "mse",
                optimizer: str | optimizers_module.Optimizer = "sgd", *,
                metrics: Sequence[str] = ()) -> None:
        """Choose the loss, the optimizer and extra metrics; resets the optimizer state.

        Parameters
        ----------
        loss : str or Loss
            One of :func:`gdlab.nn.losses.names`.
        optimizer : str or Optimizer
            ``"sgd"``, ``"momentum"``, ``"adam"``, ``"rmsprop"`` or an instance.
        metrics : list of str
            Any of ``"accuracy"``, ``"mse"``, ``"mae"``.
        """
        self.loss = losses_module.get(loss)
        check_combination(self.layers, self.loss)
        self.optimizer = optimizers_module.get(optimizer)
        for name in metrics:
            if name not in METRICS:
                raise UserError(f"Unknown metric {name!r}. Use any of {list(METRICS)}.")
        self.metrics = list(metrics)
        self._opt_state = None
        self.step_count = 0

    def _require_compiled(self) -> tuple[losses_module.Loss, optimizers_module.Optimizer]:
        if self.loss is None or self.optimizer is None:
            raise UserError(
                "The model is not compiled: call model.compile(loss=..., optimizer=...) first."
            )
        return self.loss, self.optimizer

    # --- state: θ, the optimizer state and the step count, changed only here -----------
    @property
    def optimizer_state(self) -> Any:
        """The optimizer's state (a NamedTuple; None before the first step)."""
        return self._opt_state

    def snapshot(self) -> Snapshot:
        """Copies of θ, the optimizer state and the step count, for :meth:`restore`."""
        self._require_built()
        return Snapshot(self._theta.copy(), _copy_state(self._opt_state), self.step_count)

    def restore(self, snapshot: Snapshot) -> None:
        """Set θ, the optimizer state and the step count together, from a :class:`Snapshot`."""
        self.theta = snapshot.theta
        self._opt_state = _copy_state(snapshot.optimizer_state)
        self.step_count = int(snapshot.step_count)

    def reset_optimizer_state(self) -> bool:
        """Start the optimizer's state afresh at θ (zero velocity, moments and Adam's t).

        Returns whether the state held anything (False for plain SGD, whose state is
        always zero). The step count, the schedule's clock, is kept.
        """
        fresh = self.optimizer.init(self._theta)  # type: ignore[union-attr]
        held = self._opt_state is not None and not all(
            np.array_equal(old, new) for old, new in zip(self._opt_state, fresh, strict=True))
        self._opt_state = fresh
        return held

    def advance(self, theta: FloatArray, optimizer_state: Any, steps: int) -> None:
        """Take θ and the optimizer state after ``steps`` steps run elsewhere (the kernels)."""
        self._theta[...] = theta
        self._opt_state = optimizer_state
        self.step_count += int(steps)

    # --- data ------------------------------------------------------------------------
    def _prepare(self, X: Any, y: Any, sample_weight: Any = None,
                 exposure: Any = None) -> Batch:
        loss, _ = self._require_compiled()
        X = check_X(X, n_features=self.input_dim)
        if not self.built:
            self.build(X.shape[1])
        n = X.shape[0]
        Y = loss.check_target(check_y(y, n), self.layers[-1].units)
        w = check_sample_weight(sample_weight, n)
        e = check_exposure(exposure, n, loss_name=loss.name, accepts=loss.accepts_exposure)
        return Batch(X.astype(self.dtype, copy=False), Y, w, e)

    # --- one step: the loss and gradient at θ, then the update --------------------------
    def _batch_gradient(self, batch: Batch) -> tuple[float, FloatArray]:
        """The batch's (weighted) mean loss and its gradient at θ; changes nothing."""
        result = self.loss_and_gradient(self.loss, batch.X, batch.Y,  # type: ignore[arg-type]
                                        sample_weight=batch.w, exposure=batch.e)
        return result.loss, result.gradient

    def _update(self, loss: float, gradient: FloatArray, rows: IntArray, *, epoch: int,
                variant: str, context: BatchContext | None,
                learning_rate: float) -> Step | None:
        """The step: θ, the optimizer state and the step count move on; its Step if traced.

        The loop calls it only once the loss and gradient are known to be finite, so a
        diverging step never touches the state.
        """
        state_before = self._opt_state
        delta, self._opt_state = self.optimizer.update(  # type: ignore[union-attr]
            gradient, state_before, learning_rate=learning_rate)
        record = None
        if context is not None:
            theta_before = self._theta.copy()
            record = Step(step=self.step_count, epoch=epoch, variant=variant, rows=rows,
                          learning_rate=learning_rate, loss=loss,
                          theta_before=theta_before, gradient=gradient,
                          theta_after=theta_before + delta, state_before=state_before,
                          state_after=self._opt_state, param_names=context.param_names,
                          context=context)
        self._theta += delta
        self.step_count += 1
        return record

    def train_on_batch(self, X: Any, y: Any, *, sample_weight: Any = None,
                       exposure: Any = None) -> Step:
        """One step of gradient descent on the given rows; returns its :class:`Step`."""
        batch = self._prepare(X, y, sample_weight, exposure)
        if self._opt_state is None:
            self._opt_state = self.optimizer.init(self._theta)  # type: ignore[union-attr]
        rows = np.arange(batch.X.shape[0])
        variant = "stochastic" if rows.size == 1 else "batch"
        learning_rate = self.optimizer.learning_rate_at(self.step_count)  # type: ignore[union-attr]
        loss, gradient = self._batch_gradient(batch)
        return self._update(loss, gradient, rows, epoch=0,  # type: ignore[return-value]
                            variant=variant, context=self._context(batch),
                            learning_rate=learning_rate)

    def _context(self, batch: Batch) -> BatchContext:
        return BatchContext([layer.get_config() for layer in self.layers], self.input_dim,
                            self.loss, batch.X, batch.Y, batch.w, batch.e,
                            self.param_names,
                            None if self.inputs is None else self.inputs.get_config())

    # --- evaluation --------------------------------------------------------------------
    @out_of_core  # a ParquetSource (out=: a Parquet file to write) or a dask array
    def predict(self, X: Any, *, exposure: Any = None) -> FloatArray:
        """The model's output for X, shape (n, units); with exposure, μ = exposure · ŷ."""
        self._require_built()
        X = check_X(X, n_features=self.input_dim)
        out = self.output(X.astype(self.dtype, copy=False))
        if exposure is not None:
            e = check_exposure(exposure, X.shape[0], loss_name="exposure", accepts=True)
            out = out * e[:, None]  # type: ignore[index]
        return out

    def gradient(self, X: Any, y: Any, *, sample_weight: Any = None,
                 exposure: Any = None) -> FloatArray:
        """The gradient of the (weighted) mean loss over all rows at the current θ."""
        batch = self._prepare(X, y, sample_weight, exposure)
        return self.loss_and_gradient(self.loss, batch.X, batch.Y,  # type: ignore[arg-type]
                                      sample_weight=batch.w, exposure=batch.e).gradient

    @out_of_core
    def evaluate(self, X: Any, y: Any = None, *, sample_weight: Any = None,
                 exposure: Any = None) -> float | dict[str, float]:
        """The (weighted) mean loss; a dict with the metrics when some are compiled in."""
        batch = self._prepare(X, y, sample_weight, exposure)
        return self._evaluate(batch)

    def _evaluate(self, batch: Batch, prefix: str = "") -> Any:
        loss = self.loss
        out, caches = self.forward(batch.X)
        if losses_module.FUSED_LINK.get(loss.name) == self.layers[-1].activation.name:
            per_row = loss.value_from_logits(batch.Y, caches[-1].Z, exposure=batch.e)
        else:
            per_row = loss.value(batch.Y, out, exposure=batch.e)
        value = losses_module.batch_mean(per_row, batch.w)
        if not self.metrics:
            return value
        results = {f"{prefix}loss": value}
        mu = out if batch.e is None else out * batch.e[:, None]
        for name in self.metrics:
            results[prefix + name] = metric(name, batch.Y, mu, batch.w)
        return results

    # --- the fit loop ------------------------------------------------------------------
    @out_of_core  # a ParquetSource or dask arrays: gdlab.train.streaming
    def fit(self, X: Any, y: Any = None, *, batch_size: int | str = 32, epochs: int = 1,
            shuffle: bool = True, seed: int | None = None, validation_data: Any = None,
            validation_split: float = 0.0, sample_weight: Any = None, exposure: Any = None,
            callbacks: Sequence[Callback] | None = None, verbose: int = 1,
            trace: bool | int = False, executor: str = "auto") -> History:
        """Train by gradient descent: ``epochs`` passes over the rows, in batches.

        Parameters
        ----------
        X : array-like of shape (n, p), a ParquetSource or dask arrays (out of core)
        y : array-like of shape (n,) or (n, k)
        batch_size : "full", 1 or int
            ``"full"``: batch gradient descent; ``1``: stochastic; ``k``: mini-batch.
        epochs : int
        shuffle : bool
            Reshuffle the rows every epoch (from ``seed``).
        seed : int, optional
            Seed of the shuffling; defaults to the model's seed.
        validation_data : tuple (X_val, y_val[, sample_weight[, exposure]]), optional
        validation_split : float in [0, 1)
            Hold out this fraction of the last rows (before shuffling) for validation.
        sample_weight, exposure : array-like of shape (n,), optional
        callbacks : list of Callback
        verbose : int
            0 quiet, 1 a progress line per epoch.
        trace : bool or int
            Keep the :class:`~gdlab.train.trace.Step` of every step (True) or of the first
            N. ``True`` keeps at most :data:`~gdlab.train.loop.TRACE_BUDGET_BYTES` of steps
            (the first ones, with a warning when the run has more).
        executor : {"auto", "numpy", "compiled"}
            ``"numpy"``: the step-by-step reference executor; ``"compiled"``: whole
            epochs in numba (:mod:`gdlab.kernels`), same results to ~1e-12; ``"auto"``:
            compiled unless tracing or a per-step callback needs Python between steps
            (or the model is one the kernels do not cover).

        Returns
        -------
        History
        """
        self._require_compiled()
        batch_size = check_batch_size(batch_size)
        epochs = check_positive_int("epochs", epochs, hint="Train for at least one epoch.")
        validation_split = check_fraction("validation_split", validation_split,
                                          hint="e.g. 0.2 holds out the last 20% of rows.")
        trace_steps = steps_to_trace(trace)
        if executor not in ("auto", "numpy", "compiled"):
            raise UserError(f"executor must be 'auto', 'numpy' or 'compiled'; got "
                             f"executor={executor!r}.")
        data = self._prepare(X, y, sample_weight, exposure)
        data, validation = self._split_validation(data, validation_data, validation_split)
        rng = np.random.default_rng(self.seed if check_seed(seed) is None else seed)
        plan = BatchPlan(data.X.shape[0], batch_size, shuffle=bool(shuffle), rng=rng)
        if self._opt_state is None:
            self._opt_state = self.optimizer.init(self._theta)  # type: ignore[union-attr]
        if trace is True:  # all steps, within a memory budget
            trace_steps = trace_budget(epochs * plan.steps_per_epoch, self._step_bytes(plan))
        self.history = History()
        self.history.params = {"epochs": epochs, "batch_size": batch_size,
                               "variant": plan.variant, "steps": plan.steps_per_epoch,
                               "n": data.X.shape[0], "seed": seed}
        callback_list = self._callbacks(callbacks, epochs, verbose, data)
        compiled = self._compiled_executor(executor, trace_steps, callback_list, data)
        self.stop_training = False
        begin = self._initial_loss(data, plan)  # the divergence guard's yardstick
        self.history.params.update(begin)
        for callback in callback_list:
            callback.on_train_begin(begin)
        context = self._context(data) if trace_steps else None
        for epoch in range(epochs):
            for callback in callback_list:
                callback.on_epoch_begin(epoch)
            if compiled is not None:
                logs = self._run_epoch_compiled(compiled, data, plan, epoch)
            else:
                logs = self._run_epoch(data, plan, epoch, context, trace_steps, callback_list)
            if logs is None:  # diverged inside the epoch: θ restored to the last good epoch's
                break
            if epoch == 0 and plan.variant == "batch":  # its one step ran on all rows at θ₀
                self.history.params.update(initial_loss=float(self.history.step_loss[0][0]),
                                           initial_loss_rows=plan.n)
            if validation is not None:
                logs.update(as_logs(self._evaluate(validation, prefix="val_"), "val_loss"))
            for callback in callback_list:
                callback.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for callback in callback_list:
            callback.on_train_end()
        return self.history

    def _split_validation(self, data: Batch, validation_data: Any,
                          validation_split: float) -> tuple[Batch, Batch | None]:
        if validation_data is not None:
            if not isinstance(validation_data, tuple | list) or not 2 <= len(validation_data) <= 4:
                raise UserError(
                    "validation_data must be a tuple (X_val, y_val[, sample_weight[, "
                    "exposure]])."
                )
            return data, self._prepare(*validation_data)
        if validation_split == 0.0:
            return data, None
        n = data.X.shape[0]
        n_val = int(math.ceil(n * validation_split))
        if n_val >= n:
            raise UserError(
                f"validation_split={validation_split} leaves no training rows out of {n}; "
                "use a smaller fraction."
            )
        return data.take(slice(0, n - n_val)), data.take(slice(n - n_val, n))

    def summary(self) -> None:
        """Print a Keras-like summary: layers, output shapes, parameter names and counts."""
        from gdlab.train.notebook import summary_text

        print(summary_text(self))

    def _repr_html_(self) -> str:
        from gdlab.train.notebook import summary_html  # the notebook's view

        return summary_html(self)

    # --- persistence -------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The JSON-safe description of the architecture and the compiled loss/optimizer."""
        return {
            "layers": [layer.get_config() for layer in self.layers],
            "input_dim": self.input_dim,
            "seed": self.seed,
            "dtype": self.dtype.name,
            "loss": None if self.loss is None else self.loss.get_config(),
            "optimizer": None if self.optimizer is None else self.optimizer.get_config(),
            "metrics": list(self.metrics),
        } | ({} if self.inputs is None else {"inputs": self.inputs.get_config()})

    def save(self, path: str | os.PathLike[str], *, preprocessing: Any = None,
             metadata: dict[str, Any] | None = None) -> Path:
        """Write the model to ``path`` (an ``.npz`` file, no pickle), atomically.

        ``preprocessing`` (a :class:`~gdlab.io.preprocessing.Preprocessor`) and
        ``metadata`` (JSON-safe) are kept with it. Load it back with :func:`gdlab.load`;
        the format is described in :mod:`gdlab.io.persistence`.
        """
        self._require_built()
        if preprocessing is None:  # the encoding fitted by a fit on a ParquetSource
            preprocessing = getattr(self, "preprocessing", None)
        history = {"epoch": list(self.history.epoch), "history": self.history.history,
                   "diverged": None if self.history.diverged is None
                   else dict(self.history.diverged)}
        return write_model_file(
            path, config=self.get_config(), theta=self._theta,
            optimizer_state=self._opt_state, step_count=self.step_count, history=history,
            preprocessing=None if preprocessing is None else preprocessing.get_config(),
            metadata=metadata)


__all__ += ["DivergenceWarning"]
