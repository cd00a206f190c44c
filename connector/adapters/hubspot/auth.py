"""HubSpot access tokens: a private app's static token, or a public app's OAuth refresh flow.

OAuth (``[hubspot] auth = "oauth"``): ``POST {base_url}/oauth/v1/token`` with
``grant_type=refresh_token``, the app's client id and secret and the refresh token answers
``{"access_token", "refresh_token", "expires_in"}`` (an access token lasts 30 minutes). The
token is refreshed ``EXPIRY_MARGIN_SECONDS`` before it expires, and again at once when HubSpot
answers 401 EXPIRED_AUTHENTICATION. When HubSpot hands back a new refresh token, the newest is
kept in the state store, encrypted (``vault``), and used from then on in place of the one in
the environment. No token ever reaches a log, a repr or a message.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from connector.core.errors import ConfigError, FatalError, Problem
from connector.transport import HttpPolicy

EXPIRY_MARGIN_SECONDS = 300.0


class Vault(Protocol):
    """Where the newest refresh token is kept between runs (encrypted by the implementation)."""

    def load(self) -> str | None: ...

    def keep(self, secret: str) -> None: ...


class StaticToken:
    """A private app's (or service key's) token: nothing to refresh."""

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self) -> str:
        return self._token

    refresh = None      # a 401 is final: the policy reports it


@dataclass
class OAuthApp:
    client_id: str = field(repr=False)
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)


class HubSpotOAuth:
    def __init__(self, base_url: str, app: OAuthApp, policy: HttpPolicy, vault: Vault | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.url = f"{base_url.rstrip('/')}/oauth/v1/token"
        self._app, self._policy, self._vault, self._clock = app, policy, vault, clock
        self._session = policy.session("hubspot")
        self._access: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            if self._access is None or self._clock() >= self._expires_at - EXPIRY_MARGIN_SECONDS:
                self._refresh()
            return self._access  # type: ignore[return-value]

    def refresh(self) -> None:
        """The policy's re-authentication hook (a 401 EXPIRED_AUTHENTICATION)."""
        with self._lock:
            self._refresh()

    def _refresh(self) -> None:
        refresh_token = (self._vault.load() if self._vault else None) or self._app.refresh_token
        form = {"grant_type": "refresh_token", "client_id": self._app.client_id,
                "client_secret": self._app.client_secret, "refresh_token": refresh_token}
        try:
            body = self._policy.request("hubspot", self._session, "POST", self.url, data=form,
                                        headers={"Accept": "application/json"}).json()
        except (ConfigError, FatalError) as exc:     # refused (400 BAD_…, 401)
            raise ConfigError(refresh_problem(getattr(exc.__cause__, "body", None))) from None
        if not body.get("access_token"):
            raise ConfigError(Problem("config", "hubspot.auth", "HubSpot's token endpoint answered without a token"))
        self._access = str(body["access_token"])
        self._expires_at = self._clock() + float(body.get("expires_in") or 1800)
        rotated = body.get("refresh_token")
        if rotated and rotated != refresh_token and self._vault is not None:
            self._vault.keep(str(rotated))


def refresh_problem(body: Any) -> Problem:
    """HubSpot's OAuth error (``{"status": "BAD_REFRESH_TOKEN", "message": …}``) → what to fix."""
    try:
        parsed = json.loads(body) if isinstance(body, (str, bytes)) else (body or {})
    except ValueError:
        parsed = {}
    status = str(parsed.get("status", "")) if isinstance(parsed, dict) else ""
    said = f"({status}: {parsed.get('message', '')})" if status else "(no OAuth error in the answer)"
    if status == "BAD_CLIENT_ID":
        return Problem("environment", "hubspot.client_id_env",
                       f"HubSpot does not know this app's client id {said}: copy it from the app's Auth settings")
    if status == "BAD_CLIENT_SECRET":
        return Problem("environment", "hubspot.client_secret_env",
                       f"HubSpot rejected the app's client secret {said}: copy it from the app's Auth settings")
    if status == "BAD_REFRESH_TOKEN":
        return Problem("environment", "hubspot.refresh_token_env",
                       f"HubSpot refused the refresh token {said}: the app was uninstalled or the token revoked; "
                       "install the app again and put its new refresh token in the environment")
    return Problem("config", "hubspot.auth", f"HubSpot refused to refresh the access token {said}")
