"""A small WSGI app served on a thread by the standard library (``/metrics`` and ``/healthz``,
the webhook receiver): no web framework in the production install."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any, Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


@dataclass
class Served:
    """A WSGI server and the thread serving it (none yet when the caller serves it itself)."""

    server: Any
    thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.server_port

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)


def serve_wsgi(app: Callable[..., Any], host: str, port: int, *, name: str, poll_interval: float = 0.5) -> Served:
    server = make_server(host, port, app, _ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": poll_interval},
                              name=name, daemon=True)
    thread.start()
    return Served(server, thread)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:   # noqa: A002 - stdlib signature
        pass   # every request is not news for the log: the apps log what matters themselves
