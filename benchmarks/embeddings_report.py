"""The Markdown page of ``python -m benchmarks.embeddings`` (``docs/embeddings-speed.md``)."""

from __future__ import annotations

from benchmarks import report as suite_report

PEERS = ("numpy", "pytorch", "keras")


def _times(ratio: float) -> str:
    """``ratio`` = other's time / this tool's time, in words."""
    return f"{ratio:.2f}× faster" if ratio >= 1 else f"{1 / ratio:.2f}× slower"


def _find(items, tool: str, dtype: str = "float32"):
    return next((m for m in items if m.tool == tool and m.dtype == dtype), None)


def _fastest_peer(items):
    peers = [m for m in items if m.tool in PEERS and m.dtype == "float32"]
    return min(peers, key=lambda m: m.median / m.rows) if peers else None


def _cell(m, n: int) -> str:
    star = "*" if m.rows < n else ""
    return f"{m.epoch(n):.3g}{star} ({min(m.seconds):.3g}–{max(m.seconds):.3g})"


def summary(results, n: int) -> list[str]:
    """gdlab compiled (float32) against the NumPy loop and the fastest peer, per batch."""
    lines = ["## Summary (float32)", "",
             "Seconds per epoch: median (min–max over the repeats, of the rows timed; * = "
             "timed on the first rows only, epoch extrapolated). A ratio is the other tool's "
             "median time per row over gdlab-compiled's, from this run; the goal is that "
             "gdlab-compiled is faster (≥ 1×), and any ratio below it is marked MISSED.", "",
             "| batch | gdlab-compiled (s) | NumPy loop (s) | compiled vs NumPy loop | fastest "
             "peer (s) | compiled vs fastest peer |", "|---:|---:|---:|---:|---:|---:|"]
    for batch, items in results.items():
        compiled, base, best = _find(items, "gdlab-compiled"), _find(items, "numpy"), \
            _fastest_peer(items)
        if compiled is None or base is None:
            continue
        cells = [f"{batch:,}", _cell(compiled, n), _cell(base, n),
                 _status(base.epoch(n) / compiled.epoch(n))]
        cells += [f"{best.tool}: {_cell(best, n)}", _status(best.epoch(n) / compiled.epoch(n))]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _status(ratio: float) -> str:
    return _times(ratio) + ("" if ratio >= 1 else " — MISSED")


def batch_tables(results, n: int) -> list[str]:
    """Every tool at every batch size, with its ratio to the NumPy loop of its dtype."""
    lines = ["## Every tool", "",
             "Per batch size: the median seconds of one epoch on all rows (* = extrapolated "
             "from the rows timed), min–max of the timed runs, rows per second, the ratio to "
             "the NumPy loop of the same dtype (its time over the tool's), the setting kept "
             "(the fastest in the trial, see below) and the first fit in this "
             "process on 4 × batch rows (gdlab-compiled: loading or compiling its kernels; "
             "Keras: tracing).", ""]
    for batch, items in results.items():
        lines += [f"### Batch {batch:,} ({-(-n // batch):,} steps per epoch)", "",
                  "| tool | dtype | s/epoch | min–max (s, rows timed) | rows/s | vs NumPy loop "
                  "| setting | first fit (s) |", "|---|---|---:|---:|---:|---:|---|---:|"]
        for m in items:
            base = _find(items, "numpy", m.dtype)
            ratio = "baseline" if m.tool == "numpy" or base is None else _times(
                (base.median / base.rows) / (m.median / m.rows))
            star = "*" if m.rows < n else ""
            lines.append(f"| {m.tool} | {m.dtype} | {m.epoch(n):.3g}{star} | "
                         f"{min(m.seconds):.3g}–{max(m.seconds):.3g} ({m.rows:,}) | "
                         f"{m.rows / m.median:,.0f} | {ratio} | {m.variant or '—'} | "
                         f"{m.warmup:.2f} |")
        lines.append("")
    return lines


def variants(results) -> list[str]:
    """Each setting tried, and its time in the trial."""
    lines = ["## Settings tried", "",
             "Tools with more than one honest setting ran each twice, after the warm-up, on the "
             "first 50 × batch rows (the best of the two, in seconds); the fastest was kept.",
             "", "| batch | tool | dtype | setting: seconds |", "|---:|---|---|---|"]
    for batch, items in results.items():
        for m in items:
            if len(m.tried) > 1:
                tried = "; ".join(f"{label}: {s:.3g}" for label, s in m.tried.items())
                lines.append(f"| {batch:,} | {m.tool} | {m.dtype} | {tried} |")
    return [*lines, ""]


def correctness(checks) -> list[str]:
    """The same epoch computed two ways."""
    lines = ["## Correctness (same run)", "",
             "One epoch from the same initial θ in the same row order (gdlab's shuffle for "
             "seed 0); the largest difference of the parameters after it and the mean of the "
             "epoch's step losses (mean Poisson deviance) of both. The NumPy loop runs with "
             "the bincount scatter-add.", "",
             "| comparison | dtype | batch | rows | max abs(Δθ) | loss (first) | loss (second) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for c in checks:
        first, second = c["loss"]
        lines.append(f"| {c['what']} | {c['dtype']} | {c['batch']:,} | {c['rows']:,} | "
                     f"{c['delta']:.1e} | {first:.10f} | {second:.10f} |")
    return [*lines, ""]


def compile_time(extra) -> list[str]:
    if "compile" not in extra:
        return []
    lines = ["## Compile time (gdlab-compiled, float32)", "",
             "Seconds of the first `fit` minus a second one, on 20,000 rows, in a fresh "
             "process: with an empty numba cache, then with the cache that run left on disk "
             "(a later session).", "", "| numba cache | batch 10,000 | batch 256 |",
             "|---|---:|---:|"]
    for label, seconds in extra["compile"].items():
        lines.append(f"| {label} | {seconds[10000]:.2f} | {seconds[256]:.2f} |")
    return [*lines, ""]


def data_lines(data, n: int) -> list[str]:
    frequency = data.y.sum() / data.exposure.sum()
    return [f"Data: {n:,} synthetic rows shaped like freMTPL2freq (seeded; not the data): "
            "7 numeric columns scaled to [−1, 1], VehBrand-like (11 levels) and Region-like "
            f"(22 levels) codes with unequal shares; mean exposure {data.exposure.mean():.3f}, "
            f"{(data.y > 0).mean():.1%} of rows with a claim, frequency {frequency:.2%}.", ""]


def render(results, extra, *, n: int, repeats: int, smoke: bool, command: str,
           installed: dict[str, bool]) -> str:
    """The whole page."""
    title = "# Embedding network: speed" + (" (smoke run: numbers meaningless)" if smoke
                                            else "")
    missing = [name for name, ok in installed.items() if not ok]
    intro = [
        title, "",
        f"Written by `{command}` (do not edit by hand: every figure comes from that run).", "",
        "Issue 15's network: 7 numeric columns + 2 categorical columns through 2-dimensional "
        "embeddings, tanh (20, 15, 10), exponential output, Poisson loss with exposure "
        "(log-exposure offset), Nadam (η = 0.001). Each tool trains one epoch; its whole fit "
        "call is timed (model building is not), after a warm-up fit on a few rows (numba "
        "compiles, Keras traces), a trial of each tool's settings, and one uncounted round "
        "at full size; then "
        f"{repeats} round(s), interleaved across tools. gdlab runs in float32 and float64, "
        "PyTorch and Keras in float32; the NumPy loop, the baseline, in both. It is the loop "
        "a competent user writes: one permuted copy of the data per epoch, contiguous "
        "slices, lookup by fancy indexing, matrix products, the scatter-add by np.bincount "
        "or np.add.at (the faster), Nadam written out on one flat θ, the per-step loss "
        "recorded as gdlab records it. PyTorch: nn.Embedding, nn.Linear, tanh, "
        "PoissonNLLLoss(log_input=True) with the log exposure added, torch.optim.NAdam "
        "(its own momentum schedule), one permuted copy per epoch. Keras 3 on JAX: "
        "Embedding, Concatenate, Dense, the log exposure as an input added before the "
        "exponential, loss `poisson`, Nadam, `model.fit` (the model is built and traced "
        "once per batch size)."
        + (f" Not installed, so not measured: {', '.join(missing)}." if missing else ""), "",
        *data_lines(extra["data"], n)]
    return "\n".join([*intro, *suite_report.machine(extra), *summary(results, n),
                      *batch_tables(results, n), *variants(results),
                      *correctness(extra["check"]), *compile_time(extra)]) + "\n"
