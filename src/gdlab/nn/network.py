r"""A stack of dense layers with one flat parameter vector θ: forward, loss, backward.

θ holds W₁ (row-major), b₁, W₂, b₂, …; each layer's ``W`` and ``b`` are views into it,
so an optimizer updates the whole network with one vector operation. Every entry of θ
has a name in the lecture's notation (:attr:`Network.param_names`).

The batch gradient is the chain rule applied layer by layer, from the output back:

.. math:: dZ^{(L)} = \frac{w_i}{\sum w}\frac{\partial L_i}{\partial z_i}, \quad
          dW^{(l)} = A^{(l-1)\top} dZ^{(l)}, \quad db^{(l)} = \textstyle\sum_i dZ^{(l)}_i,
          \quad dZ^{(l-1)} = (dZ^{(l)} W^{(l)\top}) \odot \phi'(Z^{(l-1)})
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from gdlab._checks import UserError, UserTypeError
from gdlab._typing import FloatArray
from gdlab.nn import losses as losses_module
from gdlab.nn.embedding import Inputs, check_inputs
from gdlab.nn.layers import Dense, DenseCache

__all__ = ["LossGradient", "Network", "param_names"]


class LossGradient(NamedTuple):
    """The result of one forward and backward pass over a batch."""

    loss: float  #: the (weighted) mean loss of the batch
    gradient: FloatArray  #: dLoss/dθ, shape (n_params,)
    per_row_loss: FloatArray  #: L_i, shape (n,)
    y_pred: FloatArray  #: the network's output ŷ (before exposure), shape (n, k)


def param_names(layers: Sequence[Dense]) -> list[str]:
    """Names of θ's entries in the lecture's notation (see DESIGN.md).

    Examples
    --------
    >>> a = Dense(1); a.build(1)
    >>> param_names([a])
    ['w', 'b']
    >>> a = Dense(2); a.build(2)
    >>> param_names([a])
    ['w_{1,1}', 'w_{1,2}', 'w_{2,1}', 'w_{2,2}', 'b_1', 'b_2']
    """
    names: list[str] = []
    several = len(layers) > 1
    for number, layer in enumerate(layers, start=1):
        sup = f"^({number})" if several else ""
        p, k = layer.input_dim or 0, layer.units
        if not several and k == 1:
            names += ["w"] if p == 1 else [f"w_{j}" for j in range(1, p + 1)]
            names += ["b"] if layer.use_bias else []
            continue
        names += [f"w{sup}_{{{j},{u}}}" for j in range(1, p + 1) for u in range(1, k + 1)]
        names += [f"b{sup}_{u}" for u in range(1, k + 1)] if layer.use_bias else []
    return names


class Network:
    """Dense layers in sequence, with θ as one flat vector (the math only, no training).

    Parameters
    ----------
    layers : list of Dense
    input_dim : int, optional
        Number of inputs; if omitted, fixed at the first fit or :meth:`build`.
    seed : int, optional
        Seed of the weight initialisation (``numpy.random.default_rng(seed)``).
    dtype : {"float64", "float32"}
    inputs : Inputs, optional
        Numeric columns and categorical code columns through embeddings
        (:mod:`gdlab.nn.embedding`); their tables are the tail of θ, and ``input_dim``
        follows from them.
    """

    def __init__(self, layers: Sequence[Dense], *, input_dim: int | None = None,
                 seed: int | None = None, dtype: str = "float64",
                 inputs: Inputs | None = None) -> None:
        layers = list(layers)
        if not layers or not all(isinstance(layer, Dense) for layer in layers):
            raise UserTypeError(
                "layers must be a non-empty list of gdlab.Dense layers, e.g. "
                "[gd.Dense(1, activation='sigmoid')]."
            )
        if dtype not in ("float64", "float32"):
            raise UserError(f"dtype must be 'float64' or 'float32'; got dtype={dtype!r}.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
            raise UserTypeError(f"seed must be an integer or None; got seed={seed!r}.")
        self.layers = layers
        self.seed = seed
        self.dtype = np.dtype(dtype)
        self._theta: FloatArray = np.empty(0, dtype=self.dtype)
        self.input_dim: int | None = None
        self.inputs = check_inputs(inputs)
        if inputs is not None and input_dim is None:
            input_dim = inputs.n_columns
        if input_dim is not None:
            self.build(input_dim)

    # --- parameters --------------------------------------------------------------------
    @property
    def built(self) -> bool:
        """Whether the input dimension is known and θ exists."""
        return self.input_dim is not None

    def build(self, input_dim: int) -> None:
        """Fix the input dimension, allocate θ and draw the initial weights from the seed."""
        fan_in = input_dim if self.inputs is None else self.inputs.build(input_dim)
        for layer in self.layers:
            layer.build(fan_in)
            fan_in = layer.units
        self.input_dim = input_dim
        tables = 0 if self.inputs is None else self.inputs.n_params
        self._theta = np.zeros(sum(layer.n_params for layer in self.layers) + tables,
                               dtype=self.dtype)
        self._bind()
        rng = np.random.default_rng(self.seed)
        for layer in self.layers:
            layer.initialize(rng)
        if self.inputs is not None:
            self.inputs.initialize(rng)

    def _bind(self) -> None:
        start = 0
        for layer in self.layers:
            layer.bind(self._theta[start:start + layer.n_params])
            start += layer.n_params
        if self.inputs is not None:  # the embedding tables: the tail of θ
            self.inputs.bind(self._theta[start:])
        self._slices = self.layer_slices()  # kept for the backward pass of every step

    def __setstate__(self, state: dict) -> None:
        """After pickle or deepcopy, make each layer's W and b views into θ again."""
        self.__dict__.update(state)
        if self.built:
            self._bind()

    def _require_built(self) -> None:
        if not self.built:
            raise UserError(
                "The model has no input dimension yet: pass input_dim= to Sequential, or "
                "call fit first."
            )

    @property
    def theta(self) -> FloatArray:
        """θ as a read-only view (W₁ row-major, b₁, W₂, b₂, …); assign to set it."""
        self._require_built()
        view = self._theta.view()
        view.flags.writeable = False
        return view

    @theta.setter
    def theta(self, value: FloatArray) -> None:
        self.set_theta(value)

    def set_theta(self, value: FloatArray) -> None:
        """Copy ``value`` into θ (a finite vector of :attr:`n_params` numbers)."""
        self._require_built()
        value = np.asarray(value, dtype=float)
        if value.shape != self._theta.shape or not np.all(np.isfinite(value)):
            raise UserError(
                f"theta must be a finite vector of {self._theta.size} numbers (the model's "
                f"parameters); got shape {value.shape}."
            )
        self._theta[...] = value

    @property
    def n_params(self) -> int:
        """Total number of parameters."""
        self._require_built()
        return int(self._theta.size)

    @property
    def param_names(self) -> list[str]:
        """Names of θ's entries (``w``, ``b``; ``w_1…w_p``; ``w_{j,k}``; ``w^(l)_{j,k}``)."""
        self._require_built()
        tables = [] if self.inputs is None else self.inputs.param_names()
        return param_names(self.layers) + tables

    def layer_slices(self) -> list[slice]:
        """The slice of θ that belongs to each layer."""
        self._require_built()
        slices, start = [], 0
        for layer in self.layers:
            slices.append(slice(start, start + layer.n_params))
            start += layer.n_params
        return slices

    def gradient_groups(self) -> list[slice]:
        """The parts of θ whose gradient norms ``fit`` records, in θ's order.

        Each dense layer's slice (:meth:`layer_slices`), then, with embeddings, one more
        group: all the tables together (θ after the last layer), recorded as
        ``grad_norm[0]`` since they make :math:`A^{(0)}`, the input layer.

        Examples
        --------
        >>> from gdlab.nn.embedding import Embedding, Inputs
        >>> net = Network([Dense(2), Dense(1)], inputs=Inputs(1, [Embedding(3, 2)]))
        >>> net.gradient_groups()
        [slice(0, 8, None), slice(8, 11, None), slice(11, 17, None)]
        """
        slices = self.layer_slices()
        if self.inputs is not None:
            slices.append(slice(slices[-1].stop, self.n_params))
        return slices

    def get_weights(self) -> list[FloatArray]:
        """Copies of ``[W1, b1, W2, b2, …]`` (b omitted for layers without bias)."""
        self._require_built()
        out: list[FloatArray] = []
        for layer in self.layers:
            out.append(layer.W.copy())
            if layer.use_bias:
                out.append(layer.b.copy())
        return out + ([] if self.inputs is None else self.inputs.get_weights())

    def set_weights(self, weights: Sequence[FloatArray]) -> None:
        """Set θ from ``[W1, b1, W2, b2, …]`` (shapes as :meth:`get_weights`)."""
        weights = [np.asarray(w, dtype=float) for w in weights]
        if not self.built and weights:
            self.build(weights[0].shape[0] if weights[0].ndim == 2 else 1)
        expected = [a.shape for a in self.get_weights()]
        got = [w.shape for w in weights]
        if got != expected:
            raise UserError(
                f"set_weights needs arrays of shapes {expected} ([W1, b1, W2, b2, …]); "
                f"got {got}."
            )
        self.theta = np.concatenate([w.ravel() for w in weights])

    # --- the math --------------------------------------------------------------------
    def forward(self, X: FloatArray) -> tuple[FloatArray, list[DenseCache]]:
        """Return the output ``A`` of the last layer and every layer's cache."""
        caches = []
        A = X if self.inputs is None else self.inputs.forward(X)
        for layer in self.layers:
            A, cache = layer.forward(A)
            caches.append(cache)
        return A, caches

    def output(self, X: FloatArray) -> FloatArray:
        """The network's output ŷ for the rows of X, shape (n, units of last layer)."""
        self._require_built()
        return self.forward(X)[0]

    def _output_delta(self, loss: losses_module.Loss, Y: FloatArray, caches: list[DenseCache],
                      exposure: FloatArray | None) -> tuple[FloatArray, FloatArray]:
        """Per-row loss L_i and per-row dL_i/dZ of the output layer (unweighted)."""
        last, output = caches[-1], self.layers[-1]
        if losses_module.FUSED_LINK.get(loss.name) == output.activation.name:
            # canonical (or log) link: compute from Z, exact and stable, no clipping
            per_row = loss.value_from_logits(Y, last.Z, exposure=exposure)
            return per_row, loss.gradient_wrt_logits(Y, last.Z, exposure=exposure, A=last.A)
        per_row = loss.value(Y, last.A, exposure=exposure)
        dA = loss.gradient(Y, last.A, exposure=exposure)
        return per_row, output.activation.backward(last.Z, last.A, dA)  # dZ = dA ⊙ φ'(Z)

    def backward(self, dZ: FloatArray, caches: list[DenseCache],
                 X: FloatArray | None = None) -> FloatArray:
        """Back-propagate the output layer's dZ; return dLoss/dθ as one flat vector.

        With embeddings, the first layer's dA_prev is scattered into the tables, and ``X``
        (the batch's inputs) gives the codes (:meth:`Inputs.backward`).

        A loop over the layers from the output back: the output layer starts from dZ
        (:meth:`Dense.backward_from_Z`), every other layer from the dA_prev of the layer
        after it (:meth:`Dense.backward`). dW and db are written straight into each
        layer's slice of the gradient (``Dense._backward_from_Z_into``, same numbers).
        """
        grad = np.empty_like(self._theta)
        dA_prev: FloatArray | None = None  # None at the output layer, which starts from dZ
        embedded = self.inputs is not None
        for index in range(len(self.layers) - 1, -1, -1):
            layer, cache = self.layers[index], caches[index]
            if dA_prev is not None:  # the first step of Dense.backward: dZ = dA ⊙ φ'(Z)
                dZ = layer.activation.backward(cache.Z, cache.A, dA_prev)
            dA_prev = layer._backward_from_Z_into(dZ, cache, grad[self._slices[index]],
                                                  need_dA_prev=index > 0 or embedded)
        if embedded:  # dA⁽⁰⁾ scattered into the tables (the tail of θ)
            self.inputs.backward(dA_prev, X, out=grad[self._slices[-1].stop:])  # type: ignore
        return grad

    def loss_and_gradient(self, loss: losses_module.Loss, X: FloatArray, Y: FloatArray, *,
                          sample_weight: FloatArray | None = None,
                          exposure: FloatArray | None = None) -> LossGradient:
        """Forward, loss and backward on one batch: the (weighted) mean loss and its gradient.

        ``Y`` must already be in the loss's form (``loss.check_target``). The loss is
        :func:`gdlab.nn.losses.batch_mean`; each row's dZ is scaled by the same share
        (1/n, or :func:`gdlab.nn.losses.batch_shares`).
        """
        A, caches = self.forward(X)
        per_row, dZ = self._output_delta(loss, Y, caches, exposure)
        batch_loss = losses_module.batch_mean(per_row, sample_weight)
        if sample_weight is None:
            dZ = dZ * (1.0 / X.shape[0])
        else:
            dZ = dZ * losses_module.batch_shares(sample_weight)[:, None]
        return LossGradient(batch_loss, self.backward(dZ, caches, X), per_row, A)

    def per_row_gradients(self, loss: losses_module.Loss, X: FloatArray, Y: FloatArray, *,
                          exposure: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
        r"""Each row's own loss and gradient: :math:`L_i` (n,) and :math:`\nabla L_i` (n, P).

        Rows are independent in a dense network, so the per-row deltas propagate exactly
        as the batch's do (the steps of :meth:`Dense.backward`, without the sum over
        rows); row i's weight gradient is the outer product
        :math:`a_i^{(l-1)} \otimes dz_i^{(l)}` and its bias gradient :math:`dz_i^{(l)}`.
        The (weighted) mean of the rows is the batch gradient of :meth:`loss_and_gradient`.
        """
        _, caches = self.forward(X)
        per_row, dZ = self._output_delta(loss, Y, caches, exposure)
        n = X.shape[0]
        blocks: list[FloatArray] = []
        for index in range(len(self.layers) - 1, -1, -1):
            layer, cache = self.layers[index], caches[index]
            dW_rows = np.einsum("ij,ik->ijk", cache.A_prev, dZ).reshape(n, -1)
            blocks.insert(0, np.hstack([dW_rows, dZ]) if layer.use_bias else dW_rows)
            if index > 0:
                dA_prev, previous = dZ @ layer.W.T, caches[index - 1]
                dZ = self.layers[index - 1].activation.backward(previous.Z, previous.A, dA_prev)
        if self.inputs is not None:  # the tables' entries: the tail of θ
            blocks.append(self.inputs.per_row_gradients(dZ @ self.layers[0].W.T, X))
        return per_row, np.hstack(blocks)

    def __repr__(self) -> str:
        layers = ", ".join(repr(layer) for layer in self.layers)
        inputs = "" if self.inputs is None else f", inputs={self.inputs!r}"
        return f"{type(self).__name__}([{layers}], input_dim={self.input_dim}{inputs})"
