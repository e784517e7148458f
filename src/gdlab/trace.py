r"""Step records: every number of one gradient-descent update, kept for inspection.

A :class:`Step` holds θ before and after, the batch gradient, the learning rate, the
optimizer state before and after, and the rows of the batch. Its per-row table
(inputs, targets, predictions, per-row losses and partial derivatives) is built on
demand from the training data it references (never copied), so a long trace stays small.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

FloatArray = NDArray[np.floating]

__all__ = ["BatchContext", "Step", "Trace"]


@dataclass(frozen=True)
class BatchContext:
    """What a step's table needs: the model's layers and the run's data (by reference)."""

    layer_configs: list[dict[str, Any]]
    input_dim: int
    loss: Any
    X: FloatArray
    Y: FloatArray
    sample_weight: FloatArray | None = None
    exposure: FloatArray | None = None


@dataclass(frozen=True)
class Step:
    r"""One update :math:`\theta_{t+1} = \theta_t - \eta \nabla \text{Loss}` and its numbers."""

    step: int  #: global step number, 0-based
    epoch: int  #: epoch number, 0-based
    variant: str  #: "batch", "stochastic" or "mini-batch"
    rows: NDArray[np.intp]  #: the rows of the training data in this batch
    learning_rate: float
    loss: float  #: the batch's (weighted) mean loss at θ before
    theta_before: FloatArray
    gradient: FloatArray  #: the batch gradient at θ before
    theta_after: FloatArray
    state_before: Any = None
    state_after: Any = None
    param_names: list[str] = field(default_factory=list)
    context: BatchContext | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return (f"Step(step={self.step}, epoch={self.epoch}, variant={self.variant!r}, "
                f"rows={len(self.rows)}, loss={self.loss:.6g}, "
                f"learning_rate={self.learning_rate:.6g})")


class Trace(list):
    """The recorded steps of a run, in order (a list of :class:`Step`)."""

    def to_frame(self) -> pd.DataFrame:
        """One row per step: step, epoch, variant, learning rate, loss, θ and gradient."""
        records = []
        for s in self:
            record = {"step": s.step, "epoch": s.epoch, "variant": s.variant,
                      "batch_rows": len(s.rows), "learning_rate": s.learning_rate,
                      "loss": s.loss}
            names = s.param_names
            record.update({f"theta[{n}]": v for n, v in zip(names, s.theta_before, strict=True)})
            record.update({f"grad[{n}]": v for n, v in zip(names, s.gradient, strict=True)})
            records.append(record)
        return pd.DataFrame.from_records(records)
