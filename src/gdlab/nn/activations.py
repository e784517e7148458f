r"""Activation functions: the value :math:`\phi(z)` and its derivative, side by side.

Each activation is a small class with ``forward(Z)`` (the value, applied element-wise or
row-wise) and ``backward(Z, A, dA)`` (the chain rule through it: given
:math:`\partial L / \partial A` return :math:`\partial L / \partial Z`). Element-wise
activations also expose ``derivative(Z)`` = :math:`\phi'(Z)`. All are numerically
stable: no overflow in ``exp`` for any finite input.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from gdlab._checks import check_choice
from gdlab._typing import FloatArray

__all__ = [
    "Activation",
    "Exponential",
    "Linear",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "get",
    "names",
]


class Activation:
    """Base class: an element-wise activation with value and derivative."""

    name = ""

    def forward(self, Z: FloatArray) -> FloatArray:
        """Return :math:`A = \\phi(Z)`, a new array of the shape of ``Z``."""
        raise NotImplementedError

    def derivative(self, Z: FloatArray) -> FloatArray:
        """Return :math:`\\phi'(Z)` element-wise."""
        raise NotImplementedError

    def backward(self, Z: FloatArray, A: FloatArray, dA: FloatArray) -> FloatArray:
        """Chain rule through an element-wise activation: dZ = dA * phi'(Z)."""
        return dA * self.derivative(Z)

    def get_config(self) -> dict[str, str]:
        """Return the JSON-safe configuration (the name)."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Linear(Activation):
    r"""Identity: the output of a linear model.

    .. math:: \phi(z) = z, \qquad \phi'(z) = 1

    Examples
    --------
    >>> Linear().forward(np.array([-2.0, 3.0])).tolist()
    [-2.0, 3.0]
    """

    name = "linear"

    def forward(self, Z: FloatArray) -> FloatArray:
        return np.asarray(Z, dtype=float)  # Z is the layer's own new array

    def derivative(self, Z: FloatArray) -> FloatArray:
        return np.ones_like(Z, dtype=float)

    def backward(self, Z: FloatArray, A: FloatArray, dA: FloatArray) -> FloatArray:
        return dA


def sigmoid(Z: FloatArray) -> FloatArray:
    r"""Logistic function, computed without overflow for any finite ``Z``.

    .. math:: \sigma(z) = \frac{1}{1 + e^{-z}}

    Computed by :func:`scipy.special.expit`, which uses the equal form
    :math:`e^{z} / (1 + e^{z})` for :math:`z < 0`, so ``exp`` never overflows (and it is
    one compiled pass over ``Z``).

    Examples
    --------
    >>> sigmoid(np.array([-5.0, 0.0, 1.0, 7.0])).round(5).tolist()
    [0.00669, 0.5, 0.73106, 0.99909]
    """
    return expit(np.asarray(Z, dtype=float))


class Sigmoid(Activation):
    r"""Sigmoid (inverse logit): the output neuron of logistic regression.

    .. math:: \sigma(z) = \frac{1}{1 + e^{-z}}, \qquad \sigma'(z) = \sigma(z)(1 - \sigma(z))

    Examples
    --------
    >>> Sigmoid().derivative(np.array([0.0])).tolist()
    [0.25]
    """

    name = "sigmoid"

    def forward(self, Z: FloatArray) -> FloatArray:
        return sigmoid(Z)

    def derivative(self, Z: FloatArray) -> FloatArray:
        A = sigmoid(Z)
        return A * (1.0 - A)

    def backward(self, Z: FloatArray, A: FloatArray, dA: FloatArray) -> FloatArray:
        return dA * A * (1.0 - A)


class Softmax(Activation):
    r"""Softmax over each row: the output layer of softmax (multinomial) regression.

    .. math:: \text{Softmax}_j(\mathbf{z}) = \frac{e^{z_j}}{\sum_k e^{z_k}}, \qquad
              \frac{\partial A_j}{\partial z_m} = A_j(\delta_{jm} - A_m)

    The row maximum is subtracted before ``exp`` (the value is unchanged), so no
    overflow. The backward pass applies the Jacobian without forming it:
    :math:`dZ = A \odot (dA - \sum_m dA_m A_m)`.

    Examples
    --------
    >>> Z = np.array([[-5.0, -9.0], [1.0, 5.0], [7.0, 19.0]])
    >>> Softmax().forward(Z).round(5).tolist()
    [[0.98201, 0.01799], [0.01799, 0.98201], [1e-05, 0.99999]]
    """

    name = "softmax"

    def forward(self, Z: FloatArray) -> FloatArray:
        Z = np.asarray(Z, dtype=float)
        E = np.exp(Z - Z.max(axis=-1, keepdims=True))
        return E / E.sum(axis=-1, keepdims=True)

    def derivative(self, Z: FloatArray) -> FloatArray:
        """Return the diagonal of the Jacobian, :math:`A_j (1 - A_j)`."""
        A = self.forward(Z)
        return A * (1.0 - A)

    def backward(self, Z: FloatArray, A: FloatArray, dA: FloatArray) -> FloatArray:
        return A * (dA - np.sum(dA * A, axis=-1, keepdims=True))


class ReLU(Activation):
    r"""Rectified linear unit.

    .. math:: \phi(z) = \max(0, z), \qquad \phi'(z) = \mathbb{1}[z > 0]

    The derivative is 0 for every :math:`z \le 0`: a unit whose input is negative for
    every row learns nothing (a "dead ReLU", see the lecture).

    Examples
    --------
    >>> ReLU().forward(np.array([-1.0, 2.0])).tolist(), ReLU().derivative(np.array([-1.0, 2.0])).tolist()
    ([0.0, 2.0], [0.0, 1.0])
    """  # noqa: E501

    name = "relu"

    def forward(self, Z: FloatArray) -> FloatArray:
        return np.maximum(Z, 0.0)

    def derivative(self, Z: FloatArray) -> FloatArray:
        return (np.asarray(Z) > 0).astype(float)

    def backward(self, Z: FloatArray, A: FloatArray, dA: FloatArray) -> FloatArray:
        return dA * (Z > 0)


class Tanh(Activation):
    r"""Hyperbolic tangent.

    .. math:: \phi(z) = \tanh z, \qquad \phi'(z) = 1 - \tanh^2 z

    Examples
    --------
    >>> Tanh().derivative(np.array([0.0])).tolist()
    [1.0]
    """

    name = "tanh"

    def forward(self, Z: FloatArray) -> FloatArray:
        return np.tanh(Z)

    def derivative(self, Z: FloatArray) -> FloatArray:
        A = np.tanh(Z)
        return 1.0 - A * A

    def backward(self, Z: FloatArray, A: FloatArray, dA: FloatArray) -> FloatArray:
        return dA * (1.0 - A * A)


class Exponential(Activation):
    r"""Exponential: the inverse of the log link of Poisson, Gamma and Tweedie models.

    .. math:: \phi(z) = e^{z}, \qquad \phi'(z) = e^{z}

    Overflows to ``inf`` only for :math:`z > 709`; training stops with a divergence
    message before such a value is used.

    Examples
    --------
    >>> Exponential().forward(np.array([0.0])).tolist()
    [1.0]
    """

    name = "exponential"

    def forward(self, Z: FloatArray) -> FloatArray:
        with np.errstate(over="ignore"):
            return np.exp(Z)

    def derivative(self, Z: FloatArray) -> FloatArray:
        return self.forward(Z)

    def backward(self, Z: FloatArray, A: FloatArray, dA: FloatArray) -> FloatArray:
        return dA * A


_REGISTRY: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Linear, Sigmoid, Softmax, ReLU, Tanh, Exponential)
}
_ALIASES = {"identity": "linear", "exp": "exponential", None: "linear"}


def names() -> list[str]:
    """Return the names of the available activations."""
    return sorted(_REGISTRY)


def get(activation: str | Activation | None) -> Activation:
    """Return the activation for a name (or pass an :class:`Activation` through).

    Examples
    --------
    >>> get("sigmoid")
    Sigmoid()
    """
    if isinstance(activation, Activation):
        return activation
    name = _ALIASES.get(activation, activation)  # type: ignore[call-overload]
    check_choice("activation", name, _REGISTRY)
    return _REGISTRY[name]()
