"""The explorer's defences for a shared server: capped bodies, errors without internals.

- :class:`BodyLimit` refuses a request body larger than its path's limit with HTTP 413
  and ``{"error": message}``: at once when the ``Content-Length`` header says so, or as
  soon as the streamed body passes the limit (chunked uploads have no length).
- :func:`error_handler` answers a bad request with its message (400, 404, 413, 503) and
  an unexpected failure with HTTP 500, a generic message and an id; the traceback goes
  to the server's log (logger ``gdlab.explorer``) under the same id, never to the page.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = ["BodyLimit", "BodyTooLarge", "error_handler"]

LOG = logging.getLogger("gdlab.explorer")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyTooLarge(Exception):
    """A request body over its limit (answered with HTTP 413)."""


def _too_large(limit: int) -> str:
    return (f"The request body is larger than {limit:,} bytes, the most this explorer "
            "accepts here; send less (for a table: a sample of its rows).")


class BodyLimit:
    """ASGI middleware: bodies up to ``limits[path]`` bytes, else ``default`` bytes.

    Parameters
    ----------
    app : ASGI app
        The app to protect.
    default : int
        The limit for paths not in ``limits``.
    limits : dict
        Limits for given paths (e.g. a larger one for ``/api/upload``).
    """

    def __init__(self, app: Any, *, default: int, limits: dict[str, int]) -> None:
        self.app, self.default, self.limits = app, default, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await JSONResponse({"error": _too_large(limit)}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(_too_large(limit))
            return message

        await self.app(scope, counted, send)


def error_handler(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    """An exception handler answering ``status`` with ``{"error": message}``.

    For status 500 the message is generic and carries an id; the exception and its
    traceback are logged with that id (the page never sees paths, code or values).
    """
    async def handler(request: Request, error: Exception) -> JSONResponse:
        if status != 500:
            return JSONResponse({"error": str(error)}, status_code=status)
        error_id = secrets.token_hex(4)
        LOG.error("internal error %s on %s %s", error_id, request.method, request.url.path,
                  exc_info=error)
        return JSONResponse({"error": f"Internal error (id {error_id}): the explorer could "
                             "not answer this request. The server's log has the details "
                             "under this id; press Reset to start again.", "id": error_id},
                            status_code=500)
    return handler
