"""Sugar's OAuth2 sessions: ``password`` and ``refresh_token`` grants on ``oauth2/token``.

- access tokens live 3600 s, refresh tokens 14 days, and a refresh token works once;
- a user signing in again on the same platform ends that user's earlier session there
  (its access and refresh tokens stop working), so two processes sharing a platform and a
  user log each other out;
- a platform must be registered by an admin (Admin > Configure API Platforms) unless it is
  one of Sugar's own (base, mobile, portal); ``disable_unknown_platforms`` is on by default.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from leadsync_sandbox.sugarcrm.values import ApiError

ACCESS_LIFETIME = timedelta(seconds=3600)
REFRESH_LIFETIME = timedelta(days=14)
BUILT_IN_PLATFORMS = frozenset({"base", "mobile", "portal"})


@dataclass
class Session:
    user_id: str
    platform: str
    client_id: str
    access_token: str
    refresh_token: str
    access_expires: datetime
    refresh_expires: datetime
    refresh_used: bool = False


class Sessions:
    def __init__(self, clock: Callable[[], datetime], users: Mapping[str, tuple[str, str]],
                 clients: Mapping[str, str], platforms: set[str]) -> None:
        self.clock = clock
        self.users = dict(users)            # user_name → (password, user id)
        self.clients = dict(clients)        # client_id → client_secret
        self.platforms = set(platforms)     # registered custom platforms
        self._by_access: dict[str, Session] = {}
        self._by_refresh: dict[str, Session] = {}
        self._lock = threading.Lock()
        self.logins = 0
        self.refreshes = 0

    def grant(self, body: Mapping[str, Any]) -> dict[str, Any]:
        grant_type = body.get("grant_type")
        client_id = str(body.get("client_id") or "")
        if client_id not in self.clients or self.clients[client_id] != str(body.get("client_secret") or ""):
            raise ApiError(401, "invalid_client", "The client credentials are invalid")
        if grant_type == "password":
            return self._password(body, client_id)
        if grant_type == "refresh_token":
            return self._refresh(str(body.get("refresh_token") or ""), client_id)
        raise ApiError(400, "unsupported_grant_type", "The grant type is not supported by this server")

    def _password(self, body: Mapping[str, Any], client_id: str) -> dict[str, Any]:
        platform = str(body.get("platform") or "base")
        if platform not in BUILT_IN_PLATFORMS and platform not in self.platforms:
            raise ApiError(422, "invalid_parameter",
                           f"The platform '{platform}' is not allowed; an administrator must register it "
                           "in Admin > Configure API Platforms")
        account = self.users.get(str(body.get("username") or ""))
        if account is None or account[0] != str(body.get("password") or ""):
            raise ApiError(401, "need_login", "You must specify a valid username and password.")
        with self._lock:
            self.logins += 1
            # One session per user and platform: the earlier one ends here.
            for session in [s for s in self._by_access.values()
                            if s.user_id == account[1] and s.platform == platform]:
                self._end(session)
            return self._issue(account[1], platform, client_id)

    def _refresh(self, token: str, client_id: str) -> dict[str, Any]:
        with self._lock:
            session = self._by_refresh.get(token)
            if session is None or session.refresh_used or self.clock() >= session.refresh_expires \
                    or session.client_id != client_id:
                raise ApiError(400, "invalid_grant", "Invalid refresh token")
            self.refreshes += 1
            session.refresh_used = True
            self._end(session)
            return self._issue(session.user_id, session.platform, client_id)

    def _issue(self, user_id: str, platform: str, client_id: str) -> dict[str, Any]:
        now = self.clock()
        session = Session(user_id, platform, client_id, str(uuid.uuid4()), str(uuid.uuid4()),
                          now + ACCESS_LIFETIME, now + REFRESH_LIFETIME)
        self._by_access[session.access_token] = session
        self._by_refresh[session.refresh_token] = session
        return {"access_token": session.access_token, "expires_in": int(ACCESS_LIFETIME.total_seconds()),
                "token_type": "bearer", "scope": None, "refresh_token": session.refresh_token,
                "refresh_expires_in": int(REFRESH_LIFETIME.total_seconds()),
                "download_token": str(uuid.uuid4())}

    def _end(self, session: Session) -> None:
        self._by_access.pop(session.access_token, None)
        self._by_refresh.pop(session.refresh_token, None)

    def user_for(self, token: str | None) -> str:
        """The signed-in user of an access token, or the error Sugar answers."""
        if not token:
            raise ApiError(401, "need_login", "No valid authentication for user.")
        with self._lock:
            session = self._by_access.get(token)
            if session is None or self.clock() >= session.access_expires:
                raise ApiError(401, "invalid_grant", "The access token provided is invalid.")
            return session.user_id

    def logout(self, token: str | None) -> None:
        with self._lock:
            session = self._by_access.get(token or "")
            if session is not None:
                self._end(session)

    # -- faults --------------------------------------------------------------------------------

    def expire_access_tokens(self) -> None:
        """Every access token is past its hour; refresh tokens still work."""
        with self._lock:
            for session in self._by_access.values():
                session.access_expires = self.clock() - timedelta(seconds=1)

    def expire_all(self) -> None:
        """Every session ends (an admin's password reset): only a new login works."""
        with self._lock:
            self._by_access.clear()
            self._by_refresh.clear()
