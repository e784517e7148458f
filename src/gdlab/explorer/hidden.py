r"""Page 1 of the explorer: a hidden one-dimensional function and gradient descent on it.

The function has a global minimum on the left and a local one on the right, so that a
learning rate too small gets stuck, one too large overshoots, and the starting point
matters:

.. math:: f(x) = \frac{x^4}{20} - \frac{x^2}{2} + \frac{x}{4} + 2, \qquad
          f'(x) = \frac{x^3}{5} - x + \frac{1}{4}

Each descent step is gdlab's own update rule (:class:`gdlab.optim.optimizers.SGD`),
:math:`x_{t+1} = x_t - \eta f'(x_t)`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdlab._checks import check_positive_int, check_positive_number
from gdlab._typing import FloatArray
from gdlab.optim import optimizers

__all__ = ["DOMAIN", "curve", "derivative", "descend", "hidden", "info"]

#: The x range of the slider and of the plots.
DOMAIN = (-4.0, 4.0)
#: Largest number of descent steps one request may ask for.
MAX_STEPS = 1000


def hidden(x: FloatArray) -> FloatArray:
    r"""The hidden function :math:`f(x) = x^4/20 - x^2/2 + x/4 + 2`.

    Examples
    --------
    >>> hidden(np.array([0.0, 2.0])).tolist()
    [2.0, 1.3]
    """
    x = np.asarray(x, dtype=float)
    return x**4 / 20.0 - x**2 / 2.0 + x / 4.0 + 2.0


def derivative(x: FloatArray) -> FloatArray:
    r"""Its derivative :math:`f'(x) = x^3/5 - x + 1/4`.

    Examples
    --------
    >>> derivative(np.array([0.0, 1.0])).tolist()
    [0.25, -0.55]
    """
    x = np.asarray(x, dtype=float)
    return x**3 / 5.0 - x + 0.25


def check_x(values: Any) -> FloatArray:
    """Validate x values: finite numbers (a list or one number)."""
    try:
        x = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"x must be numbers; got x={values!r}.") from None
    if x.ndim != 1 or not np.isfinite(x).all():
        raise ValueError(f"x must be a list of finite numbers; got x={values!r}.")
    return x


def points(values: Any) -> dict[str, list[float]]:
    """f and f′ at the given x values (what the page shows for the added points)."""
    x = check_x(values)
    return {"x": x.tolist(), "f": hidden(x).tolist(), "df": derivative(x).tolist()}


def curve(num: int = 401) -> dict[str, list[float]]:
    """The whole function on an even grid over :data:`DOMAIN` ("reveal function")."""
    return points(np.linspace(*DOMAIN, num))


def info() -> dict[str, Any]:
    """The domain and a y range that holds the whole curve (so revealing it moves nothing)."""
    y = hidden(np.linspace(*DOMAIN, 401))
    pad = 0.05 * (y.max() - y.min())
    return {"domain": list(DOMAIN), "y_range": [float(y.min() - pad), float(y.max() + pad)],
            "formula": "hidden until revealed"}


def descend(x0: float, learning_rate: float, steps: int = 1) -> list[dict[str, float]]:
    r"""Gradient descent from ``x0``: one record per step with x, f(x), f'(x), the update.

    Parameters
    ----------
    x0 : float
        Where to start.
    learning_rate : float
        :math:`\eta > 0`.
    steps : int
        How many steps.

    Returns
    -------
    list of dict
        ``step, x, f, df, update, x_next`` with ``update`` :math:`= -\eta f'(x)`.

    Examples
    --------
    >>> [round(r["x_next"], 6) for r in descend(0.0, 0.1, steps=2)]
    [-0.025, -0.0525]
    """
    x = float(check_x(x0)[0])
    eta = check_positive_number("learning_rate", learning_rate, hint="e.g. 0.1.")
    steps = check_positive_int("steps", steps, hint="e.g. 1 or 10.")
    if steps > MAX_STEPS:
        raise ValueError(f"steps must be at most {MAX_STEPS}; got steps={steps}.")
    rule = optimizers.SGD(learning_rate=eta)
    theta = np.array([x])
    state = rule.init(theta)
    records = []
    with np.errstate(all="ignore"):
        for step in range(steps):
            grad = derivative(theta)
            delta, state = rule.update(grad, state, learning_rate=eta)
            records.append({"step": step, "x": float(theta[0]), "f": float(hidden(theta)[0]),
                            "df": float(grad[0]), "update": float(delta[0]),
                            "x_next": float(theta[0] + delta[0])})
            theta = theta + delta
            if not np.isfinite(theta).all():
                break
    return records
