"""The explorer's web app: one static page and JSON endpoints that compute with gdlab.

Endpoints (all JSON; a bad request gets status 400 and ``{"error": message}``, an unknown
or expired session 404, a body over its limit 413, a full server 503, and an unexpected
failure 500 with a generic message and an id, the traceback being logged server-side):

=====================================  ================================================
``GET  /api/function/info``            domain and y range of the hidden function
``POST /api/function``                 ``{x: [...]}`` → f(x), f′(x)
``GET  /api/function/curve``           the whole curve ("reveal function")
``POST /api/descend``                  ``{x, learning_rate, steps}`` → the steps
``GET  /api/datasets``                 the built-in data sets
``POST /api/upload``                   a CSV file as the body → its numeric columns
``POST /api/playground/init``          data set, model, runs → a session and θ₀
``POST /api/playground/step``          ``{session, steps}`` → each run's new θ, table
``POST /api/playground/contours``      ``{session, i, j}`` → loss on a grid of (θ_i, θ_j)
``GET  /api/playground/export``        ``?session&format=json|csv|latex[&what][&run]``:
                                       the run as a file (see :mod:`.export`)
=====================================  ================================================

A whole class can share one server: session ids are random (:mod:`gdlab.explorer.store`),
sessions expire after two idle hours, request bodies are capped
(:mod:`gdlab.explorer.guards`), and every computation (CSV parsing, descents, steps,
grids) runs in a worker thread, never on the event loop, under its session's lock, so
that two requests on one session never interleave.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gdlab.explorer import datasets, export, hidden, views
from gdlab.explorer.guards import BodyLimit, BodyTooLarge, error_handler
from gdlab.explorer.playground import RunConfig, Session
from gdlab.explorer.store import IDLE_TIMEOUT, Store, StoreFull, UnknownKey

try:  # optional: a faster JSON encoder (the explore extra installs it)
    import orjson as _orjson
except ImportError:  # pragma: no cover - the standard library's json then
    _orjson = None

__all__ = ["STATIC", "create_app"]

STATIC = Path(__file__).with_name("static")
#: Most sessions and uploads held at once (each expires after IDLE_TIMEOUT idle seconds).
MAX_SESSIONS = 500
MAX_UPLOADS = 100
MAX_STEPS_PER_REQUEST = 1000
#: Largest JSON body (bytes); uploads may be as large as ``datasets.MAX_BYTES``.
MAX_JSON_BYTES = 256 * 1024
#: Most rows × steps one step request may compute (the server is shared).
MAX_ROW_STEPS = 10_000_000


#: Worker threads that may compute grids, new sessions, uploads and exports at once: a
#: class that starts together would otherwise fill every thread with 100 ms grids and
#: the 3 ms steps would wait for the interpreter lock behind them.
HEAVY_THREADS = 2
_HEAVY: weakref.WeakKeyDictionary[Any, anyio.CapacityLimiter] = weakref.WeakKeyDictionary()


async def _compute(function: Any, *args: Any, heavy: bool = False) -> Any:
    """``function(*args)`` in one of the app's worker threads (never on the event loop);
    ``heavy`` work waits for one of HEAVY_THREADS slots."""
    limiter = None
    if heavy:  # one limiter per event loop (a limiter belongs to its loop)
        loop = asyncio.get_running_loop()
        limiter = _HEAVY.setdefault(loop, anyio.CapacityLimiter(HEAVY_THREADS))
    return await anyio.to_thread.run_sync(function, *args, limiter=limiter)


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ValueError("The request body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise ValueError("The request body must be a JSON object.")
    return body


def _steps(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= \
            MAX_STEPS_PER_REQUEST:
        raise ValueError(f"steps must be an integer in 1…{MAX_STEPS_PER_REQUEST}; "
                         f"got steps={value!r}.")
    return value


def _descend(body: dict[str, Any]) -> dict[str, Any]:
    records = hidden.descend(body.get("x"), body.get("learning_rate"),
                             _steps(body.get("steps", 1)))
    return {"steps": [{k: views.finite(v) for k, v in r.items()} for r in records]}


class Explorer:
    """The state of one app: its sessions and uploads, and what each endpoint computes.

    The methods take the request's JSON body and return the JSON answer; they run in a
    worker thread (see :func:`create_app`).
    """

    def __init__(self, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.sessions = Store("session", MAX_SESSIONS, idle_timeout=idle_timeout)
        self.uploads = Store("upload", MAX_UPLOADS, idle_timeout=idle_timeout)

    def upload(self, body: bytes) -> dict[str, Any]:
        """Parse an uploaded CSV and keep its numeric columns."""
        frame = datasets.parse_csv(body)
        key = self.uploads.add(frame)
        return {"upload": key, "columns": [str(c) for c in frame.columns],
                "n_rows": int(frame.shape[0])}

    def _dataset(self, body: dict[str, Any]) -> datasets.Dataset:
        name = body.get("dataset", "lecture")
        if name == "upload":
            frame = self.uploads.get(body.get("upload"))
            return datasets.from_frame(frame, body.get("target", str(frame.columns[-1])))
        return datasets.load(name, n=body.get("n", 200), seed=int(body.get("seed", 0)))

    def init(self, body: dict[str, Any]) -> dict[str, Any]:
        """A new session: data set, model and one or two runs from the same θ₀."""
        specs = body.get("runs") or [{}]
        if not isinstance(specs, list) or not 1 <= len(specs) <= 2:
            raise ValueError("runs must be a list of one or two run settings.")
        session = Session(self._dataset(body), body, [RunConfig.from_json(s) for s in specs])
        key = self.sessions.add(session)
        return {"session": key, **session.describe(),
                "picture": views.picture(session.runs[0].model, session.data)}

    def step(self, body: dict[str, Any]) -> dict[str, Any]:
        """Advance every run of a session by ``steps`` steps."""
        session = self.sessions.get(body.get("session"))
        steps = _steps(body.get("steps", 1))
        rows = session.data.X.shape[0]
        if steps * rows > MAX_ROW_STEPS:
            raise ValueError(f"steps × rows must be at most {MAX_ROW_STEPS:,} per request "
                             f"(the server is shared); got {steps} steps on {rows:,} rows. "
                             "Ask for fewer steps at a time.")
        with session.lock:
            return {"runs": session.step(steps)}

    def contours(self, body: dict[str, Any]) -> dict[str, Any]:
        """The loss on a grid over two parameters, the others at run A's current θ."""
        session = self.sessions.get(body.get("session"))
        i, j = body.get("i", 0), body.get("j", 1)
        if not all(isinstance(k, int) and 0 <= k < session.theta0.size for k in (i, j)):
            raise ValueError(f"i and j must be parameter indices in 0…"
                             f"{session.theta0.size - 1}; got i={i!r}, j={j!r}.")
        with session.lock:  # a copy, so that steps need not wait for the grid
            corners = [np.array([run.low[[i, j]], run.high[[i, j]]]) for run in session.runs]
            model = session.model_copy()
        optimum = session.optimum
        if optimum is not None:  # the view holds θ₀, every path and the minimum
            corners.append(optimum[[i, j]][None, :])
        out = views.contours(model, session.data, i, j, views.contour_box(np.vstack(corners)))
        out["optimum"] = None if optimum is None else views.finite(optimum[[i, j]])
        return out


EXPORTS = {"json": "application/json", "csv": "text/csv; charset=utf-8",
           "latex": "application/x-latex; charset=utf-8"}


def _export(explorer: Explorer, query: dict[str, str]) -> Response:
    """A session's run as a file: ``format`` json, csv (``what`` path or tables) or latex
    (the current step of ``run`` 0 or 1)."""
    session = explorer.sessions.get(query.get("session"))
    kind, what = query.get("format", "json"), query.get("what", "path")
    if kind not in EXPORTS or what not in ("path", "tables"):
        raise ValueError(f"format must be one of {list(EXPORTS)} and what 'path' or 'tables'; "
                         f"got format={kind!r}, what={what!r}.")
    with session.lock:
        if kind == "json":
            body, name = json.dumps(export.as_json(session), allow_nan=False), "gdlab-run.json"
        elif kind == "csv":
            frame = export.path_frame(session) if what == "path" else export.tables_frame(session)
            body, name = frame.to_csv(index=False), f"gdlab-run-{what}.csv"
        else:
            run = query.get("run", "0")
            body = export.latex(session, int(run) if run.isdigit() else run)
            name = f"gdlab-step-{'AB'[int(run)]}.tex"
    return Response(body, media_type=EXPORTS[kind],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


class FastJSON(JSONResponse):
    """JSON encoded by :mod:`orjson` when it is installed (the ``explore`` extra): about
    5 times quicker than :mod:`json` for the steps' tables and grids, the same JSON."""

    def render(self, content: Any) -> bytes:
        if _orjson is None:
            return super().render(content)
        return _orjson.dumps(content, option=_orjson.OPT_SERIALIZE_NUMPY)


def _threaded(function: Any, *, heavy: bool = False) -> Any:
    """An endpoint that runs ``function(json_body)`` and encodes its answer in a worker
    thread (the event loop only moves bytes)."""
    async def endpoint(request: Request) -> JSONResponse:
        body = await _json(request)
        return await _compute(lambda: FastJSON(function(body)), heavy=heavy)
    return endpoint


def create_app(*, idle_timeout: float = IDLE_TIMEOUT) -> Starlette:
    """A fresh app with its own sessions and uploads.

    Parameters
    ----------
    idle_timeout : float
        Seconds after which an unused session or upload is forgotten (default 2 hours).
    """
    explorer = Explorer(idle_timeout)

    async def index(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html")

    async def function_info(request: Request) -> JSONResponse:
        return JSONResponse(hidden.info())

    async def function_curve(request: Request) -> JSONResponse:
        return FastJSON(await _compute(hidden.curve))

    async def dataset_list(request: Request) -> JSONResponse:
        return JSONResponse({"datasets": datasets.BUILTIN, "limits": {
            "bytes": datasets.MAX_BYTES, "rows": datasets.MAX_ROWS,
            "columns": datasets.MAX_COLUMNS}})

    async def upload(request: Request) -> JSONResponse:
        body = await request.body()  # BodyLimit stops it past datasets.MAX_BYTES
        return await _compute(lambda: FastJSON(explorer.upload(body)), heavy=True)

    async def export_run(request: Request) -> Response:
        return await _compute(_export, explorer, dict(request.query_params), heavy=True)

    routes = [
        Route("/", index),
        Route("/api/playground/export", export_run),
        Route("/api/function/info", function_info),
        Route("/api/function", _threaded(lambda body: hidden.points(body.get("x"))),
              methods=["POST"]),
        Route("/api/function/curve", function_curve),
        Route("/api/descend", _threaded(_descend), methods=["POST"]),
        Route("/api/datasets", dataset_list),
        Route("/api/upload", upload, methods=["POST"]),
        Route("/api/playground/init", _threaded(explorer.init), methods=["POST"]),
        Route("/api/playground/step", _threaded(explorer.step), methods=["POST"]),
        Route("/api/playground/contours", _threaded(explorer.contours, heavy=True),
              methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    limits = Middleware(BodyLimit, default=MAX_JSON_BYTES,
                        limits={"/api/upload": datasets.MAX_BYTES})
    app = Starlette(routes=routes, middleware=[limits], exception_handlers={
        ValueError: error_handler(400), TypeError: error_handler(400),
        UnknownKey: error_handler(404), BodyTooLarge: error_handler(413),
        StoreFull: error_handler(503), Exception: error_handler(500)})
    app.state.explorer = explorer
    return app
