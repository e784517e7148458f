r"""Losses: the per-row value :math:`L_i` and its derivative, side by side.

Every loss gives, per row :math:`i` (arrays of shape ``(n, k)`` in, ``(n,)`` or
``(n, k)`` out):

* ``value(y_true, y_pred)``: :math:`L_i`;
* ``gradient(y_true, y_pred)``: :math:`\partial L_i / \partial \hat{y}_i`;
* ``value_from_logits(y_true, Z)`` and ``gradient_wrt_logits(y_true, Z)``: the same
  computed from the output layer's pre-activation ``Z`` when the output activation is
  the loss's link in :data:`FUSED_LINK`. This path is exact and stable for any finite
  ``Z`` (no clipping), and its gradient is the simple fused form
  (linear + MSE: :math:`2(\hat{y} - y)`; sigmoid + BCE: :math:`\hat{y} - y`;
  softmax + CE: :math:`\hat{Y} - Y`; exponential + Poisson: :math:`2(\mu - y)`).

The loss of a batch is the (weighted) mean of the per-row losses (:func:`batch_mean`).
With ``exposure`` :math:`e_i` the prediction is a rate and :math:`\mu_i = e_i \hat{y}_i`
(Poisson, Gamma, Tweedie, MSE); the deviances are the actuaries' unit deviances.

Keras's ``poisson`` loss is :math:`\hat{y} - y \log \hat{y}` per row (Keras adds
:math:`10^{-7}` inside the log), which is half the Poisson deviance below minus
:math:`y \log y - y`, a constant in the parameters: both have the same minimiser, and
gdlab's gradients are twice Keras's.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from scipy.special import xlogy

from gdlab._checks import UserError, UserTypeError, check_choice
from gdlab._typing import FloatArray
from gdlab.nn import targets
from gdlab.nn.activations import sigmoid
from gdlab.nn.targets import batch_mean, batch_shares

__all__ = [
    "FUSED_LINK",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Gamma",
    "Loss",
    "MeanSquaredError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "Tweedie",
    "batch_mean",
    "batch_shares",
    "get",
    "names",
]

#: The output activation with which each loss is computed from the logits ``Z``
#: (canonical links, and the log link for Gamma and Tweedie).
FUSED_LINK = {
    "mse": "linear",
    "binary_crossentropy": "sigmoid",
    "categorical_crossentropy": "softmax",
    "sparse_categorical_crossentropy": "softmax",
    "poisson": "exponential",
    "gamma": "exponential",
    "tweedie": "exponential",
}

#: Probabilities are clipped to [EPS, 1 - EPS] on the probability-input path only.
EPS = 1e-15


def _row_mean(M: FloatArray) -> FloatArray:
    """The mean of each row of M (n, k): a view of the one column when k = 1 (no reduction)."""
    return M[:, 0] if M.shape[1] == 1 else M.sum(axis=1) / M.shape[1]


def _log_mu(Z: FloatArray, exposure: FloatArray | None) -> FloatArray:
    """log mu = z + log e for the log link with exposure."""
    return Z if exposure is None else Z + np.log(exposure)[:, None]


def _exposure(exposure: FloatArray | None) -> FloatArray | float:
    return 1.0 if exposure is None else exposure[:, None]


class Loss:
    """Base class. Subclasses define the per-row value and the derivative."""

    name = ""
    accepts_exposure = False

    def value(self, y_true: FloatArray, y_pred: FloatArray, *,
              exposure: FloatArray | None = None) -> FloatArray:
        """Per-row loss, shape (n,)."""
        raise NotImplementedError

    def gradient(self, y_true: FloatArray, y_pred: FloatArray, *,
                 exposure: FloatArray | None = None) -> FloatArray:
        """Per-row derivative dL_i/dy_hat, shape (n, k)."""
        raise NotImplementedError

    def value_from_logits(self, y_true: FloatArray, Z: FloatArray, *,
                          exposure: FloatArray | None = None) -> FloatArray:
        """Per-row loss computed from the logits of the fused link, shape (n,)."""
        raise NotImplementedError

    def gradient_wrt_logits(self, y_true: FloatArray, Z: FloatArray, *,
                            exposure: FloatArray | None = None,
                            A: FloatArray | None = None) -> FloatArray:
        """Per-row derivative dL_i/dz through the fused link, shape (n, k).

        ``A``, if given, must be the link's value φ(Z) already computed by the forward
        pass; sigmoid and softmax reuse it instead of computing it again (same numbers).
        """
        raise NotImplementedError

    def check_target(self, y: FloatArray, units: int) -> FloatArray:
        """Validate the target for this loss; return it as float of shape (n, units).

        The rule of each loss is in :data:`gdlab.nn.targets.RULES` (by name).
        """
        return targets.check(y, units, self.name)

    def get_config(self) -> dict[str, Any]:
        """Return the JSON-safe configuration."""
        return {"name": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class MeanSquaredError(Loss):
    r"""Squared error, as in the lecture.

    .. math:: L_i = \frac{1}{k}\sum_j (\hat{y}_{ij} - y_{ij})^2, \qquad
              \frac{\partial L_i}{\partial \hat{y}_{ij}} = \frac{2}{k}(\hat{y}_{ij} - y_{ij})

    With one output (:math:`k = 1`) this is the lecture's :math:`(\hat{y} - y)^2` and
    :math:`2(\hat{y} - y)`. With exposure, :math:`\mu = e\hat{y}` replaces :math:`\hat{y}`.

    Examples
    --------
    >>> mse = MeanSquaredError()
    >>> mse.value(np.array([[5.0]]), np.array([[0.0]])).tolist()
    [25.0]
    >>> mse.gradient(np.array([[5.0]]), np.array([[0.0]])).tolist()
    [[-10.0]]
    """

    name = "mse"
    accepts_exposure = True

    def value(self, y_true, y_pred, *, exposure=None):
        R = _exposure(exposure) * y_pred - y_true
        return _row_mean(R * R)

    def gradient(self, y_true, y_pred, *, exposure=None):
        e = _exposure(exposure)
        return e * 2.0 * (e * y_pred - y_true) / y_true.shape[1]

    value_from_logits = value

    def gradient_wrt_logits(self, y_true, Z, *, exposure=None, A=None):
        return self.gradient(y_true, Z, exposure=exposure)


class BinaryCrossentropy(Loss):
    r"""Binary cross-entropy of sigmoid outputs (logistic regression).

    .. math:: L_i = -[y_i \log \hat{y}_i + (1 - y_i)\log(1 - \hat{y}_i)], \qquad
              \frac{\partial L_i}{\partial \hat{y}_i}
              = \frac{\hat{y}_i - y_i}{\hat{y}_i(1 - \hat{y}_i)}

    From the logit :math:`z` (:math:`\hat{y} = \sigma(z)`), exact for any :math:`z`:

    .. math:: L_i = \log(1 + e^{z_i}) - y_i z_i, \qquad
              \frac{\partial L_i}{\partial z_i} = \sigma(z_i) - y_i

    The probability path clips :math:`\hat{y}` to :math:`[10^{-15}, 1 - 10^{-15}]`;
    the logit path does not clip. With several sigmoid outputs the loss is their mean.

    Examples
    --------
    >>> BinaryCrossentropy().value_from_logits(np.array([[1.0]]), np.array([[-1000.0]])).tolist()
    [1000.0]
    """  # noqa: E501

    name = "binary_crossentropy"

    def value(self, y_true, y_pred, *, exposure=None):
        P = np.clip(y_pred, EPS, 1.0 - EPS)
        return -np.mean(y_true * np.log(P) + (1.0 - y_true) * np.log1p(-P), axis=1)

    def gradient(self, y_true, y_pred, *, exposure=None):
        P = np.clip(y_pred, EPS, 1.0 - EPS)
        return (P - y_true) / (P * (1.0 - P)) / y_true.shape[1]

    def value_from_logits(self, y_true, Z, *, exposure=None):
        # softplus(z) - y z: log(1 + e^z) computed as logaddexp(0, z), exact for any z
        return _row_mean(np.logaddexp(0.0, Z) - y_true * Z)

    def gradient_wrt_logits(self, y_true, Z, *, exposure=None, A=None):
        return ((sigmoid(Z) if A is None else A) - y_true) / y_true.shape[1]


class CategoricalCrossentropy(Loss):
    r"""Categorical cross-entropy of softmax outputs, one-hot targets.

    .. math:: L_i = -\sum_j y_{ij} \log \hat{y}_{ij}, \qquad
              \frac{\partial L_i}{\partial \hat{y}_{ij}} = -\frac{y_{ij}}{\hat{y}_{ij}}

    From the logits (:math:`\hat{\mathbf{y}} = \text{Softmax}(\mathbf{z})`), with the
    log-sum-exp trick, exact for any :math:`\mathbf{z}`:

    .. math:: L_i = \log\sum_j e^{z_{ij}} - \sum_j y_{ij} z_{ij}, \qquad
              \frac{\partial L_i}{\partial z_{ij}} = \hat{y}_{ij} - y_{ij}

    The probability path clips :math:`\hat{y}` below at :math:`10^{-15}`.
    """

    name = "categorical_crossentropy"

    def value(self, y_true, y_pred, *, exposure=None):
        return -np.sum(y_true * np.log(np.clip(y_pred, EPS, 1.0)), axis=1)

    def gradient(self, y_true, y_pred, *, exposure=None):
        return -y_true / np.clip(y_pred, EPS, 1.0)

    def value_from_logits(self, y_true, Z, *, exposure=None):
        m = Z.max(axis=1, keepdims=True)
        log_sum_exp = m[:, 0] + np.log(np.sum(np.exp(Z - m), axis=1))
        return log_sum_exp * y_true.sum(axis=1) - np.sum(y_true * Z, axis=1)

    def gradient_wrt_logits(self, y_true, Z, *, exposure=None, A=None):
        if A is None:
            E = np.exp(Z - Z.max(axis=1, keepdims=True))
            A = E / E.sum(axis=1, keepdims=True)
        return A * y_true.sum(axis=1, keepdims=True) - y_true


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    r"""Categorical cross-entropy with integer class labels :math:`c_i \in \{0,…,k-1\}`.

    .. math:: L_i = -\log \hat{y}_{i,c_i}, \qquad
              \frac{\partial L_i}{\partial z_{ij}} = \hat{y}_{ij} - \mathbb{1}[j = c_i]

    The labels are one-hot encoded once by :meth:`check_target`; the math is then that
    of :class:`CategoricalCrossentropy`.
    """

    name = "sparse_categorical_crossentropy"


class _LogLinkLoss(Loss):
    """Deviances of a positive mean mu = exposure * y_hat, fused with the log link."""

    accepts_exposure = True

    def _deviance(self, y, mu, log_mu):
        raise NotImplementedError

    def _ddev_dmu_times_mu(self, y, mu, log_mu):
        """mu * dD/dmu, which is dD/dz for the log link."""
        raise NotImplementedError

    def value(self, y_true, y_pred, *, exposure=None):
        mu = _exposure(exposure) * y_pred
        with np.errstate(divide="ignore"):
            log_mu = np.log(mu)
        return _row_mean(self._deviance(y_true, mu, log_mu))

    def gradient(self, y_true, y_pred, *, exposure=None):
        mu = _exposure(exposure) * y_pred
        with np.errstate(divide="ignore", invalid="ignore"):
            dz = self._ddev_dmu_times_mu(y_true, mu, np.log(mu))
            # dL/dy_hat = dL/dmu * e = (mu dL/dmu) / y_hat
            return dz / y_pred / y_true.shape[1]

    def value_from_logits(self, y_true, Z, *, exposure=None):
        log_mu = _log_mu(Z, exposure)
        with np.errstate(over="ignore"):
            mu = np.exp(log_mu)
        return _row_mean(self._deviance(y_true, mu, log_mu))

    def gradient_wrt_logits(self, y_true, Z, *, exposure=None, A=None):
        log_mu = _log_mu(Z, exposure)  # mu from log mu (not e * A): exact with exposure
        with np.errstate(over="ignore"):
            mu = np.exp(log_mu)
        return self._ddev_dmu_times_mu(y_true, mu, log_mu) / y_true.shape[1]


class Poisson(_LogLinkLoss):
    r"""Poisson unit deviance, for claim counts with exposure :math:`\mu = e\hat{y}`.

    .. math:: L_i = 2\left[y_i \log\frac{y_i}{\mu_i} - (y_i - \mu_i)\right], \qquad
              \frac{\partial L_i}{\partial \mu_i} = 2\left(1 - \frac{y_i}{\mu_i}\right)

    with :math:`y \log y = 0` at :math:`y = 0`. Through the exponential output
    (:math:`\mu = e^{z + \log e}`): :math:`\partial L_i / \partial z_i = 2(\mu_i - y_i)`.
    Keras's ``poisson`` is :math:`\hat{y} - y\log\hat{y}`: half this deviance less a
    constant.

    Examples
    --------
    >>> Poisson().value(np.array([[0.0], [2.0]]), np.array([[1.0], [2.0]])).tolist()
    [2.0, 0.0]
    """

    name = "poisson"

    def _deviance(self, y, mu, log_mu):
        with np.errstate(invalid="ignore"):
            y_log_mu = np.where(y > 0, y * log_mu, 0.0)  # y log mu = 0 at y = 0
        return 2.0 * (xlogy(y, y) - y_log_mu - y + mu)

    def _ddev_dmu_times_mu(self, y, mu, log_mu):
        return 2.0 * (mu - y)


class Gamma(_LogLinkLoss):
    r"""Gamma unit deviance, for claim severities (:math:`y > 0`), log link.

    .. math:: L_i = 2\left[\frac{y_i - \mu_i}{\mu_i} - \log\frac{y_i}{\mu_i}\right], \qquad
              \frac{\partial L_i}{\partial \mu_i} = \frac{2(\mu_i - y_i)}{\mu_i^2}

    Through the exponential output: :math:`\partial L_i/\partial z_i = 2(1 - y_i/\mu_i)`.
    """

    name = "gamma"

    def _deviance(self, y, mu, log_mu):
        ratio = y * np.exp(-log_mu)  # y / mu without dividing by an overflowed mu
        return 2.0 * (ratio - 1.0 - np.log(y) + log_mu)

    def _ddev_dmu_times_mu(self, y, mu, log_mu):
        return 2.0 * (1.0 - y * np.exp(-log_mu))


class Tweedie(_LogLinkLoss):
    r"""Tweedie unit deviance with power :math:`1 < p < 2` (compound Poisson-Gamma).

    .. math:: L_i = 2\left[\frac{y_i^{2-p}}{(1-p)(2-p)} - \frac{y_i\mu_i^{1-p}}{1-p}
              + \frac{\mu_i^{2-p}}{2-p}\right], \qquad
              \frac{\partial L_i}{\partial \mu_i} = 2\left[\mu_i^{1-p} - y_i\mu_i^{-p}\right]

    Through the exponential output:
    :math:`\partial L_i/\partial z_i = 2[\mu_i^{2-p} - y_i\mu_i^{1-p}]`.
    """

    name = "tweedie"

    def __init__(self, power: float = 1.5):
        message = (f"power must be in (1, 2) for the Tweedie deviance; got power={power!r}. "
                   "Use loss='poisson' for p = 1 and loss='gamma' for p = 2.")
        if isinstance(power, bool) or not isinstance(power, numbers.Real):
            raise UserTypeError(message)
        if not 1 < power < 2:
            raise UserError(message)
        self.power = float(power)

    def _deviance(self, y, mu, log_mu):
        p = self.power
        return 2.0 * (
            y ** (2 - p) / ((1 - p) * (2 - p))
            - y * np.exp((1 - p) * log_mu) / (1 - p)
            + np.exp((2 - p) * log_mu) / (2 - p)
        )

    def _ddev_dmu_times_mu(self, y, mu, log_mu):
        p = self.power
        return 2.0 * (np.exp((2 - p) * log_mu) - y * np.exp((1 - p) * log_mu))

    def get_config(self):
        return {"name": self.name, "power": self.power}


_REGISTRY: dict[str, type[Loss]] = {
    cls.name: cls
    for cls in (MeanSquaredError, BinaryCrossentropy, CategoricalCrossentropy,
                SparseCategoricalCrossentropy, Poisson, Gamma, Tweedie)
}
_ALIASES = {"mean_squared_error": "mse", "squared_error": "mse", "bce": "binary_crossentropy"}
_NOT_A_LOSS = {
    "accuracy": "accuracy is a step function of the parameters: its derivative is 0 "
    "almost everywhere, so gradient descent cannot learn from it (see the lecture). "
    "Use loss='binary_crossentropy' or 'sparse_categorical_crossentropy' and pass "
    "metrics=['accuracy'] to see accuracy.",
}


def names() -> list[str]:
    """Return the names of the available losses."""
    return sorted(_REGISTRY)


def get(loss: str | Loss, **kwargs: Any) -> Loss:
    """Return the loss for a name (or pass a :class:`Loss` through).

    Examples
    --------
    >>> get("tweedie", power=1.3)
    Tweedie(power=1.3)
    """
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in _NOT_A_LOSS:
        raise UserError(f"loss={loss!r} cannot be trained: {_NOT_A_LOSS[loss]}")
    name = _ALIASES.get(loss, loss) if isinstance(loss, str) else loss
    check_choice("loss", name, _REGISTRY)
    return _REGISTRY[name](**kwargs)
