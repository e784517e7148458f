r"""The compiled executor's epoch loop: batches, learning-rate schedule, update rule (numba).

:func:`run_epoch_rows` and :func:`run_epoch_blocks` run a whole epoch in one call: for
each batch of the given row order they compute the loss and the gradient (row by row,
reading X in place, with :func:`gdlab.kernels.rows.row_gradient`; or, from
:data:`BLOCK_MIN` rows on, as one block with
:func:`gdlab.kernels.blocks.block_gradient`), check that both are finite, and apply the
optimizer's rule to θ in place. A batch of more than :data:`BLOCK_ROWS`
rows (a full batch) is one pass over X in fixed blocks of rows: :func:`block_gradients`
releases the GIL, so threads run ranges of blocks on all cores, and the caller adds the
blocks' partial sums in block order, so the result does not depend on the number of
threads (same seed, same result, bit for bit).

Codes: optimizer 0 SGD, 1 momentum, 2 Nesterov, 3 Adam, 4 RMSprop; schedule 0 constant,
1 step, 2 exponential, 3 inverse time (``sched = [kind, η₀, steps, factor, staircase]``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from gdlab.kernels.blocks import BLOCK_MIN, block_gradient, gather
from gdlab.kernels.rows import (
    AHEAD,
    LEAF,
    NO_NRT,
    PER_STEP,
    glm_row_gradient,
    prefetch_row,
    row_gradient,
)

__all__ = ["BLOCK_MIN", "BLOCK_ROWS", "block_gradients", "run_epoch_blocks", "run_epoch_rows"]

#: Rows per block of the parallel full-batch pass (fixed: the sum order depends on n only).
BLOCK_ROWS = 2048


@njit(**LEAF)
def _learning_rate(sched, step):
    """η at global step ``step``, as :mod:`gdlab.optim.schedules` computes it."""
    kind, eta0 = sched[0], sched[1]
    if kind == 0:
        return eta0
    every, factor, staircase = sched[2], sched[3], sched[4]
    if kind == 1:
        return eta0 * factor ** float(step // int(every))
    p = step / every
    exponent = float(math.floor(p)) if staircase != 0 else p
    if kind == 2:
        return eta0 * factor ** exponent
    return eta0 / (1.0 + factor * exponent)


@njit(**PER_STEP)
def _update(opt, hyper, grad, theta, s1, s2, t, eta):
    """θ += Δθ by the optimizer's rule (:mod:`gdlab.optim.optimizers`); return Adam's new t."""
    if opt == 0:
        for i in range(theta.shape[0]):
            theta[i] += -eta * grad[i]
    elif opt <= 2:
        mom = hyper[0]
        for i in range(theta.shape[0]):
            v = mom * s1[i] - eta * grad[i]
            s1[i] = v
            theta[i] += mom * v - eta * grad[i] if opt == 2 else v
    elif opt == 3:
        t += 1
        beta_1, beta_2, epsilon = hyper[1], hyper[2], hyper[3]
        c1 = 1.0 - beta_1 ** float(t)
        c2 = 1.0 - beta_2 ** float(t)
        for i in range(theta.shape[0]):
            g = grad[i]
            s1[i] = beta_1 * s1[i] + (1.0 - beta_1) * g
            s2[i] = beta_2 * s2[i] + (1.0 - beta_2) * (g * g)
            theta[i] += -eta * (s1[i] / c1) / (math.sqrt(s2[i] / c2) + epsilon)
    else:
        rho, epsilon = hyper[4], hyper[3]
        for i in range(theta.shape[0]):
            g = grad[i]
            s1[i] = rho * s1[i] + (1.0 - rho) * (g * g)
            theta[i] += -eta * g / (math.sqrt(s1[i]) + epsilon)
    return t


@njit(nogil=True, **NO_NRT)
def _rows(X, Y, w, e, order, lo, hi, total_weight, theta, layout, acts, loss, fused, power,
          grad, buffers):
    """Add the rows order[lo:hi] to ``grad``; return their loss sum (weighted: w_i/Σw)."""
    Z, A, dZ, dA = buffers[0], buffers[1], buffers[2], buffers[3]
    # the unweighted row's share of the batch mean; rows that all weigh 0 contribute
    # nothing (as in network.py)
    scale = 1.0 / total_weight if total_weight > 0.0 else 0.0
    glm = layout.shape[0] == 1 and layout[0, 1] == 1
    total = 0.0
    for i in range(lo, hi):
        if i + AHEAD < order.shape[0]:
            prefetch_row(X, order[i + AHEAD])
        r = order[i]
        share = w[r] / total_weight if w.shape[0] > 0 and scale > 0.0 else scale
        e_r = e[r] if e.shape[0] > 0 else 1.0
        if glm:  # one layer of one unit: the same math without the layer loop
            per_row = glm_row_gradient(X[r], Y[r], e_r, share, theta, layout, acts, loss,
                                       fused, power, grad, Z, A, dZ, dA)
        else:
            per_row = row_gradient(X[r], Y[r], e_r, share, theta, layout, acts, loss, fused,
                                   power, grad, Z, A, dZ, dA)
        total += share * per_row if w.shape[0] > 0 else per_row
    return total


@njit(**LEAF)
def _block_buffers(rows, X, Y, layout):
    """Buffers of the block path for up to ``rows`` rows: Xb, Yb, wb, eb, Z, A, dZ, dA."""
    size = rows * (layout[-1, 4] + layout[-1, 1] - X.shape[1])
    return (np.empty((rows, X.shape[1])), np.empty((rows, Y.shape[1])), np.empty(rows),
            np.empty(rows), np.empty(size), np.empty(size), np.empty(size), np.empty(size))


@njit(**LEAF)
def _block(X, Y, w, e, order, lo, hi, total_weight, theta, layout, acts, loss, fused, power,
           grad, buffers):
    """The rows order[lo:hi] by the block path (gathered into the buffers first)."""
    Xb, Yb, wb, eb, Zf, Af, dZf, dAf = buffers
    m = hi - lo
    gather(X, Y, w, e, order, lo, hi, Xb, Yb, wb, eb)
    size = Zf.shape[0] // Xb.shape[0] * m
    return block_gradient(Xb[:m], Yb[:m], wb[:m] if w.shape[0] > 0 else w,
                          eb[:m] if e.shape[0] > 0 else e, total_weight, theta, layout, acts,
                          loss, fused, power, grad, Zf[:size], Af[:size], dZf[:size],
                          dAf[:size])


@njit(cache=True, nogil=True)
def block_gradients(X, Y, w, e, order, in_order, lo, hi, total_weight, theta, layout, acts,
                    loss, fused, power, partial, losses, first, last):
    """Blocks first..last-1 of BLOCK_ROWS rows of order[lo:hi], each into its own partial sum.

    Called from several threads at once (the GIL is released), one range of blocks each.
    ``in_order``: order is 0, 1, …, n-1, so a block is a slice of X (nothing gathered).
    """
    buffers = _block_buffers(BLOCK_ROWS, X, Y, layout)
    Zf, Af, dZf, dAf = buffers[4], buffers[5], buffers[6], buffers[7]
    for block in range(first, last):
        start = lo + block * BLOCK_ROWS
        stop = min(start + BLOCK_ROWS, hi)
        partial[block, :] = 0.0
        if not in_order:
            losses[block] = _block(X, Y, w, e, order, start, stop, total_weight, theta, layout,
                                   acts, loss, fused, power, partial[block], buffers)
            continue
        size = Zf.shape[0] // BLOCK_ROWS * (stop - start)
        losses[block] = block_gradient(
            X[start:stop], Y[start:stop], w[start:stop] if w.shape[0] > 0 else w,
            e[start:stop] if e.shape[0] > 0 else e, total_weight, theta, layout, acts, loss,
            fused, power, partial[block], Zf[:size], Af[:size], dZf[:size], dAf[:size])


@njit(**LEAF)
def _finite_sum_of_squares(grad, layer_end, grad_sq):
    """Add each layer's squared gradient norm to grad_sq; False if any entry is not finite."""
    check = 0.0
    start = 0
    for layer in range(layer_end.shape[0]):
        s = 0.0
        for i in range(start, layer_end[layer]):
            s += grad[i] * grad[i]
            check += grad[i] * 0.0  # nan for inf or nan entries, exactly 0 otherwise
        grad_sq[layer] += s
        start = layer_end[layer]
    return check == 0.0


@njit(**LEAF)
def _finish(index, value, n_rows, weighted, total_weight, eta, grad, theta, layer_end, opt,
            hyper, s1, s2, t, step_loss, step_eta, batch_weight, grad_sq):
    """Record the step; update θ unless the loss or gradient is not finite. (ok, t)."""
    value = value if weighted else value / n_rows
    step_loss[index] = value
    step_eta[index] = eta
    batch_weight[index] = total_weight
    finite = _finite_sum_of_squares(grad, layer_end, grad_sq)
    if not (finite and math.isfinite(value)):
        return False, t
    return True, _update(opt, hyper, grad, theta, s1, s2, t, eta)


@njit(**LEAF)
def _batch_weight(w, order, lo, hi):
    """The batch's rows, or the sum of their sample weights."""
    if w.shape[0] == 0:
        return float(hi - lo)
    total_weight = 0.0
    for i in range(lo, hi):
        total_weight += w[order[i]]
    return total_weight


@njit(cache=True)
def run_epoch_rows(X, Y, w, e, order, batch_size, theta, layout, layer_end, acts, loss, fused,
                   power, opt, hyper, s1, s2, t, sched, step0, step_loss, step_eta,
                   batch_weight, grad_sq):
    """One epoch of batches of fewer than BLOCK_MIN rows, row by row.

    Returns (index of a diverged step or -1, Adam's t). Fills ``step_loss``, ``step_eta``,
    ``batch_weight`` per step and adds each layer's squared gradient norms to
    ``grad_sq``. On a non-finite loss or gradient the epoch stops before the update: θ
    keeps its value before that step. (Two entry points, this one and
    :func:`run_epoch_blocks`, so that a fit compiles only the path it uses.)
    """
    grad = np.empty(theta.shape[0])
    buffers = np.empty((4, layout[-1, 4] + layout[-1, 1]))
    for index in range(step_loss.shape[0]):
        lo, hi = index * batch_size, min((index + 1) * batch_size, order.shape[0])
        total_weight = _batch_weight(w, order, lo, hi)
        grad[:] = 0.0
        value = _rows(X, Y, w, e, order, lo, hi, total_weight, theta, layout, acts, loss,
                      fused, power, grad, buffers)
        ok, t = _finish(index, value, hi - lo, w.shape[0] > 0, total_weight,
                        _learning_rate(sched, step0 + index), grad, theta, layer_end, opt,
                        hyper, s1, s2, t, step_loss, step_eta, batch_weight, grad_sq)
        if not ok:
            return index, t
    return -1, t


@njit(cache=True)
def run_epoch_blocks(X, Y, w, e, order, batch_size, theta, layout, layer_end, acts, loss,
                     fused, power, opt, hyper, s1, s2, t, sched, step0, step_loss, step_eta,
                     batch_weight, grad_sq):
    """:func:`run_epoch_rows` for batches of BLOCK_MIN to BLOCK_ROWS rows, block by block."""
    grad = np.empty(theta.shape[0])
    blocks = _block_buffers(batch_size, X, Y, layout)
    for index in range(step_loss.shape[0]):
        lo, hi = index * batch_size, min((index + 1) * batch_size, order.shape[0])
        total_weight = _batch_weight(w, order, lo, hi)
        grad[:] = 0.0
        value = _block(X, Y, w, e, order, lo, hi, total_weight, theta, layout, acts, loss,
                       fused, power, grad, blocks)
        ok, t = _finish(index, value, hi - lo, w.shape[0] > 0, total_weight,
                        _learning_rate(sched, step0 + index), grad, theta, layer_end, opt,
                        hyper, s1, s2, t, step_loss, step_eta, batch_weight, grad_sq)
        if not ok:
            return index, t
    return -1, t
