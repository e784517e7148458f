r"""The compiled executor's embeddings: the lookup before the first layer, the scatter-add after.

The math of :mod:`gdlab.nn.embedding`, row by row. A row x of X holds ``net.numeric``
numbers and then one integer code :math:`c_k` per table :math:`E^{(k)}` (the ``net.emb_*``
arrays, see :mod:`gdlab.kernels.specs`); the first layer sees

.. math:: A^{(0)} = \big[x_1, \dots, x_p,\; E^{(1)}_{c_1}, \dots, E^{(K)}_{c_K}\big]

and each table's gradient is the scatter-add of the first layer's input derivative,

.. math:: dE^{(k)}_{c_k,u} \mathrel{+}= dA^{(0)}_{u} = \sum_j dZ^{(1)}_j\, W^{(1)}_{u,j}

(u: the table's columns of :math:`A^{(0)}`; dZ already carries the row's share of the
batch mean). The codes are checked once, in Python, before the fit
(:meth:`gdlab.nn.embedding.Inputs.codes`); here they are trusted.
"""

from __future__ import annotations

from numba import njit

from gdlab.kernels.jit import NO_NRT, PER_STEP

__all__ = ["embed_row", "levels_of_row", "scatter_block", "scatter_row"]


@njit(**NO_NRT)
def embed_row(x, theta, net, a0):
    r""":math:`A^{(0)}` of the row x into ``a0``: its numbers, then each table's row
    :math:`E^{(k)}_{c_k}`."""
    p = net.numeric
    for j in range(p):
        a0[j] = x[j]
    for k in range(net.emb_dim.shape[0]):
        d, col = net.emb_dim[k], net.emb_a[k]
        row = net.emb_theta[k] + int(x[p + k]) * d
        for u in range(d):
            a0[col + u] = theta[row + u]


@njit(**NO_NRT)
def levels_of_row(x, net, level):
    """The row's codes :math:`c_k` (X's code columns) into ``level``, one per table."""
    for k in range(net.emb_dim.shape[0]):
        level[k] = int(x[net.numeric + k])


@njit(**NO_NRT)
def scatter_row(x, dA0, net, grad):
    r""":math:`dE^{(k)}_{c_k} \mathrel{+}= dA^{(0)}_{\text{cols}_k}` for the row x."""
    for k in range(net.emb_dim.shape[0]):
        d, col = net.emb_dim[k], net.emb_a[k]
        row = net.emb_theta[k] + int(x[net.numeric + k]) * d
        for u in range(d):
            grad[row + u] += dA0[col + u]


@njit(**PER_STEP)
def scatter_block(level, dz, theta, w_off, units, net, grad):
    r"""The scatter-add of a block of rows, from the first layer's dZ (flat, m × units).

    Only the tables' columns of :math:`dA^{(0)} = dZ\,W^{(1)\top}` are computed (the
    numeric columns' derivatives are not needed), each row's straight into its levels.
    """
    for i in range(level.shape[0]):
        for k in range(net.emb_dim.shape[0]):
            d, col = net.emb_dim[k], net.emb_a[k]
            row = net.emb_theta[k] + level[i, k] * d
            for u in range(d):
                w_u = w_off + (col + u) * units
                s = 0.0
                for j in range(units):
                    s += dz[i * units + j] * theta[w_u + j]
                grad[row + u] += s
