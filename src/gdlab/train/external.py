"""Data beyond memory reaches ``fit``, ``evaluate`` and ``predict`` through one decorator.

:func:`out_of_core` wraps a :class:`~gdlab.train.model.Sequential` method: called with a
:class:`~gdlab.io.parquet.ParquetSource` or Dask arrays, it runs the method's
counterpart in :mod:`gdlab.train.streaming` (``fit_external``, ``evaluate_external``,
``predict_external``: same arguments, plus ``out=`` for ``predict``); with anything
else, the method itself. The streaming module (and pyarrow) is imported on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from gdlab.io.chunks import is_external

__all__ = ["out_of_core"]


def out_of_core(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method``, or its out-of-core counterpart for a ParquetSource or Dask arrays."""
    name = f"{method.__name__}_external"

    @functools.wraps(method)
    def dispatch(self: Any, X: Any, *args: Any, **kwargs: Any) -> Any:
        if is_external(X):
            from gdlab.train import streaming

            return getattr(streaming, name)(self, X, *args, **kwargs)
        return method(self, X, *args, **kwargs)

    return dispatch
