"""Batch plans: batch, stochastic and mini-batch gradient descent as one rule.

``batch_size="full"`` is batch gradient descent (all rows, one step per epoch, in data
order), ``1`` is stochastic gradient descent (one row per step) and ``k`` is mini-batch
gradient descent (``ceil(n / k)`` steps, the last batch partial). With ``shuffle=True``
the rows are permuted at the start of every epoch by the run's own
``numpy.random.Generator``, so the same seed gives the same batches.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator

import numpy as np

from gdlab._checks import UserError, UserTypeError
from gdlab._typing import IntArray

__all__ = ["BatchPlan", "check_batch_size", "variant_name"]



def check_batch_size(batch_size: object) -> int | str:
    """Return ``"full"`` or a positive int; raise a clear error for anything else."""
    if isinstance(batch_size, str):
        if batch_size == "full":
            return "full"
        raise UserError(
            f"batch_size must be 'full', 1 or a positive integer k; got "
            f"batch_size={batch_size!r}. Use 'full' for batch gradient descent, 1 for "
            "stochastic, e.g. 32 for mini-batch."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise UserTypeError(
            f"batch_size must be 'full' or a positive integer; got batch_size={batch_size!r}."
        )
    if batch_size < 1:
        raise UserError(
            f"batch_size must be >= 1; got batch_size={batch_size}. Use 'full' for batch "
            "gradient descent, 1 for stochastic, e.g. 32 for mini-batch."
        )
    return int(batch_size)


def variant_name(batch_size: int | str, n: int) -> str:
    """'batch', 'stochastic' or 'mini-batch', as the lecture names them."""
    if batch_size == "full" or batch_size >= n:  # type: ignore[operator]
        return "batch"
    return "stochastic" if batch_size == 1 else "mini-batch"


class BatchPlan:
    """The row indices of each step of each epoch.

    Parameters
    ----------
    n : int
        Number of training rows.
    batch_size : "full" or int
    shuffle : bool
        Permute the rows every epoch (not for full batches, whose gradient does not
        depend on the order).
    rng : numpy.random.Generator

    Examples
    --------
    >>> plan = BatchPlan(5, 2, shuffle=False, rng=np.random.default_rng(0))
    >>> [b.tolist() for b in plan.epoch()]
    [[0, 1], [2, 3], [4]]
    >>> plan.steps_per_epoch
    3
    """

    def __init__(self, n: int, batch_size: int | str, *, shuffle: bool,
                 rng: np.random.Generator) -> None:
        self.n = n
        self.batch_size = n if batch_size == "full" else min(int(batch_size), n)
        self.variant = variant_name(batch_size, n)
        self.shuffle = shuffle and self.batch_size < n
        self.rng = rng

    @property
    def steps_per_epoch(self) -> int:
        """``ceil(n / batch_size)``."""
        return math.ceil(self.n / self.batch_size)

    def order(self) -> IntArray:
        """The row order of the next epoch (draws from the generator when shuffling)."""
        if self.shuffle:
            return self.rng.permutation(self.n)
        return np.arange(self.n)

    def epoch(self) -> Iterator[IntArray]:
        """Yield the row indices of each step of one epoch."""
        order = self.order()
        for start in range(0, self.n, self.batch_size):
            yield order[start:start + self.batch_size]
