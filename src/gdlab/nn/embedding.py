r"""Embeddings: a learned vector for each level of a categorical column, before the dense layers.

A categorical column with :math:`L` levels arrives as integer codes :math:`c_i \in
\{0, \dots, L-1\}` (one column of X). An :class:`Embedding` of dimension :math:`d` owns a
table :math:`E` of shape ``(L, d)``; row :math:`\ell` is the learned vector of level
:math:`\ell`. :class:`Inputs` puts a model's columns together:

.. math:: A^{(0)}_i = \big[\, x_{i,1}, \dots, x_{i,p},\; E^{(1)}_{c_{i,1}},\; \dots,\;
          E^{(K)}_{c_{i,K}} \big]

X holds the ``p`` numeric columns first, then one code column per embedding, in the
order of ``categorical``; :math:`A^{(0)}`, of width :math:`p + \sum_k d_k`, is what the
first dense layer sees.

Forward is a lookup, :math:`A = E[c]`; backward is a scatter-add: each row adds its
:math:`dA_i` into the row of the table it read,

.. math:: dE_{\ell,\cdot} = \sum_{i:\, c_i = \ell} dA_{i,\cdot}

(a level seen by several rows of the batch gets the sum of their derivatives; a level
absent from the batch gets 0). The tables live at the end of θ,
after the dense layers (``W₁, b₁, …, W_L, b_L, E^{(1)}, …, E^{(K)}``, each row-major), so
a model without embeddings has exactly the θ it always had. Their entries are named
``e^(name)_{ℓ,u}``: level ℓ as coded in X (from 0), dimension u (from 1).

Why ``Sequential(layers, inputs=Inputs(...))`` rather than a functional model (Keras's
``Input`` → ``Embedding`` → ``Concatenate``)? The model stays a stack of dense layers fed
by one float matrix X, so everything that takes X (validation, batching, both executors'
batch plans, the trace's ``Step.table``, save/load, ``correct_balance``) works unchanged;
the embeddings are a preprocessing step with learned parameters, which is what they are
in the actuarial networks of Schelldorfer & Wüthrich (2019). Codes not seen in training
cannot be embedded: they are refused with the column's name (map them to a known level,
e.g. the most frequent, before predicting).

Examples
--------
>>> inputs = Inputs(numeric=1, categorical=[Embedding(3, 2, name="colour")])
>>> inputs.build(2)
3
>>> inputs.bind(np.arange(6.0))
>>> inputs.forward(np.array([[0.5, 2.0], [-1.0, 0.0]]))
array([[ 0.5,  4. ,  5. ],
       [-1. ,  0. ,  1. ]])
>>> inputs.param_names()[:3]
['e^(colour)_{0,1}', 'e^(colour)_{0,2}', 'e^(colour)_{1,1}']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gdlab._checks import UserError, UserTypeError, check_positive_int
from gdlab._typing import FloatArray, IntArray

__all__ = ["Embedding", "Inputs", "check_inputs"]

#: Keras's default for embeddings: uniform on [-0.05, 0.05]
INIT_LIMIT = 0.05


class Embedding:
    r"""A table of ``input_dim`` learned vectors of length ``output_dim``, one per level.

    Parameters
    ----------
    input_dim : int
        Number of levels L; the codes in X must be 0, 1, …, L − 1.
    output_dim : int
        Dimension d of each level's vector.
    name : str, optional
        Used in the parameter names (``e^(name)_{ℓ,u}``); defaults to ``c1``, ``c2``, …
        by position among the categorical columns.

    Examples
    --------
    >>> Embedding(11, 2, name="VehBrand")
    Embedding(input_dim=11, output_dim=2, name='VehBrand')
    """

    def __init__(self, input_dim: int, output_dim: int, *, name: str | None = None) -> None:
        self.input_dim = check_positive_int(
            "input_dim", input_dim, hint="Pass the number of levels of the categorical column.")
        self.output_dim = check_positive_int(
            "output_dim", output_dim, hint="e.g. output_dim=2, as in Schelldorfer & Wüthrich.")
        if name is not None and (not isinstance(name, str) or not name):
            raise UserTypeError(f"name must be a non-empty string or None; got name={name!r}.")
        self.name = name
        self.E: FloatArray = np.empty((0, self.output_dim))

    @property
    def n_params(self) -> int:
        """L × d: one vector per level."""
        return self.input_dim * self.output_dim

    def bind(self, theta_slice: FloatArray) -> None:
        """Make the table ``E`` a view into ``theta_slice`` (row-major)."""
        self.E = theta_slice.reshape(self.input_dim, self.output_dim)

    def initialize(self, rng: np.random.Generator) -> None:
        """Draw E uniformly on [−0.05, 0.05] (Keras's default), in place in θ."""
        self.E[...] = rng.uniform(-INIT_LIMIT, INIT_LIMIT, size=self.E.shape)

    def forward(self, codes: IntArray) -> FloatArray:
        """The lookup :math:`A_i = E_{c_i}`, shape (n, d)."""
        return self.E[codes]

    def backward(self, dA: FloatArray, codes: IntArray, out: FloatArray) -> None:
        r"""Scatter-add: :math:`dE_{c_i} \mathrel{+}= dA_i` for every row i, into ``out`` (L, d).

        ``out`` accumulates (``+=``): zero it first for one batch's gradient. Each column
        is one ``np.bincount`` (the rows' values summed per level, in row order, in float64):
        the sums of ``np.add.at(out, codes, dA)``, an order of magnitude sooner.
        """
        for u in range(self.output_dim):
            out[:, u] += np.bincount(codes, weights=dA[:, u], minlength=self.input_dim)

    def get_config(self) -> dict[str, Any]:
        """Return the JSON-safe constructor arguments."""
        return {"input_dim": self.input_dim, "output_dim": self.output_dim, "name": self.name}

    def __repr__(self) -> str:
        return (f"Embedding(input_dim={self.input_dim}, output_dim={self.output_dim}, "
                f"name={self.name!r})")


class Inputs:
    """A model's input columns: ``numeric`` numbers, then integer codes through embeddings.

    Parameters
    ----------
    numeric : int
        Number of numeric columns (the first columns of X); may be 0.
    categorical : list of Embedding
        One per code column of X (after the numeric ones), in order.
    """

    def __init__(self, numeric: int = 0, categorical: Sequence[Embedding] = ()) -> None:
        if isinstance(numeric, bool) or not isinstance(numeric, int | np.integer) or numeric < 0:
            raise UserError(f"numeric must be a number of columns >= 0; got numeric={numeric!r}.")
        categorical = list(categorical)
        if not categorical or not all(isinstance(e, Embedding) for e in categorical):
            raise UserTypeError(
                "categorical must be a non-empty list of gdlab.Embedding, e.g. "
                "[gd.Embedding(11, 2)]; without categorical columns use input_dim= instead."
            )
        self.numeric = int(numeric)
        self.categorical = categorical
        for number, embedding in enumerate(categorical, start=1):
            if embedding.name is None:
                embedding.name = f"c{number}"
        names = [e.name for e in categorical]
        if len(set(names)) != len(names):
            raise UserError(f"the embeddings' names must differ; got {names}.")

    @property
    def n_columns(self) -> int:
        """Columns of X: the numeric ones and one code column per embedding."""
        return self.numeric + len(self.categorical)

    @property
    def output_dim(self) -> int:
        """Width of :math:`A^{(0)}`: the numeric columns and every embedding's dimension."""
        return self.numeric + sum(e.output_dim for e in self.categorical)

    @property
    def n_params(self) -> int:
        """Entries of all the tables."""
        return sum(e.n_params for e in self.categorical)

    def build(self, input_dim: int) -> int:
        """Check X's width; return the width of :math:`A^{(0)}` (the first layer's inputs)."""
        if input_dim != self.n_columns:
            raise UserError(
                f"input_dim={input_dim} does not match the inputs: {self.numeric} numeric "
                f"column(s) and {len(self.categorical)} categorical code column(s) make "
                f"{self.n_columns}. Drop input_dim= (it follows from inputs=)."
            )
        return self.output_dim

    def bind(self, theta_slice: FloatArray) -> None:
        """Make each table a view into ``theta_slice`` (the tail of θ), one after another."""
        start = 0
        for embedding in self.categorical:
            embedding.bind(theta_slice[start:start + embedding.n_params])
            start += embedding.n_params

    def initialize(self, rng: np.random.Generator) -> None:
        """Draw every table (after the dense layers' weights, from the same generator)."""
        for embedding in self.categorical:
            embedding.initialize(rng)

    # --- the math ------------------------------------------------------------------
    def codes(self, X: FloatArray) -> IntArray:
        """The code columns of X as integers, checked: whole numbers in [0, levels)."""
        raw = X[:, self.numeric:]
        codes = raw.astype(np.intp)
        for k, embedding in enumerate(self.categorical):
            column, levels = raw[:, k], embedding.input_dim
            bad = np.flatnonzero((column != codes[:, k]) | (codes[:, k] < 0)
                                 | (codes[:, k] >= levels))
            if bad.size:
                raise UserError(
                    f"categorical column {embedding.name!r} (column {self.numeric + k} of X) "
                    f"must hold integer codes 0 … {levels - 1} (the levels its embedding was "
                    f"built for); {bad.size} row(s) do not (rows {bad[:5].tolist()}, e.g. "
                    f"{float(column[bad[0]])!r}). Encode new data with the training levels, "
                    "and map unseen levels to a known one before predicting."
                )
        return codes

    def forward(self, X: FloatArray) -> FloatArray:
        r""":math:`A^{(0)} = [X_{\text{numeric}}, E^{(1)}[c_1], \dots]`, shape (n, output_dim)."""
        codes = self.codes(X)
        parts = [X[:, :self.numeric]]
        parts += [e.forward(codes[:, k]) for k, e in enumerate(self.categorical)]
        return np.concatenate(parts, axis=1)

    def _columns(self) -> list[slice]:
        """Each embedding's columns in :math:`A^{(0)}`."""
        slices, start = [], self.numeric
        for embedding in self.categorical:
            slices.append(slice(start, start + embedding.output_dim))
            start += embedding.output_dim
        return slices

    def backward(self, dA0: FloatArray, X: FloatArray, out: FloatArray) -> None:
        r"""The tables' gradient from :math:`dA^{(0)}`, written into ``out`` (their part of θ).

        :math:`dE^{(k)}_{\ell,\cdot} = \sum_{i: c_{i,k} = \ell} dA^{(0)}_{i,\text{cols}_k}`;
        the numeric columns' derivatives are not needed (X is data, not a parameter).
        """
        codes = self.codes(X)
        out[...] = 0.0
        start = 0
        for k, (embedding, cols) in enumerate(zip(self.categorical, self._columns(),
                                                  strict=True)):
            table = out[start:start + embedding.n_params].reshape(embedding.E.shape)
            embedding.backward(dA0[:, cols], codes[:, k], table)
            start += embedding.n_params

    def per_row_gradients(self, dA0: FloatArray, X: FloatArray) -> FloatArray:
        r"""Each row's gradient with respect to the tables, shape (n, n_params).

        Row i touches one vector per table: :math:`\partial L_i / \partial E^{(k)}_{c_{i,k}}
        = dA^{(0)}_{i,\text{cols}_k}`; every other entry is 0. The mean of the rows is
        :meth:`backward`'s batch gradient.
        """
        codes = self.codes(X)
        n = X.shape[0]
        grads = np.zeros((n, self.n_params), dtype=dA0.dtype)
        rows = np.arange(n)[:, None]
        start = 0
        for k, (embedding, cols) in enumerate(zip(self.categorical, self._columns(),
                                                  strict=True)):
            d = embedding.output_dim
            first = start + codes[:, k] * d  # the row's level's first entry in the tables
            grads[rows, first[:, None] + np.arange(d)] = dA0[:, cols]
            start += embedding.n_params
        return grads

    # --- names and configuration ----------------------------------------------------
    def param_names(self) -> list[str]:
        """``e^(name)_{ℓ,u}`` for every entry of every table, in θ's order."""
        return [f"e^({e.name})_{{{level},{u}}}" for e in self.categorical
                for level in range(e.input_dim) for u in range(1, e.output_dim + 1)]

    def get_weights(self) -> list[FloatArray]:
        """Copies of the tables, in order."""
        return [e.E.copy() for e in self.categorical]

    def get_config(self) -> dict[str, Any]:
        """Return the JSON-safe constructor arguments."""
        return {"numeric": self.numeric,
                "categorical": [e.get_config() for e in self.categorical]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Inputs:
        """The inputs back from :meth:`get_config` (tables unbound, as new)."""
        return cls(config["numeric"], [Embedding(**e) for e in config["categorical"]])

    def __repr__(self) -> str:
        return f"Inputs(numeric={self.numeric}, categorical={self.categorical!r})"


def check_inputs(inputs: Any) -> Inputs | None:
    """``inputs`` as given (an :class:`Inputs` or None), or a TypeError naming the fix."""
    if inputs is None or isinstance(inputs, Inputs):
        return inputs
    raise UserTypeError(
        "inputs must be a gdlab.Inputs, e.g. gd.Inputs(numeric=7, categorical="
        f"[gd.Embedding(11, 2), gd.Embedding(22, 2)]); got inputs={inputs!r}."
    )
