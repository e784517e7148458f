"""What the explorer keeps between requests: sessions and uploads, under random ids.

A whole class uses one server, so a key must not be guessable (anyone who knows a
session's id can step it): ids are :func:`secrets.token_urlsafe` strings of 128 bits.
Entries expire after :data:`IDLE_TIMEOUT` seconds without a request, never because
other students started sessions; a store that is full of entries used within that time
refuses a new one (:class:`StoreFull`, an HTTP 503 with a message) rather than drop an
active student's run.

Examples
--------
>>> store = Store("session", capacity=2, idle_timeout=60.0)
>>> key = store.add({"theta": [0.0, 0.0]})
>>> len(key) >= 22 and store.get(key)["theta"]
[0.0, 0.0]
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

__all__ = ["IDLE_TIMEOUT", "Store", "StoreFull", "UnknownKey"]

#: Seconds without a request after which a session or an upload is forgotten (2 hours:
#: a lecture with its break).
IDLE_TIMEOUT = 2 * 60 * 60.0


class StoreFull(RuntimeError):
    """Every slot holds an entry used within the idle timeout (answered with HTTP 503)."""


class UnknownKey(LookupError):
    """No entry under this key: never made, expired, or the server restarted (HTTP 404)."""


class Store:
    """A thread-safe dictionary with random keys that forgets entries idle for too long.

    Parameters
    ----------
    what : str
        What the entries are, for messages ("session", "upload").
    capacity : int
        Most entries held at once (memory bound); a full store refuses new entries
        until one has been idle for ``idle_timeout`` seconds.
    idle_timeout : float
        Seconds without :meth:`get` after which an entry is dropped.
    clock : callable
        The time source (seconds); tests pass a fake clock.
    """

    def __init__(self, what: str, capacity: int, *, idle_timeout: float = IDLE_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.capacity, self.idle_timeout = what, capacity, idle_timeout
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()  # oldest use first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)

    def _expire(self) -> None:
        limit = self._clock() - self.idle_timeout
        while self._items:
            key, (used, _) = next(iter(self._items.items()))
            if used > limit:
                break
            del self._items[key]

    def add(self, value: Any) -> str:
        """Keep ``value`` under a new random key and return the key."""
        with self._lock:
            self._expire()
            if len(self._items) >= self.capacity:
                raise StoreFull(
                    f"The explorer already holds {self.capacity} {self.what}s used in the "
                    f"last {self.idle_timeout / 60:.0f} minutes; try again later, or ask "
                    "whoever runs the server to start a second one (gdlab explore --port …).")
            key = secrets.token_urlsafe(16)
            self._items[key] = (self._clock(), value)
            return key

    def get(self, key: Any) -> Any:
        """The entry under ``key`` (and mark it used now); UnknownKey if unknown or expired."""
        with self._lock:
            self._expire()
            entry = self._items.get(key) if isinstance(key, str) else None
            if entry is None:
                raise UnknownKey(f"Unknown {self.what} (it expires after "
                                  f"{self.idle_timeout / 60:.0f} minutes without use, or the "
                                  "server restarted); press Reset to start again.")
            self._items[key] = (self._clock(), entry[1])
            self._items.move_to_end(key)
            return entry[1]
