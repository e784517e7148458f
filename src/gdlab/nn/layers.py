r"""The dense layer: :math:`Z = A_{\text{prev}} W + b`, :math:`A = \phi(Z)`, and its backward pass.

A :class:`Dense` layer owns no memory of its own: its ``W`` (shape ``(inputs, units)``)
and ``b`` (shape ``(units,)``) are views into the network's flat parameter vector θ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from gdlab._checks import UserError, UserTypeError, check_choice, check_positive_int
from gdlab._typing import FloatArray
from gdlab.nn import activations

__all__ = ["INITIALIZERS", "Dense", "DenseCache"]


def _glorot_uniform(shape: tuple[int, int], rng: np.random.Generator) -> FloatArray:
    limit = np.sqrt(6.0 / (shape[0] + shape[1]))
    return rng.uniform(-limit, limit, size=shape)


def _glorot_normal(shape: tuple[int, int], rng: np.random.Generator) -> FloatArray:
    return rng.normal(0.0, np.sqrt(2.0 / (shape[0] + shape[1])), size=shape)


def _he_uniform(shape: tuple[int, int], rng: np.random.Generator) -> FloatArray:
    limit = np.sqrt(6.0 / shape[0])
    return rng.uniform(-limit, limit, size=shape)


def _he_normal(shape: tuple[int, int], rng: np.random.Generator) -> FloatArray:
    return rng.normal(0.0, np.sqrt(2.0 / shape[0]), size=shape)


def _random_normal(shape: tuple[int, int], rng: np.random.Generator) -> FloatArray:
    return rng.normal(0.0, 0.05, size=shape)


def _zeros(shape: tuple[int, ...], rng: np.random.Generator) -> FloatArray:
    return np.zeros(shape)


def _ones(shape: tuple[int, ...], rng: np.random.Generator) -> FloatArray:
    return np.ones(shape)


#: Weight initializers by name: ``f(shape, rng) -> array`` (Keras's names and rules).
INITIALIZERS: dict[str, Callable[..., FloatArray]] = {
    "glorot_uniform": _glorot_uniform,
    "glorot_normal": _glorot_normal,
    "he_uniform": _he_uniform,
    "he_normal": _he_normal,
    "random_normal": _random_normal,
    "zeros": _zeros,
    "ones": _ones,
}


class DenseCache(NamedTuple):
    """What the backward pass needs from the forward pass of one layer."""

    A_prev: FloatArray
    Z: FloatArray
    A: FloatArray


class Dense:
    r"""A fully connected layer of ``units`` neurons.

    Forward (rows are observations, ``A_prev`` of shape ``(n, inputs)``):

    .. math:: Z = A_{\text{prev}} W + b, \qquad A = \phi(Z)

    Backward, by the chain rule, from :math:`dA = \partial L / \partial A` of shape
    ``(n, units)`` (which already carries the batch's 1/n or weights):

    .. math:: dZ = dA \odot \phi'(Z), \quad dW = A_{\text{prev}}^\top dZ, \quad
              db = \textstyle\sum_i dZ_{i,\cdot}, \quad dA_{\text{prev}} = dZ\, W^\top

    Parameters
    ----------
    units : int
        Number of neurons (columns of ``W``).
    activation : str or Activation, default "linear"
        One of :func:`gdlab.nn.activations.names`.
    use_bias : bool, default True
    kernel_initializer, bias_initializer : str
        Names in :data:`INITIALIZERS`.

    Examples
    --------
    >>> layer = Dense(1, activation="sigmoid")
    >>> layer.build(2)
    >>> layer.n_params
    3
    """

    def __init__(self, units: int, activation: str | activations.Activation | None = "linear",
                 *, use_bias: bool = True, kernel_initializer: str = "glorot_uniform",
                 bias_initializer: str = "zeros") -> None:
        self.units = check_positive_int("units", units,
                                        hint="A Dense layer needs at least one neuron.")
        self.activation = activations.get(activation)
        if not isinstance(use_bias, bool):
            raise UserTypeError(f"use_bias must be True or False; got use_bias={use_bias!r}.")
        self.use_bias = use_bias
        self.kernel_initializer = check_choice("kernel_initializer", kernel_initializer,
                                               INITIALIZERS)
        self.bias_initializer = check_choice("bias_initializer", bias_initializer,
                                             INITIALIZERS)
        self.input_dim: int | None = None
        self.W: FloatArray = np.empty((0, units))
        self.b: FloatArray = np.zeros(units)

    # --- shapes and parameters -------------------------------------------------------
    def build(self, input_dim: int) -> None:
        """Fix the number of inputs; the parameters are bound later by the network."""
        self.input_dim = check_positive_int("input_dim", input_dim,
                                            hint="Pass the number of columns of X.")

    @property
    def n_params(self) -> int:
        """Number of parameters: inputs × units weights, plus units biases if used."""
        if self.input_dim is None:
            raise UserError("The layer is not built yet: call build(input_dim) first.")
        return self.input_dim * self.units + (self.units if self.use_bias else 0)

    def bind(self, theta_slice: FloatArray) -> None:
        """Make ``W`` and ``b`` views into ``theta_slice`` (W row-major, then b)."""
        n_w = self.input_dim * self.units  # type: ignore[operator]
        self.W = theta_slice[:n_w].reshape(self.input_dim, self.units)
        self.b = theta_slice[n_w:] if self.use_bias else np.zeros(self.units, theta_slice.dtype)

    def initialize(self, rng: np.random.Generator) -> None:
        """Draw ``W`` (and ``b``) from the initializers, in place in θ."""
        self.W[...] = INITIALIZERS[self.kernel_initializer](self.W.shape, rng)
        if self.use_bias:
            self.b[...] = INITIALIZERS[self.bias_initializer](self.b.shape, rng)

    # --- the math ------------------------------------------------------------------
    def forward(self, A_prev: FloatArray) -> tuple[FloatArray, DenseCache]:
        r"""Forward pass of the rows ``A_prev`` (n, inputs): return ``A`` (n, units) and the cache.

        .. math:: Z = A_{\text{prev}} W + b, \qquad A = \phi(Z)
        """
        Z = A_prev @ self.W
        if self.use_bias:
            Z += self.b  # Z is a new array: A_prev is untouched
        A = self.activation.forward(Z)
        return A, DenseCache(A_prev=A_prev, Z=Z, A=A)

    def backward(self, dA: FloatArray, cache: DenseCache
                 ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        r"""Backward pass: from :math:`dA = \partial L / \partial A` return ``(dA_prev, dW, db)``.

        First through the activation, then through :math:`Z = A_{\text{prev}} W + b`
        (:meth:`backward_from_Z`):

        .. math:: dZ = dA \odot \phi'(Z) \quad (dZ_i = dA_i\, J_{\phi}(z_i)
                  \text{ for softmax}), \qquad
                  dW = A_{\text{prev}}^\top dZ, \quad db = \textstyle\sum_i dZ_i,
                  \quad dA_{\text{prev}} = dZ\, W^\top

        ``dA`` carries the batch's 1/n (or the weights' shares), so dW and db are the
        batch's gradient. ``db`` is None for a layer without bias.
        """
        dZ = self.activation.backward(cache.Z, cache.A, dA)
        return self.backward_from_Z(dZ, cache)

    def backward_from_Z(self, dZ: FloatArray, cache: DenseCache
                        ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        r"""Backward pass from :math:`dZ = \partial L / \partial Z`: return ``(dA_prev, dW, db)``.

        .. math:: dW = A_{\text{prev}}^\top dZ, \quad db = \textstyle\sum_i dZ_i,
                  \quad dA_{\text{prev}} = dZ\, W^\top

        The second half of :meth:`backward`; the output layer starts here when the loss
        gives dZ directly (a fused link such as sigmoid + cross-entropy: dZ = ŷ − y).
        """
        dW = cache.A_prev.T @ dZ
        db = dZ.sum(axis=0) if self.use_bias else None
        dA_prev = dZ @ self.W.T
        return dA_prev, dW, db

    def _backward_from_Z_into(self, dZ: FloatArray, cache: DenseCache, grad: FloatArray, *,
                              need_dA_prev: bool = True) -> FloatArray | None:
        """:meth:`backward_from_Z`, with dW and db written straight into ``grad``.

        ``grad`` is this layer's slice of the network's flat gradient (laid out as θ: dW
        row-major, then db). Same numbers as :meth:`backward_from_Z`, without a temporary
        and a copy; returns dA_prev, or None when ``need_dA_prev`` is False (first layer).
        """
        n_w = self.W.size
        np.matmul(cache.A_prev.T, dZ, out=grad[:n_w].reshape(self.W.shape))
        if self.use_bias:
            dZ.sum(axis=0, out=grad[n_w:])
        return dZ @ self.W.T if need_dA_prev else None

    def get_config(self) -> dict[str, Any]:
        """Return the JSON-safe constructor arguments."""
        return {
            "units": self.units,
            "activation": self.activation.name,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
        }

    def __repr__(self) -> str:
        return f"Dense({self.units}, activation={self.activation.name!r})"
