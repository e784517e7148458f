r"""``gdlab fit`` and ``gdlab lr-sweep`` beyond memory: streamed Parquet, Dask clusters.

``gdlab fit DATA`` streams DATA (a Parquet file, a folder or a glob of them) row group by
row group (:class:`gdlab.io.parquet.ParquetSource`) when ``--stream`` is given, or when
the table would need more than ``--memory-limit`` in memory: rows × used columns × 8
bytes × 3 (the table, the encoded inputs and the fit's copies). The validation rows are
then whole row groups, drawn from ``--seed`` (about ``--validation-split`` of the rows).
metrics.json holds the in-memory run's metrics, computed in passes over the chunks
(:mod:`gdlab.cli.streamed_metrics`).
``gdlab lr-sweep DATA --stream`` (or beyond ``--memory-limit``) trains each rate on the
streamed source.

``--dask ADDRESS`` uses a running scheduler, ``--dask local:N`` starts a ``LocalCluster``
of N worker processes (one thread each) for the command: ``fit`` reads DATA on the workers
(``dask.dataframe``), encodes it there with the preprocessing fitted in one streaming
pass, and trains on the Dask arrays (full batch: the gradient is computed where the rows
are); ``lr-sweep`` runs each learning rate as a task (on the data sent to the workers,
or, with ``--stream``, streaming DATA on the worker).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gdlab.cli.presets import LOG_LINK, build_model, optimizer_from_name
from gdlab.cli.runs import CommandError
from gdlab.cli.streamed_metrics import streamed_metrics, streamed_stability_note
from gdlab.io.parquet import ParquetSource
from gdlab.io.preprocessing import encode_target
from gdlab.train.callbacks import DivergenceWarning, EarlyStopping, ProgressBar
from gdlab.train.sweep import learning_rate_sweep

__all__ = ["dask_client", "run_streamed_fit", "run_streamed_sweep", "wants_streaming"]


def _is_parquet_set(data: str) -> bool:
    path = Path(data)
    return (path.is_dir() or any(char in data for char in "*?[")
            or path.suffix.lower() in (".parquet", ".pq"))


def wants_streaming(args: argparse.Namespace, *, dask_streams: bool = True) -> bool:
    """Whether ``gdlab fit`` (``lr-sweep``) streams DATA (or sends it to Dask) rather than
    reading it. ``dask_streams=False`` (lr-sweep): ``--dask`` alone keeps DATA in memory,
    sent to the workers; only ``--stream`` and ``--memory-limit`` stream."""
    dask = bool(args.dask) and dask_streams
    if not (args.stream or dask or (args.memory_limit and _is_parquet_set(args.data))):
        return False
    if not _is_parquet_set(args.data):
        flags = "--stream and --dask" if dask_streams else "--stream"
        raise CommandError(f"{flags} read Parquet (a file, a folder or a glob); "
                           f"{args.data} is not. Convert it to Parquet first.")
    if args.stream or dask:
        return _can_stream(args)
    source = ParquetSource(args.data)
    used = len(args.features or source.features) + 2
    return source.n_rows * used * 8 * 3 > args.memory_limit and _can_stream(args)


def _can_stream(args: argparse.Namespace) -> bool:
    """True, or the one-line error for a flag the streamed and Dask fits do not have."""
    for flag in ("offset_model", "embedding_dim"):
        if getattr(args, flag, None):
            raise CommandError(f"--{flag.replace('_', '-')} needs DATA in memory; the streamed "
                               "and Dask fits (--stream, --dask, Parquet beyond "
                               "--memory-limit) do not have it. Drop --stream / --dask or "
                               "raise --memory-limit.")
    return True


@contextmanager
def dask_client(spec: str | None) -> Iterator[Any]:
    """A ``distributed.Client`` for ``--dask ADDRESS`` or ``--dask local:N`` (None: none)."""
    if not spec:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise CommandError("--dask needs Dask: pip install 'gdlab[dask]'.") from None
    cluster = None
    if spec.startswith("local:"):
        workers = spec.split(":", 1)[1]
        if not workers.isdigit() or int(workers) < 1:
            raise CommandError(f"--dask local:N needs a number of workers N >= 1; got {spec!r}.")
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                               dashboard_address=None)
    try:
        client = Client(cluster if cluster is not None else spec, timeout=30)
    except OSError as error:
        raise CommandError(f"Could not reach the Dask scheduler {spec}: {error}.") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _columns(source: ParquetSource, names: list[str]) -> dict[str, np.ndarray]:
    """Whole columns (the target, the exposure: small), read by projection."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for _, batch in source.frames(columns=names):
        for name in names:
            parts[name].append(np.asarray(batch.column(name).to_numpy(zero_copy_only=False),
                                          dtype=float))
    return {name: np.concatenate(values) for name, values in parts.items()}


def _split(source: ParquetSource, fraction: float,
           seed: int) -> tuple[ParquetSource, ParquetSource | None]:
    """Training and validation row groups (random, seeded; about ``fraction`` of the rows)."""
    if fraction == 0.0:
        return source, None
    if len(source.pieces) < 2:
        raise CommandError("--validation-split needs at least 2 row groups when streaming; "
                           "write DATA with smaller row groups or use --validation-split 0.")
    order = np.random.default_rng(seed).permutation(len(source.pieces))
    rows = np.cumsum([source.pieces[i].rows for i in order])
    n_val = min(int(np.searchsorted(rows, math.ceil(fraction * source.n_rows))) + 1,
                len(order) - 1)
    return source.subset(sorted(order[n_val:])), source.subset(sorted(order[:n_val]))


def _on_dask(source: ParquetSource, train: ParquetSource, client: Any) -> tuple[Any, ...]:
    """X, y, exposure of ``train``'s files as Dask arrays, read and encoded on the workers."""
    import dask.dataframe as dd

    if train is not source:
        raise CommandError("--dask trains on all of DATA: add --validation-split 0.")
    preprocessing = source.require_preprocessor()
    frame = dd.read_parquet(source.files, columns=source.columns)
    extra = [c for c in (source.target, source.exposure) if c]
    names = [*preprocessing.feature_names, *extra]

    def encode(part: pd.DataFrame) -> pd.DataFrame:
        columns = np.column_stack([preprocessing.transform(part), part[extra].to_numpy(float)])
        return pd.DataFrame(columns, columns=names)

    meta = pd.DataFrame({name: pd.Series(dtype=float) for name in names})
    encoded = frame.map_partitions(encode, meta=meta)
    # optimised first: dask-expr may fuse small projected partitions when it computes
    # the lengths, which then no longer match the unoptimised partitions
    encoded = encoded.optimize() if hasattr(encoded, "optimize") else encoded
    table = encoded.to_dask_array(lengths=True)
    k = len(preprocessing.feature_names)
    return table[:, :k], table[:, k], table[:, k + 1] if source.exposure else None


def _source_and_model(args: argparse.Namespace,
                      learning_rate: float) -> tuple[ParquetSource, Any, list[Any] | None]:
    """The source of DATA (its preprocessing fitted in one streaming pass, on all rows, as
    ``gdlab fit`` fits it) and the preset model at ``learning_rate``; the classes."""
    if args.exposure and args.model not in (*LOG_LINK, "linear"):
        raise CommandError(f"--exposure is for rate models (poisson, gamma, tweedie, linear), "
                           f"not --model {args.model}.")
    source = ParquetSource(args.data, target=args.target, features=args.features,
                           exposure=args.exposure, categorical=args.categorical)
    columns = _columns(source, [c for c in (args.target, args.exposure) if c])
    y, exposure = columns[args.target], columns.get(args.exposure)
    encode_target(pd.Series(y, name=args.target), args.model)  # the kind's checks
    classes = sorted(set(y.tolist())) if args.model in ("logistic", "softmax") else None
    source.require_preprocessor()
    model = build_model(args.model, source.n_features, y, exposure=exposure,
                        n_classes=len(classes or []), hidden=args.hidden,
                        activation=args.activation, seed=args.seed, power=args.power,
                        optimizer=optimizer_from_name(args.optimizer, learning_rate))
    return source, model, classes


def _prefixed(prefix: str, metrics: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}{key}": value for key, value in metrics.items()}


def run_streamed_fit(args: argparse.Namespace, folder: Path) -> str:
    """Train on streamed Parquet (or on Dask); write the run folder; return a summary.

    metrics.json holds the in-memory run's keys (:func:`gdlab.cli.fitting.metrics_for`),
    computed in passes over the chunks (:mod:`gdlab.cli.streamed_metrics`): ``train_*``
    on the training row groups, ``val_*`` on the validation ones (a Dask fit has none).
    """
    from gdlab.cli.fitting import _summary_text

    source, model, classes = _source_and_model(args, args.learning_rate)
    train, validation = _split(source, args.validation_split, args.seed)
    callbacks: list[Any] = [] if args.quiet else [ProgressBar(args.epochs, stream=sys.stdout)]
    if args.early_stopping:
        callbacks.insert(0, EarlyStopping(patience=args.early_stopping))
    start = time.perf_counter()
    with dask_client(args.dask) as client, warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        data = _on_dask(source, train, client) if client is not None else (train,)
        history = model.fit(data[0], *(data[1:2]), exposure=(data[2:3] or [None])[0],
                            batch_size=args.batch_size, epochs=args.epochs, seed=args.seed,
                            validation_data=validation, callbacks=callbacks, verbose=0,
                            executor=args.executor)
        seconds = time.perf_counter() - start
        metrics = _prefixed("train_", streamed_metrics(model, args.model,
                                                       data if client is not None else train))
    if validation is not None:
        metrics.update(_prefixed("val_", streamed_metrics(model, args.model, validation)))
    if history.diverged:
        print(f"gdlab fit: warning: {history.diverged['message']}", file=sys.stderr, flush=True)
    _write(args, model, history, metrics, classes, folder, seconds,
           {"rows": source.n_rows, "files": len(source.files),
            "row groups": len(source.pieces), "training rows": train.n_rows,
            "validation rows": 0 if validation is None else validation.n_rows,
            "mode": f"Dask ({args.dask})" if args.dask else "streamed"},
           source.preprocessor)
    return (_summary_text(metrics, history, seconds).removesuffix(".")
            + f" ({'on Dask' if args.dask else 'streamed'}).")


def run_streamed_sweep(args: argparse.Namespace, folder: Path) -> pd.DataFrame:
    """``gdlab lr-sweep --stream``: each rate trained on the streamed source (with
    ``--dask``, each rate a task that streams DATA on a worker); the files of the
    in-memory sweep (:func:`gdlab.cli.fitting.run_sweep`). Returns the table to print."""
    from matplotlib import pyplot

    from gdlab.cli.fitting import write_sweep
    from gdlab.show import report

    source, model, _ = _source_and_model(args, args.learning_rates[0])
    start = time.perf_counter()
    with dask_client(args.dask) as client:
        result = learning_rate_sweep(model, source, None, args.learning_rates,
                                     epochs=args.epochs, batch_size=args.batch_size,
                                     seed=args.seed, optimizer=args.optimizer,
                                     executor=args.executor, client=client)
    seconds = time.perf_counter() - start
    figure = write_sweep(folder, result)
    note = streamed_stability_note(model, source, args.learning_rates)
    result.table.attrs["stability_note"] = note  # printed by the command
    preprocessing = source.preprocessor
    run = report.Run(
        title=f"gdlab lr-sweep: {args.model} model of {args.target}",
        data_summary={"file": str(args.data), "rows": source.n_rows,
                      "files": len(source.files), "row groups": len(source.pieces),
                      "target": args.target, "exposure": args.exposure or "—",
                      "features": ", ".join(preprocessing.features),
                      "encoded columns": len(preprocessing.feature_names),
                      "mode": f"streamed, Dask ({args.dask})" if args.dask else "streamed"},
        model_summary={"preset": args.model, "loss": repr(model.loss),
                       "optimizer": repr(model.optimizer), "parameters": model.n_params},
        settings={"learning rates": ", ".join(f"{r:g}" for r in args.learning_rates),
                  "optimizer": args.optimizer, "batch size": args.batch_size,
                  "epochs": args.epochs, "seed": args.seed, "largest stable η": note},
        sweep_table=result.table,
        figures={"Training loss per epoch at each learning rate": figure},
        timing={"sweep": seconds})
    report.write_report(folder / "report.html", run)
    pyplot.close(figure)
    return report.counted_from_one(result.table)


def _write(args: argparse.Namespace, model: Any, history: Any, metrics: dict[str, float],
           classes: Any, folder: Path, seconds: float, data_summary: dict[str, Any],
           preprocessing: Any) -> None:
    """model.npz (with the preprocessing), history.csv, metrics.json, figures, report."""
    from matplotlib import pyplot

    from gdlab.cli.fitting import _figures
    from gdlab.show import report

    metadata = {"kind": args.model, "target": args.target, "exposure": args.exposure,
                "classes": classes, "data": str(args.data)}
    model.save(folder / "model.npz", preprocessing=preprocessing, metadata=metadata)
    history.to_frame().to_csv(folder / "history.csv", index=False)
    (folder / "metrics.json").write_text(json.dumps({**metrics, "diverged": history.diverged},
                                                    indent=2) + "\n")
    settings = {"variant": history.params.get("variant"), "batch size": args.batch_size,
                "steps per epoch": history.params.get("steps"), "optimizer": args.optimizer,
                "learning rate": args.learning_rate, "epochs run": len(history.epoch),
                "seed": args.seed}
    model_summary = {"preset": args.model, "loss": repr(model.loss),
                     "optimizer": repr(model.optimizer), "parameters": model.n_params}
    run = report.Run(title=f"gdlab fit: {args.model} model of {args.target}",
                     data_summary={"file": str(args.data), **data_summary},
                     model_summary=model_summary, settings=settings, history=history,
                     metrics=metrics, figures=_figures(history, folder),
                     timing={"fit": seconds})
    report.write_report(folder / "report.html", run)
    for figure in run.figures.values():
        pyplot.close(figure)
