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
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_total() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as file:
            for line in file:
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
        f"- CPU: {_cpu()}, {len(os.sched_getaffinity(0))} cores usable, L3 {l3}; RAM "
        f"{_memory_total()}",
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
             f"One-epoch fit time for {n:,} rows (median of the runs; min–max in brackets). Tools "
             "marked * were timed on the first rows only and their epoch is extrapolated "
             "from samples/s.", ""]
    for config, items in results.items():
        compiled = _find(results, config, "gdlab-compiled")
        lines += [f"### {config}", "",
                  "| tool | fit (s) | min–max (s, rows timed) | samples/s | gdlab-compiled is |",
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
    """gdlab-compiled's samples/s over ``peer``'s (None if either was not measured)."""
    compiled, other = _find(results, config, "gdlab-compiled"), _find(results, config, peer)
    if compiled is None or other is None:
        return None
    return compiled.samples_per_second / other.samples_per_second


def _best_peer(results, config) -> tuple[str, float] | tuple[None, None]:
    """The fastest tool other than gdlab, and gdlab-compiled's speed-up over it."""
    peers = [m for m in results.get(config, [])
             if not m.tool.startswith("gdlab") and m.tool != "one read of X"]
    if not peers or _find(results, config, "gdlab-compiled") is None:
        return None, None
    best = max(peers, key=lambda m: m.samples_per_second)
    return best.tool, _speedup(results, config, best.tool)


def _status(value: float, goal: float, *, at_most: bool = False) -> str:
    met = value <= goal if at_most else value >= goal
    if met:
        return "met"
    return f"MISSED (by {value / goal if at_most else goal / value:.2f}×)"


def target_rows(results, extra) -> list[tuple[str, str, str, str]]:
    """Issue 13's targets, each with the value measured in this run and met / MISSED."""
    rows = []

    def speed(label, config, peer, goal):
        value = _speedup(results, config, peer)
        if value is None:
            rows.append((label, f"≥ {goal}× {peer}", "not measured", "—"))
        else:
            rows.append((label, f"≥ {goal}× {peer}", f"{value:.2f}×", _status(value, goal)))

    speed("logistic, batch 1", "logistic, batch 1", "sklearn-SGDClassifier", 1.5)
    speed("logistic, batch 32", "logistic, batch 32", "numpy-fast", 4)
    speed("MLP 20-32-16-1, batch 32", "MLP 20-32-16-1, batch 32", "numpy-fast", 3)
    speed("MLP 20-32-16-1, batch 256", "MLP 20-32-16-1, batch 256", "numpy-fast", 1.5)
    full = _speedup(results, "logistic, full batch", "one read of X")
    if full is not None:
        rows.append(("logistic, full batch, one-epoch fit", "≤ 6× one read of X",
                     f"{1 / full:.1f}×", _status(1 / full, 6, at_most=True)))
    for config, goal in (("logistic, batch 32", 4), ("MLP 20-32-16-1, batch 32", 2),
                         ("MLP 20-32-16-1, batch 256", 1.5)):
        tool, value = _best_peer(results, config)
        if value is not None:
            rows.append((f"{config}, vs the best peer", f"≥ {goal}× the best peer",
                         f"{value:.2f}× ({tool})", _status(value, goal)))
    compile_ = extra.get("compile")
    if compile_:
        cold, warm = compile_["cold"]["new_user"], compile_["warm"]["new_user"]
        rows.append(("new process, empty cache: import + 1,000-row fit", "≤ 2 s",
                     f"{cold:.1f} s", _status(cold, 2, at_most=True)))
        rows.append(("new process, warm cache: import + the same fit", "≤ 1 s",
                     f"{warm:.2f} s", _status(warm, 1, at_most=True)))
    for batch, mem in extra.get("memory", {}).items():
        used = mem["peak"] - mem["base"]
        limit = 1.25 * mem["data"] + 100 * MB
        rows.append((f"memory, batch {batch}", "peak − libraries ≤ (X+y)·1.25 + 100 MB",
                     f"{used / MB:.0f} MB (limit {limit / MB:.0f} MB)",
                     _status(used, limit, at_most=True)))
    return rows


def targets(results, extra) -> list[str]:
    """The targets table of the page."""
    lines = ["## Targets (issue 13)", "",
             "Ratios are gdlab-compiled's samples/s over the other tool's, measured in this "
             "run, each tool's whole one-epoch fit (warm).", "",
             "| configuration | target | measured | status |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in target_rows(results, extra)]
    return [*lines, ""]


def overhead(results) -> list[str]:
    """The reference executor against the fast NumPy loop, per row."""
    lines = ["## Reference executor vs the fast NumPy loop", "",
             "Overhead = reference time per row / NumPy loop time per row − 1, both the whole "
             "one-epoch fit. The reference executor keeps what a trace needs and checks every "
             "step; it is the readable path, the compiled executor the fast one.", "",
             "| configuration | reference (µs/row) | fast NumPy (µs/row) | overhead |",
             "|---|---:|---:|---:|"]
    for config in results:
        ref, base = _find(results, config, "gdlab-reference"), _find(results, config,
                                                                       "numpy-fast")
        if ref is None or base is None:
            continue
        over = (ref.median / ref.rows) / (base.median / base.rows) - 1
        lines.append(f"| {config} | {ref.median / ref.rows * 1e6:.3g} | "
                     f"{base.median / base.rows * 1e6:.3g} | {over:+.0%} |")
    return [*lines, ""]


def first_fit(extra) -> list[str]:
    """Each tool's first fit in a fresh process beside its warm figure."""
    if "first_fit" not in extra:
        return []
    lines = ["## First fit in a fresh process", "",
             "One-epoch fit time of each tool's first fit in a new Python process (gdlab with "
             "numba's cache already on disk), in seconds.", "",
             "| configuration | " + " | ".join(FIRST_FIT_ORDER) + " |",
             "|---|" + "---:|" * len(FIRST_FIT_ORDER)]
    for config, tools in extra["first_fit"].items():
        cells = [f"{tools[t]:.3f}" if t in tools else "—" for t in FIRST_FIT_ORDER]
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    return [*lines, ""]


FIRST_FIT_ORDER = ("gdlab-compiled", "numpy-fast", "pytorch", "keras")


def extras(extra) -> list[str]:
    """Compile time, memory and scaling."""
    lines = []
    if "compile" in extra:
        lines += ["## Compile time", "",
                  "Seconds of compiling in the first `fit` of the MLP (first fit minus a second "
                  "fit in the same process), in a new environment (empty numba cache) and in a "
                  "later process (cache on disk); the `import gdlab` time; and a new user's "
                  "whole process (Python start, import, a 1,000-row logistic fit, batch 32, 5 "
                  "epochs, `executor=\"auto\"`).", "",
                  "| | mini-batch kernels | full-batch kernels | import | new user's process |",
                  "|---|---:|---:|---:|---:|"]
        for key, value in extra["compile"].items():
            lines.append(f"| {key} | {value['minibatch']:.2f} s | {value['full']:.2f} s | "
                         f"{value['import']:.2f} s | {value['new_user']:.2f} s |")
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


def render(results, extra, *, n: int, runs: int, smoke: bool) -> str:
    """The whole report."""
    title = "# Benchmarks" + (" (smoke run: tiny data, numbers meaningless)" if smoke else "")
    intro = [title, "",
             "Written by `python -m benchmarks` (do not edit by hand: every figure on this "
             f"page comes from the run). Data: {n:,} × 20 float64, logistic target; {runs} "
             "interleaved run(s) per tool; every tool trains one epoch with plain SGD "
             "(η = 0.01) and the binary cross-entropy, and is timed over its whole fit call "
             "after a warm-up fit on a few rows and one uncounted round at full size; the MLP "
             "is 20-32-16-1 with ReLU and a sigmoid output. PyTorch and Keras run in float32, "
             "the others in float64.", ""]
    return "\n".join([*intro, *machine(extra), *targets(results, extra), *overhead(results),
                      *config_tables(results, n), *first_fit(extra), *extras(extra)]) + "\n"


README_BEGIN, README_END = "<!-- speed-table: begin -->", "<!-- speed-table: end -->"


def update_readme(path, results, extra) -> None:
    """Rewrite the README's speed table (between its markers) from this run's targets."""
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    a1 = extra["load"][1][0]
    table = ["", f"From `python -m benchmarks --readme` on {datetime.now(UTC):%Y-%m-%d} "
             f"(1,000,000 × 20, 2 shared cores, load average {a1:.1f} at the end):", "",
             "| configuration | target | measured | status |", "|---|---|---|---|"]
    table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in target_rows(results, extra)]
    path.write_text(head + README_BEGIN + "\n".join(table) + "\n" + README_END + tail,
                    encoding="utf-8")
