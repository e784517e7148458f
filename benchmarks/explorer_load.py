"""A class on one explorer: simulated students stepping their own playground sessions.

``python -m benchmarks.explorer_load [--students 60] [--steps 15] [--think 0]`` starts
``gdlab explore`` in its own process on a free port and lets every student, in
its own thread, open a session on one of a mix of data sets, models and batch sizes,
then press Step ``steps`` times while its contour grid is fetched beside (as the page
does). It prints the latency of the step requests (median, p95, max), of the new
sessions and of their grids, the errors and the sessions lost. The target for a class
of 60 on a 2-core machine: p95 step latency under 500 ms, no error, no session lost.

Without think time every student presses Step again as soon as the answer arrives: a
much harsher load than a real class, where a student looks at the table between steps.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gdlab

#: (data set, model, batch size of run A, batch size of run B or None): the class's mix.
MIX: list[tuple[str, str, Any, Any]] = [
    ("lecture", "linear", "full", 1),
    ("logistic", "logistic", 16, None),
    ("iris", "softmax", 8, "full"),
    ("blobs", "mlp", 1, None),
    ("breast_cancer", "logistic", "full", 32),
    ("logistic", "mlp", 32, 1),
]
#: The p95 step latency a class of 60 should see on 2 cores (milliseconds).
TARGET_P95_MS = 500.0


@dataclass
class LoadResult:
    """What the simulated class saw."""

    students: int
    steps: int
    step_ms: list[float] = field(default_factory=list)
    start_ms: list[float] = field(default_factory=list)  #: a new session
    grid_ms: list[float] = field(default_factory=list)  #: its contour grid, asked beside
    errors: list[str] = field(default_factory=list)
    lost_sessions: int = 0
    seconds: float = 0.0
    server_cpu: float | None = None  #: CPU seconds the server used (when it is ours)

    def percentile(self, q: float) -> float:
        """The q-th percentile of the step latencies (ms), nearest rank."""
        ordered = sorted(self.step_ms)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]

    def summary(self) -> str:
        """One paragraph for the terminal."""
        if not self.step_ms:
            return f"no step answered; errors: {self.errors[:3]}"
        return (f"{self.students} students × {self.steps} steps in {self.seconds:.1f} s: "
                f"step latency median {statistics.median(self.step_ms):.0f} ms, "
                f"p95 {self.percentile(95):.0f} ms, max {max(self.step_ms):.0f} ms "
                f"(target p95 < {TARGET_P95_MS:.0f} ms); a new session median "
                f"{statistics.median(self.start_ms):.0f} ms (max {max(self.start_ms):.0f}), its "
                f"contour grid median {statistics.median(self.grid_ms):.0f} ms (max "
                f"{max(self.grid_ms):.0f}); {len(self.errors)} errors, "
                f"{self.lost_sessions} sessions lost" + self._cpu())

    def _cpu(self) -> str:
        if self.server_cpu is None:
            return ""
        requests = self.students * (self.steps + 2)
        return (f"; the server used {self.server_cpu:.1f} CPU s "
                f"({1000 * self.server_cpu / requests:.1f} ms per request, "
                f"{requests} requests)")


def _student(client: Any, k: int, steps: int, think: float, result: LoadResult,
             lock: threading.Lock, start: threading.Barrier) -> None:
    dataset, model, batch_a, batch_b = MIX[k % len(MIX)]
    runs = [{"batch_size": batch_a, "learning_rate": 0.05 + 0.01 * (k % 5)}]
    if batch_b is not None:
        runs.append({"batch_size": batch_b, "learning_rate": 0.02, "optimizer": "adam"})
    spec = {"dataset": dataset, "model": model, "n": 200 + 20 * k, "seed": k, "hidden": 4,
            "runs": runs}
    start.wait()
    try:
        began = time.perf_counter()
        init = client.post("/api/playground/init", json=spec)
        init.raise_for_status()
        session = init.json()["session"]
        with lock:
            result.start_ms.append((time.perf_counter() - began) * 1000)
        # as the page does: the contour grid is asked for beside the first steps
        grid = threading.Thread(target=_grid, args=(client, session, k, result, lock))
        grid.start()
        for _ in range(steps):
            began = time.perf_counter()
            out = client.post("/api/playground/step", json={"session": session, "steps": 1})
            elapsed = (time.perf_counter() - began) * 1000
            with lock:
                if out.status_code == 404:
                    result.lost_sessions += 1
                    return
                if out.status_code != 200:
                    result.errors.append(f"student {k}: {out.status_code} {out.text[:200]}")
                    return
                result.step_ms.append(elapsed)
            if think:
                time.sleep(think)
        grid.join()
    except Exception as error:  # noqa: BLE001 - every failure of a student is counted
        with lock:
            result.errors.append(f"student {k}: {error!r}")


def _grid(client: Any, session: str, k: int, result: LoadResult,
          lock: threading.Lock) -> None:
    began = time.perf_counter()
    try:
        client.post("/api/playground/contours", json={"session": session, "i": 0, "j": 1}
                    ).raise_for_status()
    except Exception as error:  # noqa: BLE001
        with lock:
            result.errors.append(f"student {k}'s contours: {error!r}")
        return
    with lock:
        result.grid_ms.append((time.perf_counter() - began) * 1000)


def run_load(base_url: str, *, students: int = 60, steps: int = 15,
             think: float = 0.0) -> LoadResult:
    """Let ``students`` threads step their own sessions on the explorer at ``base_url``."""
    import httpx

    result = LoadResult(students, steps)
    lock, start = threading.Lock(), threading.Barrier(students)
    limits = httpx.Limits(max_connections=students, max_keepalive_connections=students)
    # as browsers do: without TCP_NODELAY a request's body waits for the ACK of its
    # headers (Nagle's algorithm meets delayed ACKs: 40 ms per request on Linux)
    transport = httpx.HTTPTransport(limits=limits, socket_options=[
        (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    with httpx.Client(base_url=base_url, timeout=60.0, transport=transport) as client:
        threads = [threading.Thread(target=_student,
                                    args=(client, k, steps, think, result, lock, start))
                   for k in range(students)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result.seconds = time.perf_counter() - began
    return result


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def served(timeout: float = 60.0) -> Iterator[tuple[str, int]]:
    """``gdlab explore`` in its own process on a free port (as in class: the students'
    browsers do not share the server's interpreter); yields its address and its pid."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = str(Path(gdlab.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [source, *filter(None, [os.environ.get("PYTHONPATH")])])}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "gdlab.cli", "explore", "--port", str(port), "--no-browser"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(url + "api/function/info", timeout=1.0).raise_for_status()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the explorer did not start: " +
                                       process.stderr.read().decode()[-2000:]) from None
                time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(10)


def main(argv: list[str] | None = None) -> LoadResult:
    """Serve the explorer on a free port, run the class against it, print the summary."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.explorer_load")
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--think", type=float, default=0.0, help="seconds between steps")
    parser.add_argument("--url", help="an explorer already running (default: start one)")
    args = parser.parse_args(argv)
    with contextlib.nullcontext((args.url, None)) if args.url else served() as (url, pid):
        run_load(url, students=len(MIX), steps=2)  # warm up: imports, scikit-learn's data
        before = None if pid is None else cpu_seconds(pid)
        result = run_load(url, students=args.students, steps=args.steps, think=args.think)
        if before is not None:
            result.server_cpu = cpu_seconds(pid) - before  # type: ignore[operator]
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{result.summary()}\n(machine load average 1/5/15 min after the run: {load} on "
          f"{os.cpu_count()} cores; other work on the machine lengthens the latencies)")
    return result


if __name__ == "__main__":
    main()
