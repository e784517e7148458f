r"""``gdlab fit`` and ``gdlab lr-sweep`` beyond memory: streamed Parquet, Dask clusters.

``gdlab fit DATA`` streams DATA (a Parquet file, a folder or a glob of them) row group by
row group (:class:`gdlab.io.parquet.ParquetSource`) when ``--stream`` is given, or when
the table would need more than ``--memory-limit`` in memory: rows × used columns × 8
bytes × 3 (the table, the encoded inputs and the fit's copies). The validation rows are
then whole row groups, drawn from ``--seed`` (about ``--validation-split`` of the rows).

``--dask ADDRESS`` uses a running scheduler, ``--dask local:N`` starts a ``LocalCluster``
of N worker processes (one thread each) for the command: ``fit`` reads DATA on the workers
(``dask.dataframe``), encodes it there with the preprocessing fitted in one streaming
pass, and trains on the Dask arrays (full batch: the gradient is computed where the rows
are); ``lr-sweep`` runs each learning rate as a task.
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

from gdlab.cli.presets import build_model, optimizer_from_name
from gdlab.cli.runs import CommandError
from gdlab.io.parquet import ParquetSource
from gdlab.io.preprocessing import encode_target
from gdlab.train.callbacks import DivergenceWarning, EarlyStopping, ProgressBar

__all__ = ["dask_client", "run_streamed_fit", "wants_streaming"]

def _is_parquet_set(data: str) -> bool:
    path = Path(data)
    return (path.is_dir() or any(char in data for char in "*?[")
            or path.suffix.lower() in (".parquet", ".pq"))


def wants_streaming(args: argparse.Namespace) -> bool:
    """Whether ``gdlab fit`` streams DATA (or sends it to Dask) rather than reading it."""
    if not (args.stream or args.dask or (args.memory_limit and _is_parquet_set(args.data))):
        return False
    if not _is_parquet_set(args.data):
        raise CommandError(f"--stream and --dask read Parquet (a file, a folder or a glob); "
                           f"{args.data} is not. Convert it to Parquet first.")
    if args.stream or args.dask:
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
    table = frame.map_partitions(encode, meta=meta).to_dask_array(lengths=True)
    k = len(preprocessing.feature_names)
    return table[:, :k], table[:, k], table[:, k + 1] if source.exposure else None


def run_streamed_fit(args: argparse.Namespace, folder: Path) -> str:
    """Train on streamed Parquet (or on Dask); write the run folder; return a summary."""
    source = ParquetSource(args.data, target=args.target, features=args.features,
                           exposure=args.exposure, categorical=args.categorical)
    columns = _columns(source, [c for c in (args.target, args.exposure) if c])
    y, exposure = columns[args.target], columns.get(args.exposure)
    encode_target(pd.Series(y, name=args.target), args.model)  # the kind's checks
    classes = sorted(set(y.tolist())) if args.model in ("logistic", "softmax") else None
    source.require_preprocessor()  # one streaming pass, on all rows (as gdlab fit does)
    model = build_model(args.model, source.n_features, y, exposure=exposure,
                        n_classes=len(classes or []), hidden=args.hidden,
                        activation=args.activation, seed=args.seed, power=args.power,
                        optimizer=optimizer_from_name(args.optimizer, args.learning_rate))
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
        metrics = {"train_loss": float(_loss(model.evaluate(*data[:2], exposure=(
            data[2:3] or [None])[0])))}
    if validation is not None:
        metrics["val_loss"] = float(_loss(model.evaluate(validation)))
    seconds = time.perf_counter() - start
    if history.diverged:
        print(f"gdlab fit: warning: {history.diverged['message']}", file=sys.stderr, flush=True)
    _write(args, model, history, metrics, classes, folder, seconds,
           {"rows": source.n_rows, "files": len(source.files),
            "row groups": len(source.pieces), "training rows": train.n_rows,
            "validation rows": 0 if validation is None else validation.n_rows,
            "mode": f"Dask ({args.dask})" if args.dask else "streamed"},
           source.preprocessor)
    return (f"train loss {metrics['train_loss']:.6g}"
            + (f", validation loss {metrics['val_loss']:.6g}" if "val_loss" in metrics else "")
            + f"\nTrained {len(history.epoch)} epoch(s) in {seconds:.1f} s "
              f"({'on Dask' if args.dask else 'streamed'}).")


def _loss(value: Any) -> float:
    return value["loss"] if isinstance(value, dict) else value


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
