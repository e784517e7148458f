r"""The compiled executor's per-row math: forward, loss and backward of one row (numba).

These are the formulas of :mod:`gdlab.activations`, :mod:`gdlab.losses` and
:mod:`gdlab.layers`, written row by row so that a batch is never copied: a row of X is
read in place, pushed through the layers, and its gradient is accumulated (``+=``) into
a flat vector laid out as θ. The kinds of activation and loss are integer codes (see
:data:`ACTIVATIONS`, :data:`LOSSES`), so one compiled function serves every network.

The network's shape is a ``layout`` array with one row per layer::

    [inputs, units, offset of W in θ, offset of b in θ (-1: no bias),
     offset of the layer in the row buffers, offset of its input in the row buffers]

The row buffers ``A`` and ``Z`` hold the input row at ``[0, p)`` and then each layer's
values; ``dZ`` and ``dA`` hold the derivatives at the same offsets.
"""

from __future__ import annotations

import math

from numba import njit

__all__ = ["ACTIVATIONS", "LOSSES", "row_gradient"]

#: Integer codes of the activations (the order of this tuple).
ACTIVATIONS = ("linear", "sigmoid", "softmax", "relu", "tanh", "exponential")
#: Integer codes of the losses (sparse categorical is categorical after one-hot encoding).
LOSSES = ("mse", "binary_crossentropy", "categorical_crossentropy", "poisson", "gamma",
          "tweedie")

EPS = 1e-15  # losses.EPS: clipping on the probability-input path only


@njit(cache=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _sigmoid(z):
    E = math.exp(-abs(z))  # in (0, 1]: never overflows
    return 1.0 / (1.0 + E) if z >= 0 else E / (1.0 + E)


@njit(cache=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _softplus(z):
    """log(1 + e^z) exactly as numpy.logaddexp(0, z)."""
    if z == 0.0:
        return math.log(2.0)
    if z < 0.0:
        return math.log1p(math.exp(z))
    return z + math.log1p(math.exp(-z))


@njit(cache=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _activate(kind, Z, A, off, units):
    """A = phi(Z) on one row's segment [off, off + units)."""
    if kind == 2:  # softmax: subtract the row maximum before exp
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
        if kind == 0:
            A[j] = z
        elif kind == 1:
            A[j] = _sigmoid(z)
        elif kind == 3:
            A[j] = max(z, 0.0)
        elif kind == 4:
            A[j] = math.tanh(z)
        else:
            A[j] = math.exp(z)


@njit(cache=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _activation_backward(kind, Z, A, dA, dZ, off, units):
    """dZ = dA * phi'(Z) on one segment (softmax: A * (dA - sum(dA * A)))."""
    if kind == 2:
        s = 0.0
        for j in range(off, off + units):
            s += dA[j] * A[j]
        for j in range(off, off + units):
            dZ[j] = A[j] * (dA[j] - s)
        return
    for j in range(off, off + units):
        if kind == 0:
            dZ[j] = dA[j]
        elif kind == 1:
            dZ[j] = dA[j] * A[j] * (1.0 - A[j])
        elif kind == 3:
            dZ[j] = dA[j] if Z[j] > 0 else 0.0
        elif kind == 4:
            dZ[j] = dA[j] * (1.0 - A[j] * A[j])
        else:
            dZ[j] = dA[j] * A[j]


@njit(cache=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _forward(x, theta, layout, acts, Z, A):
    """Push one row through the layers: Z = A_prev W + b, A = phi(Z)."""
    for k in range(x.shape[0]):
        A[k] = x[k]
    for layer in range(layout.shape[0]):
        n_in, units, w_off, b_off, off, prev = layout[layer]
        for j in range(off, off + units):
            Z[j] = 0.0
        for k in range(n_in):
            a = A[prev + k]
            base = w_off + k * units
            for j in range(units):
                Z[off + j] += a * theta[base + j]
        if b_off >= 0:
            for j in range(units):
                Z[off + j] += theta[b_off + j]
        _activate(acts[layer], Z, A, off, units)


@njit(cache=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _deviance(kind, y, mu, log_mu, power):
    """Unit deviance of the log-link losses (Poisson, Gamma, Tweedie)."""
    if kind == 3:
        y_log_y = y * math.log(y) if y != 0.0 else 0.0
        y_log_mu = y * log_mu if y > 0 else 0.0  # y log mu = 0 at y = 0
        return 2.0 * (y_log_y - y_log_mu - y + mu)
    if kind == 4:
        ratio = y * math.exp(-log_mu)
        return 2.0 * (ratio - 1.0 - math.log(y) + log_mu)
    p = power
    return 2.0 * (y ** (2 - p) / ((1 - p) * (2 - p)) - y * math.exp((1 - p) * log_mu) / (1 - p)
                  + math.exp((2 - p) * log_mu) / (2 - p))


@njit(cache=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _deviance_dz(kind, y, mu, log_mu, power):
    """mu * dD/dmu: the deviance's derivative with respect to the log-link logit."""
    if kind == 3:
        return 2.0 * (mu - y)
    if kind == 4:
        return 2.0 * (1.0 - y * math.exp(-log_mu))
    p = power
    return 2.0 * (math.exp((2 - p) * log_mu) - y * math.exp((1 - p) * log_mu))


@njit(cache=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _fused_loss(kind, y, Z, d, off, k, e, power):
    """Per-row loss from the logits; d[off:off+k] = dL/dz (canonical or log link)."""
    total = 0.0
    if kind == 0:  # linear + mse: the same formulas as the probability path
        for j in range(k):
            r = e * Z[off + j] - y[j]
            total += r * r
            d[off + j] = e * 2.0 * (e * Z[off + j] - y[j]) / k
        return total / k
    if kind == 1:  # sigmoid + BCE: softplus(z) - y z, and sigma(z) - y
        for j in range(k):
            z = Z[off + j]
            total += _softplus(z) - y[j] * z
            d[off + j] = (_sigmoid(z) - y[j]) / k
        return total / k
    if kind == 2:  # softmax + CE, by log-sum-exp
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
        total += _deviance(kind, y[j], mu, log_mu, power)
        d[off + j] = _deviance_dz(kind, y[j], mu, log_mu, power) / k
    return total / k


@njit(cache=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _probability_loss(kind, y, A, d, off, k, e, power):
    """Per-row loss from the outputs A; d[off:off+k] = dL/dA (the generic path)."""
    total = 0.0
    for j in range(k):
        a = A[off + j]
        if kind == 0:
            r = e * a - y[j]
            total += r * r
            d[off + j] = e * 2.0 * (e * a - y[j]) / k
        elif kind == 1:
            p = min(max(a, EPS), 1.0 - EPS)
            total += y[j] * math.log(p) + (1.0 - y[j]) * math.log1p(-p)
            d[off + j] = (p - y[j]) / (p * (1.0 - p)) / k
        elif kind == 2:
            p = min(max(a, EPS), 1.0)
            total += y[j] * math.log(p)
            d[off + j] = -y[j] / p
        else:
            mu = e * a
            log_mu = math.log(mu) if mu > 0 else (-math.inf if mu == 0 else math.nan)
            total += _deviance(kind, y[j], mu, log_mu, power)
            d[off + j] = _deviance_dz(kind, y[j], mu, log_mu, power) / a / k
    if kind == 1:
        return -(total / k)
    if kind == 2:
        return -total
    return total / k


@njit(cache=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def row_gradient(x, y, e, scale, theta, layout, acts, loss, fused, power, grad, Z, A, dZ, dA):
    r"""Forward, loss and backward of one row; ``grad += scale * dL_i/dθ``; return L_i.

    ``scale`` is :math:`1/n` or :math:`w_i / \sum w` (the row's share of the batch mean).
    """
    _forward(x, theta, layout, acts, Z, A)
    last = layout.shape[0] - 1
    units, out = layout[last, 1], layout[last, 4]
    if fused:
        per_row = _fused_loss(loss, y, Z, dZ, out, units, e, power)
    else:
        per_row = _probability_loss(loss, y, A, dA, out, units, e, power)
        _activation_backward(acts[last], Z, A, dA, dZ, out, units)
    for j in range(out, out + units):
        dZ[j] = dZ[j] * scale
    for layer in range(last, -1, -1):
        n_in, units, w_off, b_off, off, prev = layout[layer]
        for k in range(n_in):  # dW = A_prev^T dZ, accumulated
            a = A[prev + k]
            base = w_off + k * units
            for j in range(units):
                grad[base + j] += a * dZ[off + j]
        if b_off >= 0:
            for j in range(units):
                grad[b_off + j] += dZ[off + j]
        if layer > 0:
            for k in range(n_in):  # dA_prev = dZ W^T, then through the activation
                base = w_off + k * units
                s = 0.0
                for j in range(units):
                    s += dZ[off + j] * theta[base + j]
                dA[prev + k] = s
            _activation_backward(acts[layer - 1], Z, A, dA, dZ, prev, n_in)
    return per_row

