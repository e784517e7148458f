r"""Finite-difference check of a model's gradient: the second witness of every derivative.

For each entry :math:`\theta_j` the central difference

.. math:: \frac{\partial \text{Loss}}{\partial \theta_j} \approx
          \frac{\text{Loss}(\theta + h e_j) - \text{Loss}(\theta - h e_j)}{2h}

is compared with the analytic (back-propagated) gradient, entry by entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["GradcheckResult", "gradcheck"]


@dataclass(frozen=True)
class GradcheckResult:
    """The comparison, entry by entry, with the worst entries named."""

    analytic: NDArray[np.floating]
    numeric: NDArray[np.floating]
    relative_error: NDArray[np.floating]
    param_names: list[str]
    tolerance: float

    @property
    def max_relative_error(self) -> float:
        """The largest relative error over all parameters."""
        return float(self.relative_error.max())

    @property
    def passed(self) -> bool:
        """Whether every entry is within the tolerance."""
        return self.max_relative_error <= self.tolerance

    def worst(self, k: int = 5) -> pd.DataFrame:
        """The k parameters with the largest relative errors."""
        order = np.argsort(self.relative_error)[::-1][:k]
        return pd.DataFrame({
            "param": [self.param_names[i] for i in order],
            "index": order,
            "analytic": self.analytic[order],
            "numeric": self.numeric[order],
            "relative_error": self.relative_error[order],
        })

    @property
    def failures(self) -> list[str]:
        """Names of the parameters whose relative error exceeds the tolerance, worst first."""
        order = np.argsort(self.relative_error, kind="stable")[::-1]
        return [self.param_names[i] for i in order if self.relative_error[i] > self.tolerance]

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        top = self.worst(1).iloc[0]
        failing = self.failures
        named = ", ".join(failing[:3]) + (", …" if len(failing) > 3 else "")
        suffix = f"; {len(failing)} failing: {named}" if failing else ""
        return (f"GradcheckResult(passed={self.passed}, max_relative_error="
                f"{self.max_relative_error:.3g} at {top['param']} (index {top['index']})"
                f"{suffix})")


def gradcheck(model: Any, X: Any, y: Any, *, sample_weight: Any = None, exposure: Any = None,
              h: float | None = None, tolerance: float | None = None) -> GradcheckResult:
    r"""Compare ``model.gradient`` with central differences of ``model.evaluate``.

    The relative error of entry j is

    .. math:: \frac{|a_j - n_j|}{\max(|a_j| + |n_j|,\; 10^{-3} \max_k |a_k|,\; 10^{-8})},

    so entries far smaller than the largest one are judged against the gradient's scale
    rather than against their own rounding noise. ``h`` and ``tolerance`` default to
    1e-6 for float64 models and 1e-3 / 1e-2 for float32 ones. θ is restored afterwards.
    The model must be compiled (the loss is the compiled one).

    Examples
    --------
    >>> import gdlab as gd
    >>> model = gd.Sequential([gd.Dense(3, activation="tanh"), gd.Dense(1)], input_dim=2, seed=0)
    >>> model.compile(loss="mse")
    >>> X = np.random.default_rng(0).normal(size=(5, 2)); y = X.sum(axis=1)
    >>> gd.gradcheck(model, X, y).passed
    True
    """
    single = np.dtype(getattr(model, "dtype", np.float64)) == np.float32
    h = (1e-3 if single else 1e-6) if h is None else h
    tolerance = (1e-2 if single else 1e-6) if tolerance is None else tolerance
    analytic = model.gradient(X, y, sample_weight=sample_weight, exposure=exposure)
    theta = model.theta.copy()
    metrics, model.metrics = model.metrics, []
    numeric = np.empty_like(theta)
    try:
        for j in range(theta.size):
            shifted = theta.copy()
            shifted[j] = theta[j] + h
            model.theta = shifted
            up = model.evaluate(X, y, sample_weight=sample_weight, exposure=exposure)
            shifted[j] = theta[j] - h
            model.theta = shifted
            down = model.evaluate(X, y, sample_weight=sample_weight, exposure=exposure)
            numeric[j] = (up - down) / (2 * h)
    finally:
        model.theta = theta
        model.metrics = metrics
    floor = max(1e-3 * float(np.abs(analytic).max(initial=0.0)), 1e-8)
    scale = np.maximum(np.abs(analytic) + np.abs(numeric), floor)
    return GradcheckResult(analytic, numeric, np.abs(analytic - numeric) / scale,
                           model.param_names, tolerance)
