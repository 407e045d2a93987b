"""The explorer's local server: a Bokeh server bound to 127.0.0.1 only.

:func:`start_server` compiles the simulator once (the first run of the default settings), binds
the port (``0``: a free one chosen by the system) on the loopback address, accepts websocket
connections only from pages served by itself (``127.0.0.1:<port>`` and ``localhost:<port>``),
and returns the running server; :func:`serve` runs it until Ctrl-C. The page's scripts and styles
are served by the same server (Bokeh's own files), so nothing is loaded from elsewhere.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

#: The only address the explorer listens on.
ADDRESS = "127.0.0.1"
#: The default port (Bokeh's usual one).
DEFAULT_PORT = 5006


class ExplorerServer:
    """A started explorer: ``url``, ``port``, ``startup_seconds``; :meth:`run` and :meth:`stop`."""

    def __init__(self, server, port: int, startup_seconds: float) -> None:
        self._server = server
        self.port = port
        self.url = f"http://{ADDRESS}:{port}/"
        self.startup_seconds = startup_seconds

    def run(self) -> None:
        """Serve until the loop is stopped (Ctrl-C or :meth:`stop` from another callback)."""
        self._server.io_loop.start()

    def stop(self) -> None:
        self._server.stop()
        self._server.io_loop.stop()


def _bind(port: int) -> tuple[list[socket.socket], int]:
    """A listening, non-blocking socket on 127.0.0.1:port (closed again if that fails) and its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ADDRESS, port))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return [sock], sock.getsockname()[1]


def start_server(port: int = DEFAULT_PORT, *, warm: bool = True,
                 log: Callable[[str], Any] = lambda message: None) -> ExplorerServer:
    """Bind ``127.0.0.1:port`` and start the explorer's server (not yet its loop; see :meth:`ExplorerServer.run`).

    ``warm`` runs the default settings once first, so that the first page opens without waiting
    for the compilation. Raises ``OSError`` if the port cannot be bound.
    """
    t0 = time.perf_counter()
    from bokeh.application import Application
    from bokeh.application.handlers.function import FunctionHandler
    from bokeh.server.server import BaseServer
    from bokeh.server.tornado import BokehTornado
    from tornado.httpserver import HTTPServer
    from tornado.ioloop import IOLoop

    from .app import DEFAULT_SETTINGS, make_document
    from .compute import run_explorer

    if not (0 <= int(port) <= 65535):
        raise ValueError(f"port: {port} is not a port number (0-65535; 0 picks a free one)")
    sockets, actual = _bind(int(port))
    try:
        if warm:
            log("compiling the simulator (once per start, a few seconds) ...")
            run_explorer(DEFAULT_SETTINGS)
        origins = [f"{ADDRESS}:{actual}", f"localhost:{actual}"]
        app = BokehTornado({"/": Application(FunctionHandler(make_document))}, extra_websocket_origins=origins,
                           absolute_url=f"http://{ADDRESS}:{actual}")
        http = HTTPServer(app)
        http.add_sockets(sockets)
    except BaseException:
        for s in sockets:
            s.close()
        raise
    server = BaseServer(IOLoop.current(), app, http)
    server.start()
    return ExplorerServer(server, actual, time.perf_counter() - t0)


def serve(port: int = DEFAULT_PORT, *, open_browser: bool = True, warm: bool = True,
          log: Callable[[str], Any] = print) -> None:
    """Start the explorer, print its address, optionally open it in the default browser, serve until Ctrl-C."""
    srv = start_server(port, warm=warm, log=log)
    log(f"nssisim explorer at {srv.url} (localhost only; ready in {srv.startup_seconds:.1f} s; Ctrl-C stops it)")
    if open_browser:
        import webbrowser

        srv._server.io_loop.add_callback(webbrowser.open, srv.url)
    try:
        srv.run()
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()


__all__ = ["ADDRESS", "DEFAULT_PORT", "ExplorerServer", "serve", "start_server"]
