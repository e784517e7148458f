"""The interactive demo in the browser: ``gdlab explore``.

Two pages served from this machine (no internet, no CDN): gradient-based learning on a
hidden one-dimensional function, and the gradient-descent playground. The page only
draws; every number comes from gdlab through the JSON endpoints of
:mod:`gdlab.explorer.app`. Needs the ``explore`` extra: ``pip install "gdlab[explore]"``.
"""

from __future__ import annotations

import webbrowser

__all__ = ["main"]


def main(port: int = 8050, open_browser: bool = True, host: str = "127.0.0.1") -> None:
    """Serve the explorer on http://``host``:``port``/ until Ctrl-C.

    Parameters
    ----------
    port : int
        The port to listen on (0 picks a free one).
    open_browser : bool
        Open the page in the default web browser once the server answers.
    host : str
        The address to listen on: ``"127.0.0.1"`` (this machine only) or ``"0.0.0.0"``
        (every network interface: a class opens the printed network address).
    """
    try:
        from gdlab.explorer.server import ExplorerServer
    except ImportError as error:
        raise ImportError(f"gdlab explore needs the explore extra ({error.name} is missing): "
                          'pip install "gdlab[explore]"') from error
    server = ExplorerServer(port=port, host=host).start()
    print(f"gdlab explorer on {server.url} (Ctrl-C to stop)", flush=True)
    for url in server.network_urls():
        print(f"  students open {url}   (presenter view: {url}?present=1)", flush=True)
    if open_browser:
        webbrowser.open(server.url)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
