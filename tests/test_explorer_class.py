"""A whole class on one explorer: private sessions that last, capped bodies, no internals.

The load test starts ``gdlab explore`` in its own process on a free port and lets 60
simulated students (threads) step their own sessions 15 times each, on a mix of data
sets, models and batch sizes (``benchmarks/explorer_load.py``).
"""

import logging
import threading
import time
import warnings

import pytest

pytest.importorskip("starlette", reason="the explorer needs the explore extra (starlette)")
pytest.importorskip("httpx", reason="starlette's TestClient needs httpx (test extra)")

with warnings.catch_warnings():  # starlette ≥ 1.0 prefers the httpx2 fork; httpx still works
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from starlette.testclient import TestClient

from gdlab.explorer import app as app_module  # noqa: E402
from gdlab.explorer import datasets  # noqa: E402
from gdlab.explorer.app import create_app  # noqa: E402
from gdlab.explorer.playground import Session  # noqa: E402
from gdlab.explorer.store import Store, StoreFull, UnknownKey  # noqa: E402

LECTURE = {"dataset": "lecture", "runs": [{"batch_size": "full", "learning_rate": 0.1}]}


@pytest.fixture
def client():
    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


def test_session_ids_are_random_and_unguessable(client):
    keys = [client.post("/api/playground/init", json=LECTURE).json()["session"]
            for _ in range(5)]
    assert len(set(keys)) == 5
    assert all(len(k) >= 22 and not k.isdigit() for k in keys)  # 128 random bits, url-safe
    for guess in ["1", "2", "0", keys[0][:-1]]:
        assert client.post("/api/playground/step", json={"session": guess}).status_code == 404


def test_250_sessions_are_all_kept(client):
    """The old store dropped the oldest beyond 32: a class of 60 lost 28 runs."""
    keys = [client.post("/api/playground/init", json=LECTURE).json()["session"]
            for _ in range(250)]
    for key in (keys[0], keys[100], keys[-1]):
        out = client.post("/api/playground/step", json={"session": key})
        assert out.status_code == 200, out.text


def test_sessions_expire_by_idle_time_not_by_count():
    now = [0.0]
    store = Store("session", capacity=3, idle_timeout=7200.0, clock=lambda: now[0])
    a, b = store.add("a"), store.add("b")
    now[0] = 7000.0
    assert store.get(a) == "a"  # used: a's clock restarts
    now[0] = 7300.0  # b idle for 7300 s > 2 h; a for 300 s
    with pytest.raises(UnknownKey, match="expires after 120 minutes"):
        store.get(b)
    assert store.get(a) == "a" and len(store) == 1
    store.add("c"), store.add("d")
    with pytest.raises(StoreFull, match="3 sessions used in the last 120 minutes"):
        store.add("e")  # full of active sessions: refuse, never drop one
    now[0] = 7300.0 + 7201.0
    assert len(store) == 0 and store.add("f")


def test_a_full_server_says_so_with_a_503(monkeypatch):
    monkeypatch.setattr(app_module, "MAX_SESSIONS", 2)
    with TestClient(create_app()) as small:
        for _ in range(2):
            assert small.post("/api/playground/init", json=LECTURE).status_code == 200
        out = small.post("/api/playground/init", json=LECTURE)
    assert out.status_code == 503 and "try again later" in out.json()["error"]


def test_the_idle_timeout_reaches_the_app():
    with TestClient(create_app(idle_timeout=1.0)) as quick:
        key = quick.post("/api/playground/init", json=LECTURE).json()["session"]
        assert quick.post("/api/playground/step", json={"session": key}).status_code == 200
        time.sleep(1.1)
        out = quick.post("/api/playground/step", json={"session": key})
    assert out.status_code == 404 and "press Reset" in out.json()["error"]


def test_a_large_json_body_is_a_413_with_a_message(client):
    big = {"x": [0.5] * 100_000}  # ~ 500 kB
    out = client.post("/api/function", json=big)
    assert out.status_code == 413 and "larger than 262,144 bytes" in out.json()["error"]

    def chunks():  # no Content-Length: the body is counted as it streams in
        yield b'{"x": ['
        for _ in range(2000):
            yield b"0.5, " * 100
        yield b"0.5]}"
    out = client.post("/api/function", content=chunks())
    assert out.status_code == 413 and "larger than" in out.json()["error"]
    assert client.post("/api/function", json={"x": [0.5]}).status_code == 200


def test_uploads_are_capped_in_bytes_and_rows(client):
    out = client.post("/api/upload", content=b"x,y\n" + b"1,2\n" * 1_300_000)  # 5.2 MB
    assert out.status_code == 413 and "5,000,000 bytes" in out.json()["error"]
    rows = b"x,y\n" + b"1,2\n" * (datasets.MAX_ROWS + 1)  # 400 kB, one row too many
    out = client.post("/api/upload", content=rows)
    assert out.status_code == 400 and "more than 100,000 rows" in out.json()["error"]


def test_steps_times_rows_are_capped(client):
    key = client.post("/api/playground/init", json={"dataset": "logistic", "n": 100_000,
                                                    "model": "logistic"}).json()["session"]
    out = client.post("/api/playground/step", json={"session": key, "steps": 1000})
    assert out.status_code == 400 and "steps × rows" in out.json()["error"]


def test_a_500_shows_no_internals_and_logs_the_traceback(client, monkeypatch, caplog):
    def broken(self, count=1):
        raise RuntimeError("secret detail at /srv/gdlab/explorer/playground.py")

    key = client.post("/api/playground/init", json=LECTURE).json()["session"]
    monkeypatch.setattr(Session, "step", broken)
    with caplog.at_level(logging.ERROR, logger="gdlab.explorer"):
        out = client.post("/api/playground/step", json={"session": key})
    assert out.status_code == 500
    answer = out.json()
    assert "secret" not in out.text and "/srv" not in out.text and "RuntimeError" not in out.text
    assert answer["id"] in answer["error"] and "Internal error" in answer["error"]
    logged = [r for r in caplog.records if answer["id"] in r.getMessage()]
    assert logged and "secret detail" in str(logged[0].exc_info[1])


def test_work_runs_off_the_event_loop_and_one_session_never_interleaves(monkeypatch):
    """While one step computes, other requests are answered; two steps of one session
    run one after the other."""
    import httpx

    from gdlab.explorer.server import ExplorerServer

    inside, overlaps = [0], []
    original = Session.step

    def slow_step(self, count=1):
        inside[0] += 1
        overlaps.append(inside[0])
        time.sleep(0.4)  # CPU work in a worker thread (the GIL is released by sleep)
        inside[0] -= 1
        return original(self, count)

    monkeypatch.setattr(Session, "step", slow_step)
    with ExplorerServer(port=0) as server:
        key = httpx.post(server.url + "api/playground/init", json=LECTURE).json()["session"]
        answers = []

        def step():
            answers.append(httpx.post(server.url + "api/playground/step",
                                      json={"session": key}, timeout=10).status_code)
        threads = [threading.Thread(target=step) for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(0.1)
        began = time.perf_counter()
        info = httpx.get(server.url + "api/function/info", timeout=10)
        quick = time.perf_counter() - began
        for thread in threads:
            thread.join()
    assert info.status_code == 200 and quick < 0.3  # not stuck behind a 0.4 s step
    assert answers == [200, 200] and max(overlaps) == 1


def test_cli_explore_passes_the_host(monkeypatch):
    from gdlab import explorer
    from gdlab.cli import main

    seen = {}
    monkeypatch.setattr(explorer, "main", lambda **kw: seen.update(kw))
    main(["explore", "--host", "0.0.0.0", "--port", "8123", "--no-browser"])
    assert seen == {"port": 8123, "open_browser": False, "host": "0.0.0.0"}


def test_serving_every_interface_prints_the_network_address(monkeypatch, capsys):
    import httpx

    from gdlab.explorer import main
    from gdlab.explorer.server import ExplorerServer

    def ctrl_c(server):
        seen.append(httpx.get(server.url + "api/datasets").status_code)
        raise KeyboardInterrupt

    seen = []
    monkeypatch.setattr(ExplorerServer, "wait", ctrl_c)
    monkeypatch.setattr(ExplorerServer, "network_urls", lambda self: ["http://10.0.0.7:1/"])
    main(port=0, open_browser=False, host="0.0.0.0")
    out = capsys.readouterr().out
    assert seen == [200] and "http://127.0.0.1:" in out
    assert "students open http://10.0.0.7:1/" in out and "?present=1" in out


def test_a_class_of_60_steps_without_an_error(capsys):
    from benchmarks.explorer_load import cpu_seconds, run_load, served

    with served() as (url, pid):
        run_load(url, students=6, steps=1)  # warm up: imports, scikit-learn's data
        before = cpu_seconds(pid)
        result = run_load(url, students=60, steps=15)
        if before is not None:
            result.server_cpu = cpu_seconds(pid) - before
    with capsys.disabled():
        print(f"\n[explorer load] {result.summary()}")
    assert result.errors == [] and result.lost_sessions == 0
    assert len(result.step_ms) == 60 * 15


def test_a_kept_alive_connection_does_not_wait_40_ms_per_answer():
    """Browsers keep the connection open; without TCP_NODELAY on the server's sockets
    every answer waited for a delayed ACK (40 ms on Linux)."""
    import socket
    import statistics

    from gdlab.explorer.server import ExplorerServer

    with ExplorerServer(port=0) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as client:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            times = []
            for _ in range(15):
                began = time.perf_counter()
                client.sendall(b"GET /api/function/info HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = b""
                while not answer.endswith(b"}"):
                    answer += client.recv(65536)
                times.append(time.perf_counter() - began)
    assert b"200 OK" in answer.split(b"\r\n")[0]
    assert statistics.median(times) < 0.025, times


def test_grids_take_at_most_two_threads_and_steps_pass_them(monkeypatch):
    """A class that starts together asks for 60 contour grids (~100 ms each): at most
    HEAVY_THREADS compute at once, and a step does not queue behind them."""
    import httpx

    from gdlab.explorer import views
    from gdlab.explorer.server import ExplorerServer

    busy, most = [0], [0]
    lock = threading.Lock()

    def slow_grid(*args, **kwargs):
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(0.3)
        with lock:
            busy[0] -= 1
        return {"lines": []}

    monkeypatch.setattr(views, "contours", slow_grid)
    with ExplorerServer(port=0) as server:
        key = httpx.post(server.url + "api/playground/init", json=LECTURE).json()["session"]
        grids = [threading.Thread(target=httpx.post, args=(server.url + "api/playground/contours",),
                                  kwargs={"json": {"session": key}, "timeout": 30})
                 for _ in range(6)]
        for thread in grids:
            thread.start()
        time.sleep(0.1)
        began = time.perf_counter()
        step = httpx.post(server.url + "api/playground/step", json={"session": key}, timeout=30)
        waited = time.perf_counter() - began
        for thread in grids:
            thread.join()
    assert step.status_code == 200 and waited < 0.6  # not behind 6 × 0.3 s / 2 of grids
    assert most[0] == app_module.HEAVY_THREADS == 2


def test_the_fast_json_is_the_same_json(monkeypatch):
    import json

    import numpy as np

    from gdlab.explorer.app import Explorer, FastJSON

    explorer = Explorer()
    key = explorer.init({"dataset": "iris", "model": "softmax"})["session"]
    answer = explorer.step({"session": key, "steps": 3})
    answer["extra"] = [np.float64(0.1), 1.0000000000000002, None]
    fast = FastJSON(answer).body
    monkeypatch.setattr(app_module, "_orjson", None)
    plain = FastJSON(answer).body
    assert json.loads(fast) == json.loads(plain) and fast != plain  # orjson was used
