r"""The compiled executor: whole epochs of the reference executor's math, in numba.

``fit(..., executor="compiled")`` (or ``"auto"``, the default, when no trace or
per-step callback needs Python between steps) runs each epoch with one call into
compiled code. The math is that of :mod:`gdlab.nn.network`, :mod:`gdlab.nn.losses`,
:mod:`gdlab.nn.activations`, :mod:`gdlab.optim.optimizers` and :mod:`gdlab.optim.schedules`, written
row by row (:mod:`gdlab.kernels.rows`), block by block (:mod:`gdlab.kernels.blocks`)
and step by step (:mod:`gdlab.kernels.epoch`):

* the epoch's row order is drawn in Python by the same generator as the reference
  executor, so both visit the same batches;
* X is never copied: small batches (fewer than 16 rows) are read from X in place, row by
  row; larger ones are gathered into a buffer allocated once per epoch and go through
  each layer as one matrix product; the next rows are prefetched from memory;
* θ is the model's own flat vector, updated in place; the optimizer state is copied in
  and out once per epoch;
* a full batch (and any batch of more than :data:`BLOCK_ROWS` rows) is one pass over X
  in fixed row blocks, run by one thread per core (the compiled code releases the GIL)
  and summed in block order: the same result on every run, whatever the thread count.

The two executors agree to about 1e-12 in float64 (``tests/test_executors_agree.py``);
they differ only in the order of floating-point sums. Compiled functions are cached on
disk (``cache=True``): the first fit in a new environment compiles (about 15 s for a
mini-batch fit and 3 s more for a full batch on a busy 2-core machine: see
``docs/benchmarks.md``), later processes load the cache (about 0.6 s, most of it numba's
own start-up: importing numba and setting up its typing and target registries).

Examples
--------
>>> import gdlab as gd
>>> X = np.linspace(-1, 1, 20)[:, None]; y = 2 * X[:, 0] + 1
>>> model = gd.Sequential([gd.Dense(1)], input_dim=1, seed=0)
>>> model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.1))
>>> history = model.fit(X, y, batch_size=4, epochs=30, executor="compiled", verbose=0)
>>> np.round(model.theta, 2).tolist()
[2.0, 1.0]
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from gdlab._typing import FloatArray, IntArray
from gdlab.kernels.epoch import (
    BLOCK_MIN,
    BLOCK_ROWS,
    block_gradients,
    run_epoch_blocks,
    run_epoch_rows,
)
from gdlab.kernels.rows import ACTIVATIONS, LOSSES
from gdlab.nn import activations, losses
from gdlab.optim import optimizers, schedules

__all__ = ["BLOCK_ROWS", "EpochResult", "Executor", "unsupported"]

_ACTIVATION_CLASSES = {getattr(activations, name): code for code, name in enumerate(
    ("Linear", "Sigmoid", "Softmax", "ReLU", "Tanh", "Exponential"))}
_LOSS_CODES = {name: code for code, name in enumerate(LOSSES)}
_LOSS_CODES["sparse_categorical_crossentropy"] = _LOSS_CODES["categorical_crossentropy"]
_LOSS_CLASSES = (losses.MeanSquaredError, losses.BinaryCrossentropy,
                 losses.CategoricalCrossentropy, losses.SparseCategoricalCrossentropy,
                 losses.Poisson, losses.Gamma, losses.Tweedie)
_OPTIMIZER_CLASSES = (optimizers.SGD, optimizers.Adam, optimizers.RMSprop)
_SCHEDULE_CODES = {schedules.Constant: 0, schedules.StepDecay: 1,
                   schedules.ExponentialDecay: 2, schedules.InverseTimeDecay: 3}


class EpochResult(NamedTuple):
    """What one compiled epoch reports (the reference executor's per-epoch records)."""

    diverged: int  #: index of the step with a non-finite loss or gradient, or -1
    step_loss: FloatArray  #: batch loss of every step
    step_learning_rate: FloatArray  #: η of every step
    batch_weight: FloatArray  #: rows (or sum of sample weights) of every step
    grad_sq: FloatArray  #: per layer, the sum over steps of the squared gradient norm
    theta: FloatArray  #: θ after the epoch (before the diverging step, if one diverged)
    optimizer_state: Any  #: the optimizer state that goes with ``theta``
    steps: int  #: the number of steps taken


def unsupported(model: Any) -> str | None:
    """Why the compiled executor cannot train ``model`` (None if it can).

    Examples
    --------
    >>> import gdlab as gd
    >>> model = gd.Sequential([gd.Dense(1)], input_dim=1, dtype="float32")
    >>> model.compile(loss="mse")
    >>> unsupported(model)
    'the compiled executor computes in float64; the model has dtype float32'
    """
    if model.dtype != np.float64:
        return f"the compiled executor computes in float64; the model has dtype {model.dtype}"
    for layer in model.layers:
        if type(layer.activation) not in _ACTIVATION_CLASSES:
            return f"activation {layer.activation!r} is not one of {list(ACTIVATIONS)}"
    if type(model.loss) not in _LOSS_CLASSES:
        return f"loss {model.loss!r} is not one of gdlab's built-in losses"
    if type(model.optimizer) not in _OPTIMIZER_CLASSES:
        return f"optimizer {model.optimizer!r} is not SGD, Adam or RMSprop"
    if type(model.optimizer.schedule) not in _SCHEDULE_CODES:
        return f"learning-rate schedule {model.optimizer.schedule!r} is not a built-in one"
    return None


def _layout(model: Any) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """The layer table of :mod:`gdlab.kernels.rows`, each layer's end in θ, activations."""
    rows, ends, acts = [], [], []
    start, buffer, prev = 0, model.input_dim, 0
    for layer in model.layers:
        n_w = layer.input_dim * layer.units
        bias = start + n_w if layer.use_bias else -1
        rows.append((layer.input_dim, layer.units, start, bias, buffer, prev))
        start += layer.n_params
        ends.append(start)
        acts.append(_ACTIVATION_CLASSES[type(layer.activation)])
        prev, buffer = buffer, buffer + layer.units
    return (np.array(rows, dtype=np.int64), np.array(ends, dtype=np.int64),
            np.array(acts, dtype=np.int64))


def _optimizer_codes(optimizer: Any) -> tuple[int, FloatArray, FloatArray]:
    """(rule code, [momentum, β₁, β₂, ε, ρ], schedule [kind, η₀, steps, factor, staircase])."""
    hyper = np.zeros(5)
    if isinstance(optimizer, optimizers.SGD):
        hyper[0] = optimizer.momentum
        code = 2 if optimizer.nesterov else (1 if optimizer.momentum != 0.0 else 0)
    elif isinstance(optimizer, optimizers.Adam):
        code = 3
        hyper[1:4] = optimizer.beta_1, optimizer.beta_2, optimizer.epsilon
    else:
        code = 4
        hyper[3:5] = optimizer.epsilon, optimizer.rho
    schedule = optimizer.schedule
    sched = np.zeros(5)
    sched[0:2] = _SCHEDULE_CODES[type(schedule)], schedule.initial_learning_rate
    if isinstance(schedule, schedules.StepDecay):
        sched[2:4] = schedule.every, schedule.factor
    elif not isinstance(schedule, schedules.Constant):
        sched[2:5] = schedule.decay_steps, schedule.decay_rate, schedule.staircase
    return code, hyper, sched


class Executor:
    """The compiled executor of one ``fit``: the data and the network's shape, prepared once.

    Parameters
    ----------
    model : Sequential
        A compiled, built model that :func:`unsupported` accepts.
    X : ndarray of shape (n, p)
    Y : ndarray of shape (n, k)
        The target in the loss's form (``loss.check_target``).
    sample_weight, exposure : ndarray of shape (n,) or None
    """

    def __init__(self, model: Any, X: FloatArray, Y: FloatArray,
                 sample_weight: FloatArray | None, exposure: FloatArray | None) -> None:
        self.X = np.ascontiguousarray(X, dtype=np.float64)  # no copy for a C float64 X
        self.Y = np.ascontiguousarray(Y, dtype=np.float64)
        self.w = np.empty(0) if sample_weight is None else np.ascontiguousarray(sample_weight)
        self.e = np.empty(0) if exposure is None else np.ascontiguousarray(exposure)
        self.layout, self.layer_end, self.acts = _layout(model)
        self.sizes = [layer.n_params for layer in model.layers]
        loss = model.loss
        self.loss = _LOSS_CODES[loss.name]
        self.fused = losses.FUSED_LINK[loss.name] == model.layers[-1].activation.name
        self.power = float(getattr(loss, "power", 0.0))

    def run_epoch(self, theta: FloatArray, state: Any, step_count: int, optimizer: Any,
                  order: IntArray, batch_size: int) -> EpochResult:
        """Run one epoch over the rows in ``order``, from θ and the optimizer state given.

        Works on copies: the caller's θ and state are untouched; the result carries the
        new ones and the number of steps taken (the model takes them with
        :meth:`~gdlab.train.model.Sequential.advance`).
        """
        steps = -(-order.shape[0] // batch_size)
        records = (np.empty(steps), np.empty(steps), np.empty(steps),
                   np.zeros(self.layout.shape[0]))
        order = order.astype(np.int64, copy=False)
        theta = theta.copy()
        if batch_size > BLOCK_ROWS:
            diverged, state = self._run_blocks(theta, state, step_count, optimizer, order,
                                               batch_size, records)
        else:
            diverged, state = self._run_steps(theta, state, step_count, optimizer, order,
                                              batch_size, records)
        return EpochResult(diverged, *records, theta=theta, optimizer_state=state,
                           steps=steps if diverged < 0 else diverged)

    def _run_steps(self, theta: FloatArray, state: Any, step_count: int, optimizer: Any,
                   order: NDArray[np.int64], batch_size: int,
                   records: tuple[FloatArray, ...]) -> tuple[int, Any]:
        """The whole epoch in one compiled call; the optimizer state is copied in and out."""
        code, hyper, sched = _optimizer_codes(optimizer)
        if code == 3:
            t, s1, s2 = state.t, state.m.copy(), state.v.copy()
        else:
            t, s1, s2 = 0, state[0].copy(), np.empty(0)
        run_epoch = run_epoch_blocks if batch_size >= BLOCK_MIN else run_epoch_rows
        diverged, t = run_epoch(
            self.X, self.Y, self.w, self.e, order, batch_size, theta, self.layout,
            self.layer_end, self.acts, self.loss, self.fused, self.power, code, hyper, s1, s2,
            t, sched, step_count, *records)
        if code == 3:
            state = optimizers.AdamState(t, s1, s2)
        elif code != 0:
            state = type(state)(s1)
        return diverged, state

    def _run_blocks(self, theta: FloatArray, state: Any, step_count: int, optimizer: Any,
                    order: NDArray[np.int64], batch_size: int,
                    records: tuple[FloatArray, ...]) -> tuple[int, Any]:
        """Steps of more than BLOCK_ROWS rows: the gradient in fixed row blocks on all
        cores, summed in block order; the update by the optimizer's own (NumPy) rule."""
        step_loss, step_eta, batch_weight, grad_sq = records
        n = order.shape[0]
        weighted = self.w.shape[0] > 0
        in_order = bool(np.all(order == np.arange(n)))  # full batch: blocks are slices of X
        for index in range(step_loss.shape[0]):
            lo, hi = index * batch_size, min((index + 1) * batch_size, n)
            step_eta[index] = optimizer.learning_rate_at(step_count + index)
            batch_weight[index] = self.w[order[lo:hi]].sum() if weighted else hi - lo
            n_blocks = -(-(hi - lo) // BLOCK_ROWS)
            partial, losses_ = np.empty((n_blocks, theta.shape[0])), np.empty(n_blocks)
            bounds = np.linspace(0, n_blocks, min(_THREADS, n_blocks) + 1).astype(int)
            jobs = [_pool().submit(block_gradients, self.X, self.Y, self.w, self.e, order,
                                   in_order, lo, hi, batch_weight[index], theta, self.layout,
                                   self.acts, self.loss, self.fused, self.power, partial,
                                   losses_, first, last)
                    for first, last in zip(bounds[:-1], bounds[1:], strict=True)]
            for job in jobs:
                job.result()
            grad = partial[0].copy()
            for block in range(1, n_blocks):  # in block order: independent of the threads
                grad += partial[block]
            loss = float(np.sum(losses_))
            step_loss[index] = loss if weighted else loss / (hi - lo)
            if not (np.isfinite(step_loss[index]) and np.isfinite(grad).all()):
                return index, state
            for number, end in enumerate(self.layer_end):
                part = grad[end - self.sizes[number]:end]
                grad_sq[number] += part @ part
            delta, state = optimizer.update(grad, state, learning_rate=step_eta[index])
            theta += delta
        return -1, state


_THREADS = max(1, os.cpu_count() or 1)
_POOL: list[ThreadPoolExecutor] = []


def _pool() -> ThreadPoolExecutor:
    """One pool of worker threads (one per core), made at first use."""
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="gdlab"))
    return _POOL[0]
