"""Serving the review page: ``leadsync web`` in the foreground, or a thread of the daemon.

Werkzeug's threaded WSGI server (Flask's own) is enough for a read-only page a RevOps team
opens now and then; behind a reverse proxy, any WSGI server can run ``create_app`` instead.
Off loopback, the page refuses to start without a token in ``[web] token_env``.
"""

from __future__ import annotations

import ipaddress
import threading
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from connector.app.serving import Served
from connector.core.errors import ConfigError, Problem


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def page_token(rt: Any, host: str) -> str | None:
    """The token the page requires: the environment's, if set; off loopback it must be set."""
    from connector.app.config import Secrets
    settings = rt.config.web
    token = Secrets(rt.config, rt.environ).optional(settings.token_env)
    if not token and not is_loopback(host):
        raise ConfigError(Problem(rt.config.file, "web.token_env",
                                  f"the review page would listen on {host}, off loopback: set the environment "
                                  f"variable {settings.token_env} to a token (or bind web.host to 127.0.0.1)"))
    return token


class _QuietHandler(WSGIRequestHandler):
    """No access log: a request line can carry ``?token=…``, and page views are not news."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def build(rt: Any, host: str, port: int) -> Served:
    from connector.web.app import create_app
    app = create_app(rt, token=page_token(rt, host))
    try:
        server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    except OSError as exc:
        raise ConfigError(Problem(rt.config.file, "web.port",
                                  f"cannot listen on {host}:{port}: {exc.strerror or exc}")) from None
    return Served(server)


def serve_in_thread(rt: Any, host: str, port: int) -> Served:
    web = build(rt, host, port)
    web.thread = threading.Thread(target=web.server.serve_forever, name="leadsync-web", daemon=True)
    web.thread.start()
    return web
