"""The benchmark run: every tool on the same data, interleaved repeats, one report.

``python -m benchmarks`` measures, on 1,000,000 × 20 float64 logistic data, one epoch of
logistic regression and of an MLP 20-32-16-1 at batch sizes 1, 32, 256 and full, for gdlab's
compiled and reference executors, the fast NumPy loop (the baseline: one permuted copy of X
per epoch, contiguous slices, per-step loss), scikit-learn and (when installed: ``pip
install -e ".[bench]"``) PyTorch and Keras. Every tool is timed the same way: the whole fit
call of one epoch, after one warm-up fit on a few rows in the same process (so compiling and
tracing are not counted here; they are measured on their own, in fresh processes) and one
uncounted round at full size (the first large arrays of a process pay for faulting their
memory in: up to 5× on the reference MLP's full batch). The repeats are interleaved (run 1
of every tool, then run 2, …) so that a burst of load on the shared machine does not land on
one tool only. Then compile time (cold and warm cache), each tool's first fit in a fresh
process, peak memory and the epoch time at n = 1e5, 1e6, 1e7. It writes
``docs/benchmarks.md`` and, with ``--readme``, the speed table of ``README.md`` (between its
``speed-table`` markers). ``python -m benchmarks --smoke`` does a tiny run in seconds (used
by the test suite).

Slow tools are timed on the first rows only (``ROW_CAPS``) and reported as samples/s; their
1e6-row epoch time is extrapolated, and the table says so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks import peers, report

ROOT = Path(__file__).resolve().parents[1]
MLP = (32, 16)

#: (configuration, hidden layers, batch size, tools)
CONFIGS = [
    ("logistic, batch 1", (), 1,
     ["gdlab-compiled", "gdlab-reference", "numpy-fast", "sklearn-SGDClassifier", "pytorch",
      "keras"]),
    ("logistic, batch 32", (), 32,
     ["gdlab-compiled", "gdlab-reference", "numpy-fast", "pytorch", "keras"]),
    ("logistic, batch 256", (), 256,
     ["gdlab-compiled", "gdlab-reference", "numpy-fast", "pytorch", "keras"]),
    ("logistic, full batch", (), "full",
     ["gdlab-compiled", "gdlab-reference", "numpy-fast", "pytorch", "one read of X"]),
    ("MLP 20-32-16-1, batch 32", MLP, 32,
     ["gdlab-compiled", "gdlab-reference", "numpy-fast", "sklearn-MLPClassifier", "pytorch",
      "keras"]),
    ("MLP 20-32-16-1, batch 256", MLP, 256,
     ["gdlab-compiled", "gdlab-reference", "numpy-fast", "sklearn-MLPClassifier", "pytorch",
      "keras"]),
    ("MLP 20-32-16-1, full batch", MLP, "full",
     ["gdlab-compiled", "gdlab-reference", "numpy-fast", "pytorch"]),
]

#: Rows that each slow tool is timed on, per batch size (None: all rows).
ROW_CAPS = {
    ("gdlab-reference", 1): 20_000, ("gdlab-reference", 32): 200_000,
    ("numpy-fast", 1): 50_000, ("pytorch", 1): 5_000, ("pytorch", 32): 100_000,
    ("pytorch", 256): 300_000, ("keras", 1): 2_000, ("keras", 32): 50_000,
    ("keras", 256): 200_000, ("sklearn-MLPClassifier", 32): 200_000,
}

TOOLS = {
    "gdlab-compiled": peers.gdlab_fit("compiled"),
    "gdlab-reference": peers.gdlab_fit("numpy"),
    "numpy-fast": peers.numpy_fast,
    "sklearn-SGDClassifier": peers.sklearn_sgd,
    "sklearn-MLPClassifier": peers.sklearn_mlp,
    "pytorch": peers.pytorch,
    "keras": peers.keras,
    "one read of X": lambda X, y, batch, hidden, seed: peers.read_x(X),
}


@dataclass
class Measurement:
    """Repeated epoch times of one tool on one configuration."""

    tool: str
    rows: int
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def samples_per_second(self) -> float:
        return self.rows / self.median


def make_data(n: int, p: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logistic data: X standard normal (n, p) float64, y = 1[X β + logistic noise > 0]."""
    rng = np.random.default_rng(seed)
    X = np.empty((n, p))
    y = np.empty(n)
    beta = rng.normal(size=p) / np.sqrt(p)
    step = 1_000_000
    for start in range(0, n, step):  # in chunks: no temporary copy of X
        block = X[start:start + step]
        rng.standard_normal(out=block)
        y[start:start + step] = (block @ beta + rng.logistic(size=len(block)) > 0)
    return X, y


def _rows(tool: str, n: int, batch) -> int:
    cap = ROW_CAPS.get((tool, batch))
    return min(n, cap) if cap else n


def run_configs(X, y, runs: int, installed: dict[str, bool], log) -> dict[str, list]:
    """Every configuration's measurements, in the order of CONFIGS; repeats interleaved."""
    results = {}
    for name, hidden, batch, tools in CONFIGS:
        tools = [t for t in tools if installed.get(t, True)]
        warm = 4 * batch if isinstance(batch, int) else 4096
        for tool in tools:  # warm-up: compile, trace or load once, outside the timing
            TOOLS[tool](X[:warm], y[:warm], batch, hidden, 0)
        measured = {tool: Measurement(tool, _rows(tool, X.shape[0], batch)) for tool in tools}
        for run in range(runs + 1):  # round 0 at full size is not counted: the first
            for tool, m in measured.items():  # big arrays of a process fault their pages in
                seconds = TOOLS[tool](X[:m.rows], y[:m.rows], batch, hidden, run)
                if run:
                    m.seconds.append(seconds)
        for m in measured.values():
            log(f"  {name:28s} {m.tool:24s} {m.median:9.4f} s on {m.rows} rows")
        results[name] = list(measured.values())
    return results


def _child(code: str, env: dict[str, str]) -> dict[str, float]:
    """Run ``code`` in a fresh Python; it prints ``key value`` lines. ``process`` is the
    wall time of the whole process, interpreter start-up included."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    values = {line.split()[0]: float(line.split()[1]) for line in out.splitlines() if line}
    return {**values, "process": time.perf_counter() - start}


_COMPILE = """
import time
t0 = time.perf_counter()
import numpy as np, gdlab as gd
from benchmarks.peers import gdlab_model
t1 = time.perf_counter()
X = np.random.default_rng(0).normal(size=(20000, 20)); y = (X[:, 0] > 0) * 1.0
def fit(hidden, batch, n, executor="compiled"):
    model = gdlab_model(hidden, 20, 0)
    start = time.perf_counter()
    model.fit(X[:n], y[:n], batch_size=batch, epochs={epochs}, verbose=0, executor=executor)
    return time.perf_counter() - start
print("import", t1 - t0)
first, again = fit((32, 16), 32, 2000), fit((32, 16), 32, 2000)
full_first, full_again = fit((32, 16), "full", 20000), fit((32, 16), "full", 20000)
print("minibatch", first - again)
print("full", full_first - full_again)
"""

#: a new user's first fit: import gdlab, then 1,000 rows, logistic, batch 32, 5 epochs
_NEW_USER = """
import numpy as np, gdlab as gd
X = np.random.default_rng(0).normal(size=(1000, 20)); y = (X[:, 0] > 0) * 1.0
model = gd.Sequential([gd.Dense(1, activation="sigmoid")], input_dim=20, seed=0)
model.compile(loss="binary_crossentropy", optimizer=gd.SGD(0.1))
model.fit(X, y, batch_size=32, epochs=5, verbose=0)
print("executor_is_compiled", float(model.history.params["executor"] == "compiled"))
"""

_FIRST_FIT = """
import time, numpy as np
from benchmarks import peers
from benchmarks.suite import make_data
X, y = make_data({n})
start = time.perf_counter()
seconds = {call}(X, y, {batch!r}, {hidden!r}, 0)
print("first", time.perf_counter() - start)
print("fit", seconds)
"""

_MEMORY = """
import numpy as np, gdlab as gd
from benchmarks.suite import make_data
from benchmarks.peers import gdlab_model
def rss(key):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
model = gdlab_model((), 20, 0)
model.fit(np.zeros((64, 20)), np.zeros(64), batch_size=8, verbose=0)  # load the kernels
base = rss("VmRSS")
X, y = make_data({n})
before = rss("VmRSS")
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # reset the peak
model.fit(X, y, batch_size={batch!r}, epochs=2, verbose=0, executor="compiled")
print("data", X.nbytes + y.nbytes)
print("base", base)
print("before", before)
print("peak", rss("VmHWM"))
"""


def compile_times(log) -> dict[str, dict[str, float]]:
    """Seconds of compiling in a new environment (empty cache), then in a later process."""
    with tempfile.TemporaryDirectory() as cache:
        env = {"NUMBA_CACHE_DIR": cache, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
        cold = _child(_COMPILE.format(epochs=5), env)
        warm = _child(_COMPILE.format(epochs=5), env)
    with tempfile.TemporaryDirectory() as cache:  # the whole process, as a new user meets it
        env = {"NUMBA_CACHE_DIR": cache, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
        cold["new_user"] = _child(_NEW_USER, env)["process"]
        cold["compiled_kernels"] = _child(_NEW_USER, env)["executor_is_compiled"]
        _child(_COMPILE.format(epochs=5), env)  # now the kernels are in the cache
        warm["new_user"] = _child(_NEW_USER, env)["process"]
    log(f"  compile cold {cold}, warm {warm}")
    return {"cold": cold, "warm": warm}


#: each tool's first fit in a fresh process: (configuration, hidden layers, batch size)
FIRST_FITS = [("logistic, batch 32", (), 32), ("MLP 20-32-16-1, batch 32", MLP, 32),
              ("MLP 20-32-16-1, batch 256", MLP, 256)]
#: the tools of that comparison and the call that fits one epoch
FIRST_FIT_TOOLS = {"gdlab-compiled": 'peers.gdlab_fit("auto")', "numpy-fast": "peers.numpy_fast",
                   "pytorch": "peers.pytorch", "keras": "peers.keras"}


def first_fits(n: int, installed: dict[str, bool], log) -> dict[str, dict[str, float]]:
    """Each tool's first one-epoch fit in a new process (numba's cache on disk, as after
    one earlier use), to put beside the warm figures of the main table."""
    env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'src'}", "KERAS_BACKEND": "jax"}
    result: dict[str, dict[str, float]] = {}
    for config, hidden, batch in FIRST_FITS:
        for tool, call in FIRST_FIT_TOOLS.items():
            if not installed.get(tool, True):
                continue
            code = _FIRST_FIT.format(n=n, call=call, batch=batch, hidden=hidden)
            result.setdefault(config, {})[tool] = _child(code, env)["fit"]
            log(f"  first fit {config:28s} {tool:16s} {result[config][tool]:.3f} s")
    return result


def memory(n: int, log) -> dict[str, dict[str, float]]:
    """Peak RSS of a compiled fit on n rows (mini-batch 32 and full batch)."""
    env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    result = {str(batch): _child(_MEMORY.format(n=n, batch=batch), env)
              for batch in (32, "full")}
    log(f"  memory {result}")
    return result


def scaling(sizes: list[int], runs: int, log) -> dict[tuple[int, object], Measurement]:
    """Compiled epoch time at each n (full batch and batch 256; one run at the largest)."""
    result = {}
    for n in sizes:
        X, y = make_data(n, seed=1)
        for batch in ("full", 256):
            m = Measurement("gdlab-compiled", n)
            for run in range(1 if n >= 10_000_000 else runs):
                m.seconds.append(TOOLS["gdlab-compiled"](X, y, batch, (), run))
            result[(n, batch)] = m
            log(f"  scaling n={n:>9} batch={batch!s:>4} {m.median:.4f} s")
        result[(n, "read")] = Measurement("one read of X", n, [peers.read_x(X)
                                                               for _ in range(runs)])
        del X, y
    return result


def main(argv: list[str] | None = None) -> Path:
    """Run the benchmark and write the report; return its path."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a tiny run in a few seconds")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--readme", action="store_true",
                        help="also rewrite the speed table of README.md from this run")
    args = parser.parse_args(argv)
    log = (lambda message: None) if args.quiet else (lambda message: print(message,
                                                                             flush=True))
    started, load_before = time.perf_counter(), os.getloadavg()
    n, runs = (500, 1) if args.smoke else (1_000_000, 3)
    installed = peers.available()
    log(f"data: {n} x 20 float64; runs per tool: {runs}; optional peers: {installed}")
    X, y = make_data(n)
    results = run_configs(X, y, runs, installed, log)
    del X, y
    extra: dict = {}
    if not args.smoke:
        extra["compile"] = compile_times(log)
        extra["first_fit"] = first_fits(n, installed, log)
        extra["memory"] = memory(n, log)
    sizes = [500, 1_000] if args.smoke else [100_000, 1_000_000, 10_000_000]
    extra["scaling"] = scaling(sizes, runs, log)
    extra["load"] = (load_before, os.getloadavg())
    extra["seconds"] = time.perf_counter() - started
    text = report.render(results, extra, n=n, runs=runs, smoke=args.smoke)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    if args.readme and not args.smoke:
        report.update_readme(ROOT / "README.md", results, extra)
    log(f"wrote {args.out} in {extra['seconds']:.0f} s")
    return args.out
