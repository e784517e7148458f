r"""The compiled executor's step: the learning rate of the step and the optimizer's rule.

The formulas of :mod:`gdlab.optim.schedules` and :mod:`gdlab.optim.optimizers`, written
in place over θ and the optimizer's moments (numba). ``opt`` is an
:class:`~gdlab.kernels.specs.OptimizerSpec` record, ``moments`` a
:class:`~gdlab.kernels.specs.Moments` record (Adam's m and v; SGD's velocity or
RMSprop's s in ``first``) and ``t`` Adam's step count.
"""

from __future__ import annotations

import math

from numba import njit

from gdlab.kernels.codes import (
    ADAM,
    CONSTANT,
    EXPONENTIAL_DECAY,
    MOMENTUM,
    NADAM,
    SGD,
    STEP_DECAY,
)
from gdlab.kernels.jit import LEAF, PER_STEP

__all__ = ["learning_rate", "update"]


@njit(**LEAF)
def learning_rate(opt, step):
    r"""η at global step ``step``, as :mod:`gdlab.optim.schedules` computes it.

    Step decay :math:`\eta_0 f^{\lfloor t/s \rfloor}`, exponential :math:`\eta_0 r^{t/s}`,
    inverse time :math:`\eta_0 / (1 + r\, t/s)` (staircase: :math:`\lfloor t/s \rfloor`).
    """
    kind, eta0 = opt.schedule, opt.eta0
    if kind == CONSTANT:
        return eta0
    every, factor = opt.steps, opt.factor
    if kind == STEP_DECAY:
        return eta0 * factor ** float(step // int(every))
    p = step / every
    exponent = float(math.floor(p)) if opt.staircase else p
    if kind == EXPONENTIAL_DECAY:
        return eta0 * factor ** exponent
    return eta0 / (1.0 + factor * exponent)  # INVERSE_TIME_DECAY


@njit(**PER_STEP)
def _nadam(opt, grad, theta, moments, t, eta):
    r"""Nadam's step in place (:func:`gdlab.optim.optimizers.nadam_update`); return t + 1.

    :math:`u_t = \beta_1(1 - \tfrac12 0.96^t)`, :math:`\Pi_t = \Pi_{t-1} u_t`;
    :math:`\hat m = u_{t+1} m / (1 - \Pi_t u_{t+1}) + (1 - u_t) g / (1 - \Pi_t)`.
    """
    t += 1
    beta_1, beta_2, epsilon = opt.beta_1, opt.beta_2, opt.epsilon
    u_t = beta_1 * (1.0 - 0.5 * 0.96 ** float(t))
    u_next = beta_1 * (1.0 - 0.5 * 0.96 ** float(t + 1))
    product = moments.product[0] * u_t
    moments.product[0] = product
    c2 = 1.0 - beta_2 ** float(t)
    s1, s2 = moments.first, moments.second
    for i in range(theta.shape[0]):
        g = grad[i]
        s1[i] = beta_1 * s1[i] + (1.0 - beta_1) * g
        s2[i] = beta_2 * s2[i] + (1.0 - beta_2) * (g * g)
        m_hat = u_next * s1[i] / (1.0 - product * u_next) + (1.0 - u_t) * g / (1.0 - product)
        theta[i] += -eta * m_hat / (math.sqrt(s2[i] / c2) + epsilon)
    return t


@njit(**PER_STEP)
def update(opt, grad, theta, moments, t, eta):
    r"""θ += Δθ by the optimizer's rule; update the moments in place; return Adam's (Nadam's) t.

    SGD :math:`-\eta g`; momentum :math:`v \leftarrow \mu v - \eta g`, Δθ = v (Nesterov:
    :math:`\mu v - \eta g`); Adam with bias correction; RMSprop
    :math:`s \leftarrow \rho s + (1-\rho) g^2`, :math:`-\eta g / (\sqrt{s} + \epsilon)`;
    Nadam as :func:`gdlab.optim.optimizers.nadam_update` (``moments.product`` holds
    :math:`\Pi_t`).
    """
    s1, s2 = moments.first, moments.second
    rule = opt.rule
    if rule == SGD:
        for i in range(theta.shape[0]):
            theta[i] += -eta * grad[i]
    elif rule == MOMENTUM:
        mom = opt.momentum
        nesterov = opt.nesterov
        for i in range(theta.shape[0]):
            v = mom * s1[i] - eta * grad[i]
            s1[i] = v
            theta[i] += mom * v - eta * grad[i] if nesterov else v
    elif rule == ADAM:
        t += 1
        beta_1, beta_2, epsilon = opt.beta_1, opt.beta_2, opt.epsilon
        c1 = 1.0 - beta_1 ** float(t)
        c2 = 1.0 - beta_2 ** float(t)
        for i in range(theta.shape[0]):
            g = grad[i]
            s1[i] = beta_1 * s1[i] + (1.0 - beta_1) * g
            s2[i] = beta_2 * s2[i] + (1.0 - beta_2) * (g * g)
            theta[i] += -eta * (s1[i] / c1) / (math.sqrt(s2[i] / c2) + epsilon)
    elif rule == NADAM:
        t = _nadam(opt, grad, theta, moments, t, eta)
    else:  # RMSPROP
        rho, epsilon = opt.rho, opt.epsilon
        for i in range(theta.shape[0]):
            g = grad[i]
            s1[i] = rho * s1[i] + (1.0 - rho) * (g * g)
            theta[i] += -eta * g / (math.sqrt(s1[i]) + epsilon)
    return t
