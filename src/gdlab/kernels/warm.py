"""Compile every entry point into numba's disk cache ahead of time.

``python -m gdlab.kernels.warm [--dtype float64 float32]``.

pip installs wheels without running code, so gdlab cannot compile at install time; run
this once where a classroom image, a container or a CI cache is built. Each later
process then loads the kernels (about 0.6 s) instead of compiling them, and
``executor="auto"`` (:mod:`gdlab.kernels.choice`) counts the load, not the compile.
It compiles, for each dtype asked, the five entry points of :mod:`gdlab.kernels.epoch`
(a GLM and a network; row by row, in blocks, and the parallel full batch) by running
one tiny epoch of each.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from gdlab.kernels import epoch
from gdlab.kernels.executor import Executor
from gdlab.nn import activations, losses
from gdlab.nn.layers import Dense
from gdlab.optim import optimizers

__all__ = ["main", "warm"]


class _Model:
    """The little a model shows the executor: its layers, loss and dtype (no embeddings:
    their kernels are the network's, with the same types)."""

    inputs = None

    def __init__(self, units: Sequence[int], dtype: str) -> None:
        self.input_dim, self.dtype = 2, np.dtype(dtype)
        self.layers = []
        for n_in, n_out in zip([2, *units[:-1]], units, strict=True):
            layer = Dense(n_out, activation="tanh")
            layer.build(n_in)
            self.layers.append(layer)
        self.layers[-1].activation = activations.get("sigmoid")
        self.loss = losses.get("binary_crossentropy")


def warm(dtypes: Sequence[str] = ("float64",)) -> dict[str, float]:
    """Compile (or load) every entry point for each dtype; seconds taken by each."""
    seconds = {}
    n = epoch.BLOCK_ROWS + 1  # one more than a block: the full-batch path
    X, y = np.zeros((n, 2)), np.zeros((n, 1))
    for dtype in dtypes:
        for units, batch_sizes in (([1], (1, n)), ([3, 1], (1, 16, n))):
            model = _Model(units, dtype)
            executor = Executor(model, X.astype(dtype), y, None, None)
            theta = np.zeros(sum(layer.n_params for layer in model.layers), dtype=dtype)
            optimizer = optimizers.SGD(0.1)
            for batch_size in batch_sizes:
                start = time.perf_counter()
                executor.run_epoch(theta, optimizer.init(theta), 0, optimizer,
                                   np.arange(n), batch_size)
                seconds[f"{dtype} {units} batch {batch_size}"] = time.perf_counter() - start
    return seconds


def main(argv: Sequence[str] | None = None) -> None:
    """The command line: ``python -m gdlab.kernels.warm [--dtype float64 float32]``."""
    parser = argparse.ArgumentParser(prog="python -m gdlab.kernels.warm", description=__doc__)
    parser.add_argument("--dtype", nargs="+", default=["float64"],
                        choices=["float64", "float32"])
    for name, took in warm(parser.parse_args(argv).dtype).items():
        print(f"{name}: {took:.2f} s")


if __name__ == "__main__":
    main()
