"""float32 against float64: one epoch of the compiled executor, per configuration.

``python -m benchmarks.precision`` measures, on ``benchmarks.suite.make_data`` logistic data
(200,000 × 20 by default), one epoch of logistic regression and of the MLP 20-32-16-1 (ReLU,
and tanh) at batch sizes 1, 32, 256 and full, for a float64 model given X as float64 and a
float32 model given X as float32 (as a user would pass it; the cast is made once, before
the timing, and y stays the same float64 0/1 array). Issue 13's target: the float32 epoch of
the compiled executor takes at most 0.85× the float64 epoch. The whole fit call is timed
(building the model is not), after a warm-up fit on a few rows per configuration (numba's
compilation is not counted) and one uncounted round at full size; then the repeats,
interleaved (float64, float32, float64, …). The reference (NumPy) executor's ratio is given
beside it as context, and so is max |θ32 − θ64| after the epoch from the same initial θ and
the same row order: float32 computes the same thing. It writes ``docs/float32.md``;
``--smoke`` does a tiny run in seconds (used by the test suite).
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

import gdlab as gd
from benchmarks import page_cli, report
from benchmarks.suite import make_data

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.85
LEARNING_RATE = 0.01
EXECUTORS = ("compiled", "numpy")
DTYPES = ("float64", "float32")

#: (configuration, hidden layers, activation, batch size)
CONFIGS = [(f"{name}, {'full batch' if b == 'full' else f'batch {b}'}", hidden, act, b)
           for name, hidden, act in (("logistic", (), "relu"),
                                     ("MLP 20-32-16-1 relu", (32, 16), "relu"),
                                     ("MLP 20-32-16-1 tanh", (32, 16), "tanh"))
           for b in (1, 32, 256, "full")]

#: Rows timed per (executor, MLP?, batch) when fewer than all (the epoch is extrapolated).
ROW_CAPS = {("compiled", True, 1): 50_000, ("numpy", False, 1): 20_000,
            ("numpy", True, 1): 5_000, ("numpy", True, 32): 50_000}


def build(hidden: tuple[int, ...], activation: str, dtype: str) -> gd.Sequential:
    """Logistic regression or an MLP 20-hidden-1, sigmoid output, SGD; θ drawn by seed 0."""
    layers = [gd.Dense(units, activation=activation) for units in hidden]
    model = gd.Sequential([*layers, gd.Dense(1, activation="sigmoid")], input_dim=20, seed=0,
                          dtype=dtype)
    model.compile(loss="binary_crossentropy", optimizer=gd.SGD(LEARNING_RATE))
    return model


def fit_once(X, y, config, dtype: str, executor: str) -> tuple[float, np.ndarray]:
    """Seconds of one whole ``fit`` call of one epoch, and θ after it."""
    _, hidden, activation, batch = config
    model = build(hidden, activation, dtype)
    with warnings.catch_warnings():  # the 4-row warm-ups can leave a ReLU unit dead
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        model.fit(X, y, batch_size=batch, epochs=1, seed=0, verbose=0, executor=executor)
        seconds = time.perf_counter() - start
    return seconds, model.theta.copy()


def rows_timed(executor: str, config, n: int) -> int:
    cap = ROW_CAPS.get((executor, bool(config[1]), config[3]))
    return min(n, cap) if cap else n


def time_config(data, config, repeats: int) -> dict:
    """Seconds per (executor, dtype) over the repeats, rows timed and θ after the epoch."""
    n, batch = data["float64"][0].shape[0], config[3]
    warm = 4 * batch if isinstance(batch, int) else 1024
    for executor in EXECUTORS:  # warm-up: compile (or load) the kernels, outside the timing
        for dtype in DTYPES:
            fit_once(data[dtype][0][:warm], data[dtype][1][:warm], config, dtype, executor)
    out = {"rows": {e: rows_timed(e, config, n) for e in EXECUTORS}, "seconds": {},
           "theta": {}}
    for run in range(repeats + 1):  # round 0 at full size is not counted (page faults)
        for executor in EXECUTORS:
            rows = out["rows"][executor]
            for dtype in DTYPES:
                X, y = data[dtype]
                seconds, theta = fit_once(X[:rows], y[:rows], config, dtype, executor)
                out["theta"][executor, dtype] = theta
                if run:
                    out["seconds"].setdefault((executor, dtype), []).append(seconds)
    rows = out["rows"]["numpy"]  # the executors agree in float32: same rows, untimed
    compiled = out["theta"]["compiled", "float32"] if rows == out["rows"]["compiled"] else \
        fit_once(*(a[:rows] for a in data["float32"]), config, "float32", "compiled")[1]
    out["agree"] = float(np.max(np.abs(compiled - out["theta"]["numpy", "float32"])))
    return out


def ratio_cells(result, executor: str) -> tuple[float, str]:
    """float32/float64 of the medians, and the min–max of the rounds' paired ratios."""
    s64, s32 = result["seconds"][executor, "float64"], result["seconds"][executor, "float32"]
    paired = [b / a for a, b in zip(s64, s32, strict=True)]
    ratio = statistics.median(s32) / statistics.median(s64)
    return ratio, f"{ratio:.2f} ({min(paired):.2f}–{max(paired):.2f})"


def _epoch(result, executor: str, dtype: str, n: int) -> str:
    seconds, rows = result["seconds"][executor, dtype], result["rows"][executor]
    scale, star = n / rows, "*" if rows < n else ""
    return (f"{statistics.median(seconds) * scale:.3g}{star} "
            f"({min(seconds) * scale:.3g}–{max(seconds) * scale:.3g})")


def _delta(result, executor: str) -> str:
    theta = result["theta"]
    delta = np.max(np.abs(theta[executor, "float32"].astype(np.float64)
                          - theta[executor, "float64"]))
    return f"{delta:.1e}"


def table(results, n: int) -> list[str]:
    """One row per configuration: compiled times and ratio against the target, then context."""
    met = sum(ratio_cells(r, "compiled")[0] <= TARGET for r in results.values())
    lines = ["## float32 / float64, one epoch", "",
             f"Target (issue 13): compiled float32 epoch ≤ {TARGET}× the float64 epoch. "
             f"Met in {met} of {len(results)} configurations.", "",
             "Seconds per epoch on all rows: median (min–max over the repeats; * = timed on "
             "the first rows only, epoch extrapolated linearly). A ratio is the float32 "
             "median over the float64 median, with the min–max of the ratios of each round's "
             "pair in brackets. Δθ = max |θ32 − θ64| after the epoch, same initial θ (drawn "
             "once, cast to float32), same row order, on the rows each executor timed; "
             "compiled vs reference = max |θ32 compiled − θ32 reference| after the epoch on "
             "the reference's rows (the float32 computation itself, executor against "
             "executor).", "",
             "| configuration | compiled float64 (s) | compiled float32 (s) | compiled f32/f64 "
             f"| target ≤ {TARGET} | compiled Δθ | reference f32/f64 | reference Δθ | compiled vs "
             "reference (float32) |", "|---|---:|---:|---:|---|---:|---:|---:|---:|"]
    for name, result in results.items():
        ratio, cell = ratio_cells(result, "compiled")
        status = "met" if ratio <= TARGET else "**MISSED**"
        lines.append(f"| {name} | {_epoch(result, 'compiled', 'float64', n)} | "
                     f"{_epoch(result, 'compiled', 'float32', n)} | {cell} | {status} | "
                     f"{_delta(result, 'compiled')} | {ratio_cells(result, 'numpy')[1]} | "
                     f"{_delta(result, 'numpy')} | {result['agree']:.1e} |")
    return [*lines, ""]


def reference_table(results, n: int) -> list[str]:
    """The reference executor's epochs (context: what NumPy gains from float32)."""
    lines = ["## Reference (NumPy) executor, for context", "",
             "Same timing; rows timed in brackets when fewer than all (epoch extrapolated).",
             "", "| configuration | reference float64 (s) | reference float32 (s) | rows timed |",
             "|---|---:|---:|---:|"]
    for name, result in results.items():
        lines.append(f"| {name} | {_epoch(result, 'numpy', 'float64', n)} | "
                     f"{_epoch(result, 'numpy', 'float32', n)} | "
                     f"{result['rows']['numpy']:,} |")
    return [*lines, ""]


def render(results, extra, *, n: int, repeats: int, smoke: bool, command: str) -> str:
    """The whole page."""
    title = "# float32 models: speed" + (" (smoke run: numbers meaningless)" if smoke else "")
    intro = [
        title, "",
        f"Written by `{command}` (do not edit by hand: every figure comes from that run).", "",
        f"Data: `benchmarks.suite.make_data({n:,})`, {n:,} × 20 standard normal X, binary "
        "y. Models: logistic regression (no hidden layer) and the MLP 20-32-16-1 (ReLU or "
        "tanh hidden layers), sigmoid output, binary cross-entropy, SGD (η = "
        f"{LEARNING_RATE}), seed 0. The float64 model gets X as float64; the float32 model "
        "(`dtype=\"float32\"`) gets X as float32, as a user would pass it (cast once, before "
        "the timing; y is the same float64 array for both). One epoch, the whole `fit` call "
        "timed (building the model is not), after a warm-up fit on a few rows per "
        "configuration (numba compiles outside the timing) and one uncounted round at full "
        f"size; then {repeats} round(s), interleaved (float64, float32, float64, …; compiled "
        "executor, then the reference one).", ""]
    return "\n".join([*intro, *report.machine(extra), *table(results, n),
                      *reference_table(results, n)]) + "\n"


def main(argv: list[str] | None = None) -> Path:
    """Run the benchmark, write the page and print it; return its path."""
    args, log = page_cli.parse(
        argv, prog="python -m benchmarks.precision", doc=__doc__, rows=200_000,
        out=ROOT / "docs" / "float32.md",
        smoke_help="a tiny run in seconds (2,000 rows, 1 repeat)")
    started, load_before = time.perf_counter(), os.getloadavg()
    X, y = make_data(args.rows)
    data = {"float64": (X, y), "float32": (X.astype(np.float32), y)}
    results = {}
    for config in CONFIGS:
        results[config[0]] = time_config(data, config, args.repeats)
        log(f"  {config[0]:32s} compiled f32/f64 "
            f"{ratio_cells(results[config[0]], 'compiled')[1]}")
    extra = {"load": (load_before, os.getloadavg()), "seconds": time.perf_counter() - started}
    text = render(results, extra, n=args.rows, repeats=args.repeats, smoke=args.smoke,
                  command=page_cli.command("python -m benchmarks.precision", argv))
    return page_cli.write(args.out, text, log)


if __name__ == "__main__":
    main()
