r"""Actuarial checks and metrics: balance, deviances per row and per exposure, Gini.

Conventions as in :mod:`gdlab.nn.losses`: ``y_true`` is what was observed on each row (a
claim count, a claim amount), ``y_pred`` is the model's rate :math:`\hat{y}` per unit of
exposure, and the expected value of the row is :math:`\mu_i = e_i \hat{y}_i` (without
exposure :math:`e_i = 1`). Sample weights :math:`w_i` multiply each row.

* **Balance property.** A model with an intercept and the canonical link (Poisson with
  the log link, squared error with the identity), fitted to the optimum, reproduces the
  total: :math:`\sum_i w_i \mu_i = \sum_i w_i y_i` (the intercept's score equation).
  A network that was stopped early (or that uses the Gamma/Tweedie deviance) does not;
  :func:`balance_ratio` measures it and :func:`correct_balance` restores it by shifting
  the output bias, in one call.
* **Deviance.** :func:`mean_deviance` is :math:`\sum_i w_i D_i / \sum_i w_i` per row, or
  :math:`\sum_i w_i D_i / \sum_i w_i e_i` per unit of exposure, with the unit deviances
  :math:`D_i` of :mod:`gdlab.nn.losses`; :func:`d2_score` is the fraction of the null
  model's deviance that the model explains.
* **Gini index.** Order the rows by predicted rate, from the best risks to the worst;
  the Lorenz curve plots the cumulative share of exposure against the cumulative share
  of observed claims, and :math:`G = 1 - 2\int_0^1 L(x)\,dx` (0 for a model that does
  not rank, larger for a model that separates good from bad risks).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdlab._checks import UserError
from gdlab._typing import FloatArray
from gdlab.nn import losses as losses_module

__all__ = [
    "balance_ratio",
    "correct_balance",
    "d2_score",
    "gini_index",
    "lorenz_curve",
    "mean_deviance",
]


def _vector(value: Any, name: str, n: int | None = None) -> FloatArray:
    array = np.asarray(value, dtype=float)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise UserError(f"{name} must be one value per row (shape (n,)); got shape "
                         f"{array.shape}.")
    if n is not None and array.shape[0] != n:
        raise UserError(f"{name} has {array.shape[0]} values but y_true has {n}; give one "
                         "value per row.")
    if not np.all(np.isfinite(array)):
        raise UserError(f"{name} contains NaN or inf; drop or impute those rows first.")
    return array


def _rows(y_true: Any, y_pred: Any, exposure: Any,
          sample_weight: Any) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """y, rate, exposure (ones if None) and weights (ones if None), validated."""
    y = _vector(y_true, "y_true")
    n = y.shape[0]
    rate = _vector(y_pred, "y_pred", n)
    e = np.ones(n) if exposure is None else _vector(exposure, "exposure", n)
    if (e <= 0).any():
        raise UserError(f"exposure must be > 0; {int((e <= 0).sum())} row(s) are not. Drop "
                         "rows with zero exposure.")
    w = np.ones(n) if sample_weight is None else _vector(sample_weight, "sample_weight", n)
    if (w < 0).any() or w.sum() <= 0:
        raise UserError("sample_weight must be >= 0 with a positive sum.")
    return y, rate, e, w


def balance_ratio(y_true: Any, y_pred: Any, *, exposure: Any = None,
                  sample_weight: Any = None) -> float:
    r"""Predicted over observed total, :math:`\sum_i w_i e_i \hat{y}_i / \sum_i w_i y_i`.

    1.0 means the balance property holds; 0.97 means the model predicts 3 % too little.

    Examples
    --------
    >>> balance_ratio([0.0, 2.0], [0.5, 0.5], exposure=[1.0, 3.0])
    1.0
    """
    y, rate, e, w = _rows(y_true, y_pred, exposure, sample_weight)
    observed = float(w @ y)
    if observed == 0.0:
        raise UserError("y_true sums to 0 (with the weights): the balance ratio is undefined.")
    return float(w @ (e * rate)) / observed


def mean_deviance(y_true: Any, y_pred: Any, *, loss: str = "poisson", power: float = 1.5,
                  exposure: Any = None, sample_weight: Any = None, per: str = "row") -> float:
    r"""Mean unit deviance, per row or per unit of exposure.

    .. math:: \bar{D}_{\text{row}} = \frac{\sum_i w_i D(y_i, \mu_i)}{\sum_i w_i}, \qquad
              \bar{D}_{\text{exposure}} = \frac{\sum_i w_i D(y_i, \mu_i)}{\sum_i w_i e_i}

    with :math:`\mu_i = e_i\hat{y}_i` and :math:`D` the unit deviance of ``loss``
    (``"poisson"``, ``"gamma"``, ``"tweedie"`` with ``power``, or ``"mse"``), computed by
    :mod:`gdlab.nn.losses`. The total deviance is ``mean_deviance(...) * n`` (per row,
    unweighted).

    Examples
    --------
    >>> mean_deviance([0.0, 2.0], [1.0, 2.0])
    1.0
    >>> round(mean_deviance([0.0, 2.0], [1.0, 1.0], exposure=[1.0, 2.0], per="exposure"), 6)
    0.666667
    """
    if per not in ("row", "exposure"):
        raise UserError(f"per must be 'row' or 'exposure'; got per={per!r}.")
    y, rate, e, w = _rows(y_true, y_pred, exposure, sample_weight)
    deviance = _loss(loss, power)
    Y = deviance.check_target(y, 1)
    per_row = deviance.value(Y, rate[:, None], exposure=e)
    return float(w @ per_row) / float(w.sum() if per == "row" else w @ e)


def _loss(loss: str, power: float) -> losses_module.Loss:
    if loss not in ("poisson", "gamma", "tweedie", "mse"):
        raise UserError(f"loss must be 'poisson', 'gamma', 'tweedie' or 'mse'; got "
                         f"loss={loss!r}.")
    return losses_module.get(loss, power=power) if loss == "tweedie" else losses_module.get(loss)


def d2_score(y_true: Any, y_pred: Any, *, loss: str = "poisson", power: float = 1.5,
             exposure: Any = None, sample_weight: Any = None) -> float:
    r"""Fraction of deviance explained, :math:`D^2 = 1 - D(\text{model}) / D(\text{null})`.

    The null model predicts the same rate for every row, the weighted overall rate
    :math:`\sum_i w_i y_i / \sum_i w_i e_i` (for the deviances with the log link this is the
    null model's optimum; for ``"mse"`` without exposure, :math:`D^2` is the :math:`R^2`).

    Examples
    --------
    >>> d2_score([0.0, 2.0], [0.0, 2.0])
    1.0
    >>> d2_score([0.0, 2.0], [1.0, 1.0])
    0.0
    """
    y, rate, e, w = _rows(y_true, y_pred, exposure, sample_weight)
    null_rate = np.full(y.shape, float(w @ y) / float(w @ e))
    kwargs = {"loss": loss, "power": power, "exposure": e, "sample_weight": w}
    null = mean_deviance(y, null_rate, **kwargs)
    model = mean_deviance(y, rate, **kwargs)
    return 1.0 - model / null if null > 0 else (1.0 if model == 0 else -np.inf)


def lorenz_curve(y_true: Any, y_pred: Any, *, exposure: Any = None,
                 sample_weight: Any = None) -> tuple[FloatArray, FloatArray]:
    r"""The ordered Lorenz curve: cumulative exposure share vs cumulative claims share.

    Rows are ordered by predicted rate :math:`\hat{y}`, smallest first (ties keep their
    order). Returns ``(x, L)``, both starting at 0 and ending at 1:
    :math:`x_k = \sum_{i \le k} w_i e_i / \sum_i w_i e_i`,
    :math:`L_k = \sum_{i \le k} w_i y_i / \sum_i w_i y_i`.
    """
    y, rate, e, w = _rows(y_true, y_pred, exposure, sample_weight)
    if (y < 0).any() or float(w @ y) <= 0:
        raise UserError("y_true must be >= 0 with a positive (weighted) sum for a Lorenz "
                         "curve (claim counts or amounts).")
    order = np.argsort(rate, kind="stable")
    x = np.concatenate([[0.0], np.cumsum((w * e)[order])])
    L = np.concatenate([[0.0], np.cumsum((w * y)[order])])
    return x / x[-1], L / L[-1]


def gini_index(y_true: Any, y_pred: Any, *, exposure: Any = None,
               sample_weight: Any = None) -> float:
    r"""Gini index of the ordered Lorenz curve, :math:`G = 1 - 2\int_0^1 L(x)\,dx`.

    The integral is the trapezoidal rule over the rows. A model that ranks the risks
    perfectly puts all claims on the last rows (:math:`G` near 1); a constant model
    gives :math:`G = 0` up to ties' order.

    Examples
    --------
    >>> round(gini_index([0.0, 0.0, 1.0, 1.0], [0.1, 0.2, 0.3, 0.4]), 6)
    0.5
    """
    x, L = lorenz_curve(y_true, y_pred, exposure=exposure, sample_weight=sample_weight)
    return float(1.0 - 2.0 * np.sum(np.diff(x) * (L[1:] + L[:-1]) / 2.0))


def correct_balance(model: Any, X: Any, y: Any, *, sample_weight: Any = None,
                    exposure: Any = None) -> float:
    r"""Shift the output bias of ``model`` so that :math:`\sum_i w_i\mu_i = \sum_i w_i y_i`.

    For a one-unit exponential (log-link) output, :math:`\mu_i` scales by
    :math:`e^{\delta}` when the bias :math:`b` becomes :math:`b + \delta`, so

    .. math:: \delta = \log\frac{\sum_i w_i y_i}{\sum_i w_i \mu_i}

    restores the balance exactly (every prediction is multiplied by :math:`e^\delta`;
    the ranking, hence the Gini index, is unchanged). For a linear output,
    :math:`\delta = \sum_i w_i (y_i - \mu_i) / \sum_i w_i e_i`. Use it after early
    stopping, or with a non-canonical deviance (Gamma, Tweedie).

    Parameters
    ----------
    model : gdlab.Sequential
        Built, with a last Dense layer of one unit, a bias, and an exponential or
        linear activation. Its θ is changed in place.
    X : array-like of shape (n, p)
    y : array-like of shape (n,)
    sample_weight, exposure : array-like of shape (n,), optional

    Returns
    -------
    float
        The shift :math:`\delta` added to the output bias.
    """
    last = model.layers[-1]
    kind = last.activation.name
    if kind not in ("exponential", "linear") or last.units != 1 or not last.use_bias:
        raise UserError(
            f"correct_balance needs a last layer with one unit, a bias and an 'exponential' "
            f"(log link) or 'linear' activation; got {last!r} (use_bias={last.use_bias}). "
            "For other outputs there is no one-parameter correction."
        )
    rate = model.predict(X)[:, 0]
    y, rate, e, w = _rows(y, rate, exposure, sample_weight)
    observed, predicted = float(w @ y), float(w @ (e * rate))
    if kind == "exponential":
        if observed <= 0 or predicted <= 0:
            raise UserError("correct_balance with a log link needs a positive observed and "
                             "predicted total.")
        delta = float(np.log(observed / predicted))
    else:
        delta = (observed - predicted) / float(w @ e)
    theta = model.theta.copy()
    bias = model.layer_slices()[-1].stop - 1  # the output layer's b ends its slice of θ
    theta[bias] = theta[bias] + delta  # (embedding tables, if any, come after it)
    model.set_theta(theta)  # the model changes its own θ
    return delta
