r"""The compiled executor's epoch loops: batches, gradients, checks and updates (numba).

One entry point per path, so that a fit compiles only the code it runs:

* :func:`run_epoch_glm`: a GLM (one Dense layer of one unit), any batch up to
  :data:`BLOCK_ROWS` rows, row by row reading X in place
  (:func:`gdlab.kernels.rows.glm_row_gradient`);
* :func:`run_epoch_rows`: a network, batches of fewer than :data:`BLOCK_MIN` rows, row by
  row (:func:`gdlab.kernels.rows.row_gradient`);
* :func:`run_epoch_blocks`: a network, batches of :data:`BLOCK_MIN` rows or more, each
  batch gathered and pushed through the layers as one block
  (:func:`gdlab.kernels.blocks.block_gradient`);
* :func:`glm_block_gradients` and :func:`block_gradients`: a batch of more than
  :data:`BLOCK_ROWS` rows (a full batch) is one pass over X in fixed blocks of rows; they
  release the GIL, so threads run ranges of blocks on all cores, and the caller adds the
  blocks' partial sums in block order, so the result does not depend on the number of
  threads (same seed, same result, bit for bit).

Each entry point is a one-line call of a shared loop (:func:`_epoch`, :func:`_blocks`)
with its path as a constant: numba inlines the loop and drops the branches of the other
paths before compiling. For a GLM the row path and the block path do the same
additions in the same order, so both give the same bits.

Each epoch step computes the loss and the gradient, checks that both are finite and
applies the optimizer's rule (:func:`gdlab.kernels.updates.update`) to θ in place. The
arguments are the records of :mod:`gdlab.kernels.specs`: ``data`` (X, Y, w, e), ``net``,
``loss``, ``opt`` (the rule and the schedule), ``moments`` (the optimizer state) and
``records`` (what each step reports).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from gdlab.kernels.blocks import BLOCK_MIN, block_buffers, block_gradient, gather
from gdlab.kernels.embeddings import embed_row, scatter_row
from gdlab.kernels.jit import AHEAD, LEAF, NO_NRT, prefetch_row
from gdlab.kernels.rows import glm_row_gradient, row_gradient
from gdlab.kernels.specs import Data
from gdlab.kernels.updates import learning_rate, update

__all__ = ["BLOCK_MIN", "BLOCK_ROWS", "ENTRY_POINTS", "block_gradients", "glm_block_gradients",
           "run_epoch_blocks", "run_epoch_glm", "run_epoch_rows"]

#: Rows per block of the parallel full-batch pass (fixed: the sum order depends on n only).
BLOCK_ROWS = 2048
#: The paths (compile-time constants: each entry point compiles one)
GLM, ROWS, BLOCKS = 0, 1, 2


@njit(**LEAF)
def _row_loop(path, data, order, lo, hi, total_weight, theta, net, loss, grad, buffers):
    """Add the rows order[lo:hi] to ``grad``; return their loss sum (weighted: w_i/Σw).

    ``buffers``: the row buffers Z, A, dZ, dA, and a fifth row for :math:`A^{(0)}` of a
    row with embeddings (:mod:`gdlab.kernels.embeddings`).
    """
    X, Y, w, e = data
    Z, A, dZ, dA = buffers[0], buffers[1], buffers[2], buffers[3]
    embedded = net.emb_dim.shape[0] > 0
    # the unweighted row's share of the batch mean; rows that all weigh 0 contribute
    # nothing (as in network.py)
    scale = 1.0 / total_weight if total_weight > 0.0 else 0.0
    total = 0.0
    for i in range(lo, hi):
        if i + AHEAD < order.shape[0]:
            prefetch_row(X, order[i + AHEAD])
        r = order[i]
        share = w[r] / total_weight if w.shape[0] > 0 and scale > 0.0 else scale
        e_r = e[r] if e.shape[0] > 0 else 1.0
        if path == GLM:  # one layer of one unit: the same math without the layer loop
            per_row = glm_row_gradient(X[r], Y[r], e_r, share, theta, net, loss, grad, Z, A,
                                       dZ, dA)
        elif embedded:  # the lookup, the row, the scatter-add of dA⁰ into the tables
            a0 = buffers[4][:net.layout[0, 0]]
            embed_row(X[r], theta, net, a0)
            per_row = row_gradient(a0, Y[r], e_r, share, theta, net, loss, grad, Z, A, dZ, dA)
            scatter_row(X[r], dA, net, grad)
        else:
            per_row = row_gradient(X[r], Y[r], e_r, share, theta, net, loss, grad, Z, A, dZ,
                                   dA)
        total += share * per_row if w.shape[0] > 0 else per_row
    return total


@njit(nogil=True, **NO_NRT)
def _glm_rows(data, order, lo, hi, total_weight, theta, net, loss, grad, buffers):
    """:func:`_row_loop` of a GLM."""
    return _row_loop(GLM, data, order, lo, hi, total_weight, theta, net, loss, grad, buffers)


@njit(nogil=True, **NO_NRT)
def _network_rows(data, order, lo, hi, total_weight, theta, net, loss, grad, buffers):
    """:func:`_row_loop` of a network."""
    return _row_loop(ROWS, data, order, lo, hi, total_weight, theta, net, loss, grad, buffers)


@njit(**LEAF)
def _block(data, order, lo, hi, total_weight, theta, net, loss, grad, buffer, flat, level):
    """The rows order[lo:hi] by the block path (gathered into ``buffer`` first)."""
    m = hi - lo
    gather(data, order, lo, hi, buffer, level, theta, net)
    Xb, Yb, wb, eb = buffer
    block = Data(Xb[:m], Yb[:m], wb[:m] if data.w.shape[0] > 0 else data.w,
                 eb[:m] if data.e.shape[0] > 0 else data.e)
    return block_gradient(block, level, total_weight, theta, net, loss, grad, flat)


@njit(**LEAF)
def _blocks(path, data, order, in_order, lo, hi, total_weight, theta, net, loss, partial,
            losses, first, last):
    """Blocks first..last-1 of BLOCK_ROWS rows of order[lo:hi], each into its own partial sum.

    Called from several threads at once (the GIL is released), one range of blocks each.
    ``in_order``: order is 0, 1, …, n-1, so a block is a slice of X (nothing gathered;
    never with embeddings, whose blocks are looked up).
    """
    X, Y, w, e = data
    if path == GLM:
        buffers = np.empty((4, net.layout[-1, 4] + net.layout[-1, 1]))
        for block in range(first, last):
            start = lo + block * BLOCK_ROWS
            stop = min(start + BLOCK_ROWS, hi)
            partial[block, :] = 0.0
            losses[block] = _glm_rows(data, order, start, stop, total_weight, theta, net, loss,
                                      partial[block], buffers)
        return
    buffer, flat, level = block_buffers(BLOCK_ROWS, data, net)
    for block in range(first, last):
        start = lo + block * BLOCK_ROWS
        stop = min(start + BLOCK_ROWS, hi)
        partial[block, :] = 0.0
        if not in_order:
            losses[block] = _block(data, order, start, stop, total_weight, theta, net, loss,
                                   partial[block], buffer, flat, level)
            continue
        rows = Data(X[start:stop], Y[start:stop], w[start:stop] if w.shape[0] > 0 else w,
                    e[start:stop] if e.shape[0] > 0 else e)
        losses[block] = block_gradient(rows, level, total_weight, theta, net, loss,
                                       partial[block], flat)


@njit(cache=True, nogil=True)
def glm_block_gradients(data, order, in_order, lo, hi, total_weight, theta, net, loss, partial,
                        losses, first, last):
    """:func:`_blocks` of a GLM (its rows read in place, row by row)."""
    _blocks(GLM, data, order, in_order, lo, hi, total_weight, theta, net, loss, partial,
            losses, first, last)


@njit(cache=True, nogil=True)
def block_gradients(data, order, in_order, lo, hi, total_weight, theta, net, loss, partial,
                    losses, first, last):
    """:func:`_blocks` of a network (each block through the layers as matrices)."""
    _blocks(BLOCKS, data, order, in_order, lo, hi, total_weight, theta, net, loss, partial,
            losses, first, last)


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
def _finish(index, value, n_rows, weighted, total_weight, eta, grad, theta, net, opt, moments,
            t, records):
    """Record the step; update θ unless the loss or gradient is not finite. (ok, t)."""
    value = value if weighted else value / n_rows
    records.step_loss[index] = value
    records.step_eta[index] = eta
    records.batch_weight[index] = total_weight
    finite = _finite_sum_of_squares(grad, net.layer_end, records.grad_sq)
    if not (finite and math.isfinite(value)):
        return False, t
    return True, update(opt, grad, theta, moments, t, eta)


@njit(**LEAF)
def _batch_weight(w, order, lo, hi):
    """The batch's rows, or the sum of their sample weights."""
    if w.shape[0] == 0:
        return float(hi - lo)
    total_weight = 0.0
    for i in range(lo, hi):
        total_weight += w[order[i]]
    return total_weight


@njit(**LEAF)
def _epoch(path, data, order, batch_size, theta, net, loss, opt, moments, t, step0, records):
    """One epoch by ``path`` (GLM, ROWS or BLOCKS): batch after batch of ``order``.

    Returns (index of a diverged step or -1, Adam's step count ``t`` after the epoch).
    Fills ``records`` per step (loss, η, batch weight) and adds each layer's squared
    gradient norms to ``records.grad_sq``. On a non-finite loss or gradient the epoch
    stops before the update: θ keeps its value before that step.
    """
    w = data.w
    grad = np.empty(theta.shape[0])
    if path == BLOCKS:
        buffer, flat, level = block_buffers(batch_size, data, net)
    else:  # Z, A, dZ, dA and the row's A⁰ (embeddings)
        buffers = np.empty((5, net.layout[-1, 4] + net.layout[-1, 1]))
    for index in range(records.step_loss.shape[0]):
        lo, hi = index * batch_size, min((index + 1) * batch_size, order.shape[0])
        total_weight = _batch_weight(w, order, lo, hi)
        grad[:] = 0.0
        if path == GLM:
            value = _glm_rows(data, order, lo, hi, total_weight, theta, net, loss, grad,
                              buffers)
        elif path == ROWS:
            value = _network_rows(data, order, lo, hi, total_weight, theta, net, loss, grad,
                                  buffers)
        else:
            value = _block(data, order, lo, hi, total_weight, theta, net, loss, grad, buffer,
                           flat, level)
        ok, t = _finish(index, value, hi - lo, w.shape[0] > 0, total_weight,
                        learning_rate(opt, step0 + index), grad, theta, net, opt, moments, t,
                        records)
        if not ok:
            return index, t
    return -1, t


@njit(cache=True, nogil=True)
def run_epoch_glm(data, order, batch_size, theta, net, loss, opt, moments, t, step0, records):
    """:func:`_epoch` of a GLM, batches of up to BLOCK_ROWS rows."""
    return _epoch(GLM, data, order, batch_size, theta, net, loss, opt, moments, t, step0,
                  records)


@njit(cache=True, nogil=True)
def run_epoch_rows(data, order, batch_size, theta, net, loss, opt, moments, t, step0,
                   records):
    """:func:`_epoch` of a network, batches of fewer than BLOCK_MIN rows."""
    return _epoch(ROWS, data, order, batch_size, theta, net, loss, opt, moments, t, step0,
                  records)


@njit(cache=True, nogil=True)
def run_epoch_blocks(data, order, batch_size, theta, net, loss, opt, moments, t, step0,
                     records):
    """:func:`_epoch` of a network, batches of BLOCK_MIN to BLOCK_ROWS rows."""
    return _epoch(BLOCKS, data, order, batch_size, theta, net, loss, opt, moments, t, step0,
                  records)


#: The entry points by name (:func:`gdlab.kernels.choice.entry_point` picks one).
ENTRY_POINTS = {"run_epoch_glm": run_epoch_glm, "run_epoch_rows": run_epoch_rows,
                "run_epoch_blocks": run_epoch_blocks, "glm_block_gradients": glm_block_gradients,
                "block_gradients": block_gradients}
