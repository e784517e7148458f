"""The explorer's web app: one static page and JSON endpoints that compute with gdlab.

Endpoints (all JSON; a bad request gets status 400 and ``{"error": message}``):

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
=====================================  ================================================
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gdlab.explorer import datasets, hidden, views
from gdlab.explorer.playground import RunConfig, Session

__all__ = ["STATIC", "create_app"]

STATIC = Path(__file__).with_name("static")
#: Sessions and uploads kept in memory (the oldest are dropped).
MAX_SESSIONS = 32
MAX_UPLOADS = 8
MAX_STEPS_PER_REQUEST = 1000


class _Store:
    """A small thread-safe LRU dictionary with counter keys."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: OrderedDict[str, Any] = OrderedDict()
        self.lock = threading.Lock()
        self.counter = itertools.count(1)

    def add(self, value: Any) -> str:
        with self.lock:
            key = str(next(self.counter))
            self.items[key] = value
            while len(self.items) > self.capacity:
                self.items.popitem(last=False)
            return key

    def get(self, key: Any, what: str) -> Any:
        with self.lock:
            if str(key) not in self.items:
                raise LookupError(f"Unknown {what} {key!r} (the server may have restarted); "
                                  "press Reset to start again.")
            self.items.move_to_end(str(key))
            return self.items[str(key)]


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


def create_app() -> Starlette:
    """A fresh app with its own sessions and uploads."""
    sessions, uploads = _Store(MAX_SESSIONS), _Store(MAX_UPLOADS)

    async def index(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html")

    async def function_info(request: Request) -> JSONResponse:
        return JSONResponse(hidden.info())

    async def function_points(request: Request) -> JSONResponse:
        return JSONResponse(hidden.points((await _json(request)).get("x")))

    async def function_curve(request: Request) -> JSONResponse:
        return JSONResponse(hidden.curve())

    async def descend(request: Request) -> JSONResponse:
        body = await _json(request)
        records = hidden.descend(body.get("x"), body.get("learning_rate"),
                                 _steps(body.get("steps", 1)))
        return JSONResponse({"steps": [{k: views.finite(v) for k, v in r.items()}
                                       for r in records]})

    async def dataset_list(request: Request) -> JSONResponse:
        return JSONResponse({"datasets": datasets.BUILTIN, "limits": {
            "bytes": datasets.MAX_BYTES, "rows": datasets.MAX_ROWS,
            "columns": datasets.MAX_COLUMNS}})

    async def upload(request: Request) -> JSONResponse:
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > datasets.MAX_BYTES:
                break
        frame = datasets.parse_csv(bytes(body))
        key = uploads.add(frame)
        return JSONResponse({"upload": key, "columns": [str(c) for c in frame.columns],
                             "n_rows": int(frame.shape[0])})

    def _dataset(body: dict[str, Any]) -> datasets.Dataset:
        name = body.get("dataset", "lecture")
        if name == "upload":
            frame = uploads.get(body.get("upload"), "upload")
            return datasets.from_frame(frame, body.get("target", str(frame.columns[-1])))
        return datasets.load(name, n=body.get("n", 200), seed=int(body.get("seed", 0)))

    def init_session(body: dict[str, Any]) -> dict[str, Any]:
        specs = body.get("runs") or [{}]
        if not isinstance(specs, list) or not 1 <= len(specs) <= 2:
            raise ValueError("runs must be a list of one or two run settings.")
        session = Session(_dataset(body), body, [RunConfig.from_json(s) for s in specs])
        key = sessions.add(session)
        return {"session": key, **session.describe(),
                "picture": views.picture(session.runs[0].model, session.data)}

    def step_session(body: dict[str, Any]) -> dict[str, Any]:
        session = sessions.get(body.get("session"), "session")
        with session.lock:
            return {"runs": session.step(_steps(body.get("steps", 1)))}

    def contour_session(body: dict[str, Any]) -> dict[str, Any]:
        session = sessions.get(body.get("session"), "session")
        i, j = body.get("i", 0), body.get("j", 1)
        if not all(isinstance(k, int) and 0 <= k < session.theta0.size for k in (i, j)):
            raise ValueError(f"i and j must be parameter indices in 0…"
                             f"{session.theta0.size - 1}; got i={i!r}, j={j!r}.")
        with session.lock:  # a copy, so that steps need not wait for the grid
            corners = [np.array([run.low[[i, j]], run.high[[i, j]]]) for run in session.runs]
            model = session.model_copy()
        return views.contours(model, session.data, i, j, views.contour_box(np.vstack(corners)))

    def sync(function: Any) -> Any:
        async def endpoint(request: Request) -> JSONResponse:
            body = await _json(request)
            return JSONResponse(await run_in_threadpool(function, body))
        return endpoint

    routes = [
        Route("/", index),
        Route("/api/function/info", function_info),
        Route("/api/function", function_points, methods=["POST"]),
        Route("/api/function/curve", function_curve),
        Route("/api/descend", descend, methods=["POST"]),
        Route("/api/datasets", dataset_list),
        Route("/api/upload", upload, methods=["POST"]),
        Route("/api/playground/init", sync(init_session), methods=["POST"]),
        Route("/api/playground/step", sync(step_session), methods=["POST"]),
        Route("/api/playground/contours", sync(contour_session), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={
        ValueError: _error(400), TypeError: _error(400), LookupError: _error(404),
        Exception: _error(500)})


def _error(status: int) -> Any:
    async def handler(request: Request, error: Exception) -> JSONResponse:
        message = str(error) if status < 500 else f"Internal error: {error!r}"
        return JSONResponse({"error": message}, status_code=status)
    return handler
