r"""The compiled executor's per-row math: forward, loss and backward of one row (numba).

These are the formulas of :mod:`gdlab.nn.activations`, :mod:`gdlab.nn.losses` and
:mod:`gdlab.nn.layers`, written row by row so that a batch is never copied: a row of X is
read in place, pushed through the layers, and its gradient is accumulated (``+=``) into
a flat vector laid out as θ. The kinds of activation and loss are the integer codes of
:mod:`gdlab.kernels.codes`, so one compiled function serves every network; the network
and the loss come as the records of :mod:`gdlab.kernels.specs` (``net``, ``loss``).

The row buffers ``Z``, ``A``, ``dZ`` and ``dA`` hold the input row at ``[0, p)`` and then
each layer's values (``layout[:, 4]`` are their offsets), and the derivatives at the same
offsets. (Passed one by one: a view taken per row would slow the row path by a fifth.)
"""

from __future__ import annotations

import math

from numba import njit

from gdlab.kernels.codes import (
    BINARY_CROSSENTROPY,
    CATEGORICAL_CROSSENTROPY,
    GAMMA,
    LINEAR,
    MSE,
    POISSON,
    RELU,
    SIGMOID,
    SOFTMAX,
    TANH,
)
from gdlab.kernels.jit import LEAF, NO_NRT

__all__ = ["activate", "activation_backward", "glm_row_gradient", "output_delta",
           "row_gradient"]

EPS = 1e-15  # losses.EPS: clipping on the probability-input path only


@njit(**LEAF)
def _sigmoid(z):
    E = math.exp(-abs(z))  # in (0, 1]: never overflows
    return 1.0 / (1.0 + E) if z >= 0 else E / (1.0 + E)


@njit(**LEAF)
def _softplus_sigmoid(z):
    """(log(1 + e^z), sigma(z)) from one exp: as numpy.logaddexp(0, z) and gdlab's sigmoid."""
    E = math.exp(-abs(z))  # exp(z) for z < 0, exp(-z) for z > 0
    sigma = 1.0 / (1.0 + E) if z >= 0 else E / (1.0 + E)
    if z == 0.0:
        return math.log(2.0), sigma
    if z < 0.0:
        return math.log1p(E), sigma
    return z + math.log1p(E), sigma


@njit(**NO_NRT)
def activate(kind, Z, A, off, units):
    """A = phi(Z) on one row's segment [off, off + units)."""
    if kind == SOFTMAX:  # subtract the row maximum before exp
        m = Z[off]
        for j in range(1, units):
            m = max(m, Z[off + j])
        total = 0.0
        for j in range(units):
            A[off + j] = math.exp(Z[off + j] - m)
            total += A[off + j]
        for j in range(units):
            A[off + j] /= total
        return
    for j in range(off, off + units):
        z = Z[j]
        if kind == LINEAR:
            A[j] = z
        elif kind == SIGMOID:
            A[j] = _sigmoid(z)
        elif kind == RELU:
            A[j] = max(z, 0.0)
        elif kind == TANH:
            A[j] = math.tanh(z)
        else:  # EXPONENTIAL
            A[j] = math.exp(z)


@njit(**NO_NRT)
def activation_backward(kind, Z, A, dA, dZ, off, units):
    """dZ = dA * phi'(Z) on one segment (softmax: A * (dA - sum(dA * A)))."""
    if kind == SOFTMAX:
        s = 0.0
        for j in range(off, off + units):
            s += dA[j] * A[j]
        for j in range(off, off + units):
            dZ[j] = A[j] * (dA[j] - s)
        return
    for j in range(off, off + units):
        if kind == LINEAR:
            dZ[j] = dA[j]
        elif kind == SIGMOID:
            dZ[j] = dA[j] * A[j] * (1.0 - A[j])
        elif kind == RELU:
            dZ[j] = dA[j] if Z[j] > 0 else 0.0
        elif kind == TANH:
            dZ[j] = dA[j] * (1.0 - A[j] * A[j])
        else:  # EXPONENTIAL
            dZ[j] = dA[j] * A[j]


@njit(**NO_NRT)
def _linear(a_prev, theta, w_off, units, z):
    """z = a_prev W (W = θ[w_off:], row-major (inputs, units)); sums over inputs in order."""
    if units == 1:  # one unit: a dot product (the same order of additions)
        s = 0.0
        for k in range(a_prev.shape[0]):
            s += a_prev[k] * theta[w_off + k]
        z[0] = s
        return
    for j in range(units):
        z[j] = 0.0
    for k in range(a_prev.shape[0]):
        a = a_prev[k]
        w_k = theta[w_off + k * units:w_off + (k + 1) * units]
        for j in range(units):
            z[j] += a * w_k[j]


@njit(**NO_NRT)
def _forward(x, theta, net, Z, A):
    """Push one row through the layers: Z = A_prev W + b, A = phi(Z)."""
    layout = net.layout
    for k in range(x.shape[0]):
        A[k] = x[k]
    for layer in range(layout.shape[0]):
        n_in, units, w_off, b_off, off, prev = layout[layer]
        z = Z[off:off + units]
        _linear(A[prev:prev + n_in], theta, w_off, units, z)
        if b_off >= 0:
            b = theta[b_off:b_off + units]
            for j in range(units):
                z[j] += b[j]
        activate(net.activations[layer], Z, A, off, units)


@njit(**NO_NRT)
def _linear_backward(a_prev, dz, theta, w_off, grad, da):
    """dW += a_prevᵀ dz into grad[w_off:]; da = dz Wᵀ (if da is not empty)."""
    units = dz.shape[0]
    for k in range(a_prev.shape[0]):
        a = a_prev[k]
        g_k = grad[w_off + k * units:w_off + (k + 1) * units]
        for j in range(units):
            g_k[j] += a * dz[j]
    for k in range(da.shape[0]):
        w_k = theta[w_off + k * units:w_off + (k + 1) * units]
        s = 0.0
        for j in range(units):
            s += dz[j] * w_k[j]
        da[k] = s


@njit(**LEAF)
def _deviance(kind, y, mu, log_mu, power):
    """Unit deviance of the log-link losses (Poisson, Gamma, Tweedie)."""
    if kind == POISSON:
        y_log_y = y * math.log(y) if y != 0.0 else 0.0
        y_log_mu = y * log_mu if y > 0 else 0.0  # y log mu = 0 at y = 0
        return 2.0 * (y_log_y - y_log_mu - y + mu)
    if kind == GAMMA:
        ratio = y * math.exp(-log_mu)
        return 2.0 * (ratio - 1.0 - math.log(y) + log_mu)
    p = power  # TWEEDIE
    return 2.0 * (y ** (2 - p) / ((1 - p) * (2 - p)) - y * math.exp((1 - p) * log_mu) / (1 - p)
                  + math.exp((2 - p) * log_mu) / (2 - p))


@njit(**LEAF)
def _deviance_dz(kind, y, mu, log_mu, power):
    """mu * dD/dmu: the deviance's derivative with respect to the log-link logit."""
    if kind == POISSON:
        return 2.0 * (mu - y)
    if kind == GAMMA:
        return 2.0 * (1.0 - y * math.exp(-log_mu))
    p = power  # TWEEDIE
    return 2.0 * (math.exp((2 - p) * log_mu) - y * math.exp((1 - p) * log_mu))


@njit(**NO_NRT)
def _fused_loss(loss, y, Z, d, off, k, e):
    """Per-row loss from the logits; d[off:off+k] = dL/dz (canonical or log link)."""
    kind = loss.code
    total = 0.0
    if kind == MSE:  # linear + mse: the same formulas as the probability path
        for j in range(k):
            r = e * Z[off + j] - y[j]
            total += r * r
            d[off + j] = e * 2.0 * (e * Z[off + j] - y[j]) / k
        return total / k
    if kind == BINARY_CROSSENTROPY:  # sigmoid + BCE: softplus(z) - y z, and sigma(z) - y
        for j in range(k):
            z = Z[off + j]
            softplus, sigma = _softplus_sigmoid(z)
            total += softplus - y[j] * z
            d[off + j] = (sigma - y[j]) / k
        return total / k
    if kind == CATEGORICAL_CROSSENTROPY:  # softmax + CE, by log-sum-exp
        m = Z[off]
        for j in range(1, k):
            m = max(m, Z[off + j])
        s = 0.0
        sum_y = 0.0
        y_z = 0.0
        for j in range(k):
            s += math.exp(Z[off + j] - m)
            sum_y += y[j]
            y_z += y[j] * Z[off + j]
        for j in range(k):
            d[off + j] = math.exp(Z[off + j] - m) / s * sum_y - y[j]
        return (m + math.log(s)) * sum_y - y_z
    log_e = math.log(e)
    for j in range(k):  # exponential + Poisson / Gamma / Tweedie: log mu = z + log e
        log_mu = Z[off + j] + log_e
        mu = math.exp(log_mu)
        total += _deviance(kind, y[j], mu, log_mu, loss.power)
        d[off + j] = _deviance_dz(kind, y[j], mu, log_mu, loss.power) / k
    return total / k


@njit(**NO_NRT)
def _probability_loss(loss, y, A, d, off, k, e):
    """Per-row loss from the outputs A; d[off:off+k] = dL/dA (the generic path)."""
    kind, power = loss.code, loss.power
    total = 0.0
    for j in range(k):
        a = A[off + j]
        if kind == MSE:
            r = e * a - y[j]
            total += r * r
            d[off + j] = e * 2.0 * (e * a - y[j]) / k
        elif kind == BINARY_CROSSENTROPY:
            p = min(max(a, EPS), 1.0 - EPS)
            total += y[j] * math.log(p) + (1.0 - y[j]) * math.log1p(-p)
            d[off + j] = (p - y[j]) / (p * (1.0 - p)) / k
        elif kind == CATEGORICAL_CROSSENTROPY:
            p = min(max(a, EPS), 1.0)
            total += y[j] * math.log(p)
            d[off + j] = -y[j] / p
        else:
            mu = e * a
            log_mu = math.log(mu) if mu > 0 else (-math.inf if mu == 0 else math.nan)
            total += _deviance(kind, y[j], mu, log_mu, power)
            d[off + j] = _deviance_dz(kind, y[j], mu, log_mu, power) / a / k
    if kind == BINARY_CROSSENTROPY:
        return -(total / k)
    if kind == CATEGORICAL_CROSSENTROPY:
        return -total
    return total / k


@njit(**LEAF)
def output_delta(loss, act, y, Z, A, dA, dZ, out, units, e, scale):
    """The row's loss L_i; dZ[out:out+units] = scale * dL_i/dZ of the output layer."""
    if loss.fused:
        per_row = _fused_loss(loss, y, Z, dZ, out, units, e)
    else:
        per_row = _probability_loss(loss, y, A, dA, out, units, e)
        activation_backward(act, Z, A, dA, dZ, out, units)
    for j in range(out, out + units):
        dZ[j] = dZ[j] * scale
    return per_row


@njit(nogil=True, **NO_NRT)
def glm_row_gradient(x, y, e, scale, theta, net, loss, grad, Z, A, dZ, dA):
    """:func:`row_gradient` for one Dense layer of one unit (a GLM), without the layer loop.

    z = x·w (+ b); the loss and dL/dz as for any network; grad[w] += x dz, grad[b] += dz.
    """
    b_off, act = net.layout[0, 3], net.activations[0]
    z = 0.0
    for k in range(x.shape[0]):
        z += x[k] * theta[k]
    Z[0] = z + theta[b_off] if b_off >= 0 else z
    if not loss.fused:
        activate(act, Z, A, 0, 1)
    per_row = output_delta(loss, act, y, Z, A, dA, dZ, 0, 1, e, scale)
    d = dZ[0]
    for k in range(x.shape[0]):
        grad[k] += x[k] * d
    if b_off >= 0:
        grad[b_off] += d
    return per_row


@njit(nogil=True, **NO_NRT)
def row_gradient(x, y, e, scale, theta, net, loss, grad, Z, A, dZ, dA):
    r"""Forward, loss and backward of one row; ``grad += scale * dL_i/dθ``; return L_i.

    ``scale`` is :math:`1/n` or :math:`w_i / \sum w` (the row's share of the batch mean).
    """
    layout, acts = net.layout, net.activations
    _forward(x, theta, net, Z, A)
    last = layout.shape[0] - 1
    units, out = layout[last, 1], layout[last, 4]
    per_row = output_delta(loss, acts[last], y, Z, A, dA, dZ, out, units, e, scale)
    for layer in range(last, -1, -1):
        n_in, units, w_off, b_off, off, prev = layout[layer]
        dz = dZ[off:off + units]
        # dA of the inputs: for the layers below, and for the embedding tables (A⁰)
        below = layer > 0 or net.emb_dim.shape[0] > 0
        _linear_backward(A[prev:prev + n_in], dz, theta, w_off, grad,
                         dA[prev:prev + (n_in if below else 0)])
        if b_off >= 0:
            g_b = grad[b_off:b_off + units]
            for j in range(units):
                g_b[j] += dz[j]
        if layer > 0:
            activation_backward(acts[layer - 1], Z, A, dA, dZ, prev, n_in)
    return per_row

