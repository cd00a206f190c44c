"""``leadsync web``: the review page in the foreground until Ctrl-C."""

from __future__ import annotations

from typing import Any

from connector.core.errors import ConfigError, Problem

DEFAULT_PORT = 8078            # when [web] port is 0 (the daemon does not serve it) and no --port


def run_web(rt: Any, *, host: str | None = None, port: int | None = None) -> int:
    try:
        from connector.web.server import build
    except ImportError:
        raise ConfigError(Problem("command line", "web", "the review page needs the web extra: "
                                                         "pip install 'leadsync[web]'")) from None
    settings = rt.config.web
    host = host or settings.host
    port = port if port is not None else (settings.port or DEFAULT_PORT)
    web = build(rt, host, port)
    print(f"leadsync review page on http://{host}:{web.port}/ (Ctrl-C to stop)", flush=True)
    try:
        web.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        web.server.server_close()
    return 0
