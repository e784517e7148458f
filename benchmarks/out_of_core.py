"""Out-of-core benchmark: ``python -m benchmarks.out_of_core [--rows N] [--smoke] [--out F]``.

1. **Parquet streaming.** A folder of Parquet files (``--rows`` × 20 float64 features and a
   0/1 target, 8 files, row groups of 125,000 rows: 4e6 rows are 640 MB) is trained for
   one epoch at batch 256 (the MLP 20-32-16-1 of ``python -m benchmarks``, and logistic
   regression), once from memory (the table read into a NumPy array first) and once
   streamed with :class:`gdlab.ParquetSource`. Reported: the epoch's time per row (from
   ``on_epoch_begin`` to ``on_epoch_end``), the whole ``fit`` call's (it also computes the
   loss at θ₀: one more pass), and the peak memory growth during ``fit`` (VmHWM, reset just
   before ``fit``, minus the RSS then).
2. **Dask full batch.** A ``LocalCluster`` of 2 worker processes (1 thread each) makes X
   (1.2e6 × 20 = 192 MB with ``--rows 4e6``) on the workers; a full-batch fit of 5 epochs
   is timed per epoch against the in-memory compiled full batch, and the client's peak
   memory growth is measured as above.

Each measurement runs in its own process. The numbers depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MB = 1e6

_COMMON = r"""
import json, sys, time
import numpy as np
import gdlab as gd

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024

def model(hidden):
    layers = [gd.Dense(u, activation="relu") for u in hidden]
    m = gd.Sequential([*layers, gd.Dense(1, activation="sigmoid")], seed=0)
    m.compile(loss="binary_crossentropy", optimizer=gd.SGD(learning_rate=0.01))
    return m

class EpochTimer(gd.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        self.seconds = getattr(self, "seconds", []) + [time.perf_counter() - self.start]

def measure(fit):
    before = rss("VmRSS")
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak
    timer = EpochTimer()
    start = time.perf_counter()
    fit([timer])
    total = time.perf_counter() - start
    return {"fit": total, "epochs": timer.seconds, "before": before,
            "growth": rss("VmHWM") - before}

warm = np.random.default_rng(0).normal(size=(600, 20))
"""

_PARQUET = _COMMON + r"""
folder, mode, hidden, batch = sys.argv[1], sys.argv[2], tuple(json.loads(sys.argv[3])), 256
for h in ((), hidden):  # load the compiled kernels before measuring
    model(h).fit(warm, (warm[:, 0] > 0) * 1.0, batch_size=batch, epochs=1, verbose=0)
if mode == "memory":
    import pyarrow.parquet as pq
    table = pq.read_table(folder)
    y = table.column("y").to_numpy()
    X = np.column_stack([table.column(c).to_numpy() for c in table.column_names if c != "y"])
    del table
    result = measure(lambda cb: model(hidden).fit(X, y, batch_size=batch, epochs=1, verbose=0,
                                                  callbacks=cb))
else:
    source = gd.ParquetSource(folder, target="y", standardize=False)
    start = time.perf_counter()
    source.fit_preprocessing()
    prep = time.perf_counter() - start
    result = measure(lambda cb: model(hidden).fit(source, batch_size=batch, epochs=1,
                                                  verbose=0, callbacks=cb))
    result["preprocessing"] = prep
print(json.dumps(result))
"""

_DASK = _COMMON + r"""
rows, epochs, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
model(()).fit(warm, (warm[:, 0] > 0) * 1.0, batch_size="full", epochs=1, verbose=0)
if mode == "memory":
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 20))
    y = (X[:, 0] - X[:, 1] + rng.normal(size=rows) > 0) * 1.0
    result = measure(lambda cb: model(()).fit(X, y, batch_size="full", epochs=epochs,
                                              verbose=0, callbacks=cb))
else:
    import dask.array as da
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    rng = da.random.default_rng(0)
    X = rng.normal(size=(rows, 20), chunks=(min(rows, 100_000), 20))
    y = ((X[:, 0] - X[:, 1] + rng.normal(size=rows, chunks=min(rows, 100_000))) > 0) * 1.0
    X, y = client.persist([X, y])
    client.run(lambda: __import__("gdlab.kernels.epoch"))
    model(()).fit(X[:1000], y[:1000], batch_size="full", epochs=1, verbose=0)  # warm workers
    result = measure(lambda cb: model(()).fit(X, y, batch_size="full", epochs=epochs,
                                              verbose=0, callbacks=cb))
    result["workers_hold"] = X.nbytes + y.nbytes
    client.close()
    cluster.close()
print(json.dumps(result))
"""


def write_folder(folder: Path, rows: int, p: int = 20, files: int = 8,
                 row_group: int = 125_000) -> int:
    """Write ``rows`` × ``p`` logistic data as ``files`` Parquet files; return the bytes of X."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    beta = rng.normal(size=p) / np.sqrt(p)
    for number, part in enumerate(np.array_split(np.arange(rows), files)):
        X = rng.normal(size=(part.size, p))
        y = (X @ beta + rng.normal(size=part.size) > 0) * 1.0
        columns = {f"x{j}": X[:, j] for j in range(p)} | {"y": y}
        pq.write_table(pa.table(columns), folder / f"part-{number}.parquet",
                       row_group_size=min(row_group, part.size))
    return rows * p * 8


def _child(script: str, *args: str) -> dict:
    env_path = f"{ROOT}:{ROOT / 'src'}"
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                            text=True, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(rows: int, dask_rows: int, skip_dask: bool = False, log=print) -> list[str]:
    """Run both benchmarks; return the report's Markdown lines."""
    lines = [f"Parquet: {rows:,} × 20 float64 ({rows * 160 / MB:.0f} MB) in 8 files, row "
             "groups of 125,000 rows; one epoch at batch 256 (SGD η = 0.01).", "",
             "| model | in memory: epoch µs/row | streamed: epoch µs/row | ratio | "
             "fit µs/row (memory / streamed) | peak growth in fit (memory / streamed) |",
             "|---|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        start = time.perf_counter()
        write_folder(folder, rows)
        log(f"wrote {rows:,} rows in {time.perf_counter() - start:.1f} s")
        for name, hidden in (("logistic", []), ("MLP 20-32-16-1", [32, 16])):
            memory = _child(_PARQUET, str(folder), "memory", json.dumps(hidden))
            stream = _child(_PARQUET, str(folder), "stream", json.dumps(hidden))
            log(name, memory, stream)
            m, s = memory["epochs"][0] / rows * 1e6, stream["epochs"][0] / rows * 1e6
            lines.append(
                f"| {name} | {m:.3f} | {s:.3f} | {s / m:.2f}× | {memory['fit'] / rows * 1e6:.3f}"
                f" / {stream['fit'] / rows * 1e6:.3f} | {memory['growth'] / MB:.0f} MB / "
                f"{stream['growth'] / MB:.0f} MB |")
        lines += ["", f"Streaming preprocessing pass (means, variances): "
                      f"{stream['preprocessing']:.2f} s.", ""]
    if skip_dask:
        return lines
    memory = _child(_DASK, str(dask_rows), "5", "memory")
    cluster = _child(_DASK, str(dask_rows), "5", "dask")
    log("dask", memory, cluster)
    per_epoch = (np.median(memory["epochs"][1:]), np.median(cluster["epochs"][1:]))
    lines += [f"Dask full batch: logistic regression, {dask_rows:,} × 20 made on a LocalCluster "
              f"of 2 worker processes (1 thread each; workers hold "
              f"{cluster['workers_hold'] / MB:.0f} MB); 5 epochs, median of epochs 2-5.", "",
              "| | epoch (s) | client peak growth in fit |", "|---|---:|---:|",
              f"| in memory (compiled, 2 threads) | {per_epoch[0]:.3f} | "
              f"{memory['growth'] / MB:.0f} MB |",
              f"| Dask (2 workers) | {per_epoch[1]:.3f} | {cluster['growth'] / MB:.0f} MB |"]
    return lines


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.out_of_core")
    parser.add_argument("--rows", type=float, default=4e6)
    parser.add_argument("--smoke", action="store_true", help="a tiny run, in seconds")
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = parser.parse_args(argv)
    rows = 40_000 if args.smoke else int(args.rows)
    lines = run(rows, max(rows * 3 // 10, 10_000), skip_dask=args.skip_dask,
                log=(lambda *a: None) if args.smoke else print)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return lines


if __name__ == "__main__":
    main()
