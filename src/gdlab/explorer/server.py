"""Serving the explorer: uvicorn in a background thread, started and stopped on demand.

:class:`ExplorerServer` is what :func:`gdlab.explorer.main` runs until Ctrl-C, and what
the tests start on a free port::

    with ExplorerServer(port=0) as server:
        print(server.url)          # http://127.0.0.1:<free port>/
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from gdlab.explorer.app import create_app

__all__ = ["ExplorerServer"]


class ExplorerServer:
    """The explorer app served on ``host:port`` from a daemon thread.

    Parameters
    ----------
    port : int
        The port; 0 picks a free one (see :attr:`url` once started).
    host : str
        The address to listen on; the default serves this machine only, ``"0.0.0.0"``
        serves every network interface (a lecture hall: students open
        :meth:`network_urls`).
    """

    def __init__(self, port: int = 8050, host: str = "127.0.0.1") -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an integer in 0…65535; got port={port!r}.")
        self.host, self.port = host, port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address on this machine (127.0.0.1 when serving every interface)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        return f"http://{host}:{self.port}/"

    def network_urls(self) -> list[str]:
        """The addresses other machines use (this machine's network address), if serving
        every interface (``host="0.0.0.0"``); empty otherwise."""
        if self.host not in ("0.0.0.0", ""):  # noqa: S104
            return []
        addresses = set()
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:  # a UDP "connection" sends nothing; it only picks the outgoing interface
            probe.connect(("10.255.255.255", 1))
            addresses.add(probe.getsockname()[0])
        except OSError:
            pass
        finally:
            probe.close()
        try:
            addresses.update(socket.gethostbyname_ex(socket.gethostname())[2])
        except OSError:
            pass
        return [f"http://{a}:{self.port}/" for a in sorted(addresses) if not a.startswith("127.")]

    def start(self, timeout: float = 10.0) -> ExplorerServer:
        """Bind the port, start serving in a thread, and wait until it answers."""
        # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on the accepted connections
        # only then; without it a kept-alive connection waits 40 ms for every response
        # (Nagle's algorithm meets delayed ACKs)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as error:
            sock.close()
            raise ValueError(f"Cannot listen on {self.host}:{self.port} ({error}); choose "
                             "another port, e.g. --port 8051.") from None
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(create_app(), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="gdlab-explorer", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"The explorer did not start on {self.url}.")
            time.sleep(0.02)
        return self

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C raises KeyboardInterrupt here)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to finish and wait for its thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = self._thread = None

    def __enter__(self) -> ExplorerServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
