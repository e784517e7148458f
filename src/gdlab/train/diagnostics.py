r"""Diagnostics for the lecture's rule "we need non-zero derivatives".

Gradient descent only moves a parameter whose partial derivative is non-zero. Two ways
to lose every derivative are caught here:

* **dead ReLU units**: a unit whose pre-activation is negative for every row outputs
  :math:`\text{ReLU}(z) = 0` with :math:`\text{ReLU}'(z) = 0` everywhere, so its weights
  receive no gradient and it never recovers. :class:`DeadReLU` (in every ``fit``) checks
  this after each epoch and warns once per unit with a :class:`DeadUnitWarning`; with
  embeddings through the current tables, out of core on the first rows
  (:func:`first_rows_check`).
* **losses or activations with zero gradient almost everywhere**: accuracy as a loss (a
  step function, refused by :func:`gdlab.nn.losses.get`), and a softmax over one unit, whose
  output is the constant 1. :func:`check_combination` refuses these at ``compile``.

Vanishing or exploding gradients are visible in ``history.history["grad_norm[l]"]``,
the per-layer gradient norms that every ``fit`` records (``grad_norm[0]``: the embedding
tables, which make the input layer's values :math:`A^{(0)}`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from gdlab._checks import UserError
from gdlab._typing import FloatArray, IntArray
from gdlab.train.callbacks import Callback

__all__ = ["FIRST_ROWS", "DeadReLU", "DeadUnitWarning", "check_combination", "dead_units",
           "first_rows_check"]

#: Rows per forward pass of the dead-unit check; it stops as soon as every unit has fired.
_FIRST_CHUNK = 256
_MAX_CHUNK = 65536


class DeadUnitWarning(UserWarning):
    """Some ReLU units output 0 for every training row: they can no longer learn."""


def dead_units(layers: Sequence[Any], X: FloatArray, *,
               ignore: dict[int, set[int]] | None = None,
               inputs: Any = None) -> dict[int, IntArray]:
    r"""The ReLU units that output 0 for every row of X, by layer (both 1-based).

    A forward pass in chunks of rows (256, 512, … up to 65 536), which stops as soon as
    every ReLU unit has been positive for some row; a healthy network therefore costs a
    forward pass over a few hundred rows, a dead unit one pass over all of X. Units in
    ``ignore`` (``{layer: {unit, …}}``, e.g. those already reported) are neither
    waited for nor reported, so a known dead unit does not cost a full pass every epoch.
    With embeddings (``inputs``), each chunk's rows first become the dense layers'
    inputs :math:`A^{(0)}` = ``inputs.forward(X_chunk)`` at the current tables.

    Parameters
    ----------
    layers : list of Dense
        Built layers (their ``W`` and ``b`` are read).
    X : ndarray of shape (n, p)
    ignore : dict, optional
    inputs : Inputs, optional
        The model's embeddings (:class:`gdlab.nn.embedding.Inputs`), bound to θ.

    Returns
    -------
    dict
        ``{layer number: unit numbers}`` for the layers with dead units.

    Examples
    --------
    >>> import gdlab as gd
    >>> model = gd.Sequential([gd.Dense(2, activation="relu"), gd.Dense(1)], input_dim=1)
    >>> model.set_weights([np.array([[1.0, -1.0]]), np.zeros(2), np.ones((2, 1)), np.zeros(1)])
    >>> dead_units(model.layers, np.array([[1.0], [2.0]]))
    {1: array([2])}
    """
    relu = [i for i, layer in enumerate(layers) if layer.activation.name == "relu"]
    if not relu:
        return {}
    alive = {i: np.zeros(layers[i].units, dtype=bool) for i in relu}
    for layer, units in (ignore or {}).items():
        if layer - 1 in alive:
            alive[layer - 1][np.asarray(sorted(units), dtype=int) - 1] = True
    start, size = 0, _FIRST_CHUNK
    while start < X.shape[0] and not all(mask.all() for mask in alive.values()):
        A = X[start:start + size]
        if inputs is not None:  # the codes through the tables: A⁰ of this chunk only
            A = inputs.forward(A)
        for i, layer in enumerate(layers[:relu[-1] + 1]):
            A = layer.forward(A)[0]
            if i in alive:
                alive[i] |= (A > 0).any(axis=0)
        start, size = start + size, min(2 * size, _MAX_CHUNK)
    return {i + 1: np.flatnonzero(~mask) + 1 for i, mask in alive.items() if not mask.all()}


class DeadReLU(Callback):
    """After each epoch, warn about ReLU units that output 0 for every training row.

    Added to every ``fit`` by :class:`~gdlab.train.model.Sequential`. The check is one
    forward pass at the end of the epoch (see :func:`dead_units`), never work per step;
    with embeddings, through the model's tables at the end of the epoch. Each dead unit
    is reported once per ``fit``, naming its layer and unit numbers.

    Parameters
    ----------
    X : ndarray of shape (n, p), optional
        The training inputs; without them the callback does nothing.
    n_rows : int, optional
        The number of training rows when ``X`` holds only the first of them (a fit on
        data that is not in memory); the warning then says how many rows were checked.
    """

    def __init__(self, X: FloatArray | None = None, *, n_rows: int | None = None) -> None:
        super().__init__()
        self.X = X
        self.n_rows = n_rows
        self.reported: dict[int, set[int]] = {}

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.reported = {}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.X is None or self.model is None:
            return
        new = dead_units(self.model.layers, self.X, ignore=self.reported,
                         inputs=getattr(self.model, "inputs", None))
        if not new:
            return
        for layer, units in new.items():
            self.reported.setdefault(layer, set()).update(units.tolist())
        warnings.warn(dead_message(self.model.layers, new, epoch=epoch, n=self.X.shape[0],
                                   n_rows=self.n_rows), DeadUnitWarning, stacklevel=2)


#: the rows of a streamed fit that the dead-ReLU check reads (the first ones, kept in memory)
FIRST_ROWS = 65536


def first_rows_check(model: Any, data: Any) -> list[DeadReLU]:
    """The dead-ReLU check of a fit on data that is not in memory, on its first rows.

    ``data`` is a :class:`~gdlab.io.parquet.ParquetSource` or
    :class:`~gdlab.io.dask.DaskData` (its ``ordered`` chunks and ``n_rows``). A unit
    alive on some of these rows is alive; one dead on all of them may still fire on a
    later row, and the warning says how many rows were checked. The rows are read once,
    when the fit starts (the first row groups or blocks: one extra read of at most
    :data:`FIRST_ROWS` rows, kept in memory); each epoch's check then costs what it
    costs in memory (:func:`dead_units`). Without ReLU layers: no check, nothing read.
    """
    if not any(layer.activation.name == "relu" for layer in model.layers):
        return []
    rows, parts, count = FIRST_ROWS, [], 0
    chunks = data.ordered(need_target=False)
    try:
        for chunk in chunks:
            parts.append(chunk.X[:rows - count])
            count += parts[-1].shape[0]
            if count >= rows:
                break
    finally:
        chunks.close()
    return [DeadReLU(np.concatenate(parts), n_rows=data.n_rows)]


def dead_message(layers: Sequence[Any], dead: dict[int, IntArray], *, epoch: int,
                 n: int, n_rows: int | None = None) -> str:
    """The explanation of a :class:`DeadUnitWarning`; ``epoch`` is 0-based, the text counts
    epochs from 1 (like the progress bar). ``n`` rows were checked, the first of
    ``n_rows`` training rows when that is given and larger."""
    parts = [f"layer {layer} ({layers[layer - 1]!r}): unit{'s' if len(units) > 1 else ''} "
             + ", ".join(str(u) for u in units) for layer, units in dead.items()]
    rows = f"all {n} training rows" if n_rows is None or n_rows <= n else (
        f"all the {n:,} training rows checked (the first of {n_rows:,})")
    return (
        f"Dead ReLU units after epoch {epoch + 1}: {'; '.join(parts)} output 0 for {rows}, "
        "so their derivatives are 0 and their weights can no longer learn. "
        "Try a smaller learning rate, kernel_initializer='he_uniform', or "
        "activation='tanh' for that layer."
    )


def check_combination(layers: Sequence[Any], loss: Any) -> None:
    """Refuse a model whose gradient is zero (almost) everywhere; explain why and what to do.

    * a softmax over one unit outputs the constant 1, so every derivative through it is 0;
    * a (sparse) categorical cross-entropy over one output unit has a single class.

    Examples
    --------
    >>> import gdlab as gd
    >>> check_combination([gd.Dense(1, activation="softmax")],
    ...                   gd.losses.get("mse"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gdlab._checks.UserError: Layer 1 is Dense(1, activation='softmax'): ...
    """
    for number, layer in enumerate(layers, start=1):
        if layer.activation.name == "softmax" and layer.units == 1:
            raise UserError(
                f"Layer {number} is {layer!r}: a softmax over one unit is always 1, so its "
                "gradient is 0 everywhere and nothing before it can learn. Use "
                "Dense(1, activation='sigmoid') for a probability, or give the softmax one "
                "unit per class (at least 2)."
            )
    name = getattr(loss, "name", "")
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy") \
            and layers[-1].units == 1:
        raise UserError(
            f"loss={name!r} with a one-unit output layer has a single class: its loss and "
            "gradient carry no information. For two classes use "
            "Dense(1, activation='sigmoid') with loss='binary_crossentropy'; for k classes "
            "use Dense(k, activation='softmax')."
        )
