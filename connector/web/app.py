"""The review page's Flask app: ``create_app(rt, token=…)``.

Read-only: every view reads the state store through the runtime; nothing writes. Every string a
template prints passes through the runtime's redactor (secrets always; emails and phones when
``logging.redact_pii``), with the page's own token added to the secrets it masks.

Access: with a token, every page needs it: ``Authorization: Bearer <token>``, or once
``?token=<token>`` in the browser, which sets an HttpOnly cookie holding a keyed digest of the
token (never the token) and redirects to the same page without it. ``/healthz`` stays open for
load balancers; it names no person.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, redirect, request
from markupsafe import Markup

from connector.core.redact import Redactor

COOKIE = "leadsync_web"


def _digest(token: str) -> str:
    return hmac.new(token.encode(), b"leadsync review page", hashlib.sha256).hexdigest()


def page_redactor(rt: Any, token: str | None) -> Redactor:
    base = rt.redactor
    return Redactor([*base.secrets, *([token] if token else [])], redact_pii=base.redact_pii)


def _redacted(value: Any, redact: Redactor) -> Any:
    """Masks what a template prints. Markup (a macro's or ``tojson``'s output) stays markup."""
    if isinstance(value, Markup):
        return Markup(redact(str(value)))
    return redact(value) if isinstance(value, str) else value


def create_app(rt: Any, *, token: str | None = None, started_at: datetime | None = None) -> Flask:
    from connector.web import views
    app = Flask("connector.web", template_folder="templates", static_folder="static")
    rt.store   # opened now, not by the first of several concurrent requests
    app.config.update(LEADSYNC_RT=rt, LEADSYNC_STARTED_AT=started_at or rt.clock())
    redact = page_redactor(rt, token)
    app.jinja_env.finalize = lambda value: _redacted(value, redact)
    app.jinja_env.globals["since_choices"] = ("7d", "30d", "90d", "180d")
    app.register_blueprint(views.blueprint)
    if token:
        _guard(app, token)
    return app


def _guard(app: Flask, token: str) -> None:
    expected = _digest(token)

    @app.before_request
    def require_token() -> Response | None:
        if request.path == "/healthz":
            return None
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode()):
            return None
        if hmac.compare_digest(request.cookies.get(COOKIE, ""), expected):
            return None
        given = request.args.get("token")
        if given is not None and hmac.compare_digest(given.encode(), token.encode()):
            query = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "token"])
            response = redirect(request.path + (f"?{query}" if query else ""))
            response.set_cookie(COOKIE, expected, httponly=True, samesite="Strict")
            return response
        return Response("A token is required: open the page with ?token=… once, or send "
                        "Authorization: Bearer ….\n", status=401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="leadsync"'})

