"""Signing in to SugarCRM: OAuth2 ``password`` grant on ``/rest/<version>/oauth2/token``,
then ``refresh_token`` grants while the refresh token lasts.

An access token lives an hour; Sugar answers 401 ``invalid_grant`` once it is past. The
transport then calls ``refresh()``: a refresh token works once (each refresh hands out the
next), and when it too is refused leadsync signs in again with the password. Sugar keeps one
session per user and platform, so leadsync signs in on its own platform (``[sugarcrm]
platform``, registered by an admin in Admin > Configure API Platforms) and never shares a
user with people who sign in on ``base``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from connector.core.errors import ConfigError, Problem
from connector.transport import HttpPolicy

SYSTEM = "sugarcrm"
EXPIRY_MARGIN_SECONDS = 60.0


@dataclass(frozen=True)
class SugarSettings:
    base_url: str = "https://example.sugarondemand.com"
    api_version: str = "v11_4"
    platform: str = "leadsync"
    client_id: str = "sugar"
    client_secret: str = field(default="", repr=False)
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    @property
    def rest_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/rest/{self.api_version}"


@dataclass(frozen=True)
class SugarToken:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float | None = None


class SugarAuth:
    def __init__(self, settings: SugarSettings, policy: HttpPolicy, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._policy = policy
        self._session = policy.session(SYSTEM)
        self._clock = clock
        self._token: SugarToken | None = None
        self._lock = threading.Lock()
        self.sign_ins = 0
        self.refreshes = 0

    def token(self) -> SugarToken:
        with self._lock:
            if self._token is None:
                self._token = self._sign_in()
            elif self._expiring(self._token):
                self._token = self._renew(self._token)
            return self._token

    def refresh(self) -> None:
        """The transport's re-authentication hook (Sugar said the access token is invalid)."""
        with self._lock:
            self._token = self._renew(self._token) if self._token else self._sign_in()

    def headers(self) -> dict[str, str]:
        return {"OAuth-Token": self.token().access_token}

    def _expiring(self, token: SugarToken) -> bool:
        return token.expires_at is not None and self._clock() >= token.expires_at - EXPIRY_MARGIN_SECONDS

    def _renew(self, token: SugarToken) -> SugarToken:
        try:
            grant = {"grant_type": "refresh_token", "refresh_token": token.refresh_token, **self._client()}
            renewed = self._grant(grant)
            self.refreshes += 1
            return renewed
        except ConfigError:
            # The refresh token was used, expired, or its session ended (another sign-in of
            # the same user on the same platform): the password still works.
            return self._sign_in()

    def _sign_in(self) -> SugarToken:
        s = self.settings
        missing = [name for name, value in (("username", s.username), ("password", s.password)) if not value]
        if missing:
            raise ConfigError([Problem("environment", f"sugarcrm.{name}_env", "required but empty") for name in missing])
        token = self._grant({"grant_type": "password", "username": s.username, "password": s.password,
                             "platform": s.platform, **self._client()})
        self.sign_ins += 1
        return token

    def _client(self) -> dict[str, str]:
        return {"client_id": self.settings.client_id, "client_secret": self.settings.client_secret}

    def _grant(self, body: dict[str, str]) -> SugarToken:
        response = self._policy.request(SYSTEM, self._session, "POST", f"{self.settings.rest_url}/oauth2/token",
                                        json=body, headers={"Accept": "application/json"}, allow_redirects=False)
        data = response.json()
        if not data.get("access_token"):
            raise ConfigError(Problem("config", "sugarcrm.base_url", "the token endpoint answered without an access token"))
        lifetime = data.get("expires_in")
        expires = self._clock() + float(lifetime) if isinstance(lifetime, (int, float)) else None
        return SugarToken(data["access_token"], data.get("refresh_token") or "", expires)
