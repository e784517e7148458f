r"""What a batch brings to the loss besides X: the targets, and the weights of the rows.

Targets: each rule takes ``y`` as given by the user and the number of output units, and
returns it as a float array of shape ``(n, units)`` in the loss's form, or raises a
``UserError`` (a ``ValueError``) that names the problem and the fix. :data:`RULES` says
which loss wants which rule; ``Loss.check_target`` of :mod:`gdlab.nn.losses` calls :func:`check`.

Weights: the loss of a batch is the mean of the per-row losses, or with sample weights
:math:`w_i` the weighted mean :math:`\sum_i s_i L_i` with shares :math:`s_i = w_i/\sum_j w_j`;
the same shares scale each row's gradient (:func:`batch_shares`, :func:`batch_mean`).
"""

from __future__ import annotations

import numpy as np

from gdlab._checks import UserError
from gdlab._typing import FloatArray

__all__ = ["RULES", "batch_mean", "batch_shares", "binary", "check", "columns", "non_negative",
           "one_hot", "positive", "sparse_labels"]


def columns(y: FloatArray, units: int, loss: str) -> FloatArray:
    """``y`` as float of shape ``(n, units)``; a vector is one column.

    Examples
    --------
    >>> columns([1, 2], 1, "mse").tolist()
    [[1.0], [2.0]]
    """
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if y.shape[1] != units:
        raise UserError(
            f"y has {y.shape[1]} column(s) but the output layer has {units} unit(s) "
            f"(loss={loss!r}). Give the last Dense layer {y.shape[1]} unit(s), or pass "
            f"a target with {units} column(s)."
        )
    return y


def binary(y: FloatArray, units: int, loss: str = "binary_crossentropy") -> FloatArray:
    """Labels 0 or 1, one column per sigmoid unit."""
    y = columns(y, units, loss)
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        values = np.unique(y[bad])[:5].tolist()
        raise UserError(
            f"{loss} needs labels 0 or 1; y has {values}. Encode the "
            "classes as 0/1, or use sparse_categorical_crossentropy with a softmax "
            "output for more than two classes."
        )
    return y


def one_hot(y: FloatArray, units: int, loss: str = "categorical_crossentropy") -> FloatArray:
    """One-hot (or probability) rows: entries in [0, 1] that sum to 1, at least 2 columns."""
    y = columns(y, units, loss)
    if units < 2:
        raise UserError(
            f"{loss} needs one column per class (at least 2); use "
            "binary_crossentropy with one sigmoid unit for two classes."
        )
    bad = ~np.isclose(y.sum(axis=1), 1.0) | (y < 0).any(axis=1) | (y > 1).any(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise UserError(
            f"{loss} needs one-hot (or probability) rows of y in "
            f"[0, 1] that sum to 1; {rows.size} row(s) do not, e.g. row {rows[0]} = "
            f"{y[rows[0]].tolist()}. One-hot encode the classes, or pass integer "
            "labels with loss='sparse_categorical_crossentropy'."
        )
    return y


def sparse_labels(y: FloatArray, units: int,
                  loss: str = "sparse_categorical_crossentropy") -> FloatArray:
    """Integer labels ``0..units-1``, one per row, returned one-hot encoded ``(n, units)``.

    Examples
    --------
    >>> sparse_labels([2, 0], 3).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UserError(
            f"{loss} needs one integer label per row (shape "
            f"(n,)); got shape {y.shape}. For one-hot targets use "
            "loss='categorical_crossentropy'."
        )
    labels = y.astype(float)
    bad = (labels != np.round(labels)) | (labels < 0) | (labels >= units)
    if bad.any():
        raise UserError(
            f"{loss} needs integer labels in 0..{units - 1} "
            f"(one per output unit); y has {np.unique(labels[bad])[:5].tolist()}. "
            "Encode classes as 0..k-1 and give the last layer k units."
        )
    return np.eye(units)[labels.astype(int)]


def _with_rule(y: FloatArray, units: int, loss: str, rule: str, bad_of) -> FloatArray:
    y = columns(y, units, loss)
    bad = bad_of(y)
    if bad.any():
        raise UserError(
            f"{loss} needs targets with {rule}; {int(bad.sum())} "
            f"row(s) violate it (e.g. y = {float(y[bad][0])!r}). Check the target column "
            f"(counts or amounts), or use loss='mse'."
        )
    return y


def non_negative(y: FloatArray, units: int, loss: str) -> FloatArray:
    """Targets ``y >= 0`` (counts, amounts with zeros: Poisson, Tweedie)."""
    return _with_rule(y, units, loss, "y >= 0", lambda y: y < 0)


def positive(y: FloatArray, units: int, loss: str) -> FloatArray:
    """Targets ``y > 0`` (severities: Gamma)."""
    return _with_rule(y, units, loss, "y > 0", lambda y: y <= 0)


#: The target rule of each loss, by name (a loss not listed needs only the right columns).
RULES = {
    "binary_crossentropy": binary,
    "categorical_crossentropy": one_hot,
    "sparse_categorical_crossentropy": sparse_labels,
    "poisson": non_negative,
    "gamma": positive,
    "tweedie": non_negative,
}


def check(y: FloatArray, units: int, loss: str) -> FloatArray:
    """Validate ``y`` by the rule of the loss named ``loss``; return it in the loss's form.

    Examples
    --------
    >>> check([0, 1], 1, "binary_crossentropy").tolist()
    [[0.0], [1.0]]
    """
    return RULES.get(loss, columns)(y, units, loss)


def batch_shares(sample_weight: FloatArray) -> FloatArray:
    r"""Each row's share of a weighted batch: :math:`s_i = w_i / \sum_j w_j`.

    A batch whose rows all weigh 0 contributes nothing: its shares are all 0.

    Examples
    --------
    >>> batch_shares(np.array([1.0, 3.0])).tolist()
    [0.25, 0.75]
    """
    total = sample_weight.sum()
    return sample_weight / total if total > 0 else sample_weight


def batch_mean(per_row: FloatArray, sample_weight: FloatArray | None = None) -> float:
    r"""Loss of a batch: :math:`\frac{1}{n}\sum_i L_i`, or :math:`\sum_i s_i L_i` with weights.

    With weights the shares are :math:`s_i = w_i / \sum_j w_j` (:func:`batch_shares`), the
    same that scale each row's gradient in :meth:`gdlab.nn.network.Network.loss_and_gradient`.
    Rows of weight 0 contribute nothing; a batch of only such rows has loss 0.

    Examples
    --------
    >>> batch_mean(np.array([1.0, 3.0]), np.array([1.0, 3.0]))
    2.5
    """
    if sample_weight is None:
        return float(per_row.sum()) / per_row.shape[0]
    return float(batch_shares(sample_weight) @ per_row)
