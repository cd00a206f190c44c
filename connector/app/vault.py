"""The newest HubSpot refresh token, kept in the state store encrypted.

HubSpot may hand back a new refresh token on a refresh; the one in the environment may then be
stale. The newest is stored under ``KEY`` as a Fernet token (AES-128-CBC + HMAC-SHA256) whose
key is derived (HKDF-SHA256) from the app's client secret: whoever can read the state store
still needs the secret from the environment to use it, and rotating the secret simply makes
leadsync fall back to the environment's refresh token.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY = "hubspot.oauth.refresh_token"


class StoreVault:
    def __init__(self, store: Any, client_secret: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"leadsync",
                       info=b"hubspot refresh token").derive(client_secret.encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self._store = store

    def load(self) -> str | None:
        sealed = self._store.get(KEY)
        if not sealed:
            return None
        try:
            return self._fernet.decrypt(str(sealed).encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError):
            return None          # sealed under another secret: the environment's token stands

    def keep(self, secret: str) -> None:
        self._store.put(KEY, self._fernet.encrypt(secret.encode("utf-8")).decode("ascii"))

    def __repr__(self) -> str:
        return "StoreVault(<sealed>)"
