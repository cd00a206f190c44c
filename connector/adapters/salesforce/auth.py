"""Signing in to Salesforce through its OAuth 2.0 token endpoint.

HubSpot needs no flow: a static bearer token (private app, service key or OAuth access token)
is handed to its adapter as it is (``HubSpotSettings.token``).

Secrets are handed in by the caller (config code reads them from the environment). They never
appear in ``repr``, logs or exception messages: failures name the flow and the server's error
code, never a value.

Salesforce flows, all against ``POST {login_url}/services/oauth2/token``:
- ``client_credentials``: a connected app's client id + secret, run as its integration user;
- ``password``: the OAuth username-password flow (client id + secret + username + password);
- ``session``: a session id and instance URL given as they are (nothing to refresh).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import json

from connector.core.errors import ConfigError, FatalError, Problem, Retryable
from connector.transport import HttpPolicy

AUTH_FLOWS = ("client_credentials", "password", "session")
LOGIN_HINT = ("https://login.salesforce.com, https://test.salesforce.com (sandboxes) or your My Domain, "
              "https://<your-domain>.my.salesforce.com")
# Refresh this long before a known expiry, so a long batch doesn't die halfway.
EXPIRY_MARGIN_SECONDS = 120.0


@dataclass(frozen=True)
class SalesforceSettings:
    auth: str = "client_credentials"
    login_url: str = "https://login.salesforce.com"
    instance_url: str = ""                     # required for auth = "session"
    api_version: str = "59.0"
    client_id: str = field(default="", repr=False)
    client_secret: str = field(default="", repr=False)
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)   # with the security token appended, if the org needs one
    session_id: str = field(default="", repr=False)
    session_lifetime_seconds: float | None = None   # the org's session timeout, when known


@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)
    instance_url: str
    expires_at: float | None = None            # clock() seconds; None = unknown


class SalesforceAuth:
    """Holds the current token; ``refresh()`` is the policy's re-authentication hook."""

    def __init__(self, settings: SalesforceSettings, policy: HttpPolicy, *,
                 clock: Callable[[], float] = time.time) -> None:
        if settings.auth not in AUTH_FLOWS:
            raise ConfigError(Problem("config", "salesforce.auth",
                                      f"unknown flow {settings.auth!r}; use one of {', '.join(AUTH_FLOWS)}"))
        self.settings = settings
        self._policy = policy
        self._session = policy.session("salesforce")
        self._clock = clock
        self._token: Token | None = None
        self._lock = threading.Lock()

    def token(self) -> Token:
        """The current token, signing in first when there is none or it is about to expire."""
        with self._lock:
            if self._token is None or self._expiring(self._token):
                self._token = self._sign_in()
            return self._token

    def refresh(self) -> None:
        """Sign in again (the server said the session is no longer valid)."""
        with self._lock:
            if self.settings.auth == "session":
                raise ConfigError(Problem("config", "salesforce.session_id_env",
                                          "the Salesforce session id is no longer valid; supply a new one"))
            self._token = self._sign_in()

    def _expiring(self, token: Token) -> bool:
        return token.expires_at is not None and self._clock() >= token.expires_at - EXPIRY_MARGIN_SECONDS

    def _sign_in(self) -> Token:
        s = self.settings
        if s.auth == "session":
            return Token(s.session_id, s.instance_url.rstrip("/"))
        grant = self._grant()
        try:
            response = self._policy.request("salesforce", self._session, "POST", self.token_url,
                                            data=grant, headers={"Accept": "application/json"})
            body = response.json()
        except (ConfigError, FatalError) as exc:   # refused, or not a token endpoint at all
            cause = exc.__cause__
            raise ConfigError(sign_in_problem(s, self.token_url, getattr(cause, "body", None),
                                              getattr(cause, "status", None))) from None
        except Retryable as exc:          # nothing answered there
            raise ConfigError(Problem("config", "salesforce.login_url",
                                      f"{s.login_url} could not be reached ({exc.message}): check the host name "
                                      f"(use {LOGIN_HINT})")) from None
        except ValueError:
            raise ConfigError(Problem("config", "salesforce.login_url",
                                      f"{self.token_url} did not answer like a Salesforce OAuth token endpoint: "
                                      f"use {LOGIN_HINT}")) from None
        if not body.get("access_token") or not body.get("instance_url"):
            raise ConfigError(Problem("config", "salesforce.login_url",
                                      "the token endpoint answered without an access token"))
        return Token(body["access_token"], (s.instance_url or body["instance_url"]).rstrip("/"),
                     self._expiry(body))

    @property
    def token_url(self) -> str:
        return f"{self.settings.login_url.rstrip('/')}/services/oauth2/token"

    def _grant(self) -> dict[str, str]:
        s = self.settings
        grant = {"grant_type": s.auth, "client_id": s.client_id, "client_secret": s.client_secret}
        if s.auth == "password":
            grant.update(username=s.username, password=s.password)
        missing = [name for name, value in grant.items() if not value]
        if missing:
            raise ConfigError([Problem("environment", f"salesforce.{name}_env",
                                       f"required for auth = {s.auth!r} but empty") for name in missing])
        return grant

    def _expiry(self, body: dict) -> float | None:
        # Salesforce's token response carries no expires_in unless the connected app is
        # configured to; the org's session timeout, when configured, stands in for it.
        lifetime = body.get("expires_in") or self.settings.session_lifetime_seconds
        try:
            return self._clock() + float(lifetime) if lifetime else None
        except (TypeError, ValueError):
            return None



def sign_in_problem(settings: SalesforceSettings, token_url: str, body: object,
                    status: int | None = None) -> Problem:
    """What a refused sign-in means, from the token endpoint's documented error body
    (``{"error": …, "error_description": …}``): which credential is wrong, and where to fix it."""
    try:
        parsed = json.loads(body) if isinstance(body, (str, bytes)) else body
    except ValueError:
        parsed = None
    error = str((parsed or {}).get("error", "")) if isinstance(parsed, dict) else ""
    description = str((parsed or {}).get("error_description", "")) if isinstance(parsed, dict) else ""
    said = f"({error}: {description})" if error else "(no OAuth error in the answer)"
    flow = settings.auth
    if error == "invalid_client_id":
        return Problem("environment", "salesforce.client_id_env",
                       f"Salesforce does not know this client id {said}: set it to the connected app's "
                       "Consumer Key (Setup → App Manager → the app → View → Manage Consumer Details)")
    if error == "invalid_client":
        return Problem("environment", "salesforce.client_secret_env",
                       f"Salesforce rejected the client secret for this client id {said}: set it to the "
                       "connected app's Consumer Secret")
    if error == "invalid_grant" and "not supported on this domain" in description:
        return Problem("config", "salesforce.login_url",
                       f"the client-credentials flow only works on your org's My Domain {said}: set login_url "
                       f"to https://<your-domain>.my.salesforce.com, not {settings.login_url}")
    if error == "invalid_grant" and "client credentials user" in description:
        return Problem("config", "salesforce.auth",
                       f"the connected app has no run-as user for the client-credentials flow {said}: pick the "
                       "integration user under Client Credentials Flow → Run As in the app's policies")
    if error == "invalid_grant" and flow == "password":
        return Problem("environment", "salesforce.username_env",
                       f"Salesforce did not accept this username and password {said}: check the user exists "
                       "and is active, and that the password ends with the user's security token")
    if error == "unsupported_grant_type":
        return Problem("config", "salesforce.auth",
                       f"this org does not allow the {flow} flow {said}: enable it on the connected app")
    if not error:
        return Problem("config", "salesforce.login_url",
                       f"{token_url} is not a Salesforce OAuth token endpoint (it answered HTTP {status} "
                       f"without an OAuth error): use {LOGIN_HINT}")
    return Problem("config", "salesforce.login_url",
                   f"Salesforce refused leadsync's sign-in at {token_url} {said}")
