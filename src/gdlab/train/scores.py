r"""What a model's outputs are measured against: the compiled metrics and the null model.

* The metrics that :meth:`Sequential.compile <gdlab.train.model.Sequential.compile>`
  accepts (``"accuracy"``, ``"mse"``, ``"mae"``), each a (weighted) mean over the rows
  of the expected value :math:`\mu = e\hat{y}` against the target, with the shares of
  :func:`gdlab.nn.losses.batch_mean`. The command line's accuracy is this one too.
* The *null model*: one constant output for every row, the best such constant for the
  output's link. :func:`null_bias` gives the output layer's bias that makes a network
  with zero weights exactly that model, so training starts at the null deviance (the
  estimators and the command line's presets start there).

The actuarial scores (deviance explained, Gini index, balance) are in
:mod:`gdlab.metrics`, one layer up.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdlab._checks import UserError
from gdlab._typing import FloatArray
from gdlab.nn.losses import batch_mean

__all__ = ["METRICS", "accuracy", "metric", "null_bias"]

#: the metric names :meth:`Sequential.compile` accepts
METRICS = ("accuracy", "mse", "mae")


def accuracy(Y: FloatArray, mu: FloatArray, sample_weight: FloatArray | None = None) -> float:
    r"""The (weighted) share of rows whose predicted class is the target's.

    One column: the class is :math:`\hat{y} \ge 0.5`; several (one-hot): the arg max.

    Examples
    --------
    >>> accuracy(np.array([[1.0], [0.0]]), np.array([[0.9], [0.7]]))
    0.5
    >>> accuracy(np.eye(3), np.array([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]]))
    0.6666666666666666
    """
    if Y.shape[1] == 1:
        hits = ((mu[:, 0] >= 0.5) == (Y[:, 0] >= 0.5)).astype(float)
    else:
        hits = (mu.argmax(axis=1) == Y.argmax(axis=1)).astype(float)
    return batch_mean(hits, sample_weight)


def metric(name: str, Y: FloatArray, mu: FloatArray, sample_weight: FloatArray | None) -> float:
    r"""One compiled metric: ``"accuracy"``, ``"mse"`` (mean :math:`(\mu - y)^2` over the
    columns) or ``"mae"`` (mean :math:`|\mu - y|`), weighted over the rows.

    Examples
    --------
    >>> metric("mae", np.array([[1.0], [3.0]]), np.array([[2.0], [2.0]]), None)
    1.0
    """
    if name == "accuracy":
        return accuracy(Y, mu, sample_weight)
    errors = mu - Y
    per_row = np.mean(errors * errors if name == "mse" else np.abs(errors), axis=1)
    return batch_mean(per_row, sample_weight)


def null_bias(activation: str, Y: FloatArray, *, sample_weight: Any = None,
              exposure: Any = None) -> FloatArray:
    r"""The output bias of the null model (zero weights) for the output's activation.

    With shares :math:`w_i` (ones without weights), exposures :math:`e_i` (ones without)
    and ``Y`` in the loss's form (one column, or one-hot columns for softmax):

    * ``"linear"``: least squares of :math:`y` on :math:`e\,b`,
      :math:`b = \sum_i w_i e_i y_i / \sum_i w_i e_i^2` (the mean of y without exposure);
    * ``"exponential"`` (log link): :math:`b = \log(\sum_i w_i y_i / \sum_i w_i e_i)`,
      the log of the overall rate (floored at :math:`10^{-12}`);
    * ``"sigmoid"``: the logit of the share of ones, :math:`\log\frac{p}{1-p}`;
    * ``"softmax"``: the log class shares, centred (softmax ignores a common shift).

    Shares are clipped to :math:`[10^{-6}, 1 - 10^{-6}]` so an absent class gives a
    finite bias.

    Examples
    --------
    >>> null_bias("exponential", np.array([[0.0], [3.0]]), exposure=np.array([1.0, 2.0]))
    array([0.])
    >>> null_bias("sigmoid", np.array([[1.0], [1.0], [0.0], [1.0]]))
    array([1.09861229])
    """
    n = Y.shape[0]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    e = np.ones(n) if exposure is None else np.asarray(exposure, dtype=float)
    if activation == "linear":
        return _dot_columns(w * e, Y) / ((w * e) @ e)
    if activation == "exponential":
        return np.log(np.maximum(_dot_columns(w, Y) / (w @ e), 1e-12))
    if activation in ("sigmoid", "softmax"):
        share = np.clip(np.average(Y, axis=0, weights=sample_weight), 1e-6, 1.0 - 1e-6)
        if activation == "sigmoid":
            return np.log(share / (1.0 - share))
        log_share = np.log(share)
        return log_share - log_share.mean()
    raise UserError(f"The null model is defined for a 'linear', 'exponential', 'sigmoid' or "
                     f"'softmax' output; got activation={activation!r}. Set the bias yourself.")


def _dot_columns(v: FloatArray, Y: FloatArray) -> FloatArray:
    """:math:`v^\top Y` one column at a time (each a dot product of two vectors)."""
    return np.array([v @ Y[:, j] for j in range(Y.shape[1])])
