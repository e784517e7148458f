r"""The largest stable learning rate: :math:`\eta < 2 / \lambda_{\max}` of the loss's Hessian.

"Too large a learning rate overshoots" is exact for a quadratic loss. Near θ the loss is
:math:`L(\theta + d) \approx L(\theta) + \nabla L^\top d + \tfrac12 d^\top H d` with
:math:`H` the Hessian of the mean loss. Along an eigenvector :math:`v` of :math:`H` with
eigenvalue :math:`\lambda > 0`, gradient descent multiplies the distance to the minimum
by :math:`1 - \eta \lambda` at every step, so it shrinks if and only if
:math:`|1 - \eta\lambda| < 1`, that is :math:`\eta < 2/\lambda`. All directions shrink iff

.. math:: \eta < \eta_{\max} = \frac{2}{\lambda_{\max}(H)} .

At :math:`\eta = 1/\lambda_{\max}` the sharpest direction is solved in one step; between
:math:`1/\lambda_{\max}` and :math:`2/\lambda_{\max}` it oscillates but converges; above
:math:`2/\lambda_{\max}` it oscillates with a growing amplitude: divergence.

- **The MSE of a linear model** (one ``Dense`` layer, linear activation) is quadratic in
  θ, so the bound is exact and the same everywhere: with :math:`\tilde X = [X, 1]` (the
  bias column), weights :math:`w_i` and exposures :math:`e_i`,
  :math:`H = \frac{2}{k \sum_i w_i} \tilde X^\top \operatorname{diag}(w_i e_i^2) \tilde X`
  in each of the k output blocks (:math:`\frac{2}{n}\tilde X^\top \tilde X` for the
  lecture's model), and :math:`\lambda_{\max}` is its largest eigenvalue.
- **Any other model or loss**: the bound holds for the quadratic approximation at θ
  only; curvature changes as θ moves (it usually falls as training proceeds), so it is a
  guide, not a guarantee. :math:`\lambda_{\max}` is found by power iteration on
  Hessian-vector products :math:`Hv \approx (\nabla L(\theta + \epsilon v) - \nabla
  L(\theta - \epsilon v)) / 2\epsilon` (central differences of exact gradients), shifted
  when the dominant eigenvalue is negative (a non-convex loss).

The bound is for full-batch gradient descent with plain SGD; mini-batches add noise
(the batch Hessians vary around :math:`H`), and momentum or Adam change the rule.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gdlab._checks import check_positive_int
from gdlab._typing import FloatArray

__all__ = ["hessian_max_eigenvalue", "stability_note", "stable_learning_rate"]


def _is_linear_mse(model: Any) -> bool:
    layers = model.layers
    return (len(layers) == 1 and layers[0].activation.name == "linear"
            and getattr(model.loss, "name", "") == "mse")


def _linear_mse_eigenvalue(model: Any, X: FloatArray, sample_weight: Any,
                           exposure: Any) -> float:
    X = np.asarray(X, dtype=float)
    n = X.shape[0]
    X1 = np.column_stack([X, np.ones(n)]) if model.layers[0].use_bias else X
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    e = np.ones(n) if exposure is None else np.asarray(exposure, dtype=float)
    k = model.layers[0].units
    H = 2.0 / (k * w.sum()) * (X1.T * (w * e * e)) @ X1
    return float(np.linalg.eigvalsh(H)[-1])


def _power_iteration(hvp: Any, size: int, *, shift: float, iterations: int, tol: float,
                     rng: np.random.Generator) -> float:
    """The dominant eigenvalue of H − shift·I by power iteration (Rayleigh quotients)."""
    v = rng.standard_normal(size)
    v /= np.linalg.norm(v)
    value = 0.0
    for _ in range(iterations):
        Hv = hvp(v) - shift * v
        new = float(v @ Hv)
        norm = np.linalg.norm(Hv)
        if norm == 0.0 or not math.isfinite(norm):
            return new
        v = Hv / norm
        if abs(new - value) <= tol * max(abs(new), 1e-12):
            return new
        value = new
    return value


def hessian_max_eigenvalue(model: Any, X: Any, y: Any, *, sample_weight: Any = None,
                           exposure: Any = None, iterations: int = 100, tol: float = 1e-6,
                           seed: int = 0) -> float:
    r""":math:`\lambda_{\max}` of the Hessian of the (weighted) mean loss at the model's θ.

    Exact (an eigen-decomposition) for the MSE of a linear model; otherwise power
    iteration on Hessian-vector products (see the module docstring). θ is left unchanged.
    """
    if model.loss is None:
        raise ValueError("The model is not compiled: call model.compile(loss=...) first; "
                         "the Hessian is that of the loss.")
    iterations = check_positive_int("iterations", iterations, hint="e.g. 100.")
    if _is_linear_mse(model):
        model.gradient(X, y, sample_weight=sample_weight, exposure=exposure)  # checks
        return _linear_mse_eigenvalue(model, X, sample_weight, exposure)
    theta = model.theta.copy()
    step = 1e-5 * max(1.0, float(np.linalg.norm(theta)))

    def hvp(v: FloatArray) -> FloatArray:
        try:
            model.set_theta(theta + step * v)
            plus = model.gradient(X, y, sample_weight=sample_weight, exposure=exposure)
            model.set_theta(theta - step * v)
            minus = model.gradient(X, y, sample_weight=sample_weight, exposure=exposure)
        finally:
            model.set_theta(theta)
        return (plus - minus) / (2.0 * step)

    rng = np.random.default_rng(seed)
    dominant = _power_iteration(hvp, theta.size, shift=0.0, iterations=iterations, tol=tol,
                                rng=rng)
    if dominant >= 0.0:
        return dominant
    # the largest |λ| is negative: shift it to 0 so that the largest λ dominates
    return dominant + _power_iteration(hvp, theta.size, shift=dominant,
                                       iterations=iterations, tol=tol, rng=rng)


def stable_learning_rate(model: Any, X: Any, y: Any, *, sample_weight: Any = None,
                         exposure: Any = None, iterations: int = 100, tol: float = 1e-6,
                         seed: int = 0) -> float:
    r"""The largest stable learning rate of full-batch gradient descent at θ,
    :math:`2/\lambda_{\max}` of the Hessian of the mean loss.

    Exact for the MSE of a linear model (gradient descent converges for every
    :math:`\eta` below it and diverges above); for other models the same bound for the
    loss's quadratic approximation at the current θ (a local guide). ``inf`` if the loss
    has no positive curvature at θ.

    Parameters
    ----------
    model : Sequential
        A compiled model (its θ is where the Hessian is taken; it is left unchanged).
    X, y : array-like
        The training data (all of it: the bound is for full-batch gradient descent).
    sample_weight, exposure : array-like, optional
        As in :meth:`~gdlab.train.model.Sequential.fit`.
    iterations, tol, seed : int, float, int
        Power iteration's budget, relative tolerance and starting vector (not used for a
        linear model's MSE).

    Examples
    --------
    The lecture's three rows: :math:`H = \frac{2}{3}\tilde X^\top \tilde X`.

    >>> import gdlab as gd
    >>> model = gd.Sequential([gd.Dense(1)], input_dim=1)
    >>> model.compile(loss="mse", optimizer="sgd")
    >>> X, y = np.array([[1.0], [2.0], [3.0]]), np.array([0.99, 3.0, 5.01])
    >>> round(stable_learning_rate(model, X, y), 4)
    0.1803
    """
    value = hessian_max_eigenvalue(model, X, y, sample_weight=sample_weight,
                                   exposure=exposure, iterations=iterations, tol=tol,
                                   seed=seed)
    return 2.0 / value if value > 0 else math.inf


def stability_note(model: Any, X: Any, y: Any, *, exposure: Any = None,
                   rates: Any = (), max_rows: int = 100_000) -> str:
    """One line for a learning-rate sweep: the bound at θ, what it means, the rates above it.

    Beyond ``max_rows`` rows, power iteration runs on a seeded random sample of that many
    rows (the mean loss's Hessian of a large sample is that of the data to a few per cent);
    a linear model's exact bound always uses every row.

    Examples
    --------
    >>> import gdlab as gd
    >>> model = gd.Sequential([gd.Dense(1)], input_dim=1)
    >>> model.compile(loss="mse", optimizer="sgd")
    >>> X, y = np.array([[1.0], [2.0], [3.0]]), np.array([0.99, 3.0, 5.01])
    >>> note = stability_note(model, X, y, rates=[0.01, 0.1, 0.5])
    >>> note[:53], note.split("; ")[-1]
    ('Largest stable learning rate 2/λ_max = 0.1803 (exact:', 'above it: 0.5.')
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.shape[0] > max_rows and not _is_linear_mse(model):
        rows = np.sort(np.random.default_rng(0).choice(X.shape[0], max_rows, replace=False))
        X, y = X[rows], y[rows]
        exposure = None if exposure is None else np.asarray(exposure)[rows]
    bound = stable_learning_rate(model, X, y, exposure=exposure, iterations=50, tol=1e-4)
    meaning = ("exact: the MSE of a linear model is quadratic, so full-batch gradient "
               "descent converges below it and diverges above" if _is_linear_mse(model) else
               "at θ₀, for the loss's quadratic approximation there: a guide, as the "
               "curvature changes while θ moves")
    above = [f"{r:g}" for r in rates if r > bound]
    return (f"Largest stable learning rate 2/λ_max = {bound:.4g} ({meaning}); above it: "
            f"{', '.join(above) if above else 'none of the rates'}.")
