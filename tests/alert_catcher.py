"""A local webhook catcher for alert tests: a Flask app on 127.0.0.1 (loopback only) in a thread,
keeping every JSON body it receives; it can be told to refuse the next N posts with HTTP 500."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, request
from werkzeug.serving import make_server


class Catcher:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.refuse = 0
        self._lock = threading.Lock()
        app = Flask("alert-catcher")

        @app.post("/hook")
        def hook():
            with self._lock:
                if self.refuse:
                    self.refuse -= 1
                    return "down for maintenance", 500
                self.received.append(request.get_json(force=True))
            return "ok"

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Catcher":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def statuses(self, key: str | None = None) -> list[tuple[str, str]]:
        """(condition, status) of every notice received, in order; the text varies per channel."""
        found = [(r.get("condition", ""), r.get("status", "")) for r in self.received]
        return [f for f in found if key is None or f[0] == key]
