r"""``fit``, ``evaluate`` and ``predict`` on data that is not in memory.

:class:`~gdlab.io.parquet.ParquetSource` (Parquet read row group by row group) and Dask
arrays (:class:`~gdlab.io.dask.DaskData`) offer the same few methods (``n_rows``,
``n_features``, ``total_weight()``, ``full_batch_sums``, ``stream``, ``ordered``), and
this module trains on either:

* ``batch_size="full"``: one step per epoch; its loss and gradient are the sums of the
  chunks' share-weighted sums (:class:`~gdlab.io.chunks.ChunkMath`), so θ follows the
  in-memory full-batch path up to the order of floating-point additions (1e-10 over many
  steps in the tests). The first epoch's pass also gives the loss at θ₀.
* mini-batch and stochastic: the epoch's chunks (row groups, or Dask blocks) come in an
  order drawn from the seed, their rows through a shuffle buffer (``shuffle=True``), and
  are cut into consecutive batches of ``batch_size`` rows; runs of whole batches are
  trained by the compiled executor (:mod:`gdlab.kernels`) in one call, as in memory, or
  step by step by the reference executor. With ``shuffle=False`` the batches are those of
  the in-memory fit without shuffling, and so is θ.

Tracing and per-step callbacks need the whole data at each step and are refused; the
epoch-level callbacks (history, early stopping, divergence guard, schedulers) work, and
the dead-ReLU check looks at the first 65 536 rows (read once, when the fit starts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gdlab._checks import UserError, UserTypeError, check_positive_int, check_seed
from gdlab._typing import FloatArray, IntArray
from gdlab.io.chunks import (
    Chunk,
    ChunkMath,
    ShuffleWindow,
    bare_network,
    is_dask,
    is_external,
)
from gdlab.io.dask import DaskData, as_dask_array
from gdlab.io.parquet import ParquetSource, write_parquet
from gdlab.optim.batches import check_batch_size, variant_name
from gdlab.train.callbacks import Callback, History, ProgressBar
from gdlab.train.diagnostics import first_rows_check
from gdlab.train.loop import grad_norm_logs

__all__ = ["evaluate_external", "fit_external", "is_external", "predict_external"]


def _data(X: Any, y: Any, sample_weight: Any, exposure: Any) -> Any:
    if isinstance(X, ParquetSource):
        given = [name for name, value in (("y", y), ("sample_weight", sample_weight),
                                          ("exposure", exposure)) if value is not None]
        if given:
            raise UserError(f"{', '.join(given)} cannot be given with a ParquetSource; name "
                             "their columns in it: ParquetSource(path, target=…, "
                             "exposure=…, sample_weight=…).")
        return X
    return DaskData(X, y, sample_weight, exposure)


def _check_options(model: Any, data: Any, *, trace: Any, validation_split: float,
                   callbacks: Sequence[Callback] | None) -> None:
    what = "a ParquetSource" if isinstance(data, ParquetSource) else "Dask arrays"
    if trace:
        raise UserError(f"trace is not available when training on {what} (it keeps every "
                       "step's rows); fit an in-memory sample with trace=True instead.")
    if validation_split:
        raise UserError(f"validation_split is not available with {what}; pass "
                       "validation_data=(a ParquetSource or dask arrays of the held-out rows).")
    if any(getattr(c, "per_step", False) for c in callbacks or []):
        raise UserError(f"per-step callbacks are not available with {what}; use epoch-level "
                       "callbacks.")
    if not model.built:
        model.build(data.n_features)
    elif model.input_dim != data.n_features:
        raise UserError(f"The data has {data.n_features} input column(s) (encoded) but the "
                         f"model expects {model.input_dim}. Pass the same columns as at fit "
                         "time.")


def fit_external(model: Any, X: Any, y: Any = None, *, batch_size: int | str = 32,
                 epochs: int = 1, shuffle: bool = True, seed: int | None = None,
                 validation_data: Any = None, validation_split: float = 0.0,
                 sample_weight: Any = None, exposure: Any = None,
                 callbacks: Sequence[Callback] | None = None, verbose: int = 1,
                 trace: bool | int = False, executor: str = "auto") -> History:
    """:meth:`Sequential.fit <gdlab.train.model.Sequential.fit>` on a ParquetSource or
    Dask arrays (same arguments, same History)."""
    model._require_compiled()
    batch_size = check_batch_size(batch_size)
    epochs = check_positive_int("epochs", epochs, hint="Train for at least one epoch.")
    if executor not in ("auto", "numpy", "compiled"):
        raise UserError(f"executor must be 'auto', 'numpy' or 'compiled'; got "
                         f"executor={executor!r}.")
    data = _data(X, y, sample_weight, exposure)
    _use_model_preprocessing(model, data, fit=True)
    _check_options(model, data, trace=trace, validation_split=validation_split,
                   callbacks=callbacks)
    rng = np.random.default_rng(model.seed if check_seed(seed) is None else seed)
    n = data.n_rows
    full = batch_size == "full" or batch_size >= n
    size = n if full else int(batch_size)
    if model.optimizer_state is None:
        model.advance(model.theta, model.optimizer.init(model.theta), 0)
    model.history = History()
    model.history.params = {"epochs": epochs, "batch_size": batch_size,
                            "variant": variant_name(batch_size, n), "steps": math.ceil(n / size),
                            "n": n, "seed": seed, "data": repr(data)}
    callback_list = _callbacks(model, data, callbacks, epochs, verbose)
    compiled = _use_kernels(model, executor)
    model.history.params["executor"] = "compiled" if compiled else "numpy"
    math_ = ChunkMath(model, compiled=compiled) if full else None
    first = _full_batch_sums(model, data, math_) if full else None
    initial = float(first[0]) if full else evaluate_external(model, data, loss_only=True)
    model.history.params["initial_loss"] = initial
    model.stop_training = False
    for callback in callback_list:
        callback.on_train_begin({"initial_loss": initial})
    for epoch in range(epochs):
        for callback in callback_list:
            callback.on_epoch_begin(epoch)
        if full:
            sums = first if epoch == 0 else _full_batch_sums(model, data, math_)
            records = _full_step(model, sums, data.total_weight(), epoch)
        else:
            records = _mini_batch_epoch(model, data, size, rng if shuffle else None, epoch,
                                        compiled=compiled)
        if records is None:
            break
        logs = _epoch_logs(model, data, records, validation_data)
        for callback in callback_list:
            callback.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    for callback in callback_list:
        callback.on_train_end()
    return model.history


def _callbacks(model: Any, data: Any, callbacks: Sequence[Callback] | None, epochs: int,
               verbose: int) -> list[Callback]:
    """History, the divergence guard (its loss at θ: a pass over the data), the dead-ReLU
    check on the first rows (:func:`~gdlab.train.diagnostics.first_rows_check`), the
    user's callbacks and the progress line."""
    user = list(callbacks or [])
    for callback in user:
        if not isinstance(callback, Callback):
            raise UserTypeError(f"callbacks must be gdlab Callback objects; got {callback!r}.")
    guard = model.guard_divergence(lambda: evaluate_external(model, data, loss_only=True))
    dead = first_rows_check(model, data)
    chain = [model.history, guard, *dead, *user, *([ProgressBar(epochs)] if verbose else [])]
    for callback in chain:
        callback.set_model(model)
    return chain


def _use_kernels(model: Any, executor: str) -> bool:
    if executor == "numpy":
        return False
    from gdlab import kernels

    reason = kernels.unsupported(model)
    if reason is not None and executor == "compiled":
        raise UserError(f"executor='compiled' cannot run this fit: {reason}. Use "
                         "executor='numpy' (or 'auto', which picks it).")
    return reason is None


def _full_batch_sums(model: Any, data: Any, math_: ChunkMath) -> FloatArray:
    """``[L, ∇L]`` at the model's θ; a failure leaves θ at the last completed step."""
    try:
        return data.full_batch_sums(math_, model.theta.copy())
    except (ValueError, TypeError):
        raise
    except Exception as error:
        raise RuntimeError(
            f"Computing the gradient of step {model.step_count} failed ({type(error).__name__}: "
            f"{error}). θ is left at its value after {model.step_count} step(s) "
            "(model.step_count); fit again to continue from there.") from error


def _full_step(model: Any, sums: FloatArray, total_weight: float,
               epoch: int) -> dict[str, Any] | None:
    """One full-batch step from ``[L, ∇L]``; None if it diverged (θ restored)."""
    loss, grad = float(sums[0]), sums[1:]
    optimizer = model.optimizer
    eta = optimizer.learning_rate_at(model.step_count)
    if not (math.isfinite(loss) and np.isfinite(grad).all()):
        model.report_divergence(epoch, model.step_count, loss, eta, index=0)
        return None
    delta, state = optimizer.update(grad, model.optimizer_state, learning_rate=eta)
    model.advance(model.theta + delta, state, 1)
    grad_sq = np.array([grad[part] @ grad[part] for part in model.gradient_groups()])
    return {"loss": [loss], "eta": [eta], "weight": [total_weight], "grad_sq": grad_sq}


def _mini_batch_epoch(model: Any, data: Any, batch_size: int,
                      rng: np.random.Generator | None, epoch: int,
                      compiled: bool) -> dict[str, Any] | None:
    """One epoch of mini-batches over the data's chunks; None if it diverged."""
    records: dict[str, Any] = {"loss": [], "eta": [], "weight": [],
                               "grad_sq": np.zeros(len(model.gradient_groups()))}
    window = ShuffleWindow(data.shuffle_buffer, batch_size, rng)
    units = model.layers[-1].units
    stream = data.stream(rng)
    try:
        for chunk in stream:
            Y = model.loss.check_target(chunk.y, units)
            rows = window.push(Chunk(chunk.X, Y, chunk.w, chunk.e))
            if rows is not None and not _run_batches(model, window.data, rows, batch_size,
                                                     epoch, records, compiled):
                return None
        rows = window.finish()
        if rows is not None and not _run_batches(model, window.data, rows, batch_size, epoch,
                                                 records, compiled):
            return None
    finally:
        stream.close()
    return records


def _run_batches(model: Any, data: Chunk, rows: IntArray, batch_size: int, epoch: int,
                 records: dict[str, Any], compiled: bool) -> bool:
    """Train on consecutive batches of ``data``'s ``rows`` (targets in the loss's form);
    False if a step diverged (θ restored)."""
    if not compiled:
        return _run_numpy(model, data, rows, batch_size, epoch, records)
    from gdlab import kernels

    done = len(records["loss"])
    result = kernels.Executor(model, data.X, data.y, data.w, data.e).run_epoch(
        model.theta, model.optimizer_state, model.step_count, model.optimizer, rows,
        batch_size)
    model.advance(result.theta, result.optimizer_state, result.steps)
    taken = result.steps if result.diverged < 0 else result.diverged + 1
    records["loss"] += result.step_loss[:taken].tolist()
    records["eta"] += result.step_learning_rate[:taken].tolist()
    records["weight"] += result.batch_weight[:taken].tolist()
    records["grad_sq"] += result.grad_sq
    if result.diverged < 0:
        return True
    index = result.diverged
    model.report_divergence(epoch, model.step_count, float(result.step_loss[index]),
                             float(result.step_learning_rate[index]), index=done + index)
    return False


def _run_numpy(model: Any, data: Chunk, rows: IntArray, batch_size: int, epoch: int,
               records: dict[str, Any]) -> bool:
    """The reference executor's steps over consecutive batches of ``rows``."""
    optimizer, groups = model.optimizer, model.gradient_groups()
    for lo in range(0, rows.size, batch_size):
        batch = data.take(rows[lo:lo + batch_size])
        eta = optimizer.learning_rate_at(model.step_count)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result = model.loss_and_gradient(model.loss, batch.X.astype(model.dtype, copy=False),
                                             batch.y, sample_weight=batch.w, exposure=batch.e)
        grad = result.gradient
        if not (math.isfinite(result.loss) and np.isfinite(grad).all()):
            model.report_divergence(epoch, model.step_count, result.loss, eta,
                                     index=len(records["loss"]))
            return False
        delta, state = optimizer.update(grad, model.optimizer_state, learning_rate=eta)
        model.advance(model.theta + delta, state, 1)
        records["loss"].append(result.loss)
        records["eta"].append(eta)
        records["weight"].append(batch.weight())
        records["grad_sq"] += [grad[part] @ grad[part] for part in groups]
    return True


def _epoch_logs(model: Any, data: Any, records: dict[str, Any],
                validation_data: Any) -> dict[str, float]:
    """The epoch's logs, as the in-memory fit writes them."""
    step_loss, step_eta = np.array(records["loss"]), np.array(records["eta"])
    weight = np.array(records["weight"])
    model.history.step_loss.append(step_loss)
    model.history.step_learning_rate.append(step_eta)
    logs = {"loss": float(weight @ step_loss / weight.sum()),
            "learning_rate": float(step_eta[-1])}
    logs.update(grad_norm_logs(records["grad_sq"], step_loss.size, len(model.layers)))
    if model.metrics:
        logs.update({k: v for k, v in evaluate_external(model, data).items() if k != "loss"})
    if validation_data is not None:
        logs.update(_validation(model, validation_data))
    return logs


def _validation(model: Any, validation_data: Any) -> dict[str, float]:
    if is_external(validation_data):
        result = evaluate_external(model, validation_data)
    elif isinstance(validation_data, tuple | list) and 2 <= len(validation_data) <= 4:
        result = model.evaluate(*validation_data[:2], sample_weight=_at(validation_data, 2),
                                exposure=_at(validation_data, 3))
    else:
        raise UserError("validation_data must be a ParquetSource, dask arrays or a tuple "
                         "(X_val, y_val[, sample_weight[, exposure]]).")
    if not isinstance(result, dict):
        return {"val_loss": float(result)}
    return {f"val_{key}": value for key, value in result.items()}


def _at(values: Sequence[Any], index: int) -> Any:
    return values[index] if len(values) > index else None


def _use_model_preprocessing(model: Any, data: Any, *, fit: bool = False) -> None:
    """Encode a ParquetSource as at fit time: with the model's preprocessing, if it has
    one; a first fit fits it (one streaming pass) and keeps it with the model."""
    if not isinstance(data, ParquetSource):
        return
    fitted = getattr(model, "preprocessing", None)
    if data.preprocessor is None and fitted is not None:
        data.preprocessor = fitted
    elif fit:
        model.preprocessing = data.require_preprocessor()
    elif data.preprocessor is None and data.standardize:
        raise UserError(
            "The model keeps no preprocessing (it was not fitted on a ParquetSource), so "
            "this source's columns cannot be encoded as at fit time. Pass "
            "ParquetSource(…, preprocessor=…) (e.g. gdlab.train.saving.load_saved(path)."
            "preprocessing), or standardize=False for numeric features used as they are.")


def evaluate_external(model: Any, X: Any, y: Any = None, *, sample_weight: Any = None,
                      exposure: Any = None, loss_only: bool = False) -> Any:
    r"""The (weighted) mean loss (and metrics) over all rows, chunk by chunk.

    Each chunk's weighted means are weighted by its share :math:`W_c / W` of the weight.
    """
    data = X if isinstance(X, ParquetSource | DaskData) else _data(X, y, sample_weight,
                                                                    exposure)
    _use_model_preprocessing(model, data)
    if not model.built:
        model.build(data.n_features)
    total_weight = data.total_weight()
    totals: dict[str, float] = {}
    for chunk in data.ordered():
        share = chunk.weight() / total_weight
        if share == 0:
            continue
        value = model.evaluate(chunk.X, chunk.y, sample_weight=chunk.w, exposure=chunk.e)
        value = value if isinstance(value, dict) else {"loss": value}
        for key, number in value.items():
            totals[key] = totals.get(key, 0.0) + share * number
    if loss_only or not model.metrics:
        return totals["loss"]
    return totals


def predict_external(model: Any, X: Any, *, exposure: Any = None,
                     out: str | Path | None = None) -> Any:
    """Predictions chunk by chunk: written to the Parquet file ``out`` (its path returned),
    or returned as one array (a dask array for Dask input, computed lazily)."""
    if is_dask(X):
        if out is not None:
            raise UserError("out= is for ParquetSource input; with Dask, predict returns a "
                             "dask array: write it with dask's to_parquet or to_zarr.")
        return _predict_dask(model, X, exposure)
    if exposure is not None:
        raise UserError("exposure cannot be given with a ParquetSource; name its column: "
                         "ParquetSource(path, exposure='…').")
    _use_model_preprocessing(model, X)
    units = model.layers[-1].units
    names = ["prediction"] if units == 1 else [f"prediction_{j}" for j in range(units)]
    blocks = (model.predict(chunk.X, exposure=chunk.e)
              for chunk in X.ordered(need_target=False))
    if out is None:
        return np.concatenate(list(blocks))
    return write_parquet(out, blocks, names)


def _predict_dask(model: Any, X: Any, exposure: Any) -> Any:
    X = as_dask_array(X, "X", None)
    X = X[:, None] if X.ndim == 1 else X
    bare = bare_network(model)
    bare.set_theta(model.theta)
    out = X.map_blocks(bare.output, chunks=(X.chunks[0], (model.layers[-1].units,)),
                       dtype=float)
    if exposure is not None:
        out = out * as_dask_array(exposure, "exposure", X.chunks[0])[:, None]
    return out
