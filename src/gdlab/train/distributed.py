"""Work on a Dask cluster that is not a single fit: the learning-rate sweep's runs as tasks.

A fit on Dask arrays is :mod:`gdlab.train.streaming` over :class:`gdlab.io.dask.DaskData`.
Here, :func:`sweep_on_cluster` runs each learning rate of
:func:`gdlab.train.sweep.learning_rate_sweep` as one task: the data is sent to the
workers once (``client.scatter``), every task trains its own copy of the model from the same θ₀ with
the same seed, so the table equals the local sweep's, bit for bit with an explicit
``executor`` ("auto" weighs the compile time still to pay in each process, so a fresh
worker may pick the reference executor where a warm client picks the compiled one: the
two agree to about 1e-12). A lost worker's task
is retried by Dask on another worker (``allowed_failures``); a task that fails for good
raises its error here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gdlab.io.chunks import is_dask

__all__ = ["sweep_on_cluster"]


def _scatter(client: Any, value: Any) -> Any:
    """An in-memory array sent to every worker once (None stays None)."""
    return None if value is None else client.scatter(value, broadcast=True)


def sweep_on_cluster(client: Any, run: Callable[..., tuple[dict[str, Any], Any]],
                     template: Any, X: Any, y: Any, rates: Sequence[float], optimizer: Any,
                     fit_args: dict[str, Any]) -> list[tuple[dict[str, Any], Any]]:
    """``[run(template, X, y, rate, optimizer, fit_args) for rate in rates]``, each a task.

    Parameters
    ----------
    client : distributed.Client
    run : callable
        One run of the sweep (:func:`gdlab.train.sweep._one_run`).
    template, X, y, rates, optimizer, fit_args
        As :func:`~gdlab.train.sweep.learning_rate_sweep` passes them.
    """
    if not hasattr(client, "submit") or not hasattr(client, "gather"):
        raise TypeError(f"client must be a distributed.Client; got {client!r}.")
    if any(is_dask(value) for value in (X, y, fit_args.get("sample_weight"),
                                        fit_args.get("exposure"))):
        raise ValueError("learning_rate_sweep(client=…) trains each rate in memory on a "
                         "worker: pass NumPy arrays (or compute the dask arrays first), or "
                         "run the sweep without client= to fit each rate on the Dask arrays.")
    data = [_scatter(client, value) for value in (X, y, fit_args.get("sample_weight"),
                                                   fit_args.get("exposure"))]
    args = dict(fit_args, sample_weight=data[2], exposure=data[3])
    futures = [client.submit(run, template, data[0], data[1], rate, optimizer, args,
                             pure=False) for rate in rates]
    return client.gather(futures)
