r"""The compiled executor: whole epochs of the reference executor's math, in numba.

``fit(..., executor="compiled")``, or ``"auto"`` (the default) when its cost model
expects it to be faster (:mod:`gdlab.kernels.choice`) and no trace or per-step callback
needs Python between steps, runs each epoch with one call into compiled code. The math
is that of :mod:`gdlab.nn.network`, :mod:`gdlab.nn.losses`, :mod:`gdlab.nn.activations`,
:mod:`gdlab.optim.optimizers` and :mod:`gdlab.optim.schedules`, written row by row
(:mod:`gdlab.kernels.rows`), block by block (:mod:`gdlab.kernels.blocks`), step by step
(:mod:`gdlab.kernels.updates`) and epoch by epoch (:mod:`gdlab.kernels.epoch`), over the
integer codes of :mod:`gdlab.kernels.codes` and the records of :mod:`gdlab.kernels.specs`:

* a model with embeddings (:mod:`gdlab.nn.embedding`) runs the network paths: each row
  is looked up into :math:`A^{(0)}` as it is read (:mod:`gdlab.kernels.embeddings`) and
  the first layer's input derivative is scattered into the tables;
* the epoch's row order is drawn in Python by the same generator as the reference
  executor, so both visit the same batches;
* X is never copied: a GLM's batches and a network's small batches (fewer than 16 rows)
  are read from X in place, row by row; a network's larger ones are gathered into a
  buffer allocated once per epoch and go through each layer as one matrix product; the
  next rows are prefetched from memory;
* θ and the optimizer state are copied in, updated in place and handed back once per
  epoch (the model takes them with :meth:`~gdlab.train.model.Sequential.advance`);
* a full batch (and any batch of more than :data:`BLOCK_ROWS` rows) is one pass over X
  in fixed row blocks, run by one thread per usable CPU (the compiled code releases the
  GIL; BLAS is held to one thread inside them) and summed in block order: the same
  result on every run, whatever the thread count;
* a float32 model keeps X, θ and the optimizer state in float32 (θ rounded at every
  step, as the reference executor does); its blocks go through the layers in float32
  (single-precision BLAS and activations, as the reference's), while each row's loss and
  output delta, the row path and the gradient's sums run in float64.

The two executors agree to about 1e-12 in float64 and 1e-5 in float32
(``tests/test_executors_agree.py``); in float64 they differ only in the order of
floating-point sums. Compiled functions are cached on disk (``cache=True``, see
:mod:`gdlab.kernels.cache`): the first compiled fit in a new environment compiles its
entry point (a GLM about 3.5 s, a network 7-10 s of CPU on a 2-core machine), later
processes load it (about 0.6 s, most of it importing numba).

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
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController

from gdlab._typing import FloatArray, IntArray
from gdlab.kernels import specs
from gdlab.kernels.choice import entry_point, is_glm, unsupported
from gdlab.kernels.epoch import BLOCK_ROWS, ENTRY_POINTS

__all__ = ["BLOCK_ROWS", "EpochResult", "Executor", "unsupported"]


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
        self.data = specs.Data(
            np.ascontiguousarray(X, dtype=model.dtype),  # no copy for a C X of the model's dtype
            np.ascontiguousarray(Y, dtype=np.float64),
            np.empty(0) if sample_weight is None else np.ascontiguousarray(sample_weight),
            np.empty(0) if exposure is None else np.ascontiguousarray(exposure))
        if model.inputs is not None:  # the codes are checked once here, trusted by the kernels
            model.inputs.codes(self.data.X)
        self.net = specs.network_spec(model)
        self.loss = specs.loss_spec(model)
        self.group_start = np.concatenate([[0], self.net.layer_end[:-1]])
        self.glm = is_glm(model)

    @cached_property
    def rows(self) -> NDArray[np.int64]:
        """0, 1, …, n − 1: the order of a full batch in place (made at the first one)."""
        return np.arange(self.data.X.shape[0], dtype=np.int64)

    def run_epoch(self, theta: FloatArray, state: Any, step_count: int, optimizer: Any,
                  order: IntArray, batch_size: int) -> EpochResult:
        """Run one epoch over the rows in ``order``, from θ and the optimizer state given.

        Works on copies: the caller's θ and state are untouched; the result carries the
        new ones and the number of steps taken (the model takes them with
        :meth:`~gdlab.train.model.Sequential.advance`).
        """
        steps = -(-order.shape[0] // batch_size)
        records = specs.Records(np.empty(steps), np.empty(steps), np.empty(steps),
                                np.zeros(self.net.layer_end.shape[0]))
        order = order.astype(np.int64, copy=False)
        theta = theta.copy()
        kernel = ENTRY_POINTS[entry_point(batch_size, self.glm)]
        run = self._run_blocks if batch_size > BLOCK_ROWS else self._run_steps
        diverged, state = run(kernel, theta, state, step_count, optimizer, order, batch_size,
                              records)
        return EpochResult(diverged, *records, theta=theta, optimizer_state=state,
                           steps=steps if diverged < 0 else diverged)

    def _run_steps(self, run_epoch: Any, theta: FloatArray, state: Any, step_count: int,
                   optimizer: Any, order: NDArray[np.int64], batch_size: int,
                   records: specs.Records) -> tuple[int, Any]:
        """The whole epoch in one compiled call; the optimizer state is copied in and out."""
        moments, t = specs.moments(state)
        diverged, t = run_epoch(self.data, order, batch_size, theta, self.net, self.loss,
                                specs.optimizer_spec(optimizer), moments, t, step_count,
                                records)
        return diverged, specs.state_from(moments, t, state)

    def _run_blocks(self, gradients: Any, theta: FloatArray, state: Any, step_count: int,
                    optimizer: Any, order: NDArray[np.int64], batch_size: int,
                    records: specs.Records) -> tuple[int, Any]:
        """Steps of more than BLOCK_ROWS rows: the gradient in fixed row blocks on all
        cores, summed in block order; the update by the optimizer's own (NumPy) rule."""
        with _blas().limit(limits=1, user_api="blas"):  # one BLAS thread inside each worker
            return self._steps_of_blocks(gradients, theta, state, step_count, optimizer,
                                         order, batch_size, records)

    def _steps_of_blocks(self, gradients: Any, theta: FloatArray, state: Any, step_count: int,
                         optimizer: Any, order: NDArray[np.int64], batch_size: int,
                         records: specs.Records) -> tuple[int, Any]:
        """:meth:`_run_blocks`, its BLAS on one thread per worker (no oversubscription)."""
        step_loss, step_eta, batch_weight, grad_sq = records
        n = order.shape[0]
        w = self.data.w
        weighted = w.shape[0] > 0
        # a full batch without embeddings: the blocks are slices of X (nothing gathered)
        in_order = (self.net.emb_dim.size == 0 and n == self.rows.shape[0]
                    and order[0] == 0 and bool(np.array_equal(order, self.rows)))
        for index in range(step_loss.shape[0]):
            lo, hi = index * batch_size, min((index + 1) * batch_size, n)
            step_eta[index] = optimizer.learning_rate_at(step_count + index)
            batch_weight[index] = w[order[lo:hi]].sum() if weighted else hi - lo
            grad, loss = self._gradient(gradients, theta, order, in_order, lo, hi,
                                        batch_weight[index])
            step_loss[index] = loss if weighted else loss / (hi - lo)
            if not (np.isfinite(step_loss[index]) and np.isfinite(grad).all()):
                return index, state
            for number, (start, end) in enumerate(zip(self.group_start, self.net.layer_end,
                                                      strict=True)):
                part = grad[start:end]
                grad_sq[number] += part @ part
            grad = grad.astype(theta.dtype, copy=False)  # float32 model: its own rule in float32
            delta, state = optimizer.update(grad, state, learning_rate=step_eta[index])
            theta += delta
        return -1, state

    def _gradient(self, gradients: Any, theta: FloatArray, order: NDArray[np.int64],
                  in_order: bool, lo: int, hi: int,
                  total_weight: float) -> tuple[FloatArray, float]:
        """The batch order[lo:hi]'s gradient and loss sum, its blocks on all cores."""
        n_blocks = -(-(hi - lo) // BLOCK_ROWS)
        partial, losses_ = np.empty((n_blocks, theta.shape[0])), np.empty(n_blocks)
        bounds = np.linspace(0, n_blocks, min(_threads(), n_blocks) + 1).astype(int)
        jobs = [_pool().submit(gradients, self.data, order, in_order, lo, hi,
                               total_weight, theta, self.net, self.loss, partial, losses_,
                               first, last)
                for first, last in zip(bounds[:-1], bounds[1:], strict=True)]
        for job in jobs:
            job.result()
        grad = partial[0].copy()
        for block in range(1, n_blocks):  # in block order: independent of the threads
            grad += partial[block]
        return grad, float(np.sum(losses_))


_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()
_BLAS: list[ThreadpoolController] = []


def _blas() -> ThreadpoolController:
    """The BLAS libraries of this process, found once (``threadpool_limits`` would scan the
    loaded libraries again at every epoch: ~3 ms each once numba is loaded). SciPy's BLAS,
    which numba's matrix products call, is loaded first so that the scan finds it."""
    if not _BLAS:
        import scipy.linalg.cython_blas  # noqa: F401

        _BLAS.append(ThreadpoolController())
    return _BLAS[0]


def _forget_pool_after_fork() -> None:
    """In a forked child the parent's worker threads do not exist: a job submitted to the
    inherited pool would wait forever. The child makes its own pool at first use."""
    global _POOL_LOCK
    _POOL.clear()
    _POOL_LOCK = threading.Lock()  # the parent may have held it while forking


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _threads() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no sched_getaffinity (macOS, Windows)
        return max(1, os.cpu_count() or 1)


def _pool() -> ThreadPoolExecutor:
    """One pool of worker threads (one per usable CPU), made at first use by one thread."""
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(max_workers=_threads(),
                                            thread_name_prefix="gdlab"))
        return _POOL[0]
