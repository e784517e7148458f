"""The Markdown report of a benchmark run (``docs/benchmarks.md``)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from datetime import UTC, datetime

MB = 1024 * 1024


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_total() -> str:
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / MB:.0f} GiB"
    except OSError:
        pass
    return "unknown"


def _l3() -> str:
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index3/size", encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def machine(extra: dict) -> list[str]:
    """The machine, the software and how busy the machine was."""
    (b1, b5, _), (a1, a5, _) = extra["load"]
    l3 = _l3()
    return [
        "## Machine", "",
        f"- CPU: {_cpu()}, {os.cpu_count()} cores, L3 {l3}; RAM {_memory_total()}",
        f"- {platform.platform()}; Python {platform.python_version()}",
        "- " + ", ".join(f"{p} {_version(p)}" for p in
                         ("numpy", "numba", "scikit-learn", "torch", "keras", "jax")),
        f"- Load average (1 min, 5 min) before the run {b1:.1f}, {b5:.1f}; after {a1:.1f}, "
        f"{a5:.1f}. The machine is shared: other jobs ran at the same time, so absolute "
        "times are noisy; ratios come from the same run.",
        f"- Run time {extra['seconds']:.0f} s; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.", "",
    ]


def _find(results, config, tool):
    for m in results.get(config, []):
        if m.tool == tool:
            return m
    return None


def _times(ratio: float) -> str:
    return f"{ratio:.2f}× faster" if ratio >= 1 else f"{1 / ratio:.2f}× slower"


def config_tables(results, n: int) -> list[str]:
    """One table per configuration: every tool, its epoch time and samples/s."""
    lines = ["## One epoch, side by side", "",
             f"Epoch time for {n:,} rows (median of the runs; min–max in brackets). Tools "
             "marked * were timed on the first rows only and their epoch is extrapolated "
             "from samples/s.", ""]
    for config, items in results.items():
        compiled = _find(results, config, "gdlab-compiled")
        lines += [f"### {config}", "",
                  "| tool | epoch (s) | min–max (s, rows timed) | samples/s | gdlab-compiled is |",
                  "|---|---:|---:|---:|---:|"]
        for m in items:
            scale = n / m.rows
            star = "*" if m.rows < n else ""
            ratio = "—" if m is compiled or compiled is None else _times(
                m.median / m.rows / (compiled.median / compiled.rows))
            lines.append(f"| {m.tool}{star} | {m.median * scale:.4g} | "
                         f"{min(m.seconds):.4g}–{max(m.seconds):.4g} ({m.rows:,}) | "
                         f"{m.samples_per_second:,.0f} | {ratio} |")
        lines.append("")
    return lines


def _speedup(results, config, peer):
    compiled, other = _find(results, config, "gdlab-compiled"), _find(results, config, peer)
    if compiled is None or other is None:
        return None
    return compiled.samples_per_second / other.samples_per_second


def targets(results, extra) -> list[str]:
    """The issue's targets, each with the measured value and whether it is met."""
    rows = []

    def speed(label, config, peer, goal):
        value = _speedup(results, config, peer)
        if value is None:
            rows.append((label, f"≥ {goal}× {peer}", f"{peer} not installed", "skipped"))
        else:
            met = value >= goal
            miss = "" if met else f" (missed by {goal / value:.2f}×)"
            rows.append((label, f"≥ {goal}× {peer}", f"{value:.2f}×", ("met" if met else
                                                                      "MISSED") + miss))

    speed("logistic, batch 1", "logistic, batch 1", "sklearn-SGDClassifier", 2)
    speed("logistic, batch 32", "logistic, batch 32", "hand-numpy", 2)
    speed("logistic, batch 32", "logistic, batch 32", "pytorch", 10)
    for peer, goal in (("hand-numpy", 2), ("keras", 3), ("sklearn-MLPClassifier", 5)):
        speed("MLP, batch 32", "MLP 20-32-16-1, batch 32", peer, goal)
    for peer, goal in (("hand-numpy", 1.2), ("keras", 1.5)):
        speed("MLP, batch 256", "MLP 20-32-16-1, batch 256", peer, goal)
    full = _speedup(results, "logistic, full batch", "one read of X")
    if full is not None:
        rows.append(("logistic, full batch", "≤ 3× one read of X", f"{1 / full:.1f}×",
                     "met" if 1 / full <= 3 else f"MISSED (by {1 / full / 3:.1f}×)"))
    for batch, mem in extra.get("memory", {}).items():
        used = mem["peak"] - mem["base"]
        limit = 1.25 * mem["data"] + 100 * MB
        rows.append((f"memory, batch {batch}", "peak − libraries ≤ (X+y)·1.25 + 100 MB",
                     f"{used / MB:.0f} MB (limit {limit / MB:.0f} MB)",
                     "met" if used <= limit else "MISSED"))
    compile_ = extra.get("compile")
    if compile_:
        cold, warm = compile_["cold"]["minibatch"], compile_["warm"]["minibatch"]
        rows.append(("compile, first fit", "≤ 3 s", f"{cold:.1f} s",
                     "met" if cold <= 3 else f"MISSED (by {cold / 3:.1f}×)"))
        rows.append(("compile, later processes", "≤ 0.3 s", f"{warm:.2f} s",
                     "met" if warm <= 0.3 else f"MISSED (by {warm / 0.3:.1f}×)"))
    scaling = extra["scaling"]
    for batch in ("full", 256):  # linear: the time per row does not grow with n
        per_row = [m.median / m.rows for _, m in sorted(
            ((n, m) for (n, b), m in scaling.items() if b == batch), key=lambda item: item[0])]
        growth = per_row[-1] / per_row[0]
        rows.append((f"scaling, batch {batch}", "time per row at the largest n ≤ 1.5× that "
                     "at the smallest", f"{growth:.2f}×", "met" if growth <= 1.5 else "MISSED"))
    lines = ["## Targets (issue 7)", "", "| configuration | target | measured | status |",
             "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return [*lines, ""]


def overhead(results) -> list[str]:
    """Issue 2: the reference executor's overhead over the hand-written NumPy loop."""
    lines = ["## Reference executor vs the hand-written NumPy loop (issue 2)", "",
             "Overhead = reference time per row / hand loop time per row − 1 "
             "(target: under 15 %). Both times are of the epoch alone: for gdlab from "
             "`on_epoch_begin` to `on_epoch_end` (input validation and the initial-loss "
             "pass of `fit` excluded; the built-in end-of-epoch callbacks included), for "
             "the hand loop its loop over the batches.", "",
             "| configuration | reference (µs/row) | hand NumPy (µs/row) | overhead |",
             "|---|---:|---:|---:|"]
    for config in results:
        if "batch 1" in config and "batch 1" == config.split(", ")[-1]:
            continue
        ref, hand = _find(results, config, "gdlab-reference"), _find(results, config,
                                                                        "hand-numpy")
        if ref is None or hand is None:
            continue
        over = (ref.median / ref.rows) / (hand.median / hand.rows) - 1
        lines.append(f"| {config} | {ref.median / ref.rows * 1e6:.3g} µs/row | "
                     f"{hand.median / hand.rows * 1e6:.3g} µs/row | {over:+.0%} |")
    return [*lines, ""]


def extras(extra) -> list[str]:
    """Compile time, memory and scaling."""
    lines = []
    if "compile" in extra:
        lines += ["## Compile time", "",
                  "Seconds of compiling in the first `fit` (first fit minus a second fit in "
                  "the same process), in a new environment (empty numba cache) and in a later "
                  "process (cache on disk), and the `import gdlab` time.", "",
                  "| | mini-batch kernels | full-batch kernels | import |", "|---|---:|---:|---:|"]
        for key, value in extra["compile"].items():
            lines.append(f"| {key} | {value['minibatch']:.2f} s | {value['full']:.2f} s | "
                         f"{value['import']:.2f} s |")
        lines.append("")
    if "memory" in extra:
        lines += ["## Memory", "",
                  "Peak RSS (VmHWM, reset just before `fit`) of a process that imports gdlab, "
                  "makes X and y, and fits 2 epochs with the compiled executor.", "",
                  "| batch | X + y | RSS of libraries | RSS with data | peak during fit |",
                  "|---|---:|---:|---:|---:|"]
        for batch, mem in extra["memory"].items():
            lines.append(f"| {batch} | {mem['data'] / MB:.0f} MB | {mem['base'] / MB:.0f} MB |"
                         f" {mem['before'] / MB:.0f} MB | {mem['peak'] / MB:.0f} MB |")
        lines.append("")
    lines += ["## Scaling (compiled executor, logistic, one epoch)", "",
              "| n | full batch (s) | batch 256 (s) | one read of X (s) | full batch ns/row |",
              "|---:|---:|---:|---:|---:|"]
    scaling = extra["scaling"]
    for n in sorted({key[0] for key in scaling}):
        full, mini, read = scaling[(n, "full")], scaling[(n, 256)], scaling[(n, "read")]
        lines.append(f"| {n:,} | {full.median:.4f} | {mini.median:.4f} | {read.median:.4f} | "
                     f"{full.median / n * 1e9:.1f} |")
    return [*lines, ""]


NOTES = """## Why the missed targets are missed (analysis, 2026-11-26)

- **Logistic, batch 1 vs `SGDClassifier`.** One-unit models take a short row path, but
  each step still does the generic bookkeeping (learning-rate schedule, finiteness
  check, per-layer gradient norm, the optimizer rule by code): about 120 ns per row in
  order on this machine, where a loop written for logistic regression alone needs about
  55 ns; and each shuffled row waits for RAM (10⁶ rows × 160 B is more than the 32 MB L3
  cache), only partly hidden by prefetching 24 rows ahead (a bare numba loop with the
  same prefetch: about 170 ns per row). scikit-learn's Cython loop is written for
  linear models only.
- **Scaling at batch 256.** Time per row grows from 10⁵ to 10⁷ rows because shuffled
  rows come from ever further away (L2, L3, then RAM: 1.6 GB at 10⁷); the full batch,
  read in order, scales linearly.
- **Full batch vs one read of X.** Each block of 2,048 rows is read twice (forward
  product, then Xᵀ dZ from the L2 cache) and every row needs an `exp` and a `log1p`
  (≈ 50–80 ns per row on one core). The two threads give less than 2× on this shared
  machine (other jobs used about one core during the run).
- **Compile time.** A fit compiles only the path it uses (row by row below 16 rows, block
  by block up to 2,048, threaded blocks above), but each path is one generic kernel for
  all activations, losses, optimizers and schedules, chosen by integer codes. numba links
  each compiled helper's machine code into every caller and optimises it again there, so
  compile time grows with the depth of the call tree; thin wrappers are now inlined at
  numba's IR level (≈ 21 → 17 s for the first mini-batch fit). The rest is numba's typing
  and LLVM for one generic kernel per path. Warm loading is dominated by numba's own
  start-up (importing numba ≈ 0.35 s, its registries ≈ 0.4 s), so ≤ 0.3 s is out of
  reach with numba's cache. Next steps: smaller kernels per loss/optimizer family, or an
  ahead-of-time compiled module.
- **Reference executor (issue 2).** Per step it does a little more than the hand
  loop: it keeps the caches a trace needs (Z and A of every layer), goes through a
  few more Python calls (layer, activation, loss, optimizer), and adds the per-layer
  squared gradient norms (one dot product per layer, which also tells that the
  gradient is finite); dW and db are computed straight into the flat gradient,
  and θ is updated by one vector operation where the hand loop does two per
  layer. On this shared
  machine the measured overhead moves a lot between runs (+20 % to +79 % in the run
  that wrote this page; −5 % to +57 % and +6 % to +301 % in two earlier runs); each
  tool's runs are timed one after the other, not interleaved, so a burst of load on
  the machine lands on one tool only. The
  compiled executor, which `fit` uses by default, is the fast path; the reference stays
  the readable one.
"""


def render(results, extra, *, n: int, runs: int, smoke: bool) -> str:
    """The whole report."""
    title = "# Benchmarks" + (" (smoke run: tiny data, numbers meaningless)" if smoke else "")
    intro = [title, "",
             "Written by `python -m benchmarks` (do not edit by hand). Data: "
             f"{n:,} × 20 float64, logistic target; {runs} run(s) per tool; every tool "
             "trains one epoch with plain SGD (η = 0.01) and the binary cross-entropy; "
             "the MLP is 20-32-16-1 with ReLU and a sigmoid output.", ""]
    return "\n".join([*intro, *machine(extra), *targets(results, extra), *overhead(results),
                      *config_tables(results, n), *extras(extra), NOTES]) + "\n"
