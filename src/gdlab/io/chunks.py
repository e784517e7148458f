r"""Data in chunks: per-chunk loss and gradient sums, a shuffle buffer, a prefetch thread.

The pieces shared by the Parquet source (:mod:`gdlab.io.parquet`) and Dask arrays
(:mod:`gdlab.io.dask`), whatever holds the rows.

**Full batch as a sum of chunks.** The batch loss and gradient are weighted means over
all n rows, with each row's share :math:`s_i = w_i / \sum_j w_j` (or :math:`1/n`):

.. math:: L = \sum_c \sum_{i \in c} s_i L_i, \qquad
          \nabla L = \sum_c \sum_{i \in c} s_i \nabla L_i

so a chunk c contributes :math:`\sum_{i\in c} s_i (L_i, \nabla L_i)`, which needs only the
total weight :math:`\sum_j w_j` (or n), known before the first step. :class:`ChunkMath`
computes that contribution with the compiled kernels (:mod:`gdlab.kernels`) when they
cover the model, else with the NumPy network of :mod:`gdlab.nn.network` (the chunk's own
weighted mean times the chunk's share of the weight, :math:`W_c / W`). Chunk sums add up
to the in-memory full-batch gradient up to the order of floating-point additions.

**Shuffle buffer** (:class:`ShuffleWindow`), as ``tf.data``'s: rows enter a buffer of
``size`` rows chunk by chunk; whenever it holds more, the excess is drawn uniformly at
random (without replacement) from the whole buffer and queued in the order drawn; at the
end of the epoch the rest is queued in a random permutation. Batches are consecutive
rows of the queue.

**Prefetch** (:func:`prefetch`): the next chunks are read by a background thread while
the current one is computed on (reading Parquet and NumPy's matrix products release the
GIL).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np

from gdlab._typing import FloatArray, IntArray
from gdlab.nn.embedding import Inputs
from gdlab.nn.layers import Dense
from gdlab.nn.network import Network

__all__ = ["Chunk", "ChunkMath", "ShuffleWindow", "bare_network", "concat_chunks", "is_dask",
           "is_external", "prefetch"]


def is_dask(value: Any) -> bool:
    """Whether ``value`` is a Dask collection (array, dataframe or series), without
    importing Dask."""
    return type(value).__module__.split(".")[0] in ("dask", "dask_expr")


def is_external(value: Any) -> bool:
    """Whether ``value`` is data read in chunks: a Dask collection, or a source with the
    chunk protocol (``full_batch_sums``, ``stream``, ``ordered``: a ParquetSource)."""
    return is_dask(value) or hasattr(type(value), "full_batch_sums")


class Chunk(NamedTuple):
    """Rows of a data set: inputs, raw target, sample weights and exposure (or None)."""

    X: FloatArray
    y: FloatArray
    w: FloatArray | None
    e: FloatArray | None

    @property
    def rows(self) -> int:
        """The number of rows."""
        return int(self.X.shape[0])

    def weight(self) -> float:
        """The chunk's total weight: its rows, or the sum of its sample weights."""
        return float(self.rows if self.w is None else self.w.sum())

    def take(self, rows: Any) -> Chunk:
        """The given rows (an index array or a slice)."""
        if isinstance(rows, slice):
            return Chunk(*(None if a is None else a[rows] for a in self))
        return Chunk(*(None if a is None else a.take(rows, axis=0) for a in self))


def concat_chunks(chunks: list[Chunk]) -> Chunk:
    """The rows of several chunks, one after the other."""
    if len(chunks) == 1:
        return chunks[0]
    return Chunk(*(None if chunks[0][i] is None else np.concatenate([c[i] for c in chunks])
                   for i in range(4)))


def bare_network(model: Any) -> Network:
    """A copy of the model's network alone (layers, embeddings; no history, no optimizer):
    small to send to a worker; set its θ with ``set_theta``."""
    inputs = getattr(model, "inputs", None)
    return Network([Dense(**layer.get_config()) for layer in model.layers],
                   input_dim=model.input_dim, dtype=model.dtype.name,
                   inputs=None if inputs is None else Inputs.from_config(inputs.get_config()))


class ChunkMath:
    r"""One chunk's share-weighted loss and gradient sums for a model, at any θ.

    Picklable (it is sent to Dask workers): it keeps the kernels' codes of the model, or
    a bare copy of its network, and the loss; never the model itself.

    Parameters
    ----------
    model : Sequential
        A compiled, built model.
    compiled : bool
        Use the compiled kernels when they cover the model (else the NumPy network).
    """

    def __init__(self, model: Any, *, compiled: bool = True) -> None:
        from gdlab import kernels  # lazy: numba is imported only when it is used

        self.loss = model.loss
        self.units = model.layers[-1].units
        self.n_params = model.n_params
        self.dtype = model.dtype
        self.specs: tuple[Any, ...] | None = None
        self.network: Network | None = None
        if compiled and model.dtype == np.float64 and kernels.unsupported(model) is None:
            from gdlab.kernels import choice, specs

            glm = choice.is_glm(model)
            self.specs = (specs.network_spec(model), specs.loss_spec(model),
                          "glm_block_gradients" if glm else "block_gradients")
        else:
            self.network = bare_network(model)

    @property
    def compiled(self) -> bool:
        """Whether the sums are computed by the compiled kernels."""
        return self.specs is not None

    def sums(self, theta: FloatArray, chunk: Chunk, total_weight: float) -> FloatArray:
        r"""``[Σ sᵢ Lᵢ, Σ sᵢ ∇Lᵢ]`` over the chunk's rows, :math:`s_i = w_i / W` (or 1/W).

        ``total_weight`` is W: the sum of all sample weights of the data set, or its
        number of rows.
        """
        out = np.zeros(1 + self.n_params)
        if chunk.rows == 0 or (chunk.w is not None and not chunk.w.sum() > 0):
            return out
        Y = self.loss.check_target(chunk.y, self.units)
        if self.specs is not None:
            return self._compiled(theta, chunk, Y, total_weight, out)
        network = self.network
        network.set_theta(theta)  # type: ignore[union-attr]
        X = chunk.X.astype(self.dtype, copy=False)
        result = network.loss_and_gradient(self.loss, X, Y,  # type: ignore[union-attr]
                                           sample_weight=chunk.w, exposure=chunk.e)
        share = chunk.weight() / total_weight
        out[0] = share * result.loss
        out[1:] = share * result.gradient
        return out

    def _compiled(self, theta: FloatArray, chunk: Chunk, Y: FloatArray, total_weight: float,
                  out: FloatArray) -> FloatArray:
        """The kernels' full-batch block pass over the chunk, in this thread."""
        from gdlab.kernels.epoch import BLOCK_ROWS, ENTRY_POINTS
        from gdlab.kernels.specs import Data

        net, loss, entry = self.specs  # type: ignore[misc]
        m = chunk.rows
        n_blocks = -(-m // BLOCK_ROWS)
        partial, losses = np.empty((n_blocks, self.n_params)), np.empty(n_blocks)
        data = Data(np.ascontiguousarray(chunk.X, dtype=float), np.ascontiguousarray(Y),
                    *(np.empty(0) if a is None else np.ascontiguousarray(a, dtype=float)
                      for a in (chunk.w, chunk.e)))
        order = np.arange(m, dtype=np.int64)  # the GLM path reads its rows through it
        ENTRY_POINTS[entry](data, order, True, 0, m, float(total_weight),
                            np.ascontiguousarray(theta, dtype=float), net, loss, partial,
                            losses, 0, n_blocks)
        out[1:] = partial.sum(axis=0)
        loss_sum = float(losses.sum())
        out[0] = loss_sum if chunk.w is not None else loss_sum / total_weight
        return out


class ShuffleWindow:
    """Rows in, batches out: a shuffle buffer of ``size`` rows (tf.data-like), by index.

    Rows enter a window (arrays allocated once) chunk by chunk. With a generator, whenever
    more than ``size`` rows wait in the buffer, the excess is drawn uniformly at random,
    without replacement, from all waiting rows and queued in the order drawn; at the end
    of the epoch (:meth:`finish`) the rest is queued in a random permutation. Without one
    (``rng=None``) rows are queued in the order they came. The queue leaves as row indices
    into :attr:`data`, whole batches at a time (the last batch of the epoch may be
    partial); the rows stay in place until the next :meth:`push`, and the kernels gather
    them as they gather in-memory rows. Each row is copied once, into the window.

    Examples
    --------
    >>> window = ShuffleWindow(4, 2, np.random.default_rng(0))
    >>> window.push(Chunk(np.arange(6.0)[:, None], np.arange(6.0), None, None)).size
    2
    >>> rows = window.finish()
    >>> rows.size, window.data.y[rows].tolist() != [0.0, 1.0, 2.0, 3.0]
    (4, True)
    """

    def __init__(self, size: int, batch_size: int, rng: np.random.Generator | None) -> None:
        self.size = int(size) if rng is not None else 0
        self.batch_size = int(batch_size)
        self.rng = rng
        self.data: Chunk | None = None
        self._free = np.empty(0, dtype=np.int64)  # free slots of the window
        self._waiting = np.empty(0, dtype=np.int64)  # rows in the buffer, not yet drawn
        self._queued = np.empty(0, dtype=np.int64)  # drawn, not yet handed out
        self._handed = np.empty(0, dtype=np.int64)  # handed out: free at the next push

    def _room(self, chunk: Chunk) -> None:
        """Enough free slots for ``chunk`` (the window grows the first time, or if needed)."""
        self._free = np.concatenate([self._free, self._handed])
        self._handed = self._handed[:0]
        if self._free.size >= chunk.rows:
            return
        old = 0 if self.data is None else self.data.rows
        grow = max(chunk.rows - self._free.size, self.size + chunk.rows + self.batch_size - old)
        arrays = []
        for index, a in enumerate(chunk):
            if a is None:
                arrays.append(None)
                continue
            bigger = np.empty((old + grow, *a.shape[1:]), dtype=a.dtype)
            if self.data is not None:
                bigger[:old] = self.data[index]
            arrays.append(bigger)
        self.data = Chunk(*arrays)
        self._free = np.concatenate([self._free, np.arange(old, old + grow)])

    def push(self, chunk: Chunk) -> IntArray | None:
        """Add a chunk's rows; return the indices of whole batches ready (or None)."""
        self._room(chunk)
        slots, self._free = self._free[:chunk.rows], self._free[chunk.rows:]
        for target, source in zip(self.data, chunk, strict=True):  # type: ignore[arg-type]
            if target is not None:
                target[slots] = source
        self._waiting = np.concatenate([self._waiting, slots])
        excess = self._waiting.size - self.size
        if excess > 0:
            if self.rng is None:
                drawn, self._waiting = self._waiting, self._waiting[:0]
            else:
                picked = self.rng.choice(self._waiting.size, size=excess, replace=False)
                drawn = self._waiting[picked]
                keep = np.ones(self._waiting.size, dtype=bool)
                keep[picked] = False
                self._waiting = self._waiting[keep]
            self._queued = np.concatenate([self._queued, drawn])
        whole = self._queued.size - self._queued.size % self.batch_size
        return self._hand_out(whole)

    def finish(self) -> IntArray | None:
        """The rest of the epoch: the buffer's rows in a random permutation, all handed out."""
        rest = self._waiting if self.rng is None else self.rng.permutation(self._waiting)
        self._queued = np.concatenate([self._queued, rest])
        self._waiting = self._waiting[:0]
        return self._hand_out(self._queued.size)

    def _hand_out(self, count: int) -> IntArray | None:
        if count == 0:
            return None
        self._handed, self._queued = self._queued[:count], self._queued[count:]
        return self._handed


_DONE = object()


def prefetch(items: Iterable[Any], depth: int = 2) -> Iterator[Any]:
    """Iterate over ``items``, produced ``depth`` ahead by a background thread.

    An exception in the producer is raised in the consumer, at the item where it
    happened. Stopping early (``close()`` or garbage collection of the generator) stops
    the thread after at most one more item.

    Examples
    --------
    >>> list(prefetch(iter(range(5))))
    [0, 1, 2, 3, 4]
    """
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                slots.put((item, None))
        except BaseException as error:  # handed to the consumer, raised there
            slots.put((None, error))
            return
        slots.put((_DONE, None))

    thread = threading.Thread(target=produce, name="gdlab-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                slots.get(timeout=0.05)
            except queue.Empty:
                pass
