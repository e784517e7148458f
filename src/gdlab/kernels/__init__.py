"""The compiled executor (numba): whole epochs of the math of :mod:`gdlab.nn` and the
rules of :mod:`gdlab.optim`, without Python between steps.

``codes`` (the integer codes, from the registries), ``specs`` (the records the kernels
take), ``jit`` (compile options), ``rows`` / ``embeddings`` / ``blocks`` / ``updates`` /
``epoch`` (the compiled math, from one row to one epoch), ``executor`` (the Python glue of
one fit) and ``choice`` (which executor runs a fit, and why). Importing this package does
not import numba: :mod:`gdlab.kernels.choice` decides first; the executor is loaded on
first use.
"""

from __future__ import annotations

from typing import Any

from gdlab.kernels.choice import unsupported

__all__ = ["BLOCK_ROWS", "EpochResult", "Executor", "unsupported"]


def __getattr__(name: str) -> Any:
    """``Executor``, ``EpochResult``, ``BLOCK_ROWS``: imported (with numba) on first use."""
    if name in ("BLOCK_ROWS", "EpochResult", "Executor"):
        from gdlab.kernels import executor

        return getattr(executor, name)
    raise AttributeError(f"module 'gdlab.kernels' has no attribute {name!r}")
