r"""Which executor runs a fit: a cost model that counts compile time (without numba).

``fit(executor="auto")`` runs the compiled executor only when it is expected to finish
the fit sooner than the reference executor, counting what it must do before its first
step. With :math:`E` epochs of :math:`S` steps over :math:`n` rows, :math:`P` parameters
and :math:`L` layers:

.. math::

    T_\text{reference} &= E\,\bigl(S L s + n\,(r + P c)\bigr) \\
    T_\text{compiled}  &= T_\text{start} + E\,\bigl(S s' + n\,(r' + P c')\bigr)

:math:`T_\text{start}` is the import of numba (if this process has not imported it
yet) plus, for the compiled entry point the fit needs (:func:`entry_point`): nothing if
it is compiled in this process, :data:`LOAD` seconds if numba's disk cache holds it
(:func:`gdlab.kernels.cache.cached`), else its compile time (:data:`COMPILE`). The
constants are CPU seconds measured on a 2-core x86-64 machine; only their ratios matter.
So a small fit runs at once on the reference executor (a few milliseconds of work never
pays for a compile, nor for loading numba), a large one compiles, and once the kernels
are compiled in the process every fit they cover uses them.

The decision and its reason are recorded in ``history.params["executor"]`` and
``history.params["executor_reason"]``.

Examples
--------
>>> cost = estimate(n=1000, n_params=21, layers=1, batch_size=32, epochs=5,
...                 start=COMPILE["run_epoch_blocks"])
>>> cost.reference < cost.compiled
True
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

import numpy as np

from gdlab.kernels import cache, codes

__all__ = ["COMPILE", "LOAD", "Cost", "choose", "entry_point", "estimate", "is_glm",
           "unsupported"]

#: reference executor: seconds per step and layer (s), per row (r), per row × parameter
#: (c; a batch of more than 2048 rows makes large temporaries: :data:`REFERENCE_BIG_BATCH`)
REFERENCE_LAYER_STEP, REFERENCE_ROW, REFERENCE_ROW_PARAM = 16e-6, 1e-7, 0.6e-9
REFERENCE_BIG_BATCH = 2e-9
#: compiled executor: seconds per step (s'), per row (r'), per row × parameter (c'; a
#: network's batches of fewer than 16 rows, row by row: :data:`COMPILED_ROW_PATH`)
COMPILED_STEP, COMPILED_ROW, COMPILED_ROW_PARAM = 1e-7, 1e-7, 0.4e-9
COMPILED_ROW_PATH = 2.7e-9
#: seconds to import numba; to load one kernel from numba's disk cache
NUMBA_IMPORT, LOAD = 0.4, 0.2
#: seconds to compile each entry point with everything it calls (empty cache; numba's
#: first compile in a process also sets up its typing and target registries, ~0.7 s)
COMPILE = {"run_epoch_glm": 3.5, "glm_block_gradients": 2.5, "run_epoch_rows": 7.5,
           "run_epoch_blocks": 9.5, "block_gradients": 10.0}
#: the batch sizes of the paths (as gdlab.kernels.blocks.BLOCK_MIN, epoch.BLOCK_ROWS)
_BLOCK_MIN, _BLOCK_ROWS = 16, 2048


class Cost(NamedTuple):
    """Estimated seconds of a fit on each executor (``compiled`` includes the start)."""

    reference: float
    compiled: float


def unsupported(model: Any) -> str | None:
    """Why the compiled executor cannot train ``model`` (None if it can).

    Examples
    --------
    >>> import gdlab as gd
    >>> model = gd.Sequential([gd.Dense(1)], input_dim=1, dtype="float32")
    >>> model.compile(loss="mse")
    >>> unsupported(model) is None
    True
    """
    if model.dtype not in (np.float64, np.float32):
        return ("the compiled executor runs float64 and float32 models; the model has dtype "
                f"{model.dtype}")
    for layer in model.layers:
        if codes.ACTIVATION_CODES.get(layer.activation.name) not in codes.KERNEL_ACTIVATIONS:
            return f"activation {layer.activation!r} has no compiled kernel"
    if codes.LOSS_CODES.get(model.loss.name) not in codes.KERNEL_LOSSES:
        return f"loss {model.loss!r} has no compiled kernel"
    if type(model.optimizer) not in codes.KERNEL_RULES:
        return f"optimizer {model.optimizer!r} is not SGD, Adam, Nadam or RMSprop"
    if type(model.optimizer.schedule) not in codes.KERNEL_SCHEDULES:
        return f"learning-rate schedule {model.optimizer.schedule!r} is not a built-in one"
    return None


def is_glm(model: Any) -> bool:
    """One Dense layer of one unit and no embeddings: the GLM entry points (row by row at
    any batch size)."""
    return (len(model.layers) == 1 and model.layers[0].units == 1
            and getattr(model, "inputs", None) is None)


def entry_point(batch_size: int, glm: bool) -> str:
    """The compiled entry point (in :mod:`gdlab.kernels.epoch`) that runs the epochs.

    >>> entry_point(1, False), entry_point(32, False), entry_point(32, True)
    ('run_epoch_rows', 'run_epoch_blocks', 'run_epoch_glm')
    >>> entry_point(10_000, True)
    'glm_block_gradients'
    """
    if batch_size > _BLOCK_ROWS:
        return "glm_block_gradients" if glm else "block_gradients"
    if glm:
        return "run_epoch_glm"
    return "run_epoch_blocks" if batch_size >= _BLOCK_MIN else "run_epoch_rows"


def estimate(*, n: int, n_params: int, layers: int, batch_size: int, epochs: int,
             start: float, glm: bool = False) -> Cost:
    """The cost model above: seconds on each executor (``start``: T_start)."""
    steps = -(-n // batch_size)
    c = REFERENCE_BIG_BATCH if batch_size > _BLOCK_ROWS else REFERENCE_ROW_PARAM
    reference = epochs * (steps * REFERENCE_LAYER_STEP * layers
                          + n * (REFERENCE_ROW + n_params * c))
    row_path = not glm and batch_size < _BLOCK_MIN
    c_compiled = COMPILED_ROW_PATH if row_path else COMPILED_ROW_PARAM
    compiled = start + epochs * (steps * COMPILED_STEP
                                 + n * (COMPILED_ROW + n_params * c_compiled))
    return Cost(reference, compiled)


def _in_process(kernel: str, dtype: str = "float64") -> bool:
    """Whether this process has compiled (or loaded) the entry point for X of ``dtype``."""
    module = sys.modules.get("gdlab.kernels.epoch")
    return module is not None and any(  # the first argument: the Data record, X first
        str(signature[0].types[0].dtype) == dtype
        for signature in getattr(module, kernel).signatures)


def _start(batch_size: int, glm: bool, dtype: str) -> tuple[float, str]:
    """T_start in seconds, and what it is made of."""
    kernels = [entry_point(batch_size, glm)]
    seconds = 0.0 if "numba" in sys.modules else NUMBA_IMPORT
    states = []
    for kernel in kernels:
        if _in_process(kernel, dtype):
            states.append(f"{kernel} compiled in this process")
        elif cache.cached(kernel):
            seconds += LOAD
            states.append(f"{kernel} in numba's cache")
        else:
            seconds += COMPILE[kernel]
            states.append(f"{kernel} to compile (~{COMPILE[kernel]:.0f} s)")
    return seconds, ", ".join(states)


def choose(model: Any, *, n: int, batch_size: int, epochs: int) -> tuple[str, str]:
    """("compiled" or "numpy", why) for ``executor="auto"`` on a supported model."""
    glm = is_glm(model)
    start, state = _start(batch_size, glm, model.dtype.name)
    cost = estimate(n=n, n_params=int(model.theta.size), layers=len(model.layers),
                    batch_size=batch_size, epochs=epochs, start=start, glm=glm)
    pick = "compiled" if cost.compiled < cost.reference else "numpy"
    return pick, (f"auto: estimated {cost.reference:.3g} s on numpy, {cost.compiled:.3g} s "
                  f"compiled ({state})")
