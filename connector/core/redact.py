"""Keeps secrets (always) and personal data (on request) out of output and logs."""

from __future__ import annotations

import logging
import re
from typing import Any, Iterable

EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
PHONE = re.compile(r"(?<!\w)\+?\d[\d\s().-]{6,}\d(?!\w)")
# A date (and hour) looks like a phone number to PHONE; timestamps must keep every digit.
DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2})?")


def _phone(match: re.Match[str]) -> str:
    return match.group(0) if DATE.fullmatch(match.group(0)) else "***-phone"


class Redactor(logging.Filter):
    """Masks every known secret value; with ``redact_pii`` also emails and phone numbers."""

    def __init__(self, secrets: Iterable[str] = (), *, redact_pii: bool = False) -> None:
        super().__init__()
        # Longest first, so a secret containing another is masked whole. Very short values
        # would mask innocent text and are not real credentials.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
        self.redact_pii = redact_pii

    def __call__(self, text: Any) -> str:
        out = str(text)
        for secret in self.secrets:
            out = out.replace(secret, "***")
        if self.redact_pii:
            out = EMAIL.sub(r"\1***@\2", out)
            out = PHONE.sub(_phone, out)
        return out

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self(record.getMessage())
        record.args = ()
        return True
