"""The compiled executor (numba): whole epochs of the math of :mod:`gdlab.nn` and the
rules of :mod:`gdlab.optim`, without Python between steps."""

from gdlab.kernels.executor import BLOCK_ROWS, EpochResult, Executor, unsupported

__all__ = ["BLOCK_ROWS", "EpochResult", "Executor", "unsupported"]
