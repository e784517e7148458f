r"""The compiled executor's block path: many rows at once, the layers as matrix products.

Mini-batches of at least :data:`BLOCK_MIN` rows and full batches go through here: the
batch's rows (gathered into a buffer allocated once, or a contiguous slice of X when the
rows are in order) are pushed through each layer with one matrix product (BLAS, as the
reference executor does), the loss and the output delta are computed row by row with
the same functions as the row path, and the backward pass is again one product per
layer:

.. math:: Z = A_{\text{prev}} W + b, \quad dW = A_{\text{prev}}^\top dZ, \quad
          dA_{\text{prev}} = dZ\, W^\top

Each layer's Z, A, dZ and dA for the block live in the four rows of ``flat``, as
(rows, units) matrices one after the other (the layer's offset in the row layout, minus
p, times the number of rows). The block's rows come as a :class:`~gdlab.kernels.specs.Data`
record, the network and the loss as the records of :mod:`gdlab.kernels.specs`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, objmode

from gdlab.kernels.codes import SOFTMAX, TANH
from gdlab.kernels.embeddings import embed_row, levels_of_row, scatter_block
from gdlab.kernels.jit import AHEAD, LEAF, PER_BLOCK, PER_STEP, prefetch_row
from gdlab.kernels.rows import activate, activation_backward, output_delta
from gdlab.kernels.specs import Data

__all__ = ["BLOCK_MIN", "block_buffers", "block_gradient", "gather"]

#: Mini-batches of at least this many rows use the block path (smaller: row by row).
BLOCK_MIN = 16


@njit(**LEAF)
def block_buffers(rows, data, net):
    """Buffers of the block path for up to ``rows`` rows: a Data record (its X holds
    :math:`A^{(0)}`), ``flat``, and the rows' embedding codes (rows × tables)."""
    Y, layout, dtype = data.Y, net.layout, data.X.dtype  # the model's dtype
    p = layout[0, 0]  # the first layer's inputs: X's columns, or A⁰ with embeddings
    size = rows * (layout[-1, 4] + layout[-1, 1] - p)
    return (Data(np.empty((rows, p), dtype=dtype), np.empty((rows, Y.shape[1])),
                 np.empty(rows), np.empty(rows)), np.empty((4, size), dtype=dtype),
            np.empty((rows, net.emb_dim.shape[0]), dtype=np.int64))


@njit(**PER_STEP)
def gather(data, order, lo, hi, buffer, level, theta, net):
    """Copy the rows order[lo:hi] of X, Y (and w, e) into the first rows of ``buffer``;
    with embeddings, X's rows as :math:`A^{(0)}` (the lookup), their codes into ``level``."""
    X, Y, w, e = data
    Xb, Yb, wb, eb = buffer
    p, k = X.shape[1], Y.shape[1]
    embedded = net.emb_dim.shape[0] > 0
    for i in range(hi - lo):
        if lo + i + AHEAD < order.shape[0]:
            prefetch_row(X, order[lo + i + AHEAD])
        r = order[lo + i]
        if embedded:
            embed_row(X[r], theta, net, Xb[i])
            levels_of_row(X[r], net, level[i])
        else:
            for j in range(p):
                Xb[i, j] = X[r, j]
        for j in range(k):
            Yb[i, j] = Y[r, j]
        if w.shape[0] > 0:
            wb[i] = w[r]
        if e.shape[0] > 0:
            eb[i] = e[r]


@njit(**LEAF)
def _flat(buffer, m, p, off, units):
    """The m × units values of a layer whose row-layout offset is ``off``, row after row."""
    start = m * (off - p)
    return buffer[start:start + m * units]


@njit(cache=True, no_cfunc_wrapper=True)
def _tanh_block(z, a):
    """a = tanh(z) by NumPy's vectorised tanh, called from compiled code once per layer
    and block: libm's scalar tanh (what numba compiles ``math.tanh`` to) cost 4 times the
    whole rest of a tanh network's epoch at batch 256 (0.21 s against 0.055 s of CPU per
    200,000 rows). The call takes the GIL for a few microseconds; NumPy releases it
    while it computes."""
    with objmode():
        np.tanh(z, out=a)


@njit(**LEAF)
def _activate_block(kind, Z, A, m, units):
    """A = phi(Z) on m rows of ``units`` values (softmax row by row, others at once)."""
    if kind == SOFTMAX:
        for i in range(m):
            activate(kind, Z, A, i * units, units)
    elif kind == TANH:  # NumPy's vectorised tanh: several times libm's, one call per block
        _tanh_block(Z[:m * units], A[:m * units])
    else:
        activate(kind, Z, A, 0, m * units)


@njit(**PER_BLOCK)
def _product(A_prev, theta, w_off, z, units):
    """z = A_prev W (flat, m × units). One unit: a dot product per row (BLAS would pack)."""
    m, n_in = A_prev.shape
    if units == 1:
        for i in range(m):
            s = 0.0
            for k in range(n_in):
                s += A_prev[i, k] * theta[w_off + k]
            z[i] = s
        return
    W = theta[w_off:w_off + n_in * units].reshape((n_in, units))
    np.dot(A_prev, W, z.reshape((m, units)))


@njit(**PER_BLOCK)
def _weight_gradient(A_prev, dz, grad, w_off, units):
    """grad[W] += A_prevᵀ dz (dz flat, m × units)."""
    m, n_in = A_prev.shape
    if units == 1:
        g = grad[w_off:w_off + n_in]
        for i in range(m):
            d = dz[i]
            for k in range(n_in):
                g[k] += A_prev[i, k] * d
        return
    dW = np.dot(A_prev.T, dz.reshape((m, units)))
    for k in range(n_in):
        for j in range(units):
            grad[w_off + k * units + j] += dW[k, j]


@njit(**PER_BLOCK)
def _forward(Xb, theta, net, fused, Zf, Af):
    """Z = A_prev W + b and A = phi(Z) for every layer, on the whole block.

    With a fused loss the output layer's A is not needed (the loss reads Z) and is skipped.
    """
    layout, acts = net.layout, net.activations
    m, p = Xb.shape
    last = layout.shape[0] - 1
    for layer in range(last + 1):
        n_in, units, w_off, b_off, off, prev = layout[layer]
        z = _flat(Zf, m, p, off, units)
        A_prev = Xb if layer == 0 else _flat(Af, m, p, prev, n_in).reshape((m, n_in))
        _product(A_prev, theta, w_off, z, units)
        if b_off >= 0:
            for i in range(m):
                for j in range(units):
                    z[i * units + j] += theta[b_off + j]
        if layer < last or not fused:
            _activate_block(acts[layer], z, _flat(Af, m, p, off, units), m, units)


@njit(**PER_STEP)
def _output_deltas(loss, act, Yb, wb, eb, total_weight, z, a, da, dz, units):
    """Each row's loss and output delta (dz = share_i dL_i/dz); return the loss sum.

    Without reference counting: the view of Y made for each row would otherwise cost two
    atomic operations on Y's shared counter per row, which the threads of a full batch
    contend for.
    """
    weighted = wb.shape[0] > 0
    # rows that all weigh 0 contribute nothing (as in network.py)
    scale = 1.0 / total_weight if total_weight > 0.0 else 0.0
    total = 0.0
    for i in range(Yb.shape[0]):
        share = wb[i] / total_weight if weighted and scale > 0.0 else scale
        e_i = eb[i] if eb.shape[0] > 0 else 1.0
        per_row = output_delta(loss, act, Yb[i], z, a, da, dz, i * units, units, e_i, share)
        total += share * per_row if weighted else per_row
    return total


@njit(nogil=True, **PER_BLOCK)
def block_gradient(block, level, total_weight, theta, net, loss, grad, flat):
    r"""Forward, loss and backward of a block; ``grad += Σ_i share_i ∇L_i``; return Σ share-weighted L_i.

    Rows are weighted by :math:`w_i / \sum w` (``block.w`` not empty) or :math:`1/n`; the
    return value is the weighted loss sum, or the plain sum without weights. With
    embeddings ``block.X`` holds :math:`A^{(0)}` and ``level`` the rows' codes.
    """  # noqa: E501
    Xb, Yb, wb, eb = block
    layout, acts = net.layout, net.activations
    m, p = Xb.shape
    size = m * (layout[-1, 4] + layout[-1, 1] - p)
    Zf, Af, dZf, dAf = flat[0][:size], flat[1][:size], flat[2][:size], flat[3][:size]
    _forward(Xb, theta, net, loss.fused, Zf, Af)
    last = layout.shape[0] - 1
    units, out = layout[last, 1], layout[last, 4]
    z, a = _flat(Zf, m, p, out, units), _flat(Af, m, p, out, units)
    dz, da = _flat(dZf, m, p, out, units), _flat(dAf, m, p, out, units)
    total = _output_deltas(loss, acts[last], Yb, wb, eb, total_weight, z, a, da, dz, units)
    for layer in range(last, -1, -1):
        n_in, units, w_off, b_off, off, prev = layout[layer]
        dz = _flat(dZf, m, p, off, units)
        A_prev = Xb if layer == 0 else _flat(Af, m, p, prev, n_in).reshape((m, n_in))
        _weight_gradient(A_prev, dz, grad, w_off, units)
        if layer == 0 and net.emb_dim.shape[0] > 0:
            scatter_block(level[:m], dz, theta, w_off, units, net, grad)
        if b_off >= 0:
            for i in range(m):
                for j in range(units):
                    grad[b_off + j] += dz[i * units + j]
        if layer > 0:
            W = theta[w_off:w_off + n_in * units].reshape((n_in, units))
            da = _flat(dAf, m, p, prev, n_in)
            np.dot(dz.reshape((m, units)), W.T, da.reshape((m, n_in)))
            kind = acts[layer - 1]
            z, a, dz = _flat(Zf, m, p, prev, n_in), _flat(Af, m, p, prev, n_in), _flat(
                dZf, m, p, prev, n_in)
            if kind == SOFTMAX:
                for i in range(m):
                    activation_backward(kind, z, a, da, dz, i * n_in, n_in)
            else:
                activation_backward(kind, z, a, da, dz, 0, m * n_in)
    return total
