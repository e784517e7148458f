r"""Optimizers: pure update rules ``(gradient, state) -> (Δθ, new state)`` over θ.

Each rule is a function of explicit, immutable state (a ``NamedTuple``), so a trace can
keep the state before and after every step as plain values. The classes
(:class:`SGD`, :class:`Adam`, :class:`Nadam`, :class:`RMSprop`) only hold the hyperparameters; the
learning rate may be a number or a :mod:`gdlab.optim.schedules` schedule of the step.
The training loop then applies :math:`\theta_{t+1} = \theta_t + \Delta\theta_t`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from gdlab._checks import check_choice, check_fraction, check_positive_number
from gdlab._typing import FloatArray
from gdlab.optim import schedules

__all__ = [
    "SGD",
    "Adam",
    "AdamState",
    "MomentumState",
    "Nadam",
    "NadamState",
    "Optimizer",
    "RMSprop",
    "RMSpropState",
    "adam_update",
    "get",
    "momentum_update",
    "nadam_update",
    "rmsprop_update",
    "sgd_update",
]


class MomentumState(NamedTuple):
    """SGD's state: the velocity v (zeros without momentum)."""

    velocity: FloatArray


class AdamState(NamedTuple):
    """Adam's state: the step count t and the moment estimates m and v."""

    t: int
    m: FloatArray
    v: FloatArray


class NadamState(NamedTuple):
    r"""Nadam's state: the step count t, the product of the momentum schedule
    :math:`\prod_{i \le t} u_i`, and the moment estimates m and v."""

    t: int
    u_product: float
    m: FloatArray
    v: FloatArray


class RMSpropState(NamedTuple):
    """RMSprop's state: the running mean s of squared gradients."""

    s: FloatArray


def sgd_update(grad: FloatArray, state: MomentumState, *,
               learning_rate: float) -> tuple[FloatArray, MomentumState]:
    r"""Plain gradient descent, as in the lecture: :math:`\Delta\theta = -\eta \nabla`.

    Examples
    --------
    >>> delta, _ = sgd_update(np.array([-50.0, -10.0]), MomentumState(np.zeros(2)),
    ...                       learning_rate=0.01)
    >>> delta.tolist()
    [0.5, 0.1]
    """
    return -learning_rate * grad, state


def momentum_update(grad: FloatArray, state: MomentumState, *, learning_rate: float,
                    momentum: float, nesterov: bool) -> tuple[FloatArray, MomentumState]:
    r"""Momentum: :math:`v \leftarrow \mu v - \eta\nabla`; :math:`\Delta\theta = v`.

    Nesterov (as Keras): :math:`\Delta\theta = \mu v - \eta\nabla` with the new :math:`v`.
    """
    velocity = momentum * state.velocity - learning_rate * grad
    delta = momentum * velocity - learning_rate * grad if nesterov else velocity
    return delta, MomentumState(velocity)


def adam_update(grad: FloatArray, state: AdamState, *, learning_rate: float, beta_1: float,
                beta_2: float, epsilon: float) -> tuple[FloatArray, AdamState]:
    r"""Adam (Kingma & Ba):

    .. math:: m \leftarrow \beta_1 m + (1-\beta_1)\nabla, \quad
              v \leftarrow \beta_2 v + (1-\beta_2)\nabla^2, \quad
              \Delta\theta = -\eta \frac{m / (1-\beta_1^t)}{\sqrt{v / (1-\beta_2^t)} + \epsilon}
    """
    t = state.t + 1
    m = beta_1 * state.m + (1.0 - beta_1) * grad
    v = beta_2 * state.v + (1.0 - beta_2) * (grad * grad)
    m_hat = m / (1.0 - beta_1**t)
    v_hat = v / (1.0 - beta_2**t)
    return -learning_rate * m_hat / (np.sqrt(v_hat) + epsilon), AdamState(t, m, v)


def nadam_update(grad: FloatArray, state: NadamState, *, learning_rate: float, beta_1: float,
                 beta_2: float, epsilon: float) -> tuple[FloatArray, NadamState]:
    r"""Nadam (Dozat 2016), Adam with Nesterov momentum, as Keras 3 computes it.

    With the momentum schedule :math:`u_t = \beta_1 (1 - \tfrac12 \, 0.96^{t})` and its
    running product :math:`\Pi_t = \prod_{i \le t} u_i` (:math:`\Pi_0 = 1`), step t is

    .. math:: m \leftarrow \beta_1 m + (1-\beta_1)\nabla, \quad
              v \leftarrow \beta_2 v + (1-\beta_2)\nabla^2,

    .. math:: \hat m = \frac{u_{t+1}\, m}{1 - \Pi_t u_{t+1}}
                      + \frac{(1 - u_t)\nabla}{1 - \Pi_t}, \quad
              \hat v = \frac{v}{1 - \beta_2^t}, \quad
              \Delta\theta = -\eta \frac{\hat m}{\sqrt{\hat v} + \epsilon}

    The first term of :math:`\hat m` is the momentum of the *next* step (the Nesterov
    look-ahead), the second the current gradient's own share. Keras 2 (2019) used
    :math:`0.96^{0.004 t}` in :math:`u_t` (``schedule_decay=0.004``); Keras 3 uses
    :math:`0.96^{t}`, as here.

    Examples
    --------
    >>> state = NadamState(0, 1.0, np.zeros(1), np.zeros(1))
    >>> delta, state = nadam_update(np.array([2.0]), state, learning_rate=0.1, beta_1=0.9,
    ...                             beta_2=0.999, epsilon=1e-7)
    >>> round(float(delta[0]), 6), state.t, state.u_product
    (-0.106279, 1, 0.468)
    """
    t = state.t + 1
    u_t = beta_1 * (1.0 - 0.5 * 0.96**t)
    u_next = beta_1 * (1.0 - 0.5 * 0.96 ** (t + 1))
    u_product = state.u_product * u_t
    m = beta_1 * state.m + (1.0 - beta_1) * grad
    v = beta_2 * state.v + (1.0 - beta_2) * (grad * grad)
    m_hat = u_next * m / (1.0 - u_product * u_next) + (1.0 - u_t) * grad / (1.0 - u_product)
    v_hat = v / (1.0 - beta_2**t)
    delta = -learning_rate * m_hat / (np.sqrt(v_hat) + epsilon)
    return delta, NadamState(t, u_product, m, v)


def rmsprop_update(grad: FloatArray, state: RMSpropState, *, learning_rate: float, rho: float,
                   epsilon: float) -> tuple[FloatArray, RMSpropState]:
    r"""RMSprop: :math:`s \leftarrow \rho s + (1-\rho)\nabla^2`; :math:`\Delta\theta = -\eta\nabla/(\sqrt{s}+\epsilon)`."""  # noqa: E501
    s = rho * state.s + (1.0 - rho) * (grad * grad)
    return -learning_rate * grad / (np.sqrt(s) + epsilon), RMSpropState(s)


class Optimizer:
    """Base class: hyperparameters, a learning-rate schedule, ``init`` and ``update``."""

    name = ""

    def __init__(self, learning_rate: float | schedules.Schedule) -> None:
        self.learning_rate = learning_rate

    @property
    def learning_rate(self) -> float | schedules.Schedule:
        """The learning rate: a number, or a schedule of the step."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float | schedules.Schedule) -> None:
        self.schedule = schedules.get(value)
        constant = isinstance(self.schedule, schedules.Constant) and not isinstance(
            value, schedules.Schedule | dict)
        self._learning_rate = float(value) if constant else self.schedule

    def learning_rate_at(self, step: int) -> float:
        """The learning rate used at global step ``step`` (0-based)."""
        return self.schedule(step)

    def init(self, theta: FloatArray) -> Any:
        """The state before the first step."""
        raise NotImplementedError

    def update(self, grad: FloatArray, state: Any, *,
               learning_rate: float) -> tuple[FloatArray, Any]:
        """Return (Δθ, new state) for the gradient ``grad``."""
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        """The rule's hyperparameters other than the learning rate."""
        return {}

    def get_config(self) -> dict[str, Any]:
        """Return the JSON-safe configuration."""
        eta = self.learning_rate
        eta_config = eta.get_config() if isinstance(eta, schedules.Schedule) else eta
        return {"name": self.name, "learning_rate": eta_config, **self.hyperparameters()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    r"""Stochastic gradient descent: :math:`\theta_{t+1} = \theta_t - \eta\nabla`, optionally with momentum.

    Parameters
    ----------
    learning_rate : float or Schedule, default 0.01
    momentum : float in [0, 1), default 0
    nesterov : bool, default False
    """  # noqa: E501

    name = "sgd"

    def __init__(self, learning_rate: float | schedules.Schedule = 0.01, momentum: float = 0.0,
                 nesterov: bool = False) -> None:
        super().__init__(learning_rate)
        self.momentum = check_fraction(
            "momentum", momentum,
            hint="Use 0.0 for plain gradient descent, e.g. 0.9 for momentum.")
        self.nesterov = bool(nesterov)

    def init(self, theta):
        return MomentumState(np.zeros_like(theta))

    def update(self, grad, state, *, learning_rate):
        if self.momentum == 0.0 and not self.nesterov:
            return sgd_update(grad, state, learning_rate=learning_rate)
        return momentum_update(grad, state, learning_rate=learning_rate,
                               momentum=self.momentum, nesterov=self.nesterov)

    def hyperparameters(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}


class _Moments(Optimizer):
    """What Adam and Nadam share: the decay rates β₁, β₂ of the two moments, and ε."""

    def __init__(self, learning_rate: float | schedules.Schedule, beta_1: float, beta_2: float,
                 epsilon: float) -> None:
        super().__init__(learning_rate)
        self.beta_1 = check_fraction("beta_1", beta_1, hint="The usual value is 0.9.")
        self.beta_2 = check_fraction("beta_2", beta_2, hint="The usual value is 0.999.")
        self.epsilon = check_positive_number("epsilon", epsilon, hint="e.g. 1e-8 or 1e-7.")

    def hyperparameters(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adam(_Moments):
    """Adam with bias correction (defaults as PyTorch: ε = 1e-8)."""

    name = "adam"

    def __init__(self, learning_rate: float | schedules.Schedule = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-8) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon)

    def init(self, theta):
        return AdamState(0, np.zeros_like(theta), np.zeros_like(theta))

    def update(self, grad, state, *, learning_rate):
        return adam_update(grad, state, learning_rate=learning_rate, beta_1=self.beta_1,
                           beta_2=self.beta_2, epsilon=self.epsilon)


class Nadam(_Moments):
    """Nadam: Adam with Nesterov momentum (Keras 3's rule and defaults: η = 0.001, ε = 1e-7).

    The update is :func:`nadam_update`. The study of Schelldorfer & Wüthrich (2019) trains
    its claim-frequency networks with Keras's Nadam.
    """

    name = "nadam"

    def __init__(self, learning_rate: float | schedules.Schedule = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon)

    def init(self, theta):
        return NadamState(0, 1.0, np.zeros_like(theta), np.zeros_like(theta))

    def update(self, grad, state, *, learning_rate):
        return nadam_update(grad, state, learning_rate=learning_rate, beta_1=self.beta_1,
                            beta_2=self.beta_2, epsilon=self.epsilon)


class RMSprop(Optimizer):
    """RMSprop (defaults as Keras: ρ = 0.9, ε = 1e-7)."""

    name = "rmsprop"

    def __init__(self, learning_rate: float | schedules.Schedule = 0.001, rho: float = 0.9,
                 epsilon: float = 1e-7) -> None:
        super().__init__(learning_rate)
        self.rho = check_fraction("rho", rho, hint="The usual value is 0.9.")
        self.epsilon = check_positive_number("epsilon", epsilon, hint="e.g. 1e-7.")

    def init(self, theta):
        return RMSpropState(np.zeros_like(theta))

    def update(self, grad, state, *, learning_rate):
        return rmsprop_update(grad, state, learning_rate=learning_rate, rho=self.rho,
                              epsilon=self.epsilon)

    def hyperparameters(self):
        return {"rho": self.rho, "epsilon": self.epsilon}


_REGISTRY: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "nadam": Nadam,
                                         "rmsprop": RMSprop}


def get(optimizer: str | Optimizer | dict[str, Any], *,
        learning_rate: float | schedules.Schedule | None = None) -> Optimizer:
    """An optimizer from a name, an instance, or a config: the one place names are read.

    A name gives the optimizer with its default hyperparameters, at ``learning_rate``
    when it is given (the model's ``compile``, the estimators and the command line all
    build their optimizers here). ``"momentum"`` is SGD with momentum 0.9. An instance is
    returned as it is; a config (:meth:`Optimizer.get_config`) is rebuilt exactly.

    Examples
    --------
    >>> get("momentum")
    SGD(learning_rate=0.01, momentum=0.9, nesterov=False)
    >>> get("adam", learning_rate=0.1)
    Adam(learning_rate=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-08)
    """
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, dict):
        config = dict(optimizer)
        name = check_choice("optimizer", config.pop("name"), _REGISTRY)
        eta = config.pop("learning_rate")
        return _REGISTRY[name](learning_rate=schedules.get(eta) if isinstance(eta, dict) else eta,
                               **config)
    check_choice("optimizer", optimizer, [*_REGISTRY, "momentum"])
    rate = {} if learning_rate is None else {"learning_rate": learning_rate}
    if optimizer == "momentum":
        return SGD(**rate, momentum=0.9)
    return _REGISTRY[optimizer](**rate)
