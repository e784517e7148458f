"""The speed of gdlab's embedding network against the NumPy loop, PyTorch and Keras.

``python -m benchmarks.embeddings [--rows N] [--repeats R] [--smoke] [--out FILE]`` times
one epoch of issue 15's network (7 numeric columns, two categorical columns of 11 and 22
levels through 2-dimensional embeddings, tanh (20, 15, 10), exponential output, Poisson
loss with exposure, Nadam) at batch sizes 10,000 (the study's), 256 and 32, on seeded
synthetic data shaped like freMTPL2 (610,000 rows by default), for gdlab's compiled and
reference executors (float32 and float64), the NumPy loop a competent user writes (the
baseline, in both dtypes), PyTorch and Keras on JAX (float32, when installed).

Every tool is timed the same way as in ``python -m benchmarks``: its whole fit call for one
epoch, model building not counted, after a warm-up fit on a few rows (numba's compiling,
Keras's tracing; its time is reported), a trial of each setting of tools that have several
(twice on 50 steps' rows: the fastest is kept, and the page says which) and one uncounted
round at full size; then ``--repeats`` rounds, interleaved across tools; median with
min–max. In the same run, a correctness check: gdlab's two executors, and the NumPy loop
against gdlab, one epoch from the same initial θ in the same row order. Writes
``docs/embeddings-speed.md`` (or ``--out``) and prints it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import gdlab as gd
from benchmarks import embedding_peers as peers
from benchmarks import embeddings_report as report
from benchmarks import page_cli
from benchmarks.embedding_peers import Data

ROOT = Path(__file__).resolve().parents[1]
BATCHES = (10_000, 256, 32)
#: rows a slow tool is timed on, per batch size (its epoch is extrapolated: the page says so)
ROW_CAPS = {("gdlab-reference", 32): 200_000, ("pytorch", 32): 100_000, ("keras", 32): 100_000,
            ("keras", 256): 300_000}


# --- data ------------------------------------------------------------------------------
def _scaled(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Min–max scaling to [−1, 1], as the study's preprocessing."""
    return 2.0 * (x - low) / (high - low) - 1.0


def make_data(n: int, seed: int = 0) -> dict[str, Data]:
    r"""Synthetic rows shaped like freMTPL2freq after the study's preprocessing, in both dtypes.

    Seven numeric columns in [−1, 1] (Area, VehPower, VehAge, DrivAge, BonusMalus,
    log Density, VehGas, drawn with roughly the data's marginals), VehBrand (11 levels) and
    Region (22 levels) with unequal frequencies; exposure in (0, 1] (a fifth of it 1);
    claims :math:`N \sim \text{Poisson}(e\lambda(x))` capped at 4, with a log-linear
    :math:`\lambda` whose mean is about 0.1 (freMTPL2: 10 %).
    """
    rng = np.random.default_rng(seed)
    bonus_malus = np.where(rng.random(n) < 0.6, 50, rng.integers(50, 151, n))
    numeric = np.column_stack([
        _scaled(rng.integers(1, 7, n), 1, 6), _scaled(rng.integers(4, 16, n), 4, 15),
        _scaled(np.minimum(rng.geometric(0.12, n) - 1, 20), 0, 20),
        _scaled(np.clip(rng.normal(45, 14, n).round(), 18, 90), 18, 90),
        _scaled(bonus_malus, 50, 150), _scaled(np.clip(rng.normal(6, 2, n), 0, 10.2), 0, 10.2),
        _scaled(rng.integers(0, 2, n), 0, 1)])
    codes = np.column_stack([rng.choice(L, size=n, p=_shares(L)) for L in peers.LEVELS])
    exposure = np.where(rng.random(n) < 0.2, 1.0, rng.uniform(1 / 365, 1.0, n) ** 1.25)
    effects = [rng.normal(0, 0.2, L) for L in peers.LEVELS]
    log_rate = (np.log(0.11) + numeric @ np.array([0.1, 0.05, -0.1, -0.2, 0.5, 0.15, 0.0])
                + effects[0][codes[:, 0]] + effects[1][codes[:, 1]])
    y = np.minimum(rng.poisson(exposure * np.exp(log_rate)), 4).astype(float)
    result = {}
    for dtype in ("float32", "float64"):
        X = np.column_stack([numeric, codes]).astype(dtype)
        result[dtype] = Data(numeric.astype(dtype), codes.astype(np.intp), y.astype(dtype),
                             exposure.astype(dtype), X)
    return result


def _shares(levels: int) -> np.ndarray:
    """Unequal level frequencies (a few large levels, a long tail), as VehBrand and Region."""
    weights = 0.8 ** np.arange(levels)
    return weights / weights.sum()


# --- gdlab -----------------------------------------------------------------------------
def gdlab_model(seed: int, dtype: str) -> gd.Sequential:
    """Issue 15's network in gdlab."""
    inputs = gd.Inputs(numeric=peers.NUMERIC, categorical=[
        gd.Embedding(L, peers.DIM, name=name) for L, name in zip(peers.LEVELS, ("VehBrand",
                                                                                "Region"),
                                                                 strict=True)])
    layers = [gd.Dense(units, "tanh") for units in peers.HIDDEN]
    model = gd.Sequential([*layers, gd.Dense(1, "exponential")], inputs=inputs, seed=seed,
                          dtype=dtype)
    model.compile(loss="poisson", optimizer=gd.Nadam(peers.LEARNING_RATE))
    return model


def gdlab_tool(executor: str):
    """The factory of gdlab with ``executor``: one variant, the whole ``fit`` timed."""

    def factory(batch: int, dtype: str) -> dict:
        def run(data: Data, seed: int) -> float:
            model = gdlab_model(seed, dtype)
            start = time.perf_counter()
            model.fit(data.X, data.y, exposure=data.exposure, batch_size=batch, epochs=1,
                      seed=seed, verbose=0, executor=executor)
            return time.perf_counter() - start
        return {"": run}

    return factory


#: (tool, dtype, factory); the NumPy loop of the same dtype is each tool's baseline
TOOLS = [("gdlab-compiled", "float32", gdlab_tool("compiled")),
         ("gdlab-reference", "float32", gdlab_tool("numpy")),
         ("numpy", "float32", peers.numpy_loop),
         ("pytorch", "float32", peers.pytorch),
         ("keras", "float32", peers.keras),
         ("gdlab-compiled", "float64", gdlab_tool("compiled")),
         ("gdlab-reference", "float64", gdlab_tool("numpy")),
         ("numpy", "float64", peers.numpy_loop)]


# --- timing ----------------------------------------------------------------------------
@dataclass
class Measurement:
    """Repeated epoch times of one tool (in one dtype) at one batch size."""

    tool: str
    dtype: str
    rows: int
    warmup: float = 0.0  #: the first fit in this process, on a few rows
    variant: str = ""  #: the setting kept (the fastest in the trial)
    tried: dict[str, float] = field(default_factory=dict)  #: each setting's trial seconds
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def epoch(self, n: int) -> float:
        """The median epoch on n rows (extrapolated from the rows timed)."""
        return self.median * n / self.rows


def time_batch(data: dict[str, Data], batch: int, repeats: int, tools, log) -> list:
    """Every tool at one batch size: a warm-up fit on 4 × batch rows; each variant twice on
    50 steps' rows (the fastest is kept); an uncounted round at full size (the first big
    arrays of a process fault their pages in); then ``repeats`` interleaved rounds."""
    n = data["float64"].rows
    runs, measured = [], []
    for tool, dtype, factory in tools:
        variants = factory(batch, dtype)
        m = Measurement(tool, dtype, min(n, ROW_CAPS.get((tool, batch), n)))
        warm, trial = (data[dtype].head(min(m.rows, rows)) for rows in (4 * batch, 50 * batch))
        m.warmup = [run(warm, 0) for run in variants.values()][0]
        if len(variants) > 1:
            m.tried = {label: min(run(trial, 0), run(trial, 0))
                       for label, run in variants.items()}
        m.variant = min(m.tried, key=m.tried.get) if m.tried else next(iter(variants))
        full = data[dtype].head(m.rows)
        variants[m.variant](full, 0)
        runs.append((variants[m.variant], full))
        measured.append(m)
    for repeat in range(1, repeats + 1):
        for m, (run, full) in zip(measured, runs, strict=True):
            m.seconds.append(run(full, repeat))
    for m in measured:
        log(f"  batch {batch:>6} {m.tool:16s} {m.dtype} {m.epoch(n):8.3f} s/epoch "
            f"({m.rows} rows timed; {m.variant or '-'}; first fit {m.warmup:.2f} s)")
    return measured


# --- correctness -----------------------------------------------------------------------
def _one_epoch(data: Data, batch: int, executor: str, dtype: str, seed: int = 0):
    model = gdlab_model(seed, dtype)
    theta0 = model.theta.copy()
    model.fit(data.X, data.y, exposure=data.exposure, batch_size=batch, epochs=1, seed=seed,
              verbose=0, executor=executor)
    return theta0, model.theta.copy(), float(np.mean(model.history.step_loss[0]))


def check(data: dict[str, Data], rows: dict[int, int], log) -> list[dict]:
    """One epoch from the same θ₀ in the same row order: compiled vs reference (both dtypes)
    and the NumPy loop (bincount) vs gdlab's reference, in float64; max |Δθ| and the
    epoch's mean step loss."""
    result = []
    for batch, n in rows.items():
        for dtype in ("float64", "float32"):
            part = data[dtype].head(n)
            theta0, ref, ref_loss = _one_epoch(part, batch, "numpy", dtype)
            _, com, com_loss = _one_epoch(part, batch, "compiled", dtype)
            result.append({"what": "gdlab compiled vs reference", "dtype": dtype,
                           "batch": batch, "rows": n, "delta": float(np.abs(com - ref).max()),
                           "loss": (com_loss, ref_loss)})
            if dtype == "float64":
                theta = theta0.copy()
                order = np.random.default_rng(0).permutation(n)  # gdlab's order for seed 0
                loss = float(np.mean(peers.numpy_epoch(part, batch, theta, order)))
                result.append({"what": "NumPy loop vs gdlab reference", "dtype": dtype,
                               "batch": batch, "rows": n,
                               "delta": float(np.abs(theta - ref).max()),
                               "loss": (loss, ref_loss)})
    for r in result:
        log(f"  check {r['what']:30s} {r['dtype']} batch {r['batch']:>6}: max|Δθ| "
            f"{r['delta']:.2e}, losses {r['loss'][0]:.10f} {r['loss'][1]:.10f}")
    return result


# --- compile time ----------------------------------------------------------------------
_COMPILE = """
import time, numpy as np
from benchmarks.embeddings import make_data, gdlab_model
data = make_data(20000)["float32"]
def fit(batch):
    model = gdlab_model(0, "float32")
    start = time.perf_counter()
    model.fit(data.X, data.y, exposure=data.exposure, batch_size=batch, verbose=0,
              executor="compiled")
    return time.perf_counter() - start
for batch in (10000, 256):
    first, again = fit(batch), fit(batch)
    print(batch, first - again)
"""


def compile_times(log) -> dict[str, dict[str, float]]:
    """Seconds of compiling in the compiled executor's first fit (first fit minus a second
    one, float32), in a fresh process with an empty numba cache, then with it on disk."""
    result = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache,
               "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
        for label in ("empty cache", "cache on disk"):
            out = subprocess.run([sys.executable, "-c", _COMPILE], env=env, cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout
            result[label] = {int(a): float(b) for a, b in (line.split() for line in
                                                            out.splitlines() if line)}
            log(f"  compile, {label}: {result[label]}")
    return result


# --- the run ---------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> Path:
    """Run the benchmark, write the page and print it; return its path."""
    args, log = page_cli.parse(
        argv, prog="python -m benchmarks.embeddings", doc=__doc__, rows=610_000,
        out=ROOT / "docs" / "embeddings-speed.md",
        smoke_help="a tiny run in seconds (2,000 rows, 1 repeat, no compile test)")
    started, load_before = time.perf_counter(), os.getloadavg()
    installed = peers.available()
    tools = [t for t in TOOLS if installed.get(t[0], True)]
    log(f"{args.rows} rows, {args.repeats} repeats; optional peers: {installed}")
    data = make_data(args.rows)
    results = {batch: time_batch(data, batch, args.repeats, tools, log) for batch in BATCHES}
    extra: dict = {"check": check(data, {10_000: args.rows, 256: min(args.rows, 50_000)}, log)}
    if not args.smoke:
        extra["compile"] = compile_times(log)
    extra["load"] = (load_before, os.getloadavg())
    extra["seconds"] = time.perf_counter() - started
    extra["data"] = data["float64"]
    text = report.render(results, extra, n=args.rows, repeats=args.repeats, smoke=args.smoke,
                         command=page_cli.command("python -m benchmarks.embeddings", argv),
                         installed=installed)
    return page_cli.write(args.out, text, log)


if __name__ == "__main__":
    main()
